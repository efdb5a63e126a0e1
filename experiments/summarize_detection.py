"""The detection runs of experiments/detection_cpu.sh as one Markdown table.

python experiments/summarize_detection.py runs/exp
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

KEYS = ("AP50_voc07", "AP", "AP50", "AP75", "mean_iou", "loc_acc@0.5", "loc_acc@0.7")


def summarize(root: Path) -> str:
    lines = [
        "| data | labels | backbone | " + " | ".join(KEYS) + " | train images |",
        "|---|---|---|" + "---|" * (len(KEYS) + 1),
    ]
    for path in sorted(root.glob("det-*/metrics.json")):
        data_set, fraction, start = re.match(
            r"det-([a-z]+)-([0-9.]+)-(.+)$", path.parent.name
        ).groups()
        metrics = json.loads(path.read_text())
        cells = " | ".join(f"{metrics[key]:.3f}" for key in KEYS)
        images = metrics["train_images"]
        lines.append(f"| {data_set} | {float(fraction):.0%} | {start} | {cells} | {images} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/exp")), end="")
