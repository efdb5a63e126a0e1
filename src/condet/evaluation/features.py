"""``condet evaluate-features``: how good are a backbone's frozen features?

Embed labelled reference ("train") and test images or object crops with the backbone's pooled
features, classify the test set by k-NN, nearest class mean and a linear probe fit on the
reference set, report top-1 / top-3, and plot the test embeddings in 2-D.

The backbone is any that ``build_backbone`` builds (random, ImageNet, a weights file, a pretrain
run), or the backbone of a classify-train run's crop encoder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from condet.config.features import FeaturesConfig
from condet.data.cache import default_cache_dir
from condet.data.images import ImageTensors, class_folder
from condet.data.load import DataSets
from condet.data.normalize import Normalize
from condet.data.problems import DataError
from condet.devices import accelerator_device
from condet.errors import CondetError
from condet.evaluation.classification import (
    knn_scores,
    linear_probe_scores,
    ncm_scores,
    topk_accuracy,
)
from condet.io import write_text_atomic
from condet.models.backbones import Backbone, build_backbone, input_normalization
from condet.models.encoder import ENCODER_FILES, encoder_file, load_encoder
from condet.run_folder import write_metrics, write_run_info

logger = logging.getLogger("condet")

MARKED_COLOURS = ("black", "crimson", "navy", "darkgreen")


def labelled_images(
    source: Path,
    split: str | None,
    size: int,
    cache_dir: Path,
    skipped: DataSets,
    progress: bool = True,
    max_per_class: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """uint8 squares ``[N, 3, size, size]``, labels ``[N]`` and class names of ``source``.

    A VOC folder, COCO JSON or YOLO ``data.yaml`` gives its object crops, read through
    ``skipped``, which counts the records its reader skipped; a folder of class subfolders
    gives its images. ``max_per_class`` > 0 keeps the first that many of each class.
    """
    from condet.data.crops import ObjectCropDataset
    from condet.data.load import detect_format

    try:
        detect_format(source)
    except DataError:
        paths, labels, classes = class_folder(source)
        # chosen before decoding: the point of the cap is not to decode a large folder
        kept = first_per_class(labels, max_per_class)
        paths, labels = [paths[i] for i in kept], [labels[i] for i in kept]
        images = ImageTensors(paths, size, labels=labels, cache_dir=cache_dir, progress=progress)
        return images.images, images.labels, classes
    annotations = skipped.load(source, split)
    crops = ObjectCropDataset(annotations, size=size, cache_dir=cache_dir, progress=progress)
    kept = first_per_class(crops.labels.tolist(), max_per_class)
    return crops.crops[kept], crops.labels[kept], crops.classes


def first_per_class(labels: Sequence[int], max_per_class: int) -> list[int]:
    """Indices of the first ``max_per_class`` items of each label, in order (all if 0).

    >>> first_per_class([0, 1, 0, 0, 1, 2], 2)
    [0, 1, 2, 4, 5]
    """
    seen: dict[int, int] = {}
    kept = []
    for index, label in enumerate(labels):
        if max_per_class <= 0 or seen.get(label, 0) < max_per_class:
            seen[label] = seen.get(label, 0) + 1
            kept.append(index)
    return kept


def frozen_backbone(
    name: str, weights: str | Path, seed: int | None = None
) -> tuple[Backbone, tuple[Sequence[float], Sequence[float]]]:
    """Backbone ``name`` with ``weights``, and the mean / std its inputs are normalised with.

    A classify-train run (its folder, or its encoder file) gives its encoder's backbone, with
    the small-input stem and the crop mean / std it was trained with. Anything else goes to
    :func:`build_backbone` (random weights drawn from ``seed``) and is normalised as those
    weights expect.
    """
    encoder_path = _classify_encoder_file(weights)
    if encoder_path is None:
        return build_backbone(name, weights, seed), input_normalization(name)
    encoder, saved = load_encoder(encoder_path)
    trained = saved["config"]["backbone"]
    if trained != name:
        raise CondetError(
            f"{encoder_path} holds a {trained} encoder, not {name}; pass --backbone {trained}"
        )
    return encoder.backbone, (saved["mean"], saved["std"])


def _classify_encoder_file(weights: str | Path) -> Path | None:
    """The encoder file of a classify-train run that ``weights`` names (the run folder or the
    file), else None. A pretrain run's folder holds ``backbone.safetensors`` instead."""
    if str(weights) in ("random", "imagenet"):
        return None
    path = Path(weights)
    if path.is_dir():
        return None if (path / "backbone.safetensors").is_file() else encoder_file(path)
    return path if path.name in ENCODER_FILES and path.is_file() else None


