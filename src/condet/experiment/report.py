"""A self-contained HTML report of an experiment: tables, curves, plots and heatmaps.

Every figure is embedded as a base64 PNG, so ``report.html`` can be mailed or archived alone.
It shows the results tables, the training-loss curves of every training run, the detectors'
label-efficiency plot, each run's figures (PR curves of detectors, ROC curves of OOD runs,
embedding plots of feature evaluations, Grad-CAM grids), the commands with their timings, the
environment and the resolved protocol.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from condet.experiment.protocol import Run
from condet.experiment.tables import command_table, format_value
from condet.io import write_text_atomic
from condet.run_folder import read_training_log

# Figures a run folder may hold, with what they show.
FIGURES = {
    "pr_curves.png": "precision-recall curves",
    "roc.png": "ROC curves, known vs withheld classes",
    "embedding.png": "test embeddings",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; border: 1px solid #eee; }
figure { display: inline-block; vertical-align: top; width: 48%; margin: 0.5em 1% 1em 0; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
"""

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("condet", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class _Figure:
    """A PNG embedded as a base64 data URI, with its caption."""

    base64: str
    caption: str

    @classmethod
    def read(cls, path: Path, caption: str) -> _Figure:
        return cls(base64.b64encode(path.read_bytes()).decode("ascii"), caption)


def write_report(
    out: Path,
    name: str,
    description: str,
    runs: Sequence[Run],
    rows: list[dict[str, Any]],
    protocol: dict[str, Any],
    findings: Sequence[str] = (),
) -> Path:
    """Write ``out/report.html`` and return its path; ``findings`` are the sentences of the
    protocol's comparisons (:func:`~condet.experiment.tables.comparison_sentences`)."""
    losses = plot_losses(runs, out / "losses.png")
    efficiency = plot_label_efficiency(runs, out / "label_efficiency.png")
    figures = []
    for run in runs:
        if run.command == "explain" and run.folder.is_file():
            figures.append(_Figure.read(run.folder, f"{run.name}: Grad-CAM heatmaps"))
        for file_name, caption in FIGURES.items():
            if (run.folder / file_name).is_file():
                figures.append(_Figure.read(run.folder / file_name, f"{run.name}: {caption}"))
    environment = out / "environment.json"
    environment_text = (
        json.dumps(json.loads(environment.read_text()), indent=2) if environment.is_file() else ""
    )
    page = _TEMPLATES.get_template("report.html.j2").render(
        name=name,
        description=description,
        findings=list(findings),
        style=STYLE,
        tables=[_table(rows, command) for command in dict.fromkeys(r["command"] for r in rows)],
        losses=losses and _Figure.read(losses, "training loss of every run"),
        efficiency=efficiency
        and _Figure.read(
            efficiency, "detectors against label fraction: mean over seeds, band ± one std"
        ),
        figures=figures,
        runs=runs,
        environment=environment_text,
        protocol=yaml.safe_dump(protocol, sort_keys=False),
    )
    path = out / "report.html"
    write_text_atomic(path, page + "\n")
    return path


def _table(rows: list[dict[str, Any]], command: str) -> dict[str, Any]:
    """One command's results table: its header and its rows of cell texts."""
    chosen, keys = command_table(rows, command)
    body = [
        [row["run"], str(row["seeds"]), *(format_value(row.get(key)) for key in keys)]
        for row in chosen
    ]
    return {"command": command, "header": ["run", "seeds", *keys], "rows": body}


def plot_losses(runs: Sequence[Run], path: Path) -> Path | None:
    """Per-step training loss of every training run in one plot; None if there is none."""
    curves = {}
    for run in runs:
        if not (run.folder / "logs" / "metrics.csv").is_file():
            continue
        points = [
            (int(row["step"]), float(row["train/loss_step"]))
            for row in read_training_log(run.folder)
            if row.get("train/loss_step")
        ]
        if points:
            curves[run.name] = points
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4), dpi=110)
    for name, points in curves.items():
        steps, losses = zip(*points, strict=True)
        axis.plot(steps, losses, label=name, linewidth=1)
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("training loss")
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


# What the label-efficiency plot shows of each detector (labels of experiment.METRICS).
EFFICIENCY_METRICS = ("VOC07 AP50", "loc. acc@0.7")
# Options that may differ between the points of one line: the budget is set per fraction.
_PER_FRACTION = {"label-fraction", "epochs", "max-steps", "seed", "out"}


def label_efficiency(runs: Sequence[Run]) -> dict[str, dict[float, dict[str, list[float]]]]:
    """Detector results by start and label fraction: ``{start: {fraction: {metric: values}}}``.

    Detect-train runs whose options differ only in label fraction, budget and seed form one
    start, named by the run name without its fraction (``detect-imagenet-10`` and
    ``detect-imagenet-100`` are start ``detect-imagenet``); the values are one per seed.
    """
    starts: dict[str, dict[float, dict[str, list[float]]]] = {}
    names: dict[str, str] = {}
    for run in runs:
        if run.command != "detect-train" or not run.metrics:
            continue
        fraction = float(run.options.get("label-fraction", 1.0))
        shared = {k: v for k, v in run.options.items() if k not in _PER_FRACTION}
        key = json.dumps(shared, sort_keys=True, default=str)
        percent = f"{100 * fraction:g}"
        parts = [part for part in run.base_name.split("-") if part != percent]
        name = names.setdefault(key, "-".join(parts) or run.base_name)
        points = starts.setdefault(name, {}).setdefault(fraction, {})
        for metric in EFFICIENCY_METRICS:
            if metric in run.metrics:
                points.setdefault(metric, []).append(run.metrics[metric])
    return {name: points for name, points in starts.items() if len(points) > 1}


def plot_label_efficiency(runs: Sequence[Run], path: Path) -> Path | None:
    """VOC07 AP50 and loc. acc@0.7 against label fraction, one line per start, the seed spread
    (mean ± std) as a band; None unless some start was run at two fractions or more."""
    import statistics

    starts = label_efficiency(runs)
    if not starts:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(EFFICIENCY_METRICS), figsize=(10, 4), dpi=110)
    for axis, metric in zip(axes, EFFICIENCY_METRICS, strict=True):
        for name, points in starts.items():
            fractions = sorted(f for f in points if points[f].get(metric))
            means = [statistics.mean(points[f][metric]) for f in fractions]
            spreads = [
                statistics.stdev(points[f][metric]) if len(points[f][metric]) > 1 else 0.0
                for f in fractions
            ]
            percents = [100 * f for f in fractions]
            (line,) = axis.plot(percents, means, marker="o", label=name)
            low = [m - s for m, s in zip(means, spreads, strict=True)]
            high = [m + s for m, s in zip(means, spreads, strict=True)]
            axis.fill_between(percents, low, high, color=line.get_color(), alpha=0.2)
        axis.set_xscale("log")
        axis.set_xlabel("labelled training images (%)")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
