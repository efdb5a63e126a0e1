"""The command registry: every command is a typed config and a run(config), and both the
parser and the experiment runner are built from it."""

from __future__ import annotations

import dataclasses

import pytest

from condet.cli import ALL_COMMANDS, build_parser
from condet.commands import COMMANDS, get_command
from condet.config.classify import ClassifyConfig
from condet.errors import CondetError
from condet.experiment import plan_runs
from condet.options import is_required, option_flag, positional_fields
from tests.helpers import subcommand_paths

NAMES = [command.name for command in ALL_COMMANDS]


def test_every_command_has_a_config_and_a_run():
    assert len(set(NAMES)) == len(NAMES)
    for command in ALL_COMMANDS:
        assert dataclasses.is_dataclass(command.config), command.name
        assert callable(command.run) and command.help and command.description, command.name
    assert get_command("data synth").name == "data synth"
    with pytest.raises(CondetError, match="unknown command 'fly'"):
        get_command("fly")


def test_the_parser_lists_every_command():
    paths = {" ".join(path) for path in subcommand_paths(build_parser())}
    assert set(NAMES) <= paths
    assert paths - set(NAMES) == {"data", "rankings"}


def test_the_protocol_commands_are_the_experiments_own():
    """``experiment`` and ``demo`` run protocols, so a protocol cannot run them: they are not
    in the registry the experiment looks commands up in."""
    protocol_runners = {command.name for command in ALL_COMMANDS} - {c.name for c in COMMANDS}
    assert protocol_runners == {"experiment", "demo"}
    with pytest.raises(CondetError, match="unknown command 'experiment'"):
        get_command("experiment")


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda command: command.name)
def test_every_command_accepts_a_config_file(command, tmp_path):
    name = command.name
    positional = positional_fields(command.config)
    required = [
        option_flag(f.name)
        for f in dataclasses.fields(command.config)
        if is_required(f) and f not in positional
    ]
    argv = [*name.split(), *(str(tmp_path) for _ in positional)]
    argv += [item for flag in required for item in (flag, str(tmp_path))]
    args = build_parser().parse_args([*argv, "--config", str(tmp_path / "c.yaml")])
    assert args.config_file == tmp_path / "c.yaml"
    assert args.command_record is command


def test_resumable_commands_are_those_with_a_resume_option():
    resumable = {command.name for command in ALL_COMMANDS if command.resumable}
    assert resumable == {"pretrain", "detect-train", "classify-train", "ood"}


def test_an_experiment_run_builds_its_config_without_argv(tmp_path):
    protocol = {
        "runs": [
            {
                "name": "enc",
                "command": "ood",
                "options": {"data": "/d", "withhold": ["a"], "batch-size": 8, "progress": False},
            }
        ]
    }
    (run,) = plan_runs(protocol, tmp_path)
    config = get_command(run.command).build_config(run.values)
    assert isinstance(config, ClassifyConfig)
    assert (config.batch_size, config.withhold, config.progress) == (8, ["a"], False)
    assert config.out == tmp_path / "enc" and str(config.data) == "/d"
