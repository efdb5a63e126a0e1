"""Every shipped protocol runs to its report under ``--smoke``, on the data it names.

The synthetic protocols generate their own set; the Aquarium and BCCD ones run on a few
images of the real sets (``$CONDET_SHARED_DATA``); the VOC 2007 ones, whose images are not
here, on a VOC 2007-shaped folder of synthetic scenes with VOC class names. The packaged demo
protocol is run by ``condet demo --smoke`` in tests/test_experiment.py.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from condet.cli import main
from condet.commands import get_command
from condet.data.synthetic import generate_synthetic
from condet.experiment import load_protocol, plan_runs
from condet.models.backbones import build_backbone, save_backbone

ROOT = Path(__file__).parents[1]
PROTOCOLS = sorted((ROOT / "configs" / "experiments").glob("*.yaml"))

# The synthetic shapes as VOC classes: ring and pentagon, withheld on the synthetic set,
# become chair and motorbike, withheld by ranked_contrastive_voc07.
VOC_NAMES = {
    "ring": "chair",
    "pentagon": "motorbike",
    "burst": "aeroplane",
    "circle": "bicycle",
    "cross": "bird",
    "ellipse": "boat",
    "hexagon": "bottle",
    "square": "bus",
    "star": "car",
    "triangle": "cat",
}


def aquarium_slice(shared: Path, out: Path) -> Path:
    """A few Aquarium images per class and split (those with the fewest objects), as YOLO."""
    source = shared / "aquarium"
    names = yaml.safe_load((source / "data.yaml").read_text())["names"]
    for split, per_class in (("train", 4), ("test", 2)):
        holding = defaultdict(list)
        for label in sorted((source / split / "labels").glob("*.txt")):
            classes = [line.split()[0] for line in label.read_text().splitlines() if line.strip()]
            for name in set(classes):
                holding[name].append((len(classes), label.stem))
        chosen = {stem for images in holding.values() for _, stem in sorted(images)[:per_class]}
        for stem in chosen:
            for folder, suffix in (("labels", ".txt"), ("images", ".jpg")):
                target = out / split / folder / (stem + suffix)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source / split / folder / (stem + suffix), target)
    layout = {"path": ".", "train": "train/images", "val": "test/images", "test": "test/images"}
    data = out / "data.yaml"
    data.write_text(yaml.safe_dump(layout | {"nc": len(names), "names": names}))
    return data


def bccd_slice(shared: Path, out: Path) -> Path:
    """The first images of BCCD's train and test splits, in VOC layout.

    Forty training images: 10% of them still fill a batch of four (cpu_recipe_bccd).
    """
    source = shared / "bccd" / "BCCD"
    root = out / "BCCD"
    for split, count in (("train", 40), ("test", 6)):
        ids = (source / "ImageSets" / "Main" / f"{split}.txt").read_text().split()[:count]
        for image_id in ids:
            for folder, suffix in (("JPEGImages", ".jpg"), ("Annotations", ".xml")):
                (root / folder).mkdir(parents=True, exist_ok=True)
                shutil.copy(source / folder / (image_id + suffix), root / folder)
        (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


def voc2007_like(out: Path) -> Path:
    """Synthetic scenes in a folder named VOC2007 (so read with the 20 VOC classes)."""
    root = generate_synthetic(out / "VOCdevkit" / "VOC2007", images=30, progress=False)
    for path in (root / "Annotations").glob("*.xml"):
        tree = ET.parse(path)
        for name in tree.getroot().iter("name"):
            name.text = VOC_NAMES[name.text]
        tree.write(path)
    return root


def imagenet_weights_in_cache(backbone: str, torch_home: Path) -> None:
    """Untrained weights where torchvision caches ``backbone``'s ImageNet file: no download."""
    import torch
    import torchvision

    url = torchvision.models.get_model_weights(backbone).DEFAULT.url
    path = torch_home / "hub" / "checkpoints" / Path(urlparse(url).path).name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.get_model(backbone, weights=None).state_dict(), path)


