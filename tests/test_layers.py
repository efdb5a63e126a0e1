"""Dependencies run one way (docs/architecture.md): a module imports only its own layer and
the layers below it, at the top of the file and inside functions alike.

Imports under ``if TYPE_CHECKING:`` are annotations only (a training function names its
command's config class) and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "condet"

# Lowest first. A module may import from its own layer and any layer before it.
LAYERS: list[set[str]] = [
    {
        "errors",
        "io",
        "yaml_problems",
        "devices",
        "options",
        "recipes",
        "result_cells",
        "runtime",
        "runs",
        "checkpoints",
    },
    {"data"},
    {"models", "losses"},
    {"evaluation", "inference"},
    {"explain", "pipeline", "derive_rankings", "report", "selection"},
    {"train"},
    {"commands", "experiment"},
    {"cli", "__main__"},
]
LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}


def top_name(path: Path) -> str:
    """The first part of a module's name below ``condet`` (``train`` for train/detect.py)."""
    return path.relative_to(SOURCE).parts[0].removesuffix(".py")


def condet_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, first part below ``condet``) of every import of condet, outside TYPE_CHECKING."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] == "condet" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "condet" and len(parts) > 1:
                    found.append((node.lineno, parts[1]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


MODULES = sorted(p for p in SOURCE.rglob("*.py") if top_name(p) != "__init__")


def test_every_module_has_a_layer() -> None:
    assert {top_name(path) for path in MODULES} <= set(LAYER_OF)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_imports_point_down(path: Path) -> None:
    layer = LAYER_OF[top_name(path)]
    upward = [
        f"line {line}: condet.{name}"
        for line, name in condet_imports(ast.parse(path.read_text()))
        if name in LAYER_OF and LAYER_OF[name] > layer
    ]
    assert not upward, f"{path.relative_to(SOURCE)} imports a higher layer: {upward}"


def test_the_check_sees_an_upward_import() -> None:
    tree = ast.parse("def f():\n    from condet.train.fit import fit\n")
    assert condet_imports(tree) == [(2, "train")]
    guarded = ast.parse("if TYPE_CHECKING:\n    from condet.commands import COMMANDS\n")
    assert condet_imports(guarded) == []
