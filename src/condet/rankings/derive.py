"""``condet rankings derive``: a rankings YAML from the crops of a data set.

The similarity between classes comes from an encoder (a classify-train run, by prototypes or,
for a cross-entropy one, by confusion) or from a backbone's frozen features; the rankings are
made from it by :mod:`condet.rankings.similarity`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from condet.config.rankings import DeriveConfig
from condet.data.cache import default_cache_dir
from condet.data.crops import ObjectCropDataset
from condet.data.load import load_annotations
from condet.data.normalize import Normalize
from condet.data.splits import labelled_subset
from condet.errors import CondetError
from condet.evaluation.encoders import encode
from condet.evaluation.features import embed
from condet.io import write_text_atomic
from condet.models.backbones import build_backbone
from condet.models.encoder import load_encoder
from condet.rankings.similarity import (
    confusion_similarity,
    prototype_similarity,
    rankings_from_similarity,
)
from condet.run_folder import write_config, write_metrics


def run_rankings_derive(config: DeriveConfig) -> Path:
    """Write the rankings YAML ``config.out`` derived from the crops of ``config.data`` (of the
    images ``--image-ids`` names only, when given), with its config and ``metrics.json``
    beside it; returns its path. Random ``--weights`` are drawn from ``--seed``."""
    annotations = load_annotations(config.data, config.split, skip_invalid=True)
    if config.image_ids is not None:
        annotations = labelled_subset(annotations, ids_file=config.image_ids)
    crops = ObjectCropDataset(annotations, size=config.crop_size, cache_dir=default_cache_dir())
    classes = annotations.classes
    if config.encoder is not None:
        model, saved = load_encoder(config.encoder)
        normalize = Normalize(saved["mean"], saved["std"])
        if config.by == "confusion":
            if model.contrastive:
                raise CondetError("--by confusion needs a cross-entropy (--loss ce) encoder")
            known = torch.tensor(saved["known"])
            logits = torch.full((len(crops), len(classes)), float("-inf"))
            logits[:, known] = encode(model, crops.crops, normalize, logits=True)
            similarity = confusion_similarity(logits, crops.labels, len(classes))
        else:
            similarity = prototype_similarity(
                encode(model, crops.crops, normalize), crops.labels, len(classes)
            )
    else:
        model = build_backbone(config.backbone, config.weights, config.seed)
        features = embed(model, crops.crops, 256, torch.device("cpu"))
        similarity = prototype_similarity(features, crops.labels, len(classes))
    rankings = rankings_from_similarity(
        similarity, classes, config.neighbours, config.min_similarity
    )
    source = f"{config.data} ({config.split})"
    header = f"# derived by condet rankings derive --by {config.by} from {source}\n"
    write_text_atomic(config.out, header + yaml.safe_dump({"rankings": rankings}, sort_keys=False))
    write_config(config.out, config, single_file=True)
    write_metrics(config.out, {"classes": len(rankings)}, single_file=True)
    return config.out
