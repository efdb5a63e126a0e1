"""What is wrong with a box, by the rules every reader applies alike (VOC, COCO, YOLO)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

# Coordinates that overshoot the image by less than this many pixels are rounding noise of
# normalised or float formats (YOLO, COCO); they are clipped instead of reported.
EDGE_TOLERANCE_PX = 1.0


class BoxProblem(NamedTuple):
    """What is wrong with a box: its kind (a key of :data:`~condet.data.problems.PROBLEM_KINDS`)
    and a description."""

    kind: str
    description: str


def box_problem(box: Sequence[float], width: float, height: float) -> BoxProblem | None:
    """What is wrong with an ``xyxy`` box in a ``width`` x ``height`` image, or None.

    VOC boxes are 1-based inclusive pixel indices, so ``x2 == width`` is the last pixel column;
    continuous boxes also end at ``width``. Either way a coordinate beyond the image by more than
    :data:`EDGE_TOLERANCE_PX` is an error, as is a box with ``x2 <= x1`` or ``y2 <= y1``.
    """
    x1, y1, x2, y2 = (float(value) for value in box)
    shown = f"[{x1:g}, {y1:g}, {x2:g}, {y2:g}]"
    if not all(np.isfinite([x1, y1, x2, y2])):
        return BoxProblem("non-finite box", f"box {shown} has a non-finite coordinate")
    if x2 <= x1 or y2 <= y1:
        return BoxProblem(
            "degenerate box", f"degenerate box {shown} (xmax <= xmin or ymax <= ymin)"
        )
    tolerance = EDGE_TOLERANCE_PX
    beyond_edges = x1 < -tolerance or y1 < -tolerance
    beyond_edges |= x2 > width + tolerance or y2 > height + tolerance
    if beyond_edges or x1 >= width or y1 >= height or x2 <= 0 or y2 <= 0:
        return BoxProblem(
            "box outside the image", f"box {shown} lies outside the {width:g}x{height:g} image"
        )
    return None


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Boxes clipped to the image, for coordinates within the rounding tolerance outside it."""
    clipped = boxes.copy()
    clipped[:, 0::2] = clipped[:, 0::2].clip(0, width)
    clipped[:, 1::2] = clipped[:, 1::2].clip(0, height)
    return clipped
