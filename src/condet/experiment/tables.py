"""The tables of an experiment: one summary row per protocol run (mean and spread over its
seeds), its cells, the comparison sentences, Markdown and CSV (``report.html`` shows the same
cells)."""

from __future__ import annotations

import csv
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from condet.experiment.protocol import Run


def summary_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per protocol run: metrics as mean and spread over its seeds."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        if run.metrics:
            groups.setdefault(run.base_name, []).append(run)
    rows = []
    for name, members in groups.items():
        row: dict[str, Any] = {"run": name, "command": members[0].command, "seeds": len(members)}
        keys = dict.fromkeys(key for member in members for key in member.metrics)
        for key in keys:
            values = [member.metrics[key] for member in members if key in member.metrics]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            row[key] = {"mean": statistics.mean(values), "std": spread, "n": len(values)}
        rows.append(row)
    return rows


def command_table(
    rows: list[dict[str, Any]], command: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The summary rows of one command and their metric columns, in first-seen order."""
    chosen = [row for row in rows if row["command"] == command]
    keys = list(dict.fromkeys(k for row in chosen for k in row if isinstance(row[k], dict)))
    return chosen, keys


def format_value(value: dict[str, float] | None) -> str:
    """A summary cell: ``mean ± std`` over seeds, the value alone for one run."""
    if value is None:
        return ""
    if value["n"] > 1:
        return f"{value['mean']:.3f} ± {value['std']:.3f}"
    return f"{value['mean']:.3f}"


def comparison_sentences(
    rows: list[dict[str, Any]], comparisons: Sequence[dict[str, Any]]
) -> list[str]:
    """One sentence per comparison ``{runs: [A, B], metric: M}``: B against A on M, over seeds.

    A difference smaller than twice the larger seed spread (std) is reported as no
    difference; with one seed on either side there is no spread, and no conclusion.
    """
    by_name = {row["run"]: row for row in rows}
    sentences = []
    for comparison in comparisons:
        (first, second), metric = comparison["runs"], comparison["metric"]
        values = [by_name.get(name, {}).get(metric) for name in (first, second)]
        if None in values:
            missing = first if values[0] is None else second
            sentences.append(f"{metric}, {second} vs {first}: {missing} has no result yet.")
            continue
        base, other = values
        difference = other["mean"] - base["mean"]
        stated = (
            f"{metric}: {second} {format_value(other)} vs {first} {format_value(base)} "
            f"({other['n']} and {base['n']} seeds)"
        )
        if min(base["n"], other["n"]) < 2:
            sentences.append(f"{stated}; one seed gives no spread, so no conclusion.")
            continue
        margin = 2 * max(base["std"], other["std"])
        if abs(difference) < margin:
            verdict = (
                f"the difference ({difference:+.3f}) is smaller than twice the seed spread "
                f"({margin:.3f}): no difference"
            )
        else:
            direction = "higher" if difference > 0 else "lower"
            verdict = (
                f"{second} is {direction} by {abs(difference):.3f}, more than twice the seed "
                f"spread ({margin:.3f})"
            )
        sentences.append(f"{stated}; {verdict}.")
    return sentences


def markdown_tables(rows: list[dict[str, Any]]) -> str:
    """One Markdown table per command: ``mean ± std`` where a run repeats over seeds."""
    text = []
    for command in dict.fromkeys(row["command"] for row in rows):
        chosen, keys = command_table(rows, command)
        text.append(f"### {command}\n")
        text.append("| run | seeds | " + " | ".join(keys) + " |")
        text.append("|---|---|" + "---|" * len(keys))
        for row in chosen:
            cells = [format_value(row.get(key)) for key in keys]
            text.append(f"| {row['run']} | {row['seeds']} | " + " | ".join(cells) + " |")
        text.append("")
    return "\n".join(text)


def write_csv(runs: list[Run], path: Path) -> None:
    """One row per run and seed: its seconds and every headline number."""
    keys = list(dict.fromkeys(key for run in runs for key in run.metrics))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "command", "seed", "seconds", *keys])
        for run in runs:
            values = [f"{run.metrics[key]:.6g}" if key in run.metrics else "" for key in keys]
            seed = "" if run.seed is None else run.seed
            writer.writerow([run.name, run.command, seed, f"{run.seconds:.1f}", *values])
