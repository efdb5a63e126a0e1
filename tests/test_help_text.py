"""Help texts print as written: a description is not %-formatted, a flag's help is."""

from __future__ import annotations

import pytest

from condet.cli import build_parser, main
from tests.helpers import subcommand_paths


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    # Join argparse's wrapped lines, so a phrase split across two of them is found.
    return " ".join(capsys.readouterr().out.split())


def test_demo_help_names_its_two_comparisons(capsys):
    text = help_text(capsys, "demo")
    assert "from ImageNet and from ImageNet + SimCLR" in text
    assert "SupCon and ranked crop encoders" in text


@pytest.mark.parametrize("path", [(), *subcommand_paths(build_parser())], ids=" ".join)
def test_no_help_shows_a_doubled_percent_sign(path, capsys):
    assert "%%" not in help_text(capsys, *path)
