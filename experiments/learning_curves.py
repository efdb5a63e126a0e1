"""Learning curves of detect-train runs: test AP50 and mean IoU against optimizer steps.

Reads every run folder of an experiment (``RUN/logs/metrics*.csv``, written with
``--eval-every``, and ``RUN/metrics.json`` for the final point), draws one PNG with AP50 and
mean IoU against steps (and a second x axis in training CPU-minutes) and prints a Markdown
table: one row per evaluation, with the steps, CPU-minutes and wall-minutes spent training up
to it. ::

    python experiments/learning_curves.py runs/detection_curves_aquarium --out docs/curves.png
    python experiments/learning_curves.py EXPERIMENT [EXPERIMENT ...] --title "..."  # together
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from condet.run_folder import read_training_log


def curve(run: Path) -> list[dict[str, float]]:
    """``[{step, AP50, mean_iou, cpu_min, wall_min}]`` at each evaluation of ``run``."""
    rows = read_training_log(run)
    times = {
        int(row["step"]): (float(row["time/cpu_s"]), float(row["time/wall_s"]))
        for row in rows
        if row.get("time/cpu_s")
    }

    def spent(step: int) -> tuple[float, float]:
        logged = [s for s in times if s <= step]
        cpu, wall = times[max(logged)] if logged else (0.0, 0.0)
        return cpu / 60, wall / 60

    points = [
        {
            "step": int(row["step"]) + 1,
            "AP50": float(row["test/AP50_voc07"]),
            "mean_iou": float(row["test/mean_iou"]),
        }
        for row in rows
        if row.get("test/AP50_voc07")
    ]
    final = run / "metrics.json"
    last_step = max((int(row["step"]) for row in rows if row.get("step")), default=0) + 1
    if final.is_file() and all(point["step"] != last_step for point in points):
        metrics = json.loads(final.read_text())
        points.append(
            {"step": last_step, "AP50": metrics["AP50_voc07"], "mean_iou": metrics["mean_iou"]}
        )
    for point in points:
        point["cpu_min"], point["wall_min"] = spent(point["step"] - 1)
    return points


def plot(curves: dict[str, list[dict[str, float]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    for name, points in curves.items():
        steps = [point["step"] for point in points]
        for axis, key in zip(axes, ("AP50", "mean_iou"), strict=True):
            axis.plot(steps, [point[key] for point in points], marker="o", label=name)
    for axis, label in zip(axes, ("VOC07 AP50 (test)", "mean IoU (test)"), strict=True):
        axis.set_xlabel("optimizer steps (batch 4)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def table(curves: dict[str, list[dict[str, float]]]) -> str:
    lines = [
        "| run | steps | CPU-min | wall-min | AP50 (VOC07) | mean IoU |",
        "|---|---|---|---|---|---|",
    ]
    for name, points in curves.items():
        for point in points:
            lines.append(
                f"| {name} | {point['step']} | {point['cpu_min']:.1f} | {point['wall_min']:.1f} "
                f"| {point['AP50']:.3f} | {point['mean_iou']:.3f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", type=Path, nargs="+", help="condet experiment folders")
    parser.add_argument("--out", type=Path, help="PNG to write (default: EXPERIMENT/curves.png)")
    parser.add_argument("--title", help="of the plot (default: the first folder's name)")
    args = parser.parse_args()
    first = args.experiments[0]
    runs = sorted(
        path.parent.parent
        for experiment in args.experiments
        for path in experiment.glob("*/logs/metrics.csv")
    )
    curves = {run.name: curve(run) for run in runs}
    plot(curves, args.out or first / "curves.png", args.title or first.name)
    print(table(curves))


if __name__ == "__main__":
    main()
