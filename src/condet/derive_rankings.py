"""``condet rankings derive``: a rankings YAML from the crops of a data set.

The similarity between classes comes from an encoder (a classify-train run, by prototypes or,
for a cross-entropy one, by confusion) or from a backbone's frozen features; the rankings are
made from it by :mod:`condet.losses.derive`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from condet.data.crops import ObjectCropDataset
from condet.data.images import default_cache_dir
from condet.data.load import load_annotations
from condet.data.splits import labelled_subset
from condet.data.transforms import Normalize
from condet.errors import CondetError
from condet.evaluation.encoders import encode
from condet.evaluation.features import embed
from condet.io import write_text_atomic
from condet.losses.derive import (
    confusion_similarity,
    prototype_similarity,
    rankings_from_similarity,
)
from condet.models.backbones import build_backbone
from condet.models.encoder import load_encoder


def derive_rankings_file(
    data: Path,
    split: str,
    out: Path,
    by: str = "prototypes",
    encoder: Path | None = None,
    backbone: str = "resnet18",
    weights: str = "random",
    crop_size: int = 64,
    neighbours: int = 2,
    min_similarity: float | None = None,
    seed: int = 0,
    image_ids: Path | None = None,
) -> Path:
    """Write a rankings YAML derived from the crops of ``data`` (:mod:`condet.losses.derive`),
    of the images ``image_ids`` names only when given; random ``weights`` are drawn from
    ``seed``."""
    annotations = load_annotations(data, split, skip_invalid=True)
    if image_ids is not None:
        annotations = labelled_subset(annotations, ids_file=image_ids)
    crops = ObjectCropDataset(annotations, size=crop_size, cache_dir=default_cache_dir())
    classes = annotations.classes
    if encoder is not None:
        model, saved = load_encoder(encoder)
        normalize = Normalize(saved["mean"], saved["std"])
        if by == "confusion":
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
        if by == "confusion":
            raise CondetError("--by confusion needs --encoder, a cross-entropy classify-train run")
        model = build_backbone(backbone, weights, seed)
        features = embed(model, crops.crops, 256, torch.device("cpu"))
        similarity = prototype_similarity(features, crops.labels, len(classes))
    rankings = rankings_from_similarity(similarity, classes, neighbours, min_similarity)
    header = f"# derived by condet rankings derive --by {by} from {data} ({split})\n"
    write_text_atomic(out, header + yaml.safe_dump({"rankings": rankings}, sort_keys=False))
    return out
