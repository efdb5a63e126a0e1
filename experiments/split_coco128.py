"""coco128's fixed train / test split of images for the crop study (issue 30), seeded and
stratified: a quarter of the images for testing, a quarter of each class's images as nearly as
a multi-label set allows, by iterative stratification (Sechidis, Tsoumakas and Vlahavas, ECML
PKDD 2011: the rarest class's images are placed first, each in the subset that lacks most of
that class). Written once; the protocol names the files, so every run uses the same split.

    coco=../shared/data/coco128
    python experiments/split_coco128.py $coco/annotations/instances_train2017.json \\
        --images $coco/images/train2017 --out configs/splits
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from condet.data.coco import load_coco

TEST_SHARE = 0.25


def stratified_split(label_sets: list[set[int]], test_share: float, seed: int) -> list[bool]:
    """Whether each image goes to the test subset."""
    rng = np.random.default_rng(seed)
    shares = {True: test_share, False: 1 - test_share}
    images_of: dict[int, list[int]] = defaultdict(list)
    for index, labels in enumerate(label_sets):
        for label in labels:
            images_of[label].append(index)
    wanted = {subset: {c: share * len(images) for c, images in images_of.items()}
              for subset, share in shares.items()}  # fmt: skip
    wanted_total = {subset: share * len(label_sets) for subset, share in shares.items()}
    placed: dict[int, bool] = {}

    def place(index: int, subset: bool) -> None:
        placed[index] = subset
        wanted_total[subset] -= 1
        for label in label_sets[index]:
            wanted[subset][label] -= 1

    remaining = {c: [i for i in images if i not in placed] for c, images in images_of.items()}
    while any(remaining.values()):
        counts = {c: len(images) for c, images in remaining.items() if images}
        fewest = min(counts.values())
        rarest = sorted(c for c, n in counts.items() if n == fewest)
        label = rarest[int(rng.integers(len(rarest)))]
        for index in rng.permutation(remaining[label]).tolist():
            if index in placed:
                continue
            keys = {s: (wanted[s][label], wanted_total[s], rng.random()) for s in shares}
            place(index, max(keys, key=keys.get))
        remaining = {c: [i for i in images if i not in placed] for c, images in remaining.items()}
    for index in rng.permutation(len(label_sets)).tolist():
        if index not in placed:  # images without objects
            place(index, max(shares, key=lambda subset: wanted_total[subset]))
    return [placed[index] for index in range(len(label_sets))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("annotations", type=Path, help="coco128's instances_train2017.json")
    parser.add_argument("--images", type=Path, help="the image folder (images/train2017)")
    parser.add_argument("--out", type=Path, default=Path("configs/splits"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    coco = load_coco(args.annotations, image_root=args.images)
    in_test = stratified_split(
        [set(image.labels.tolist()) for image in coco], TEST_SHARE, args.seed
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for name, test in (("train", False), ("test", True)):
        ids = [
            image.image_id for image, placed in zip(coco, in_test, strict=True) if placed == test
        ]
        (args.out / f"coco128_{name}.txt").write_text("".join(f"{i}\n" for i in ids))
        print(f"{name}: {len(ids)} images")


if __name__ == "__main__":
    main()
