"""Property-based fuzzing: mutated XML / JSON / YOLO text gives a DataError or a valid result."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from condet.data import Annotations, DataError, load_voc, load_yolo, parse_coco_json
from condet.data.box_checks import EDGE_TOLERANCE_PX
from tests.data.test_coco import coco_text
from tests.helpers import make_voc, make_yolo, voc_xml

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

VOC_SEED = voc_xml([("cat", (10, 10, 50, 40)), ("dog", (1, 2, 100, 80))], difficult=(1,))
YOLO_SEED = "0 0.5 0.5 0.2 0.3\n1 0.25 0.75 0.1 0.1\n0 0.1 0.1 0.3 0.2 0.2 0.5\n"
COCO_SEED = json.loads(coco_text())

edits = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace"]),
        st.floats(0, 1),
        st.text(alphabet="<>/ 0123456789.-e,:[]{}\"'\nxabnmd", min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=6,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


def mutate(text: str, operations) -> str:
    for operation, where, chars in operations:
        position = int(where * len(text))
        if operation == "insert":
            text = text[:position] + chars + text[position:]
        elif operation == "delete":
            text = text[:position] + text[position + len(chars) :]
        else:
            text = text[:position] + chars + text[position + len(chars) :]
    return text


def assert_valid(annotations: Annotations) -> None:
    for image in annotations:
        assert image.width >= 1 and image.height >= 1
        boxes = image.boxes
        assert boxes.dtype == np.float32 and boxes.shape == (len(image), 4)
        assert np.isfinite(boxes).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert (boxes >= -EDGE_TOLERANCE_PX).all()
        assert (boxes[:, [0, 2]] <= image.width + EDGE_TOLERANCE_PX).all()
        assert (boxes[:, [1, 3]] <= image.height + EDGE_TOLERANCE_PX).all()
        assert ((image.labels >= 0) & (image.labels < len(annotations.classes))).all()
        assert len(image.difficult) == len(image.truncated) == len(image.iscrowd) == len(image)


def outcome(load) -> None:
    try:
        result = load()
    except DataError:
        return
    assert_valid(result)


@FUZZ
@given(operations=edits, skip=st.booleans())
def test_voc_xml(operations, skip):
    text = mutate(VOC_SEED, operations)
    with tempfile.TemporaryDirectory() as folder:
        root = make_voc(Path(folder), {"a": VOC_SEED, "b": "x"}, {"train": ["a", "b"]})
        (root / "Annotations" / "b.xml").write_text(text, encoding="utf-8", errors="replace")
        outcome(lambda: load_voc(root, "train", classes=["cat", "dog"], skip_invalid=skip))
        outcome(lambda: load_voc(root, "train", skip_invalid=skip))


@FUZZ
@given(operations=edits, skip=st.booleans())
def test_coco_json_text(operations, skip):
    outcome(lambda: parse_coco_json(mutate(coco_text(), operations), skip_invalid=skip))


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@FUZZ
@given(data=st.data(), skip=st.booleans())
def test_coco_json_structure(data, skip):
    document = json.loads(json.dumps(COCO_SEED))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(document))[1:]))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = data.draw(json_values)
    outcome(lambda: parse_coco_json(json.dumps(document), skip_invalid=skip))


@FUZZ
@given(operations=edits, skip=st.booleans())
def test_yolo_labels(operations, skip):
    text = mutate(YOLO_SEED, operations)
    with tempfile.TemporaryDirectory() as folder:
        data_yaml = make_yolo(Path(folder), {"a": text}, ["cat", "dog"])
        outcome(lambda: load_yolo(data_yaml, "train", skip_invalid=skip))
