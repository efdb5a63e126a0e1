"""The package faces export what the design promises, so ``from condet.X import name`` works."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DESIGN = Path(__file__).resolve().parents[1].parent / "shared" / "DESIGN.md"

# Public names the code relies on beyond DESIGN.md's list.
EXTRA_NAMES = {
    "condet.models": ["build_backbone", "build_detector", "Backbone", "BACKBONES"],
    "condet.explain": ["backbone_cam", "encoder_cam", "detector_cam", "overlay", "save_grid"],
}


def design_names(text: str) -> dict[str, list[str]]:
    """``{module: [name, ...]}`` from the Public API code block: each ``name(`` at the start of
    a line, under the ``# condet.X`` comment that opens its module."""
    section = text.split("## Public API", 1)[1].split("\n## ", 1)[0]
    block = section.split("```python", 1)[1].split("```", 1)[0]
    names: dict[str, list[str]] = {}
    module = None
    for line in block.splitlines():
        if heading := re.match(r"# (condet(?:\.\w+)*)\b", line):
            module = heading.group(1)
            names.setdefault(module, [])
        elif (signature := re.match(r"([A-Za-z_]\w*)\(", line)) and module is not None:
            names[module].append(signature.group(1))
    return names


def designed() -> dict[str, list[str]]:
    if not DESIGN.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{DESIGN} is missing; CI checks out ../shared beside the project")
        pytest.skip(f"{DESIGN} is not here (../shared is not checked out beside the project)")
    return design_names(DESIGN.read_text(encoding="utf-8"))


def test_the_design_lists_names_under_each_module():
    names = designed()
    assert {"condet.losses", "condet.evaluation", "condet.data"} <= set(names)
    assert all(names.values()), names
    assert "voc_ap" in names["condet.evaluation"]


def test_every_name_in_the_design_is_importable_from_its_package():
    missing = []
    for module_name, names in designed().items():
        module = importlib.import_module(module_name)
        missing += [
            f"{module_name}.{name}"
            for name in names
            if not hasattr(module, name) or name not in module.__all__
        ]
    assert not missing, f"DESIGN.md names these, but their package does not export them: {missing}"


@pytest.mark.parametrize("module_name", sorted(EXTRA_NAMES))
def test_models_and_explain_export_their_builders(module_name):
    module = importlib.import_module(module_name)
    for name in EXTRA_NAMES[module_name]:
        assert name in module.__all__ and hasattr(module, name), name


@pytest.mark.parametrize(
    "module_name", ["condet.data", "condet.evaluation", "condet.explain", "condet.losses"]
)
def test_all_lists_only_real_names(module_name):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(set(module.__all__))
    assert all(hasattr(module, name) for name in module.__all__)


def test_the_command_line_parser_stays_free_of_pytorch():
    # ``condet --help`` builds every subparser; the heavy package faces must not come with it.
    code = (
        "import sys, condet.cli; condet.cli.build_parser(); "
        "print(sorted(m for m in ('torch', 'pytorch_grad_cam', 'condet.explain', "
        "'condet.evaluation') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
