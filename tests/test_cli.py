from __future__ import annotations

import subprocess
import sys

import pytest

import condet
from condet.cli import build_parser, main
from tests.helpers import make_voc, subcommand_paths, voc_xml


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"condet {condet.__version__}"


@pytest.mark.parametrize("path", list(subcommand_paths(build_parser())), ids=" ".join)
def test_every_subcommand_has_help(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    assert "usage: condet " + " ".join(path) in capsys.readouterr().out


def test_bad_input_is_one_line_without_traceback(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "missing")]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"condet: error: {tmp_path / 'missing'}: data set not found"
    ]


def test_debug_shows_the_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "condet", "data", "check", str(tmp_path), "--debug"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "DataError" in result.stderr


def test_data_check_exit_code_tells_about_problems(tmp_path, capsys):
    good = make_voc(tmp_path / "good", {"a": voc_xml([("cat", (1, 1, 9, 9))])}, {"train": ["a"]})
    assert main(["data", "check", str(good)]) == 0
    assert "no problems found" in capsys.readouterr().out
    bad = make_voc(tmp_path / "bad", {"a": voc_xml([("cat", (9, 1, 9, 9))])}, {"train": ["a"]})
    assert main(["data", "check", str(bad), "--split", "train"]) == 1
    assert "1 problem(s):" in capsys.readouterr().out


def test_data_synth_writes_a_clean_data_set(tmp_path, capsys):
    assert main(["data", "synth", str(tmp_path / "data"), "--images", "10", "--seed", "1"]) == 0
    output = capsys.readouterr().out
    assert "no problems found" in output and "circle" in output


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "synth"], "the following arguments are required: out; see condet data synth"),
        (
            ["pretrain", "--precision", "bf99"],
            "argument --precision: invalid choice: 'bf99' (choose from '32-true', '16-mixed', "
            "'bf16-mixed', '64-true'); see condet pretrain --help",
        ),
        (
            ["export", "--checkpoint", "run", "--format", "tflite"],
            "argument --format: invalid choice: 'tflite' (choose from 'onnx', 'torchscript'); "
            "see condet export --help",
        ),
        (["detect-train", "--smallest-stride", "5"], "argument --smallest-stride: invalid choice"),
        (["pretrain", "--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
        (["nosuch"], "argument command: invalid choice: 'nosuch'"),
        (["pretrain", "--bogus", "1"], "unrecognized arguments: --bogus 1; see condet pretrain"),
    ],
)
def test_a_command_line_the_parser_refuses_is_one_line_and_exit_one(capsys, argv, message):
    """As every other bad input, not argparse's usage (up to 25 lines) and exit code 2."""
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"condet: error: {message}"), line