def placed_backbones(text: str, out: Path) -> None:
    """The backbones a protocol expects placed in its folder before it runs (taken from the
    repository's history, its comment says): random EfficientNet-Lite0 ones for a smoke run."""
    for name in sorted(set(re.findall(r"\{out\}/pretrains/([\w-]+)\.safetensors", text))):
        backbone = build_backbone("efficientnet_lite0", "random", seed=0)
        save_backbone(backbone, out / "pretrains" / f"{name}.safetensors")


def placed_encoders(protocol: dict, text: str, out: Path, data: str | None) -> None:
    """The encoder runs a protocol expects linked into its folder before it runs (another
    protocol's, its comment says): links to one briefly trained encoder for a smoke run."""
    names = sorted(set(re.findall(r"\{out\}/encoders/([\w-]+?)-s(?:\{seed\}|\d+)", text)))
    if not names:
        return
    withheld = next(
        (run["options"]["withhold"] for run in protocol["runs"] if "withhold" in run["options"]),
        [],
    )
    encoder = out.parent / "placed-encoder"
    argv = ["ood", "--split", "train", "--test-split", "test", "--withhold", *withheld]
    argv += ["--backbone", "efficientnet_lite0", "--weights", "random", "--crop-size", "32"]
    argv += ["--epochs", "1", "--max-steps", "1", "--batch-size", "8", "--out", str(encoder)]
    assert main([*argv, *(["--data", data] if data else [])]) == 0
    for name in names:
        for seed in protocol["seeds"]:
            link = out / "encoders" / f"{name}-s{seed}"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(encoder, target_is_directory=True)


def smoke_data(protocol: dict, tmp_path: Path, request: pytest.FixtureRequest) -> str | None:
    """The data a protocol's smoke run uses: None for its own synthetic set."""
    if protocol.get("synthetic"):
        return None
    named = str(protocol.get("data"))
    if "VOC2007" in named:
        return str(voc2007_like(tmp_path))
    shared = request.getfixturevalue("shared_data")
    if "aquarium" in named:
        return str(aquarium_slice(shared, tmp_path / "aquarium"))
    if "bccd" in named:
        return str(bccd_slice(shared, tmp_path))
    if "coco128" in named:  # 128 images: small enough whole
        return str(shared / "coco128" / "annotations" / "instances_train2017.json")
    pytest.fail(f"no smoke data for a protocol on {named}: add a slice of it here")


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            path,
            marks=[pytest.mark.shared_data] if "$CONDET_SHARED_DATA" in path.read_text() else [],
        )
        for path in PROTOCOLS
    ],
    ids=lambda path: path.stem,
)
def test_every_protocol_runs_under_smoke(path, tmp_path, monkeypatch, request, capsys):
    # relative paths in protocols (configs/rankings/...) are from the repository root
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    protocol = load_protocol(path)
    if "efficientnet_b1" in path.read_text():
        imagenet_weights_in_cache("efficientnet_b1", tmp_path / "torch")
    data = smoke_data(protocol, tmp_path, request)
    out = tmp_path / "run"
    placed_backbones(path.read_text(), out)
    placed_encoders(protocol, path.read_text(), out, data)
    argv = ["experiment", str(path), "--smoke", "--out", str(out)]
    code = main([*argv, *(["--data", data] if data else [])])
    assert code == 0, [line for line in capsys.readouterr().err.splitlines() if "condet:" in line]
    rows = {row["run"] for row in json.loads((out / "results.json").read_text())}
    for run in plan_runs(protocol, out, data or str(out / "data"), smoke=True):
        if get_command(run.command).single_file:  # a picture, a rankings YAML: no table row
            assert run.folder.is_file()
        else:
            assert run.base_name in rows, f"{run.name} has no result"
    assert (out / "report.html").is_file()
    findings = (out / "results.md").read_text().split("## What the numbers show")
    assert len(findings) == (2 if protocol.get("comparisons") else 1)
