"""Mean ± spread over seeds of a crop-encoder protocol's runs (ranked_contrastive_*.yaml):
known-class top-1 and top-3 by NCM, k-NN and linear probe, the training CPU-minutes, and
AUROC, AUPR-in, AUPR-out and FPR@95TPR of every OOD score, and each withheld class's AUROC
of the scores every loss has, and the open-set pipeline runs (``pipeline-ARM-sN``) of the
protocol's folder and of any ``--pipelines`` folder (a variant that ran the same encoders
on another detector): unknown objects found and rejected, known objects kept, and AP50.
Arms in the protocol's order; a run is ``ARM-sN``. ::

    python experiments/summarize_crop_study.py experiments/results/ranked_contrastive_coco128
    python experiments/summarize_crop_study.py experiments/results/ranked_contrastive_aquarium \
        --pipelines experiments/results/ranked_contrastive_aquarium_withheld
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

import yaml

from condet.run_folder import read_training_log

CLASSIFIERS = ("ncm", "knn", "linear")
OOD_SCORES = ("prototype cosine", "k-NN distance", "Mahalanobis", "max softmax", "energy")
OOD_METRICS = (
    ("auroc", "AUROC"),
    ("aupr_in", "AUPR-in"),
    ("aupr_out", "AUPR-out"),
    ("fpr@95tpr", "FPR@95TPR"),
    ("fpr@95tpr_in", "FPR@95TPR-in"),
)


def cpu_minutes(run: Path) -> float:
    """Training CPU-minutes: the last ``time/cpu_s`` the run logged."""
    seconds = [float(row["time/cpu_s"]) for row in read_training_log(run) if row.get("time/cpu_s")]
    return seconds[-1] / 60 if seconds else float("nan")


def mean_spread(values: list[float], places: int = 3) -> str:
    """``mean ± sample standard deviation`` (± 0 for one value, "" for none)."""
    if not values:
        return ""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{places}f} ± {spread:.{places}f}"


def pipeline_table(folders: list[Path], order: list[str]) -> list[str]:
    """Mean ± spread over seeds of each arm's pipeline runs, a row per arm and folder."""
    lines = [
        "| detector folder | arm | seeds | unknown found | unknown rejected | rejected share "
        "of found unknown | kept share of found known | AP50 (VOC07) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for folder in folders:
        runs: dict[str, list[dict]] = defaultdict(list)
        for path in sorted(folder.glob("pipeline-*-s*/metrics.json")):
            arm = re.sub(r"^pipeline-|-s\d+$", "", path.parent.name)
            runs[arm].append(json.loads(path.read_text()))
        for arm in [arm for arm in order if arm in runs]:
            found = runs[arm]
            cells = [
                mean_spread([m["unknown_found"] for m in found], places=1),
                mean_spread([m["unknown_rejected"] for m in found], places=1),
                mean_spread([m["unknown_rejected"] / m["unknown_found"] for m in found]),
                mean_spread([1 - m["known_rejected"] / m["known_found"] for m in found]),
                mean_spread([m["AP50_voc07"] for m in found]),
            ]
            lines.append(f"| {folder.name} | {arm} | {len(found)} | " + " | ".join(cells) + " |")
    return lines


def summarize(root: Path, pipelines: list[Path] | None = None) -> str:
    order = [run["name"] for run in yaml.safe_load((root / "protocol.yaml").read_text())["runs"]]
    arms: dict[str, list[tuple[dict, float]]] = defaultdict(list)
    for path in sorted(root.glob("*-s*/results.json")):
        if not re.search(r"-s\d+$", path.parent.name):
            continue
        arm = re.sub(r"-s\d+$", "", path.parent.name)
        arms[arm].append((json.loads(path.read_text()), cpu_minutes(path.parent)))
    ordered = [arm for arm in order if arm in arms]
    header = ["arm", "seeds"] + [
        f"{name} top-{k}" for name in ("NCM", "k-NN", "linear") for k in (1, 3)
    ]
    lines = [
        "| " + " | ".join([*header, "CPU-min"]) + " |",
        "|" + "---|" * (len(header) + 1),
    ]
    for arm in ordered:
        runs = arms[arm]
        cells = [
            mean_spread([results[name][f"top{k}"] for results, _ in runs])
            for name in CLASSIFIERS
            for k in (1, 3)
        ]
        minutes = statistics.mean(minutes for _, minutes in runs)
        lines.append(f"| {arm} | {len(runs)} | " + " | ".join(cells) + f" | {minutes:.1f} |")
    lines += ["", "| arm | OOD score | " + " | ".join(label for _, label in OOD_METRICS) + " |"]
    lines.append("|---|---|" + "---|" * len(OOD_METRICS))
    for arm in ordered:
        for score in OOD_SCORES:
            found = [
                results["ood"][score] for results, _ in arms[arm] if score in results.get("ood", {})
            ]
            if found:
                # runs scored before FPR@95TPR-in was added lack it: an empty cell
                cells = [
                    mean_spread([metrics[key] for metrics in found if key in metrics])
                    for key, _ in OOD_METRICS
                ]
                lines.append(f"| {arm} | {score} | " + " | ".join(cells) + " |")
    # each arm's own withheld classes: arms of one protocol may withhold different ones
    by_class: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for arm in ordered:
        for results, _ in arms[arm]:
            for name, aurocs in sorted(results.get("ood_auroc_by_class", {}).items()):
                by_class[arm, name].append(aurocs)
    if by_class:
        scores = OOD_SCORES[:3]
        lines += [
            "",
            "| arm | withheld class | " + " | ".join(f"AUROC {score}" for score in scores) + " |",
        ]
        lines.append("|---|---|" + "---|" * len(scores))
        for (arm, name), aurocs in by_class.items():
            cells = [mean_spread([auroc[score] for auroc in aurocs]) for score in scores]
            lines.append(f"| {arm} | {name} | " + " | ".join(cells) + " |")
    if any(root.glob("pipeline-*-s*/metrics.json")) or pipelines:
        lines += ["", *pipeline_table([root, *(pipelines or [])], order)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the protocol's output folder")
    parser.add_argument(
        "--pipelines",
        type=Path,
        nargs="*",
        default=[],
        help="other folders whose pipeline-ARM-sN runs used the same encoders",
    )
    args = parser.parse_args()
    print(summarize(args.root, args.pipelines), end="")


if __name__ == "__main__":
    main()
