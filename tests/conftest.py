"""Shared fixtures: the real data sets beside the project, and a small synthetic data set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from condet.data.synthetic import generate_synthetic


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$CONDET_SHARED_DATA`` (set by ``.ci/run``): skipped when unset, a failure under CI."""
    value = os.environ.get("CONDET_SHARED_DATA")
    if not value:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CONDET_SHARED_DATA is not set; .ci/run sets it to ../shared/data")
        pytest.skip("CONDET_SHARED_DATA is not set (the real data sets are not available)")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"CONDET_SHARED_DATA={value} is not a folder")
    return path


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic data set (40 images), made once per test session."""
    return generate_synthetic(
        tmp_path_factory.mktemp("synthetic"), images=40, seed=0, progress=False
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the full-budget demo test unless the marker expression names it.

    addopts' ``-m "not demo_budget"`` is replaced by any ``-m`` on the command line, so
    ``pytest -m "not slow"`` would otherwise start an 11-CPU-minute run.
    """
    if "demo_budget" in (config.option.markexpr or ""):
        return
    kept = [item for item in items if item.get_closest_marker("demo_budget") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
