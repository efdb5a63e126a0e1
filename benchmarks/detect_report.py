"""benchmarks/detect.py's tables: every run's images/s (median and every repeat) and the ratios."""

from __future__ import annotations

import argparse
import statistics

from detect_runs import Recipe, Run


def listed(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f}  ({', '.join(f'{value:.2f}' for value in values)})"


def ratio(value: float | None, reference: float | None) -> str:
    return f"{value / reference:.2f}x" if value and reference else "-"


def print_results(
    runs: list[Run], recipes: dict[str, Recipe], args: argparse.Namespace, context: str
) -> None:
    print(f"\nMedian images/s of {args.repeats} repeats (each repeat in brackets):")
    width = max(len(run.name) for run in runs)
    for run in runs:
        print(f"  {run.name:<{width}}  train     {listed(run.train)}")
        if run.inference:
            print(f"  {'':<{width}}  inference {listed(run.inference)}")
    medians = {
        run.name: (
            statistics.median(run.train),
            statistics.median(run.inference) if run.inference else None,
        )
        for run in runs
    }
    reference = medians.get("torchvision", (None, None))
    if "candidate" in medians:
        candidate, baseline = medians["candidate"], medians["baseline"]
        pairs = zip(next(r for r in runs if r.name == "candidate").train,
                    next(r for r in runs if r.name == "baseline").train, strict=True)  # fmt: skip
        print(
            f"\ncandidate / baseline: train {ratio(candidate[0], baseline[0])}, inference "
            f"{ratio(candidate[1], baseline[1])} (train, repeat by repeat: "
            f"{', '.join(f'{c / b:.2f}x' for c, b in pairs)})"
        )
    print(f"\n{context}\n")
    print(
        "| run | train img/s | inference img/s | train / torchvision | "
        "inference / torchvision | train / ceiling |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for run in runs:
        train, inference = medians[run.name]
        of_ceiling = f"{train / medians[run.ceiling][0]:.0%}" if run.ceiling in medians else "-"
        print(
            f"| {run.name} | {train:.2f} | {f'{inference:.2f}' if inference else '-'} | "
            f"{ratio(train, reference[0])} | "
            f"{ratio(inference, reference[1]) if run.kind == 'detector' else '-'} | "
            f"{of_ceiling} |"
        )
    print()
    for name, recipe in recipes.items():
        print(f"{name}: {recipe.describe()}")
    if not args.no_reference:
        print("torchvision: fasterrcnn_mobilenet_v3_large_320_fpn, its defaults, random weights")


# --- main -----------------------------------------------------------------------------------
