"""Object-crop encoders: SupCon, RINCE, ranked InfoNCE or cross-entropy (``condet classify-train``).

The contrastive-detection report's system, one training loop for every loss so comparisons
are fair: ground-truth boxes are cropped once (cached), each step makes two augmented crops of
every object (batched, seeded by the step), and the encoder (a backbone and a head) is trained
with the chosen loss. Then, on the test split:

- classification of known classes by nearest class mean (the report's protocol), k-NN and a
  linear probe, top-1 and top-3;
- with ``--withhold``, how well the withheld classes are told apart from the known ones
  (AUROC, AUPR, FPR@95TPR) by prototype cosine, k-NN distance, Mahalanobis distance and, for
  the cross-entropy model, max softmax and energy, with all ROC curves in one plot.

    condet classify-train --data ../shared/data/aquarium/data.yaml --loss ranked \
        --rankings configs/rankings/aquarium.yaml --r 3 --withhold puffin stingray --out runs/c
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.accelerators import CPUAccelerator
from torch import Tensor, nn
from torch.optim.swa_utils import update_bn

from condet.data.annotations import Annotations
from condet.data.check import load_any
from condet.data.crops import ObjectCropDataset
from condet.data.images import default_cache_dir
from condet.data.skipped import SkippedRecords
from condet.data.splits import known_class_ids, mark_withheld, withhold_classes
from condet.data.transforms import Normalize
from condet.errors import CondetError
from condet.evaluation.classification import (
    knn_scores,
    linear_probe_scores,
    ncm_scores,
    topk_accuracy,
)
from condet.evaluation.ood import (
    acceptance_threshold,
    class_prototypes,
    energy_score,
    knn_distance_score,
    mahalanobis_score,
    max_softmax_score,
    ood_metrics,
    plot_roc_curves,
    prototype_score,
)
from condet.io import atomic_path, write_text_atomic
from condet.losses import (
    load_groups,
    load_rankings,
    rank_matrix_from_groups,
    rank_matrix_from_rankings,
    ranked_infonce_loss,
    supcon_loss,
)
from condet.losses.queue import LabelledQueue
from condet.models.backbones import build_backbone, input_normalization
from condet.models.heads import ProjectionHead
from condet.train.common import (
    ResumableLoader,
    StepBatches,
    StepBatchSampler,
    cosine_with_warmup,
    make_trainer,
    prepare_run_folder,
    quiet_lightning,
)
from condet.train.optim import make_optimizer

if TYPE_CHECKING:
    # the command's config, in annotations only: commands import this module, not the reverse
    from condet.commands.classify import ClassifyConfig


logger = logging.getLogger("condet")


class CropEncoder(nn.Module):
    """Backbone + head: a projection MLP (contrastive losses) or a linear classifier (CE).

    With ``small_input_stem`` a ResNet's 7x7 stride-2 stem and max-pool become a 3x3 stride-1
    convolution, as CIFAR ResNets (and the report's encoder) have, so 64x64 crops keep an 8x8
    final feature map.
    """

    def __init__(
        self,
        backbone_name: str,
        weights: str,
        outputs: int,
        contrastive: bool,
        small_input_stem: bool,
    ) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone_name, weights)
        if small_input_stem and hasattr(self.backbone.body, "conv1"):
            width = self.backbone.body.conv1.out_channels
            self.backbone.body.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
            self.backbone.body.maxpool = nn.Identity()
        channels = self.backbone.out_channels
        self.contrastive = contrastive
        self.head = (
            ProjectionHead(channels, channels, outputs)
            if contrastive
            else nn.Linear(channels, outputs)
        )

    def forward(self, images: Tensor) -> Tensor:
        """Embeddings (contrastive) or logits (cross-entropy)."""
        return self.head(self.backbone.pool(images))

    def embed(self, images: Tensor) -> Tensor:
        """What is compared at test time: the normalised head output for contrastive
        encoders (the report's protocol), the pooled features for a classifier."""
        if self.contrastive:
            return F.normalize(self(images), dim=1)
        return self.backbone.pool(images)


class TwoCrops:
    """Two augmented copies of each crop (the report's two-crop transform), seeded by step.

    RandomResizedCrop (scale ``min_scale``-1), horizontal flip, colour jitter (0.4, 0.4, 0.4,
    0.1) with p = 0.8, grayscale p = 0.2, then normalisation by ``mean`` / ``std``, batched
    by kornia.
    """

    def __init__(
        self, size: int, min_scale: float, mean: list[float], std: list[float], seed: int, rank: int
    ) -> None:
        import kornia.augmentation as K

        self.augment = nn.Sequential(
            K.RandomResizedCrop((size, size), scale=(min_scale, 1.0)),
            K.RandomHorizontalFlip(),
            K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
            K.RandomGrayscale(p=0.2),
        )
        self.normalize = Normalize(mean, std)
        self.base_seed = (seed * 1_000_003 + rank) * 1_000_003

    def __call__(self, batch: tuple[Tensor, Tensor], step: int) -> tuple[Tensor, Tensor, Tensor]:
        crops, labels = batch
        with torch.random.fork_rng(devices=[crops.device] if crops.device.type == "cuda" else []):
            torch.manual_seed(self.base_seed + int(step))
            images = crops.float().div(255)
            first = self.normalize(self.augment(images))
            second = self.normalize(self.augment(images))
        return first, second, labels


class LabelledCrops:
    """``crops[indices]`` and their labels, as :class:`StepBatches` expects of a tensor."""

    def __init__(self, crops: Tensor, labels: Tensor) -> None:
        self.crops, self.labels = crops, labels

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        return self.crops[indices], self.labels[indices]


class ClassifyModule(L.LightningModule):
    """The crop encoder and its loss; only the loss differs between runs."""

    def __init__(
        self,
        config: dict[str, Any],
        known: list[int],
        rank_matrix: Tensor | None,
        steps_per_epoch: int,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = config
        contrastive = config["loss"] != "ce"
        outputs = config["projection_dim"] if contrastive else len(known)
        self.encoder = CropEncoder(
            config["backbone"], config["weights"], outputs, contrastive, config["small_input_stem"]
        )
        # cross-entropy predicts among the known classes only: map class ids to 0..K-1
        to_known = torch.full((config["num_classes"],), -1, dtype=torch.long)
        to_known[torch.tensor(known)] = torch.arange(len(known))
        self.register_buffer("to_known", to_known, persistent=False)
        if rank_matrix is not None:
            self.register_buffer("rank_matrix", rank_matrix, persistent=False)
        self.queue = (
            LabelledQueue(config["queue"], outputs)
            if contrastive and config.get("queue", 0)
            else None
        )
        self.views_on_device: TwoCrops | None = None
        self.steps_per_epoch = steps_per_epoch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.views_on_device is not None:
            crops_and_labels, step = batch
            return self.views_on_device(crops_and_labels, step)
        return batch

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_index: int) -> Tensor:
        first, second, labels = batch
        outputs = self.encoder(torch.cat([first, second]))
        loss = self.loss(outputs, labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss.item()} at step {self.global_step}")
        if self.queue is not None:
            self.queue.push(F.normalize(outputs, dim=1), labels.repeat(2))
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True)
        return loss

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        config = self.config
        if config["loss"] == "ce":
            return F.cross_entropy(outputs, self.to_known[labels].repeat(2))
        features = torch.stack(outputs.chunk(2), dim=1)  # [N, 2, D]
        gather = self.trainer.world_size > 1
        memory = self.queue.contents() if self.queue is not None else None
        if config["loss"] == "supcon":
            return supcon_loss(features, labels, config["temperatures"][0], gather, memory)
        return ranked_infonce_loss(
            features,
            labels,
            self.rank_matrix,
            config["temperatures"][: self.ranks],
            config["mode"],
            gather,
            memory,
        )

    @property
    def ranks(self) -> int:
        return int(self.rank_matrix.max())

    def configure_optimizers(self):
        config = self.config
        lr = config["lr"] * config["batch_size"] * self.trainer.world_size / 256
        optimizer = make_optimizer(self.encoder, config["optimizer"], lr, config["weight_decay"])
        total = config["epochs"] * self.steps_per_epoch
        warmup = round(config["warmup_epochs"] * self.steps_per_epoch)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(total, warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def rank_matrix_for(config: ClassifyConfig, classes: list[str]) -> Tensor | None:
    """The loss's rank matrix: ranked (rankings file, ``r``), RINCE (groups file), else None."""
    if config.loss in ("supcon", "ce"):
        return None
    if config.rankings is None:
        raise CondetError(f"--loss {config.loss} needs --rankings FILE (rankings or groups YAML)")
    if config.loss == "rince":
        matrix = rank_matrix_from_groups(classes, load_groups(config.rankings))
    else:
        matrix = rank_matrix_from_rankings(classes, load_rankings(config.rankings), config.r)
    if len(config.temperatures) < int(matrix.max()):
        raise CondetError(
            f"{int(matrix.max())} ranks need as many --temperatures, got {config.temperatures}"
        )
    return matrix


def crop_mean_std(crops: Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 crops, in [0, 1] units."""
    pixels = crops.float().div(255).permute(1, 0, 2, 3).reshape(3, -1)
    return pixels.mean(1).tolist(), pixels.std(1).tolist()


@torch.no_grad()
def recompute_batchnorm_statistics(
    encoder: CropEncoder, crops: Tensor, normalize: Normalize, batch_size: int = 256
) -> None:
    """Replace the running BatchNorm statistics by exact ones over the training crops.

    Running averages lag behind weights that still move, and torchvision's MobileNet and
    EfficientNet average with momentum 0.01; after a short run the evaluation-mode network
    then sees other statistics than it trained with (train accuracy 0.12 in eval mode against
    0.88 in training mode, 200 AdamW steps on the synthetic crops). Recomputing them at the
    end is detectron2's PreciseBN, here over the un-augmented crops the evaluation sees.
    """
    was_training = encoder.training
    device = next(encoder.parameters()).device
    batches = (
        normalize.to(device)(crops[start : start + batch_size].to(device))
        for start in range(0, len(crops), batch_size)
    )
    update_bn(batches, encoder)
    encoder.train(was_training)


@torch.inference_mode()
def encode(
    encoder: CropEncoder,
    crops: Tensor,
    normalize: Normalize,
    batch_size: int = 512,
    logits: bool = False,
) -> Tensor:
    """Test-time embeddings (or, with ``logits``, head outputs) of uint8 crops."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    outputs = []
    for start in range(0, len(crops), batch_size):
        images = normalize.to(device)(crops[start : start + batch_size].to(device))
        outputs.append((encoder(images) if logits else encoder.embed(images)).float().cpu())
    encoder.train(was_training)
    return torch.cat(outputs)


def known_bank(
    encoder: CropEncoder, train: ObjectCropDataset, known: list[int], normalize: Normalize
) -> tuple[Tensor, Tensor]:
    """Embeddings ``[M, D]`` and labels ``[M]`` of the known-class training crops."""
    is_known = torch.isin(train.labels, torch.tensor(known))
    return encode(encoder, train.crops[is_known], normalize), train.labels[is_known]


def evaluate_encoder(
    encoder: CropEncoder,
    bank: Tensor,
    bank_labels: Tensor,
    test: ObjectCropDataset,
    known: list[int],
    normalize: Normalize,
    run: Path | None = None,
    k: int = 50,
) -> dict[str, Any]:
    """Known-class accuracy (NCM, k-NN, linear probe) and, with withheld classes, OOD metrics,
    against ``bank``, the embeddings of the known training crops (:func:`known_bank`)."""
    known_tensor = torch.tensor(known)
    test_known = torch.isin(test.labels, known_tensor)
    queries = encode(encoder, test.crops, normalize)
    num_classes = len(test.classes)
    known_queries, known_labels = queries[test_known], test.labels[test_known]
    results: dict[str, Any] = {
        "train_crops": len(bank),
        "test_crops": int(test_known.sum()),
    }
    restrict = torch.full((num_classes,), float("-inf"))
    restrict[known_tensor] = 0.0  # only known classes can be predicted
    scores = {
        "ncm": ncm_scores(bank, bank_labels, known_queries, num_classes),
        "knn": knn_scores(bank, bank_labels, known_queries, num_classes, k=k),
        "linear": linear_probe_scores(bank, bank_labels, known_queries, num_classes).log(),
    }
    for name, value in scores.items():
        results[name] = topk_accuracy(value + restrict, known_labels)
    if test_known.all():
        return results
    prototypes = class_prototypes(bank, bank_labels, num_classes)
    ood_scores = {
        "prototype cosine": prototype_score(queries, prototypes, known_tensor),
        "k-NN distance": knn_distance_score(queries, bank, k=k),
        "Mahalanobis": mahalanobis_score(queries, bank, bank_labels),
    }
    if not encoder.contrastive:
        logits = encode(encoder, test.crops, normalize, logits=True)
        ood_scores |= {"max softmax": max_softmax_score(logits), "energy": energy_score(logits)}
    curves = {
        name: (value[test_known].numpy(), value[~test_known].numpy())
        for name, value in ood_scores.items()
    }
    results["ood"] = {name: ood_metrics(*pair) for name, pair in curves.items()}
    results["ood_crops"] = int((~test_known).sum())
    if run is not None:
        plot_roc_curves(curves, run / "roc.png", title="known vs withheld test crops")
    return results


def results_table(results: dict[str, Any]) -> str:
    """Accuracy and OOD tables in Markdown."""
    lines = ["| classifier | top-1 | top-3 |", "|---|---|---|"]
    for name in ("ncm", "knn", "linear"):
        lines.append(f"| {name} | {results[name]['top1']:.3f} | {results[name]['top3']:.3f} |")
    if "ood" in results:
        lines += [
            "",
            "| OOD score | AUROC | AUPR-in | AUPR-out | FPR@95TPR |",
            "|---|---|---|---|---|",
        ]
        for name, metrics in results["ood"].items():
            lines.append(
                f"| {name} | {metrics['auroc']:.3f} | {metrics['aupr_in']:.3f} | "
                f"{metrics['aupr_out']:.3f} | {metrics['fpr@95tpr']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def load_splits(config: ClassifyConfig, data: SkippedRecords) -> tuple[Annotations, Annotations]:
    """Training annotations without the withheld classes, test annotations with them marked;
    both read through ``data``, which counts what their readers skipped."""
    train = data.load(config.data, config.split, image_root=config.images)
    test = data.load(
        config.data, config.test_split, image_root=config.images, classes=train.classes
    )
    if config.withhold:
        train = withhold_classes(train, config.withhold)
        test = mark_withheld(test, config.withhold)
    return train, test


def classify_train(config: ClassifyConfig, callbacks: list[L.Callback] | None = None) -> Path:
    """Train the crop encoder, evaluate it, and write the run folder; returns it."""
    quiet_lightning()
    run = prepare_run_folder(config, config, "classify-train")
    data = SkippedRecords(strict=config.strict)
    train_annotations, test_annotations = load_splits(config, data)
    skipped = data.report(run)
    cache_dir = config.cache_dir or default_cache_dir()
    crops = {
        name: ObjectCropDataset(
            annotations,
            size=config.crop_size,
            context=config.context,
            cache_dir=cache_dir,
            progress=config.progress,
        )
        for name, annotations in (("train", train_annotations), ("test", test_annotations))
    }
    classes = train_annotations.classes
    known = known_class_ids(train_annotations)
    rank_matrix = rank_matrix_for(config, classes)
    if config.normalization == "dataset":
        mean, std = crop_mean_std(crops["train"].crops)
    else:
        mean, std = (list(values) for values in input_normalization(config.backbone))
    trainer = make_trainer(
        config,
        run,
        max_epochs=config.epochs,
        callbacks=callbacks,
        log_every=max(1, min(10, len(crops["train"]) // config.batch_size)),
    )
    sampler = StepBatchSampler(
        len(crops["train"]),
        config.batch_size,
        config.seed,
        steps_done=lambda: trainer.global_step,
        rank=trainer.global_rank,
        world=trainer.world_size,
    )
    in_workers = config.workers > 0 and isinstance(trainer.accelerator, CPUAccelerator)
    views = TwoCrops(
        config.crop_size, config.min_scale, mean, std, config.seed, trainer.global_rank
    )
    source = LabelledCrops(crops["train"].crops, crops["train"].labels)
    batches = StepBatches(source, views if in_workers else None)
    loader = ResumableLoader(
        batches, sampler, num_workers=config.workers, persistent_workers=config.workers > 0
    )
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = ClassifyModule(_module_config(config, len(classes)), known, rank_matrix, len(sampler))
    if not in_workers:
        module.views_on_device = views
    checkpoint = run / "checkpoints" / "last.ckpt"
    trainer.fit(module, train_dataloaders=loader, ckpt_path=checkpoint if config.resume else None)
    if trainer.is_global_zero:
        normalize = Normalize(mean, std)
        recompute_batchnorm_statistics(module.encoder, crops["train"].crops, normalize)
        bank, bank_labels = known_bank(module.encoder, crops["train"], known, normalize)
        prototypes = class_prototypes(bank, bank_labels, len(classes))
        threshold = acceptance_threshold(bank, bank_labels, prototypes)
        with atomic_path(run / "encoder.pt") as temporary:
            torch.save(
                {
                    "config": _module_config(config, len(classes)),
                    "classes": classes,
                    "known": known,
                    "mean": mean,
                    "std": std,
                    "prototypes": prototypes,
                    "threshold": threshold,
                    "state_dict": module.encoder.state_dict(),
                },
                temporary,
            )
        results = evaluate_encoder(
            module.encoder, bank, bank_labels, crops["test"], known, normalize, run
        )
        results |= {"loss": config.loss, "withheld": list(config.withhold), "skipped": skipped}
        write_text_atomic(run / "results.json", json.dumps(results, indent=2))
        write_text_atomic(run / "results.md", results_table(results))
    return run


def _module_config(config: ClassifyConfig, num_classes: int) -> dict[str, Any]:
    keys = (
        "loss",
        "temperatures",
        "mode",
        "backbone",
        "weights",
        "small_input_stem",
        "projection_dim",
        "queue",
        "optimizer",
        "batch_size",
        "epochs",
        "lr",
        "weight_decay",
        "warmup_epochs",
        "crop_size",
        "seed",
    )
    return {key: getattr(config, key) for key in keys} | {"num_classes": num_classes}


def load_encoder(run: Path) -> tuple[CropEncoder, dict[str, Any]]:
    """A classify-train run's encoder and what was saved with it (classes, mean, std ...)."""
    path = run / "encoder.pt" if run.is_dir() else run
    if not path.is_file():
        raise CondetError(f"no encoder at {path}; point at a classify-train run folder")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    config = saved["config"]
    contrastive = config["loss"] != "ce"
    outputs = config["projection_dim"] if contrastive else len(saved["known"])
    encoder = CropEncoder(
        config["backbone"], "random", outputs, contrastive, config["small_input_stem"]
    )
    encoder.load_state_dict(saved["state_dict"])
    return encoder.eval(), saved


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
) -> Path:
    """Write a rankings YAML derived from the crops of ``data`` (:mod:`condet.losses.derive`)."""
    import yaml

    from condet.evaluation.features import embed
    from condet.losses.derive import (
        confusion_similarity,
        prototype_similarity,
        rankings_from_similarity,
    )

    annotations = load_any(data, split, skip_invalid=True)
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
        features = embed(build_backbone(backbone, weights), crops.crops, 256, torch.device("cpu"))
        similarity = prototype_similarity(features, crops.labels, len(classes))
    rankings = rankings_from_similarity(similarity, classes, neighbours, min_similarity)
    header = f"# derived by condet rankings derive --by {by} from {data} ({split})\n"
    write_text_atomic(out, header + yaml.safe_dump({"rankings": rankings}, sort_keys=False))
    return out
