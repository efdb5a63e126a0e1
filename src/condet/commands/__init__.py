"""The ``condet`` commands a protocol runs, and the data commands: one module each, with its
``run(config)`` (the config is :mod:`condet.config`'s) and its :class:`Command` record.

:data:`COMMANDS` lists them in the order ``condet --help`` shows them; a two-word name
(``data synth``) is an action of a command group, whose help is in :data:`GROUPS`. The two
commands that run protocols, ``experiment`` and ``demo``, are the experiment's
(:mod:`condet.experiment.commands`): it runs these.
"""

from __future__ import annotations

from condet.commands import (
    classify,
    data,
    detect,
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
