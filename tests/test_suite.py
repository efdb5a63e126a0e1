"""The suite checks what it runs: every test asserts something.

A test that runs code and checks nothing passes whatever the code computes. A test asserts
when its body holds an ``assert``, expects an error or warning (``pytest.raises`` /
``pytest.warns``), calls an ``assert_*`` function (``torch.testing.assert_close``), or names
a helper of the suite that does (``check_loss``, handed to the processes it starts).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _checks_directly(node: ast.AST) -> bool:
    for child in ast.walk(node):
        if isinstance(child, ast.Assert):
            return True
        if isinstance(child, ast.Call):
            called = ast.unparse(child.func)
            if called.split(".")[-1].startswith("assert_") or called in (
                "pytest.raises",
                "pytest.warns",
                "pytest.fail",
            ):
                return True
    return False


def _names(node: ast.AST) -> set[str]:
    """Every name and attribute ``node`` mentions (a helper called, or handed on)."""
    names = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, ast.Attribute):
            names.add(child.attr)
    return names


def _functions(root: Path) -> dict[Path, list[ast.FunctionDef]]:
    return {
        path: [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)]
        for path in sorted(root.rglob("*.py"))
    }


def unasserted_tests(root: Path = TESTS) -> list[str]:
    """``FILE:LINE NAME`` of every test function under ``root`` that asserts nothing."""
    functions = _functions(root)
    helpers = [f for found in functions.values() for f in found if not f.name.startswith("test")]
    asserting = {f.name for f in helpers if _checks_directly(f)}
    grown = True
    while grown:  # helpers that call asserting helpers assert too
        before = len(asserting)
        asserting |= {f.name for f in helpers if _names(f) & asserting}
        grown = len(asserting) > before
    return [
        f"{path.relative_to(root)}:{function.lineno} {function.name}"
        for path, found in functions.items()
        for function in found
        if function.name.startswith("test")
        and not (_checks_directly(function) or _names(function) & asserting)
    ]


def test_every_test_asserts() -> None:
    assert unasserted_tests() == []


def test_the_check_finds_a_test_that_asserts_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_example.py").write_text(
        "def helper():\n    assert True\n\n"
        "def test_calls_a_helper():\n    helper()\n\n"
        "def test_runs_only():\n    sum([1, 2])\n"
    )
    assert unasserted_tests(tmp_path) == ["test_example.py:7 test_runs_only"]
