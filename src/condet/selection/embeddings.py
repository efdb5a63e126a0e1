"""Image embeddings for selection: pooled backbone features of every image of a pool.

Images are decoded once into squares (shorter side resized to ``size``, centre crop, as
ImageNet evaluation does) and cached by :class:`~condet.data.images.ImageTensors`; the pooled
features of a backbone are cached beside them under a key of the decoded images, the backbone,
its weights and the input normalisation, so that trying a second selection method on the same
embeddings embeds nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from condet.data.images import ImageTensors
from condet.evaluation.features import embed, frozen_backbone
from condet.io import atomic_path

logger = logging.getLogger("condet")

_CACHE_FORMAT = 1


def image_embeddings(
    paths: Sequence[Path],
    backbone: str,
    weights: str | Path,
    size: int = 224,
    batch_size: int = 64,
    device: torch.device | None = None,
    cache_dir: str | Path | None = None,
    workers: int = 0,
    seed: int = 0,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features float32 ``[N, C]`` and the decoded images uint8 ``[N, 3, size, size]``.

    Args:
        paths: the N image files.
        backbone: a backbone name (``efficientnet_lite0``, ``resnet18``, ...).
        weights: ``random``, ``imagenet``, a weights file, a ``pretrain`` run folder or a
            ``classify-train`` run (its encoder's backbone); inputs are normalised as those
            weights expect.
        size: side of the decoded squares.
        batch_size: images per forward pass.
        device: where the backbone runs (default: the CPU).
        cache_dir: where decoded images and embeddings are kept (None: not kept).
        workers: processes decoding images on the first pass.
        seed: seed of ``random`` weights.
        progress: show progress bars.
    """
    images = ImageTensors(paths, size, cache_dir=cache_dir, workers=workers, progress=progress)
    cache_path = None
    if images.cache_path is not None:
        key = _embedding_key(images.cache_path.stem, backbone, weights, seed)
        cache_path = images.cache_path.parent / f"embeddings-{key}.pt"
        if cache_path.is_file():
            features = torch.load(cache_path, weights_only=True)
            logger.info("read %d embeddings from %s", len(features), cache_path)
            return features, images.images
    network, normalization = frozen_backbone(backbone, weights, seed)
    features = embed(
        network,
        images.images,
        batch_size,
        device or torch.device("cpu"),
        progress,
        normalization,
    )
    if cache_path is not None:
        with atomic_path(cache_path) as temporary:
            torch.save(features, temporary)
    return features, images.images


def _embedding_key(images_key: str, backbone: str, weights: str | Path, seed: int) -> str:
    """A hash of what the embeddings depend on. A weights file counts by its path, size and
    modification time (hashing its bytes would cost more than embedding a small pool)."""
    parts: list[object] = [_CACHE_FORMAT, images_key, backbone, str(weights)]
    if str(weights) == "random":
        parts.append(seed)
    elif str(weights) != "imagenet":
        path = Path(weights)
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and file.suffix in (".safetensors", ".pt", ".pth", ".ckpt"):
                stat = file.stat()
                parts.append([str(file.resolve()), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:16]
