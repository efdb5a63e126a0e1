"""``condet data check``: read a data set the way training will, and report what is in it.

Every split is read with ``skip_invalid=True`` so that one run lists *every* problem (a missing
image, a malformed file, an unknown class, a degenerate or out-of-image box) instead of stopping
at the first, and each image is decoded as training will decode it
(:class:`~condet.data.decode_check.DecodeCheck`, which the training commands share) and its size
compared with the size its annotation claims. Without a
split, every split is read: each VOC split file of ``ImageSets/Main`` (see
:func:`~condet.data.voc.voc_split_names`), each YOLO split of ``data.yaml``, or the one COCO
JSON, shown under its file name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from condet.data.annotations import Annotations
from condet.data.cache import default_cache_dir
from condet.data.decode_check import DecodeCheck
from condet.data.load import detect_format, load_annotations
from condet.data.problems import DataError, DataProblem, problem_warnings_off
from condet.data.voc import voc_split_names
from condet.data.yolo import yolo_split_names


@dataclass
class DataCheckSummary:
    """What :func:`check_dataset` found."""

    root: Path
    data_format: str
    splits: dict[str, Annotations]
    problems: list[DataProblem] = field(default_factory=list)

    def union(self) -> Annotations:
        """All images of all splits, each once (VOC's ``trainval`` repeats ``train``, ``val``)."""
        seen: dict[str, object] = {}
        for split in self.splits.values():
            for image in split:
                seen.setdefault(str(image.image_path), image)
        first = next(iter(self.splits.values()))
        return first.derive(seen.values())


def check_dataset(
    path: str | Path, split: str | None = None, image_root: str | Path | None = None
) -> DataCheckSummary:
    """Read every split of the data set at ``path`` (or only ``split``) and collect problems."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "data set not found")
    data_format = detect_format(path)
    # The name each split is shown under -> the split to read (None: a COCO JSON is one split)
    if data_format == "coco":
        to_read: dict[str, str | None] = {path.name: None}
    elif split is not None:
        to_read = {split: split}
    elif data_format == "voc":
        to_read = {name: name for name in voc_split_names(path)}
        if not to_read:
            raise DataError(path / "ImageSets" / "Main", "no split files (e.g. train.txt)")
    else:
        to_read = {name: name for name in yolo_split_names(path)}
    splits: dict[str, Annotations] = {}
    problems: dict[DataProblem, None] = {}
    for name, split_to_read in to_read.items():
        with problem_warnings_off():  # the report lists every problem itself
            annotations = load_annotations(
                path, split_to_read, image_root=image_root, skip_invalid=True
            )
        splits[name] = annotations
        problems.update(dict.fromkeys(annotations.problems))
    report = DataCheckSummary(path, data_format, splits)
    # decoded as training decodes them, and cached alike: a whole header is no whole image
    problems.update(dict.fromkeys(DecodeCheck(default_cache_dir()).problems(report.union())))
    report.problems = list(problems)
    return report


def format_report(report: DataCheckSummary) -> str:
    """The report as plain-text tables: splits, objects per class, and every problem."""
    union = report.union()
    lines = [f"{report.root} ({report.data_format.upper()}, {len(union.classes)} classes)", ""]
    # The union's row is not called "all", which a real split may be (all.txt)
    rows = dict(report.splits) | ({"all splits": union} if len(report.splits) > 1 else {})
    name_width = max([12, *(len(name) + 2 for name in rows)])
    lines.append(f"{'split':<{name_width}}{'images':>8}{'objects':>9}{'no objects':>12}")
    for name, split in rows.items():
        empty = sum(1 for image in split if len(image) == 0)
        lines.append(f"{name:<{name_width}}{len(split):>8}{split.num_objects:>9}{empty:>12}")
    lines.append("")
    width = max([len("class"), *map(len, union.classes)]) + 2
    lines.append(f"{'class':<{width}}{'objects':>9}{'difficult':>11}{'crowd':>8}")
    objects, difficult, crowd = (
        union.object_counts(),
        union.difficult_counts(),
        union.crowd_counts(),
    )
    for name in union.classes:
        lines.append(f"{name:<{width}}{objects[name]:>9}{difficult[name]:>11}{crowd[name]:>8}")
    lines.append("")
    if report.problems:
        lines.append(f"{len(report.problems)} problem(s):")
        lines += [f"  {problem}" for problem in report.problems]
    else:
        lines.append("no problems found")
    return "\n".join(lines)
