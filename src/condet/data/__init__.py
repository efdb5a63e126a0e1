"""Data sets: VOC / COCO / YOLO readers, torch datasets, crops, splits and the synthetic set."""

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.coco import load_coco, parse_coco_json
from condet.data.crops import ObjectCropDataset, crop_boxes
from condet.data.datasets import DetectionDataset, detection_collate, read_rgb
from condet.data.detection_transforms import detection_transforms
from condet.data.load import load_annotations
from condet.data.problems import DataError, DataProblem
from condet.data.shapes import SYNTHETIC_CLASSES
from condet.data.splits import (
    known_class_ids,
    label_fraction_indices,
    label_fraction_subset,
    mark_withheld,
    withhold_classes,
)
from condet.data.synthetic import generate_synthetic
from condet.data.voc import VOC_CLASSES, load_voc, parse_voc_xml
from condet.data.writers import to_coco_dict, write_coco
from condet.data.yolo import load_yolo, parse_yolo_labels

VOCAnnotations = Annotations

__all__ = [
    "SYNTHETIC_CLASSES",
    "VOC_CLASSES",
    "Annotations",
    "DataError",
    "DataProblem",
    "DetectionDataset",
    "ImageAnnotation",
    "ObjectCropDataset",
    "VOCAnnotations",
    "crop_boxes",
    "detection_collate",
    "detection_transforms",
    "generate_synthetic",
    "known_class_ids",
    "label_fraction_indices",
    "label_fraction_subset",
    "load_annotations",
    "load_coco",
    "load_voc",
    "load_yolo",
    "mark_withheld",
    "parse_coco_json",
    "parse_voc_xml",
    "parse_yolo_labels",
    "read_rgb",
    "to_coco_dict",
    "withhold_classes",
    "write_coco",
]
