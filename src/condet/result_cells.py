"""The cells of an experiment's results tables, shared by ``results.md`` and ``report.html``.

A summary row (:func:`condet.experiment.summary_rows`) holds, per metric, a dict with the
``mean``, ``std`` and ``n`` over seeds; these helpers pick one command's rows and write a cell.
"""

from __future__ import annotations

from typing import Any


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
