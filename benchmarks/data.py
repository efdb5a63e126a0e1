"""Speed of the data layer on the real data sets, against a PIL reference in the same process.

- reading annotations: ``load_voc`` (BCCD), ``load_yolo`` (Aquarium), ``load_coco`` (coco128);
- decoding for detection: ``DetectionDataset`` (torchvision's JPEG decoder) against
  ``PIL.Image.open(...).convert("RGB")`` + ``pil_to_tensor``, images per second;
- object crops: the first pass (decode + crop + resize every box) against a second epoch served
  from memory and a second run served from the cache file.

    CONDET_SHARED_DATA=../shared/data python benchmarks/data.py
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from condet.data import DetectionDataset, ObjectCropDataset, load_coco, load_voc, load_yolo
from timing import timed


def main() -> None:
    logging.getLogger("condet").setLevel(logging.ERROR)  # BCCD's known bad boxes, skipped
    shared = Path(os.environ.get("CONDET_SHARED_DATA", "../shared/data"))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, data {shared}")

    readers = {
        "load_voc BCCD trainval": lambda: load_voc(
            shared / "bccd/BCCD", "trainval", skip_invalid=True
        ),
        "load_yolo Aquarium train": lambda: load_yolo(shared / "aquarium/data.yaml", "train"),
        "load_coco coco128": lambda: load_coco(
            shared / "coco128/annotations/instances_train2017.json",
            image_root=shared / "coco128/images/train2017",
        ),
    }
    for name, reader in readers.items():
        seconds, annotations = timed(reader, repeats=3)
        print(
            f"{name:<28}{len(annotations):>6} images {annotations.num_objects:>6} boxes "
            f"{seconds * 1000:>8.1f} ms"
        )

    aquarium = load_yolo(shared / "aquarium/data.yaml", "train")
    images = aquarium[:100]
    dataset = DetectionDataset(images)
    seconds, _ = timed(lambda: [dataset[i] for i in range(len(dataset))], repeats=2)
    pil, _ = timed(
        lambda: [pil_to_tensor(Image.open(i.image_path).convert("RGB")) for i in images], 2
    )
    print(
        f"decode 100 Aquarium images: torchvision {len(images) / seconds:.0f} img/s, "
        f"PIL {len(images) / pil:.0f} img/s, ratio {pil / seconds:.2f}x"
    )

    bccd = load_voc(shared / "bccd/BCCD", "train", skip_invalid=True)
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        crops = ObjectCropDataset(bccd, size=64, cache_dir=cache, progress=False)
        first = time.perf_counter() - start
        memory, _ = timed(lambda: [crops[i] for i in range(len(crops))], repeats=1)
        cached, _ = timed(lambda: ObjectCropDataset(bccd, size=64, cache_dir=cache), 1)
        size_mb = crops.cache_path.stat().st_size / 2**20
    print(
        f"BCCD train crops ({len(crops)} at 64px): cut {first:.1f} s, "
        f"epoch from memory {memory * 1000:.0f} ms, reload from cache {cached * 1000:.0f} ms "
        f"({size_mb:.0f} MB file)"
    )


if __name__ == "__main__":
    main()
