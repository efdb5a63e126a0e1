"""The command record: what ``condet NAME`` is, its typed config and the function that runs it.

``cli`` builds the parser from these records and ``experiment`` calls ``run`` directly. A
command's ``run`` imports its heavy modules (PyTorch, Lightning) when it is called, so that
building the parser (``condet --help``) stays fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from condet.errors import CondetError
from condet.options import build_config


@dataclass(frozen=True)
class Command:
    """One ``condet`` command.

    ``name`` is its words on the command line (``"data synth"``); ``headline`` the numbers of
    its ``metrics.json`` an experiment shows, as (path in the JSON, column label);
    ``output_suffix`` is the file type of a command whose ``out`` is one file (``.png``)
    rather than a run folder.
    """

    name: str
    help: str
    description: str
    config: type
    run: Callable[[Any], int]
    headline: tuple[tuple[str, str], ...] = ()
    output_suffix: str = ""
    # what this command needs of a config that its config class does not (``ood``, which
    # shares classify-train's config, needs withheld classes); raises a CondetError
    check: Callable[[Any], None] | None = None

    @property
    def single_file(self) -> bool:
        """Whether the command writes one file rather than a run folder."""
        return bool(self.output_suffix)

    @property
    def resumable(self) -> bool:
        """Whether a run of this command can continue from its last checkpoint."""
        return any(field.name == "resume" for field in dataclasses.fields(self.config))

    def build_config(self, values: dict[str, Any]) -> Any:
        """The config ``values`` set (keys with dashes or underscores); a resumed or restarted
        run starts from the config it was started with (``RUN/config.yaml``)."""
        values = {str(key).replace("-", "_"): value for key, value in values.items()}
        if self.resumable and (values.get("resume") or values.get("restart")):
            values = resumed_config_values(self.config, values) | values
        config = build_config(self.config, values)
        if self.check is not None:
            self.check(config)
        self.check_output(config)
        return config

    def check_output(self, config: Any) -> None:
        """Refuse an ``out`` of the wrong kind before the command runs: a file where it writes a
        folder (``mkdir`` would fail with a bare errno), or a folder where it writes one file
        (the picture would land beside the folder, as ``FOLDER.png``)."""
        out = getattr(config, "out", None)
        if out is None or not out.exists():
            return
        spec = next(field for field in dataclasses.fields(self.config) if field.name == "out")
        named = str(out) if spec.metadata.get("positional") else f"--out {out}"
        if self.single_file and out.is_dir():
            example = out / (self.name.split()[-1] + self.output_suffix)
            raise CondetError(
                f"{named} is a folder; condet {self.name} writes one file: name it (e.g. {example})"
            )
        if not self.single_file and not out.is_dir():
            raise CondetError(f"{named} is a file; condet {self.name} writes a folder there")


def resumed_config_values(config_class: type, values: dict[str, Any]) -> dict[str, Any]:
    """The saved config of the run in ``values["out"]`` (or the default run folder), but for
    whether to resume or restart it, which is the new command line's to say."""
    # Imported here: the run folder's checkpoints bring torch, which building the parser
    # must not load.
    from condet.run_folder import resume_config_values

    default = next(f.default for f in dataclasses.fields(config_class) if f.name == "out")
    action = "resume" if values.get("resume") else "restart"
    saved = resume_config_values(Path(values.get("out") or default), action)
    return {key: value for key, value in saved.items() if key not in ("resume", "restart")}
