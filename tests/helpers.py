"""Builders of small data sets on disk, and subprocess and weight-comparison helpers, for tests."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image


def voc_xml(
    objects: list[tuple[str, tuple[float, ...]]],
    width: int = 100,
    height: int = 80,
    difficult: tuple[int, ...] = (),
    filename: str = "x.jpg",
) -> str:
    """A VOC annotation with ``objects`` as ``(name, (xmin, ymin, xmax, ymax))``."""
    parts = [
        f"<annotation><filename>{filename}</filename>",
        f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>",
    ]
    for index, (name, box) in enumerate(objects):
        flag = 1 if index in difficult else 0
        coordinates = "".join(
            f"<{key}>{value:g}</{key}>"
            for key, value in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True)
        )
        parts.append(
            f"<object><name>{name}</name><truncated>0</truncated><difficult>{flag}</difficult>"
            f"<bndbox>{coordinates}</bndbox></object>"
        )
    parts.append("</annotation>")
    return "".join(parts)


def write_image(path: Path, width: int = 100, height: int = 80, colour=(90, 120, 200)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), colour).save(path)
    return path


def make_voc(
    root: Path,
    annotations: dict[str, str],
    splits: dict[str, list[str]],
    images: bool = True,
    width: int = 100,
    height: int = 80,
) -> Path:
    """A VOC folder with the given XML texts (by image id), split files and blank images."""
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for image_id, text in annotations.items():
        (root / "Annotations" / f"{image_id}.xml").write_text(text)
        if images:
            write_image(root / "JPEGImages" / f"{image_id}.jpg", width, height)
    for name, ids in splits.items():
        (root / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


def make_yolo(
    root: Path, labels: dict[str, str], names: list[str], width: int = 100, height: int = 80
) -> Path:
    """A YOLO data set with one ``train`` split: ``labels`` maps image stem to label text."""
    for stem, text in labels.items():
        write_image(root / "train" / "images" / f"{stem}.jpg", width, height)
        (root / "train" / "labels").mkdir(parents=True, exist_ok=True)
        (root / "train" / "labels" / f"{stem}.txt").write_text(text)
    (root / "data.yaml").write_text(f"path: .\ntrain: train/images\nnames: {names}\n")
    return root / "data.yaml"


def subcommand_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator:
    """Every command path of ``parser`` (``("data", "check")``, ...), depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*prefix, name)
                yield from subcommand_paths(child, (*prefix, name))


def condet_process(*argv: str, environment: dict[str, str]) -> subprocess.Popen:
    """``condet ARGV`` in a subprocess (output discarded), with ``environment``."""
    return subprocess.Popen(
        [sys.executable, "-m", "condet", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
    )


def kill_after_checkpoint(
    process: subprocess.Popen, run: Path, step: int = 3, timeout: float = 300, settle: float = 0.3
) -> None:
    """SIGKILL ``process`` once ``run``'s last checkpoint has reached ``step``, ``settle``
    seconds later (to land somewhere inside a step or a checkpoint write)."""
    import torch

    checkpoint = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if (
            checkpoint.is_file()
            and torch.load(checkpoint, weights_only=True)["global_step"] >= step
        ):
            break
        time.sleep(0.1)
    time.sleep(settle)
    process.send_signal(signal.SIGKILL)
    process.wait()


def update_agreement(
    start: dict[str, Any], reference: dict[str, Any], other: dict[str, Any]
) -> tuple[float, float]:
    """How far ``other``'s training moved the weights from ``start`` as ``reference``'s did:
    ``(|other - reference| / |reference - start|, cosine of the two updates)``, over the
    floating-point parameters (BatchNorm running statistics left out)."""
    import torch

    keys = [
        key for key, value in start.items() if value.is_floating_point() and "running_" not in key
    ]

    def flat(weights: dict[str, Any]) -> torch.Tensor:
        return torch.cat([weights[key].double().flatten() for key in keys])

    origin, expected, got = flat(start), flat(reference), flat(other)
    distance = (got - expected).norm() / (expected - origin).norm()
    cosine = torch.nn.functional.cosine_similarity(expected - origin, got - origin, dim=0)
    return float(distance), float(cosine)


def record_manual_seeds(monkeypatch: Any) -> list[int]:
    """The seeds ``torch.manual_seed`` is called with from now on, in order."""
    import torch

    drawn: list[int] = []
    real_seed = torch.manual_seed

    def recording_seed(seed: int) -> Any:
        drawn.append(seed)
        return real_seed(seed)

    monkeypatch.setattr(torch, "manual_seed", recording_seed)
    return drawn


def hook_count(module: Any) -> int:
    """The forward, forward-pre and backward hooks on ``module`` and its submodules."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in module.modules()
    )
