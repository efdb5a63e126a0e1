"""Annotation files written as the readers read them back: VOC XML and COCO JSON.

:mod:`condet.data.export` writes whole data sets with them (``condet predict --format``), and
the synthetic set is VOC XML.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from condet.data.annotations import Annotations, ImageAnnotation
from condet.io import write_text_atomic


def write_voc_xml(image: ImageAnnotation, classes: Sequence[str]) -> bytes:
    """One image's annotation as VOC XML bytes (deterministic: same input, same bytes)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = image.image_path.name
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(image.width)
    ET.SubElement(size, "height").text = str(image.height)
    ET.SubElement(size, "depth").text = "3"
    ET.SubElement(root, "segmented").text = "0"
    for box, label, difficult, truncated in zip(
        image.boxes, image.labels, image.difficult, image.truncated, strict=True
    ):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = classes[label]
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = str(int(truncated))
        ET.SubElement(obj, "difficult").text = str(int(difficult))
        bndbox = ET.SubElement(obj, "bndbox")
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True):
            ET.SubElement(bndbox, key).text = f"{value:g}"
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="utf-8") + b"\n"


def to_coco_dict(annotations: Annotations) -> dict[str, Any]:
    """The annotations as a COCO instances dictionary.

    Image ids are kept when every ``image_id`` is a whole number (a data set read from COCO),
    else numbered 1..N in order. VOC's 1-based inclusive boxes become continuous coordinates
    (``x1 - 1``, ``y1 - 1``, widths ``x2 - x1 + 1``), as detectron2 converts them. The
    ``difficult`` and ``truncated`` flags are written as extra keys, which COCO tools ignore and
    :func:`~condet.data.coco.load_coco` reads back.
    """
    numeric = all(image.image_id.isdigit() for image in annotations)
    image_ids = [
        int(image.image_id) if numeric else number
        for number, image in enumerate(annotations, start=1)
    ]
    if len(set(image_ids)) != len(image_ids):
        image_ids = list(range(1, len(annotations) + 1))
    category_ids = annotations.category_ids
    offset = 1.0 if annotations.one_based else 0.0
    images, objects = [], []
    for image_id, image in zip(image_ids, annotations, strict=True):
        images.append(
            {
                "id": image_id,
                "file_name": image.image_path.name,
                "width": image.width,
                "height": image.height,
            }
        )
        for box, label, crowd, difficult, truncated in zip(
            image.boxes.tolist(),
            image.labels.tolist(),
            image.iscrowd,
            image.difficult,
            image.truncated,
            strict=True,
        ):
            x1, y1 = box[0] - offset, box[1] - offset
            width, height = box[2] - x1, box[3] - y1
            objects.append(
                {
                    "id": len(objects) + 1,
                    "image_id": image_id,
                    "category_id": category_ids[label],
                    "bbox": [x1, y1, width, height],
                    "area": width * height,
                    "iscrowd": int(crowd),
                    "difficult": int(difficult),
                    "truncated": int(truncated),
                }
            )
    categories = [
        {"id": cid, "name": name, "supercategory": name}
        for cid, name in zip(category_ids, annotations.classes, strict=True)
    ]
    return {"images": images, "annotations": objects, "categories": categories}


def write_coco(annotations: Annotations, json_path: str | Path) -> Path:
    """Write :func:`to_coco_dict` to ``json_path`` atomically (temporary file, then rename)."""
    return write_text_atomic(json_path, json.dumps(to_coco_dict(annotations)))
