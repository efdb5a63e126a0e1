"""Every ``condet`` command: one module each, with its typed config and ``run(config)``.

:data:`COMMANDS` lists them in the order ``condet --help`` shows them; a two-word name
(``data synth``) is an action of a command group, whose help is in :data:`GROUPS`.
"""

from __future__ import annotations

from condet.commands import (
    classify,
    data,
    demo,
    detect,
    experiment,
    explain,
    export,
    features,
    pipeline,
    predict,
    pretrain,
    rankings,
    select,
)
from condet.commands.registry import Command
from condet.errors import CondetError

COMMANDS: tuple[Command, ...] = (
    demo.COMMAND,
    data.SYNTH_COMMAND,
    data.CHECK_COMMAND,
    pretrain.COMMAND,
    features.COMMAND,
    select.COMMAND,
    detect.COMMAND,
    predict.COMMAND,
    export.COMMAND,
    classify.COMMAND,
    classify.OOD_COMMAND,
    pipeline.COMMAND,
    experiment.COMMAND,
    rankings.COMMAND,
    explain.COMMAND,
)

# The command groups: (help, description).
GROUPS: dict[str, tuple[str, str]] = {
    "data": (data.GROUP_HELP, data.GROUP_DESCRIPTION),
    "rankings": (rankings.GROUP_HELP, rankings.GROUP_DESCRIPTION),
}

__all__ = ["COMMANDS", "GROUPS", "Command", "get_command"]


def get_command(name: str) -> Command:
    """The command called ``name`` (``"pretrain"``, ``"data synth"``)."""
    for command in COMMANDS:
        if command.name == name:
            return command
    raise CondetError(f"unknown command {name!r}")
