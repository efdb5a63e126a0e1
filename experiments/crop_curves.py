"""Learning curves of crop encoders (classify-train / ood with ``--eval-every``): known-class
NCM top-1 and the best OOD AUROC on the test crops against epochs.

Reads every run folder of an experiment (``RUN/logs/metrics*.csv`` and ``RUN/results.json``
for the final point), draws one PNG with a row per data set (the run name's part before the
first dash: ``aquarium-supcon`` is Aquarium's) and prints a Markdown table, one row per
evaluation, with the training CPU-minutes spent up to it. ::

    python experiments/crop_curves.py runs/crop_curves --out docs/crop_curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from condet.run_folder import read_training_log


def curve(run: Path) -> list[dict[str, float]]:
    """``[{epoch, ncm, knn, linear, best_auroc, cpu_min}]`` at each evaluation of ``run``
    (``best_auroc`` is NaN without withheld classes)."""
    rows = read_training_log(run)
    cpu_seconds = {
        int(row["epoch"]): float(row["time/cpu_s"]) for row in rows if row.get("time/cpu_s")
    }
    # keyed by epoch: the log parts of a resumed run can repeat an evaluation, the last stands
    points = {
        int(row["epoch"]) + 1: point(
            *(float(row[f"test/{name}_top1"]) for name in ("ncm", "knn", "linear")),
            float(row.get("test/best_auroc") or "nan"),
        )
        for row in rows
        if row.get("test/ncm_top1")
    }
    results = run / "results.json"
    if results.is_file():
        final = json.loads(results.read_text())
        epochs = max((int(row["epoch"]) for row in rows if row.get("epoch")), default=0) + 1
        aurocs = [metrics["auroc"] for metrics in final.get("ood", {}).values()]
        points[epochs] = point(
            *(final[name]["top1"] for name in ("ncm", "knn", "linear")),
            max(aurocs, default=float("nan")),
        )
    for epoch, values in points.items():
        logged = [logged_epoch for logged_epoch in cpu_seconds if logged_epoch < epoch]
        values |= {"epoch": epoch, "cpu_min": cpu_seconds[max(logged)] / 60 if logged else 0.0}
    return [points[epoch] for epoch in sorted(points)]


def point(ncm: float, knn: float, linear: float, best_auroc: float) -> dict[str, float]:
    return {"ncm": ncm, "knn": knn, "linear": linear, "best_auroc": best_auroc}


def plot(curves: dict[str, list[dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data_sets = sorted({name.split("-")[0] for name in curves})
    figure, axes = plt.subplots(
        len(data_sets), 2, figsize=(10, 3.6 * len(data_sets)), dpi=110, squeeze=False
    )
    for row, data_set in zip(axes, data_sets, strict=True):
        for name, points in curves.items():
            if name.split("-")[0] != data_set:
                continue
            epochs = [point["epoch"] for point in points]
            for axis, key in zip(row, ("ncm", "best_auroc"), strict=True):
                axis.plot(epochs, [point[key] for point in points], marker="o", label=name)
        for axis, label in zip(
            row, ("NCM top-1 (known test crops)", "best OOD AUROC"), strict=True
        ):
            axis.set_xlabel("epochs")
            axis.set_ylabel(label)
            axis.set_title(data_set, fontsize=9)
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def table(curves: dict[str, list[dict[str, float]]]) -> str:
    lines = [
        "| run | epochs | CPU-min | NCM top-1 | k-NN top-1 | linear top-1 | best AUROC |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, points in curves.items():
        for point in points:
            lines.append(
                f"| {name} | {point['epoch']} | {point['cpu_min']:.1f} | {point['ncm']:.3f} "
                f"| {point['knn']:.3f} | {point['linear']:.3f} | {point['best_auroc']:.3f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path, help="a condet experiment folder")
    parser.add_argument("--out", type=Path, help="PNG to write (default: EXPERIMENT/curves.png)")
    args = parser.parse_args()
    runs = sorted(path.parent.parent for path in args.experiment.glob("*/logs/metrics.csv"))
    curves = {run.name.removesuffix("-s0"): curve(run) for run in runs}
    plot(curves, args.out or args.experiment / "curves.png")
    print(table(curves))


if __name__ == "__main__":
    main()
