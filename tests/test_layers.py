"""Dependencies run one way (docs/architecture.md): a module imports only its own layer and
the layers below it.

Every import of condet counts: at the top of a file, inside a function, and under ``if
TYPE_CHECKING:`` (an annotation that names a class of a higher layer is a dependency on it as
much as a call is). A module's layer is that of the longest name in :data:`LAYERS` its name
starts with, so a package may keep one module above the rest (``rankings.derive``).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "condet"

# Lowest first. A module may import from its own layer and any layer before it.
LAYERS: list[set[str]] = [
    {"errors", "io", "yaml_files", "devices", "allocator"},
    {"options", "recipes", "config", "checkpoints", "run_folder"},
    {"data"},
    {"models", "losses", "rankings"},
    {"evaluation", "inference"},
    {"explain", "selection", "open_set", "rankings.derive"},
    {"train"},
    {"commands"},
    {"experiment"},
    {"cli", "__main__"},
]
LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}


def module_name(path: Path, root: Path = SOURCE) -> str:
    """A module's name below ``condet`` (``train.detect``; a package is its ``__init__``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(name: str) -> int | None:
    """The layer of module ``name`` (below ``condet``): its longest listed prefix's."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYER_OF:
            return LAYER_OF[prefix]
    return None


def condet_imports(tree: ast.AST, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module below ``condet``) of every import of condet in ``tree``, wherever it is:
    at the top, in a function, under ``if TYPE_CHECKING:``; relative imports resolved from
    ``module`` (a package's own name when ``is_package``)."""
    found: list[tuple[int, str]] = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("condet."):
                    found.append((node.lineno, alias.name.removeprefix("condet.")))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                parts = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "condet":
                parts = node.module.split(".")[1:]
            else:
                continue
            if parts:
                found.append((node.lineno, ".".join(parts)))
            else:  # from condet import recipes: each name is a module
                found += [(node.lineno, alias.name) for alias in node.names]
    return found


def upward_imports(path: Path, root: Path = SOURCE) -> list[str]:
    """Every import in ``path`` of a module in a higher layer than its own."""
    name = module_name(path, root)
    layer = layer_of(name)
    tree = ast.parse(path.read_text())
    return [
        f"line {line}: condet.{imported}"
        for line, imported in condet_imports(tree, name, path.name == "__init__.py")
        if (layer_of(imported) or 0) > layer
    ]


MODULES = sorted(p for p in SOURCE.rglob("*.py") if module_name(p))


def test_every_module_has_a_layer() -> None:
    assert [module_name(path) for path in MODULES if layer_of(module_name(path)) is None] == []


def test_experiment_and_commands_are_separate_layers() -> None:
    assert layer_of("commands") < layer_of("experiment") < layer_of("cli")


def check_imports_point_down(path: Path, root: Path = SOURCE) -> None:
    """Fail, naming the lines, when ``path`` imports a higher layer."""
    upward = upward_imports(path, root)
    assert not upward, f"{path.relative_to(root)} imports a higher layer: {upward}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_imports_point_down(path: Path) -> None:
    check_imports_point_down(path)


def test_the_check_sees_every_kind_of_import() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import condet.train.fit\n"
        "from condet import recipes\n"
        "from . import figures\n"
        "def f():\n"
        "    from condet.train.fit import fit\n"
        "if TYPE_CHECKING:\n"
        "    from condet.commands import COMMANDS\n"
    )
    found = condet_imports(ast.parse(source), "explain.comparison")
    assert sorted(found) == [
        (2, "train.fit"),
        (3, "recipes"),
        (4, "explain"),
        (6, "train.fit"),
        (8, "commands"),
    ]


@pytest.mark.parametrize(
    "added",
    [
        "from condet.train.fit import fit\n",
        "def later():\n    from condet.experiment.runner import run_experiment\n",
        "if TYPE_CHECKING:\n    from condet.commands import Command\n",
    ],
    ids=["top", "in a function", "TYPE_CHECKING"],
)
def test_an_upward_import_added_to_the_tree_fails_the_check(tmp_path: Path, added: str) -> None:
    tree = tmp_path / "condet"
    target = tree / "models" / "detector.py"
    target.parent.mkdir(parents=True)
    shutil.copy(SOURCE / "models" / "detector.py", target)
    check_imports_point_down(target, tree)
    target.write_text(target.read_text() + "\n" + added)
    with pytest.raises(AssertionError, match=r"models/detector\.py imports a higher layer"):
        check_imports_point_down(target, tree)
