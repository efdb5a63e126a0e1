"""Mean and spread over seeds of the crop-encoder runs of experiments/crops_cpu.sh.

python experiments/summarize_crops.py runs/exp
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def summarize(root: Path) -> str:
    runs = defaultdict(list)
    for path in sorted(root.glob("crops-*-s*/results.json")):
        data_set, loss = re.match(r"crops-([a-z]+)-(.+)-s\d+$", path.parent.name).groups()
        runs[data_set, loss].append(json.loads(path.read_text()))
    columns = [
        ("NCM top-1", lambda r: r["ncm"]["top1"]),
        ("NCM top-3", lambda r: r["ncm"]["top3"]),
        ("k-NN top-1", lambda r: r["knn"]["top1"]),
        ("linear top-1", lambda r: r["linear"]["top1"]),
        ("AUROC prototype", lambda r: r["ood"]["prototype cosine"]["auroc"]),
        ("AUROC k-NN", lambda r: r["ood"]["k-NN distance"]["auroc"]),
        ("AUROC Mahalanobis", lambda r: r["ood"]["Mahalanobis"]["auroc"]),
    ]
    lines = [
        "| data | loss | seeds | " + " | ".join(name for name, _ in columns) + " |",
        "|---|---|---|" + "---|" * len(columns),
    ]
    for (data_set, loss), results in sorted(runs.items()):
        cells = []
        for _, value in columns:
            values = [value(result) for result in results]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.3f} ± {spread:.3f}")
        lines.append(f"| {data_set} | {loss} | {len(results)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/exp")), end="")
