"""The semi-supervised study's summary: per arm and seed the test metrics, the share of the
10% -> 100% gap closed and the training CPU time; the pseudo-labels' precision and recall;
and two figures: the test AP50 against optimizer steps counted from ImageNet (a mean teacher's
burn-in, its teacher's steps, included) and the label-efficiency figure (AP50 against the
fraction of labels, the semi-supervised arms beside the supervised line). ::

    python experiments/summarize_semi.py runs/semi_supervised_bccd --out docs/semi_bccd

Reads the run folders ``ARM-sSEED`` an experiment wrote (``metrics.json``, ``config.yaml``
and ``logs/metrics*.csv``); an arm without a finished run of a seed has fewer seeds, and the
runs that started but did not finish are listed under the tables with the error their log ends
on (a run that diverged, say).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from condet.run_folder import read_training_log
from condet.yaml_files import read_yaml

METRICS = {
    "VOC07 AP50": "AP50_voc07",
    "AP": "AP",
    "mean IoU": "mean_iou",
    "loc. acc@0.5": "loc_acc@0.5",
    "loc. acc@0.7": "loc_acc@0.7",
    "CorLoc": "corloc@0.5",
}


def finished_runs(experiment: Path) -> dict[str, dict[int, Path]]:
    """``{arm: {seed: run folder}}`` of every run with a ``metrics.json``."""
    arms: dict[str, dict[int, Path]] = {}
    for metrics in sorted(experiment.glob("*/metrics.json")):
        match = re.fullmatch(r"(.+)-s(\d+)", metrics.parent.name)
        if match:
            arms.setdefault(match.group(1), {})[int(match.group(2))] = metrics.parent
    return arms


def unfinished_runs(experiment: Path) -> dict[str, str]:
    """``{run: why}`` of the run folders without a ``metrics.json``: the error line its log in
    ``logs/`` ends on (``condet experiment --jobs`` writes one a run)."""
    unfinished = {}
    for folder in sorted(path for path in experiment.glob("*-s*") if path.is_dir()):
        if (folder / "metrics.json").is_file() or not re.fullmatch(r".+-s\d+", folder.name):
            continue
        log = experiment / "logs" / f"{folder.name}.log"
        if not log.is_file():
            unfinished[folder.name] = "no log (run without --jobs, or not started)"
            continue
        marker = "condet: error: "
        lines = re.split(r"[\r\n]", log.read_text(errors="replace"))
        errors = [line.split(marker, 1)[1] for line in lines if marker in line]
        unfinished[folder.name] = errors[-1] if errors else "interrupted or running (no error)"
    return unfinished


def training_cpu_minutes(run: Path) -> float:
    """The training CPU time the run logged (``time/cpu_s`` of its last row), in minutes."""
    times = [float(row["time/cpu_s"]) for row in read_training_log(run) if row.get("time/cpu_s")]
    return max(times, default=0.0) / 60


def steps_before(run: Path) -> int:
    """Optimizer steps its start had taken: a mean teacher's teacher run's, else 0."""
    config = read_yaml(run / "config.yaml") or {}
    if config.get("semi") != "mean-teacher" or not config.get("teacher"):
        return 0
    teacher = run.parent / Path(config["teacher"]).name
    steps = [int(row["step"]) for row in read_training_log(teacher) if row.get("step")]
    return max(steps, default=-1) + 1


def test_curve(run: Path) -> list[tuple[int, float]]:
    """``(steps from ImageNet, test AP50)`` at each evaluation and at the end."""
    offset, rows = steps_before(run), read_training_log(run)
    points = [
        (offset + int(row["step"]) + 1, float(row["test/AP50_voc07"]))
        for row in rows
        if row.get("test/AP50_voc07")
    ]
    last = offset + max((int(row["step"]) for row in rows if row.get("step")), default=0) + 1
    if not points or points[-1][0] != last:
        points.append((last, json.loads((run / "metrics.json").read_text())["AP50_voc07"]))
    return points


def pseudo_curve(run: Path) -> list[tuple[int, float, float]]:
    """``(step, precision, recall)`` of the pseudo-labels, per epoch (mean teacher)."""
    return [
        (int(row["step"]) + 1, float(row["pseudo/precision"]), float(row["pseudo/recall"]))
        for row in read_training_log(run)
        if row.get("pseudo/precision")
    ]


def pooled_pseudo_labels(run: Path, epochs: int = 10) -> tuple[float, float] | None:
    """Precision and recall of the mean teacher's pseudo-labels over its last ``epochs``
    epochs, pooled box by box: one epoch scores only the unlabelled images of its few steps
    (44 on Aquarium), too few for a point of its own. Logs without the true boxes per image
    (before ``7ad19ec``) give them as right / recall."""
    rows = [row for row in read_training_log(run) if row.get("pseudo/precision")][-epochs:]
    if not rows:
        return None
    right = given = true = 0.0
    for row in rows:
        per_image = float(row["pseudo/pseudo_labels_per_image"])
        matched = float(row["pseudo/precision"]) * per_image
        right, given = right + matched, given + per_image
        if row.get("pseudo/true_boxes_per_image"):
            true += float(row["pseudo/true_boxes_per_image"])
        elif float(row["pseudo/recall"]) > 0:
            true += matched / float(row["pseudo/recall"])
    return right / given, right / true


def mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}" if values else "-"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def tables(arms: dict[str, dict[int, Path]]) -> str:
    metrics = {
        arm: {seed: json.loads((run / "metrics.json").read_text()) for seed, run in seeds.items()}
        for arm, seeds in arms.items()
    }
    lines = ["| arm | seeds | " + " | ".join(METRICS) + " | gap closed | training CPU-min |"]
    lines.append("|---" * (len(METRICS) + 4) + "|")
    low, high = metrics.get("sup-10", {}), metrics.get("sup-100", {})
    for arm, by_seed in metrics.items():
        cells = [mean_std([m[key] for m in by_seed.values()]) for key in METRICS.values()]
        # the share of the 10% -> 100% gap, seed by seed (each seed's own sup-10 and sup-100)
        shares = [
            (m["AP50_voc07"] - low[seed]["AP50_voc07"])
            / (high[seed]["AP50_voc07"] - low[seed]["AP50_voc07"])
            for seed, m in by_seed.items()
            if seed in low and seed in high
        ]
        minutes = [training_cpu_minutes(arms[arm][seed]) for seed in by_seed]
        seeds = ", ".join(str(seed) for seed in sorted(by_seed))
        lines.append(
            f"| {arm} | {seeds} | " + " | ".join(cells) + f" | {mean_std(shares)} | "
            f"{mean_std(minutes)} |"
        )
    # offline labels are scored once, over every image; a mean teacher's over its last epochs
    header = "pseudo precision | pseudo recall (offline: all; mean teacher: last 10 epochs)"
    lines += ["", "| run | " + " | ".join(METRICS) + f" | {header} |"]
    lines.append("|---" * (len(METRICS) + 3) + "|")
    for arm, by_seed in metrics.items():
        for seed, m in sorted(by_seed.items()):
            pseudo = m.get("pseudo_labels") or {}
            precision, recall = pooled_pseudo_labels(arms[arm][seed]) or (
                pseudo.get("precision"),
                pseudo.get("recall"),
            )
            cells = [f"{m[key]:.3f}" for key in METRICS.values()]
            lines.append(
                f"| {arm}-s{seed} | "
                + " | ".join(cells)
                + " | "
                + (f"{precision:.3f} | {recall:.3f} |" if precision is not None else "- | - |")
            )
    return "\n".join(lines)


def figures(arms: dict[str, dict[int, Path]], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (curves, pseudo, efficiency) = plt.subplots(1, 3, figsize=(15, 4), dpi=110)
    colours = dict(zip(arms, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for arm, seeds in arms.items():
        for index, (seed, run) in enumerate(sorted(seeds.items())):
            points = test_curve(run)
            label = arm if index == 0 else None
            curves.plot(
                *zip(*points, strict=True),
                marker="o",
                ms=3,
                color=colours[arm],
                label=label,
                alpha=0.8,
            )
            precision_recall = pseudo_curve(run)
            if precision_recall:
                steps, precision, recall = zip(*precision_recall, strict=True)
                pseudo.plot(steps, precision, color=colours[arm], label=f"precision s{seed}")
                pseudo.plot(steps, recall, color=colours[arm], ls="--", label=f"recall s{seed}")
    curves.set(xlabel="optimizer steps from ImageNet (batch 4)", ylabel="VOC07 AP50 (test)")
    pseudo.set(xlabel="mean teacher's steps", ylabel="pseudo-labels against the hidden labels")
    metrics = {
        arm: [
            json.loads((run / "metrics.json").read_text())["AP50_voc07"] for run in seeds.values()
        ]
        for arm, seeds in arms.items()
    }
    supervised = [(10, metrics.get("sup-10")), (100, metrics.get("sup-100"))]
    supervised = [(fraction, values) for fraction, values in supervised if values]
    efficiency.errorbar(
        [fraction for fraction, _ in supervised],
        [statistics.mean(values) for _, values in supervised],
        yerr=[statistics.pstdev(values) for _, values in supervised],
        marker="o",
        color="black",
        label="supervised",
        capsize=3,
    )
    for arm, values in metrics.items():
        if arm not in ("sup-10", "sup-100"):
            efficiency.errorbar(
                [10],
                [statistics.mean(values)],
                yerr=[statistics.pstdev(values)],
                marker="s",
                ls="none",
                color=colours[arm],
                label=arm,
                capsize=3,
            )
    efficiency.set(
        xscale="log",
        xlabel="labelled training images (%)",
        ylabel="VOC07 AP50 (test), mean ± std over seeds",
    )
    efficiency.set_xticks([10, 100], ["10", "100"])
    for axis in (curves, pseudo, efficiency):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out.with_suffix(".png"))
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path, help="a semi_supervised_* experiment folder")
    parser.add_argument("--out", type=Path, help="the figure, without suffix (default: in it)")
    parser.add_argument("--title", help="of the figure (default: the folder's name)")
    args = parser.parse_args()
    arms = finished_runs(args.experiment)
    figures(arms, args.out or args.experiment / "semi_summary", args.title or args.experiment.name)
    print(tables(arms))
    unfinished = unfinished_runs(args.experiment)
    if unfinished:
        print("\nStarted and not finished (left out of the means above):\n")
        print("\n".join(f"- {run}: {why}" for run, why in unfinished.items()))


if __name__ == "__main__":
    main()
