"""Every shipped protocol's runs keep the options they ran with before condet's defaults
became the recommended recipe (issue 27): a protocol names what it compares, and a default
that changes under it would change its numbers.

``fixtures/protocol_configs.json`` holds each run's config as the protocols resolved at
commit 8010fff, before ``--recipe``. Options added since then are not in it. A protocol
rewritten since (ranked_contrastive_aquarium.yaml, at the crop study's plateau) names every
option itself and has left the file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from condet import recipes
from condet.commands import get_command
from condet.experiment import load_protocol, plan_runs

ROOT = Path(__file__).parents[1]
BEFORE = json.loads((ROOT / "tests" / "fixtures" / "protocol_configs.json").read_text())
# the protocols shipped then (later ones name every option themselves)
PROTOCOLS = [
    path
    for path in [
        *sorted((ROOT / "configs" / "experiments").glob("*.yaml")),
        ROOT / "src" / "condet" / "protocols" / "demo.yaml",
    ]
    if any(key.startswith(f"{path.stem}/") for key in BEFORE)
]


def ignored(command: str, config: object, option: str) -> bool:
    """Options the run's model never reads, whose default may change freely."""
    if command == "explain" and option == "backbone":
        return config.kind != "backbone"
    if option == "small_input_stem":  # the CIFAR-style stem exists for ResNets only
        return not config.backbone.startswith("resnet")
    return False


def resolved_configs(path: Path) -> dict[str, tuple[str, dict]]:
    protocol = load_protocol(path)
    data = None if protocol.get("data") else "/DATA"
    configs = {}
    for smoke in (False, True):
        for run in plan_runs(protocol, Path("/OUT"), data, smoke):
            config = get_command(run.command).build_config(run.values)
            key = f"{path.stem}{'/smoke' if smoke else ''}/{run.name}"
            configs[key] = (run.command, config)
    return configs


@pytest.mark.parametrize("path", PROTOCOLS, ids=lambda path: path.stem)
def test_each_run_resolves_the_options_it_had(path, monkeypatch):
    # the snapshot was taken on a CPU with bf16: resolve "auto" as there, on any machine
    monkeypatch.setenv("CONDET_SHARED_DATA", "/SHARED")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(recipes, "cpu_has_bf16", lambda: True)
    configs = resolved_configs(path)
    assert configs and set(configs) == {key for key in BEFORE if key.split("/")[0] == path.stem}
    changed = []
    for key, (command, config) in configs.items():
        values = json.loads(json.dumps(dataclasses.asdict(config), default=str))
        for option, before in BEFORE[key].items():
            if values[option] != before and not ignored(command, config, option):
                changed.append(f"{key}: {option} {before!r} -> {values[option]!r}")
    assert not changed, "\n".join(changed)
