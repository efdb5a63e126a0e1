"""benchmarks/detect.py runs end to end: one step of each run on the synthetic set."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "detect.py"


@pytest.mark.slow
def test_detect_benchmark_runs(
    synthetic_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARK.parent))  # its sibling modules, as when run
    spec = importlib.util.spec_from_file_location("benchmark_detect", BENCHMARK)
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, benchmark)  # its dataclasses look it up
    spec.loader.exec_module(benchmark)
    threads = torch.get_num_threads()
    try:
        benchmark.main(
            ["--data", str(synthetic_root), "--steps", "1", "--warmup", "0", "--repeats", "1",
             "--batch-size", "2", "--profile-steps", "1", "--compare-to-baseline", "--threads",
             "1", "--min-size", "128", "--max-size", "171", "--channels-last", "--bf16"]
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "| run | train img/s | inference img/s |" in out
    for run in ("| baseline |", "| candidate |", "| torchvision |", "| ceiling baseline |"):
        assert run in out
    assert "candidate / baseline: train" in out
    assert "backbone body backward" in out
