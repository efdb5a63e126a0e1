from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from condet.cli import ALL_COMMANDS
from condet.options import (
    ConfigError,
    add_config_arguments,
    build_config,
    config_to_dict,
    resolve_config,
    value_range,
)


@dataclass
class Example:
    size: int = field(default=64, metadata={"help": "side"})
    rate: float = 0.1
    name: str = "resnet18"
    out: Path = Path("runs/x")
    split: str | None = None
    mode: Literal["in", "out"] = "in"
    flag: bool = True
    methods: list[str] = field(default_factory=lambda: ["knn", "ncm"])


def parse(argv, base=None):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Example)
    return resolve_config(Example, parser.parse_args(argv), base=base)


def test_defaults_then_file_then_flags(tmp_path):
    assert parse([]) == Example()
    config_file = tmp_path / "c.yaml"
    config_file.write_text("size: 32\nrate: 0.5\nmode: out\nmethods: [linear]\n")
    config = parse(["--config", str(config_file), "--size", "16", "--no-flag"])
    assert (config.size, config.rate, config.mode, config.flag) == (16, 0.5, "out", False)
    assert config.methods == ["linear"]
    assert parse(["--methods", "a", "b"], base={"size": 8}) == Example(size=8, methods=["a", "b"])


def test_types_are_converted_and_checked(tmp_path):
    config = parse(["--out", "elsewhere", "--split", "val", "--rate", "2"])
    assert config.out == Path("elsewhere") and config.split == "val" and config.rate == 2.0
    bad = tmp_path / "bad.yaml"
    for text, message in [
        ("size: big", "option size must be int"),
        ("size: 1.5", "option size must be int"),
        ("mode: sideways", "option mode must be one of in, out"),
        ("flag: yes please", "option flag must be true or false"),
        ("colour: red", "unknown options colour"),
        ("[1, 2]", "expected a mapping"),
        ("size: [", "malformed YAML"),
    ]:
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message):
            parse(["--config", str(bad)])


def test_choices_on_the_command_line(capsys):
    with pytest.raises(SystemExit):
        parse(["--mode", "sideways"])
    assert "invalid choice: 'sideways'" in capsys.readouterr().err


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        parse(["--config", str(tmp_path / "none.yaml")])


def test_round_trip_through_plain_values(tmp_path):
    config = Example(out=tmp_path / "o", methods=["a"])
    plain = config_to_dict(config)
    assert plain["out"] == str(tmp_path / "o")
    assert parse([], base=plain) == config


@dataclass
class Ranged:
    epochs: int = field(default=1, metadata={"minimum": 1})
    rate: float = field(default=0.1, metadata={"above": 0})
    share: float = field(default=0.5, metadata={"above": 0, "maximum": 1})
    similarity: float | None = field(default=None, metadata={"minimum": -1, "maximum": 1})
    steps: int = field(default=-1, metadata={"minimum": 1, "special": (-1,)})
    temperatures: list[float] = field(default_factory=lambda: [0.1], metadata={"above": 0})
    size: int = field(default=8, metadata={"positional": True, "minimum": 4})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": 0}, "--epochs must be at least 1, got 0"),
        ({"rate": -1}, "--rate must be above 0, got -1"),
        ({"rate": 0.0}, "--rate must be above 0, got 0"),
        ({"rate": float("nan")}, "--rate must be above 0, got nan"),
        ({"rate": "inf"}, "--rate must be above 0, got inf"),
        ({"share": 1.5}, "--share must be above 0 and at most 1, got 1.5"),
        ({"similarity": 5}, "--similarity must be between -1 and 1, got 5"),
        ({"steps": 0}, "--steps must be at least 1 or -1, got 0"),
        ({"temperatures": [0.1, 0]}, "--temperatures must be above 0, got 0"),
        ({"size": 2}, "size must be at least 4, got 2"),
    ],
)
def test_a_value_out_of_its_range_names_the_option_and_the_value(values, message):
    with pytest.raises(ConfigError) as error:
        build_config(Ranged, values)
    assert str(error.value) == message


def test_values_in_range_and_the_special_ones_pass():
    config = build_config(
        Ranged, {"epochs": 1, "rate": 1e-9, "share": 1, "similarity": -1, "steps": -1, "size": 4}
    )
    assert (config.epochs, config.share, config.similarity, config.steps) == (1, 1.0, -1.0, -1)
    assert build_config(Ranged, {"steps": 5, "similarity": None}).steps == 5


def test_every_number_a_command_takes_has_a_range():
    """A new numeric option without bounds would let ``--epochs 0``-like requests through."""
    unbounded = []
    for command in ALL_COMMANDS:
        hints = typing.get_type_hints(command.config)
        for spec in dataclasses.fields(command.config):
            base = hints[spec.name]
            arguments = [a for a in typing.get_args(base) if a is not type(None)]
            scalar = arguments[0] if typing.get_origin(base) in (list, types.UnionType) else base
            if scalar in (int, float) and value_range(spec) is None:
                unbounded.append(f"{command.name} --{spec.name}")
    assert unbounded == []


def test_a_range_is_checked_on_the_command_line_and_in_a_config_file(tmp_path):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Ranged)
    with pytest.raises(ConfigError, match="--epochs must be at least 1, got 0"):
        resolve_config(Ranged, parser.parse_args(["8", "--epochs", "0"]))
    config_file = tmp_path / "c.yaml"
    config_file.write_text("rate: -0.5\n")
    with pytest.raises(ConfigError, match=r"--rate must be above 0, got -0\.5"):
        resolve_config(Ranged, parser.parse_args(["8", "--config", str(config_file)]))