@torch.inference_mode()
def embed(
    backbone: Backbone,
    images: torch.Tensor,
    batch_size: int,
    device: torch.device,
    progress: bool = True,
    normalization: tuple[Sequence[float], Sequence[float]] | None = None,
) -> torch.Tensor:
    """Pooled features ``[N, C]`` of uint8 ``images``, normalised with ``normalization`` (mean,
    std), by default as the backbone's weights expect."""
    backbone = backbone.to(device).eval()
    normalize = Normalize(*(normalization or input_normalization(backbone.name))).to(device)
    features = []
    batches = range(0, len(images), batch_size)
    for start in tqdm(batches, desc="embedding", unit="batch", disable=not progress, leave=False):
        batch = normalize(images[start : start + batch_size].to(device))
        features.append(backbone.pool(batch).float().cpu())
    return torch.cat(features)


def run_evaluate_features(config: FeaturesConfig) -> dict[str, dict[str, float]]:
    """Run the evaluation, write ``features.json``, ``features.md``, ``metrics.json`` and the
    plot into ``out``; the results of every classifier."""
    device = accelerator_device(config.accelerator)
    cache_dir = config.cache_dir or default_cache_dir()
    write_run_info(config.out, config, "evaluate-features")
    read = DataSets(cache_dir=cache_dir, progress=config.progress)
    train_images, train_labels, classes = labelled_images(
        config.train,
        config.train_split,
        config.image_size,
        cache_dir,
        read,
        config.progress,
        config.max_per_class,
    )
    test_images, test_labels, test_classes = labelled_images(
        config.test,
        config.test_split,
        config.image_size,
        cache_dir,
        read,
        config.progress,
        config.max_per_class,
    )
    skipped = read.report(config.out)
    if test_classes != classes:
        raise DataError(config.test, f"classes {test_classes} differ from --train's {classes}")
    backbone, normalization = frozen_backbone(config.backbone, config.weights, config.seed)
    bank = embed(backbone, train_images, config.batch_size, device, config.progress, normalization)
    queries = embed(
        backbone, test_images, config.batch_size, device, config.progress, normalization
    )

    classifiers = {
        "knn": lambda: knn_scores(
            bank, train_labels, queries, len(classes), config.k, config.knn_temperature
        ),
        "ncm": lambda: ncm_scores(bank, train_labels, queries, len(classes)),
        "linear": lambda: linear_probe_scores(
            bank, train_labels, queries, len(classes), config.seed
        ),
    }
    results = {
        method: topk_accuracy(classifiers[method](), test_labels) for method in config.methods
    }
    summary = {
        "backbone": config.backbone,
        "weights": config.weights,
        "train_samples": len(bank),
        "test_samples": len(queries),
        "classes": classes,
        "results": results,
        "skipped": skipped,
    }
    write_text_atomic(config.out / "features.json", json.dumps(summary, indent=2))
    write_text_atomic(config.out / "features.md", features_results_markdown(results))
    if config.plot != "none":
        plot_embeddings(
            queries, test_labels, classes, config.out / "embedding.png", config.plot, config.seed
        )
    write_metrics(config.out, results)
    return results


def features_results_markdown(results: dict[str, dict[str, float]]) -> str:
    """A Markdown table: one row per classifier, top-1 and top-3."""
    lines = ["| classifier | top-1 | top-3 |", "|---|---|---|"]
    names = {"knn": "k-NN", "ncm": "nearest class mean", "linear": "linear probe"}
    for method, scores in results.items():
        lines.append(f"| {names[method]} | {scores['top1']:.3f} | {scores['top3']:.3f} |")
    return "\n".join(lines) + "\n"


def plot_embeddings(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    classes: list[str],
    path: Path,
    method: str = "pca",
    seed: int = 0,
    title: str = "test embeddings",
    marked: Collection[int] = (),
) -> Path:
    """A 2-D scatter (PCA or t-SNE) of ``embeddings`` ``[N, D]`` coloured by class (``labels``
    ``[N]`` index ``classes``), the ``marked`` classes drawn as dark crosses (withheld classes,
    say), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    points = embeddings.numpy()
    if method == "tsne":
        perplexity = max(2.0, min(30.0, (len(points) - 1) / 3))
        coordinates = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(
            points
        )
    else:
        coordinates = PCA(2, random_state=seed).fit_transform(points)
    figure, axes = plt.subplots(figsize=(9, 6), dpi=110)
    # 60 distinct colours before any repeats: COCO's crops hold dozens of classes
    palette = [
        plt.get_cmap(name)(index) for name in ("tab20", "tab20b", "tab20c") for index in range(20)
    ]
    present = [label for label in range(len(classes)) if (labels == label).any()]
    crossed = [label for label in present if label in marked]
    for label in present:
        chosen = labels.numpy() == label
        if label in marked:
            colour = MARKED_COLOURS[crossed.index(label) % len(MARKED_COLOURS)]
            style = {"marker": "x", "s": 16, "linewidths": 1.0, "color": colour}
        else:
            style = {"s": 6, "color": palette[label % len(palette)]}
        axes.scatter(*coordinates[chosen].T, label=classes[label], **style)
    axes.set_title(f"{title} ({method.upper()})")
    axes.legend(
        markerscale=2,
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        ncol=1 + len(present) // 30,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
