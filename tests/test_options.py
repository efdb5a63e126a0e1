from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from condet.options import (
    ConfigError,
    add_config_arguments,
    config_to_dict,
    resolve_config,
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
