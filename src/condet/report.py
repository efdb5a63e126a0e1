"""A self-contained HTML report of an experiment: tables, curves, plots and heatmaps.

Every figure is embedded as a base64 PNG, so ``report.html`` can be mailed or archived alone.
It shows the results tables, the training-loss curves of every training run, the detectors'
label-efficiency plot, each run's figures (PR curves of detectors, ROC curves of OOD runs,
embedding plots of feature evaluations, Grad-CAM grids), the commands with their timings, the
environment and the resolved protocol.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from condet.experiment import command_table, format_value
from condet.io import write_text_atomic

if TYPE_CHECKING:
    from condet.experiment import Run

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


def write_report(
    out: Path,
    name: str,
    description: str,
    runs: list[Run],
    rows: list[dict[str, Any]],
    protocol: dict[str, Any],
    findings: Sequence[str] = (),
) -> Path:
    """Write ``out/report.html`` and return its path; ``findings`` are the sentences of the
    protocol's comparisons (:func:`condet.experiment.comparison_sentences`)."""
    parts = [f"<h1>{html.escape(name)}</h1>"]
    if description:
        parts.append(f"<p>{html.escape(description)}</p>")
    if findings:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in findings)
        parts.append(f"<h2>What the numbers show</h2><ul>{items}</ul>")
    parts.append("<h2>Results</h2>")
    parts += [_table(rows, command) for command in dict.fromkeys(r["command"] for r in rows)]
    losses = plot_losses(runs, out / "losses.png")
    if losses is not None:
        parts.append("<h2>Training loss</h2>" + _figure(losses, "training loss of every run"))
    efficiency = plot_label_efficiency(runs, out / "label_efficiency.png")
    if efficiency is not None:
        caption = "detectors against label fraction: mean over seeds, band ± one std"
        parts.append("<h2>Label efficiency</h2>" + _figure(efficiency, caption))
    figures = []
    for run in runs:
        if run.command == "explain" and run.folder.is_file():
            figures.append(_figure(run.folder, f"{run.name}: Grad-CAM heatmaps"))
        for file_name, caption in FIGURES.items():
            if (run.folder / file_name).is_file():
                figures.append(_figure(run.folder / file_name, f"{run.name}: {caption}"))
    if figures:
        parts.append("<h2>Figures</h2>" + "".join(figures))
    parts.append("<h2>Runs</h2>" + _commands(runs))
    environment = out / "environment.json"
    if environment.is_file():
        pretty = json.dumps(json.loads(environment.read_text()), indent=2)
        parts.append(f"<h2>Environment</h2><pre>{html.escape(pretty)}</pre>")
    resolved = yaml.safe_dump(protocol, sort_keys=False)
    parts.append(f"<h2>Protocol</h2><pre>{html.escape(resolved)}</pre>")
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(name)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )
    path = out / "report.html"
    write_text_atomic(path, page)
    return path


def _table(rows: list[dict[str, Any]], command: str) -> str:
    chosen, keys = command_table(rows, command)
    header = "".join(f"<th>{html.escape(key)}</th>" for key in ["run", "seeds", *keys])
    body = []
    for row in chosen:
        cells = [html.escape(row["run"]), str(row["seeds"])]
        cells += [format_value(row.get(key)) for key in keys]
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return (
        f"<h3>{html.escape(command)}</h3><table><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _figure(path: Path, caption: str) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _commands(runs: list[Run]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(run.name)}</td><td>{run.seconds:.1f}</td>"
        f"<td><code>condet {html.escape(' '.join(run.argv))}</code></td></tr>"
        for run in runs
    )
    return (
        "<table><thead><tr><th>run</th><th>seconds</th><th>command</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def plot_losses(runs: list[Run], path: Path) -> Path | None:
    """Per-step training loss of every training run in one plot; None if there is none."""
    from condet.runs import read_metrics

    curves = {}
    for run in runs:
        if not (run.folder / "logs" / "metrics.csv").is_file():
            continue
        points = [
            (int(row["step"]), float(row["train/loss_step"]))
            for row in read_metrics(run.folder)
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


def label_efficiency(runs: list[Run]) -> dict[str, dict[float, dict[str, list[float]]]]:
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


def plot_label_efficiency(runs: list[Run], path: Path) -> Path | None:
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
