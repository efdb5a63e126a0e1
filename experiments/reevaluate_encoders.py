"""Evaluate finished classify-train / ood runs again with the evaluation of the current commit,
which adds what they did not yet write: the t-SNE map of the test embeddings
(``embedding.png``) and each withheld class's AUROC (``ood_auroc_by_class``).

Rebuilds each run's training and test crops from its ``config.yaml`` (the same data, splits,
withheld and dropped classes; the crop cache makes this quick) and scores the run's saved
encoder (its BatchNorm statistics were already recomputed before it was saved). The numbers the
run wrote must come out again to within 1e-6, or the run is left as it is and the script stops:
then this is not the same evaluation. Run it from the folder the runs were started in, since
their configs name files relative to it. ::

    python experiments/reevaluate_encoders.py runs/ranked_contrastive_coco128/*-s?
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from condet.config.classify import ClassifyConfig
from condet.data.cache import default_cache_dir
from condet.data.load import DataSets
from condet.data.normalize import Normalize
from condet.evaluation.encoders import (
    encode,
    encoder_results_markdown,
    evaluate_encoder,
    known_bank,
    plot_test_embeddings,
)
from condet.io import write_text_atomic
from condet.models.encoder import load_encoder
from condet.options import build_config, load_config_file
from condet.run_folder import write_metrics
from condet.train.crop_splits import load_crops


def reevaluate(run: Path) -> dict[str, Any]:
    """Score ``run``'s encoder again, check it against ``run/results.json`` and add the new
    keys to it; returns the updated results."""
    config = build_config(ClassifyConfig, load_config_file(ClassifyConfig, run / "config.yaml"))
    cache_dir = config.cache_dir or default_cache_dir()
    train, test = load_crops(config, DataSets(config.strict, cache_dir, progress=False), cache_dir)
    encoder, saved = load_encoder(run)
    normalize = Normalize(saved["mean"], saved["std"])
    bank, bank_labels = known_bank(encoder, train, saved["known"], normalize)
    fresh = evaluate_encoder(encoder, bank, bank_labels, test, saved["known"], normalize)
    stored = json.loads((run / "results.json").read_text())
    differences = [
        f"{key}: {stored_value} now {fresh_value}"
        for key, stored_value, fresh_value in paired_numbers(stored, fresh)
        if not math.isclose(stored_value, fresh_value, abs_tol=1e-6)
    ]
    if differences:
        raise SystemExit(f"{run}: not the evaluation it ran: " + "; ".join(differences[:5]))
    updated = with_new_keys(stored, fresh)
    # drawn only once the stored numbers are confirmed: a refused run keeps its folder as it was
    queries = encode(encoder, test.crops, normalize)
    plot_test_embeddings(queries, test, saved["known"], run / "embedding.png")
    write_text_atomic(run / "results.json", json.dumps(updated, indent=2))
    write_text_atomic(run / "results.md", encoder_results_markdown(updated))
    write_metrics(run, updated)
    return updated


def with_new_keys(stored: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with the keys only ``fresh`` has added, at any depth (a new metric of every
    OOD score as well as a new table)."""
    updated = dict(stored)
    for key, value in fresh.items():
        if key not in stored:
            updated[key] = value
        elif isinstance(value, dict) and isinstance(stored[key], dict):
            updated[key] = with_new_keys(stored[key], value)
    return updated


def paired_numbers(stored: Any, fresh: Any, prefix: str = "") -> list[tuple[str, float, float]]:
    """Every number both results hold at the same key path."""
    if isinstance(stored, dict) and isinstance(fresh, dict):
        return [
            pair
            for key in stored.keys() & fresh.keys()
            for pair in paired_numbers(stored[key], fresh[key], f"{prefix}{key}.")
        ]
    if isinstance(stored, (int, float)) and isinstance(fresh, (int, float)):
        return [(prefix.rstrip("."), float(stored), float(fresh))]
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished classify-train / ood runs")
    for run in parser.parse_args().runs:
        results = reevaluate(run)
        print(run, json.dumps(results.get("ood_auroc_by_class", {})))


if __name__ == "__main__":
    main()
