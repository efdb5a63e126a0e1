"""The scenes of the embedded synthetic data set: shapes whose classes form families.

Every scene (256x256 by default) holds 1-3 objects of ten shape classes in three families:

- round: circle, ellipse, ring
- angular: triangle, square, pentagon, hexagon
- spiky: star, cross, burst

Colour, texture, size, rotation and position are random and independent of the class, the
background is a gradient with a few lines and blobs as distractors, later objects may occlude
earlier ones and objects may be cut by the image border. Only the outline tells the class, and
outlines in a family really are alike (a hexagon is nearly a circle, a burst nearly a star), so
class similarity is real and ranked contrastive losses have something to learn.

The scenes are sized for the demo, whose every model must learn its task in a few hundred CPU
steps: objects are large (radius 9-20% of the side: 35-100 px across in a 256 px scene, 20-65
px at the demo detectors' 160 px), at most three per scene, at least 60% visible, with fills
fainter than their outlines and little clutter. An object's crop (its box stretched to a
square) still shows its class: ellipses lie diagonally, since one along an axis would become a
circle, and the other shapes are stretched by at most 6% per axis.

Drawing is deterministic: scene ``i`` depends only on the seed and ``i``.
"""

from __future__ import annotations

import colorsys
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from condet.data.annotations import ImageAnnotation

SHAPE_FAMILIES: dict[str, tuple[str, ...]] = {
    "round": ("circle", "ellipse", "ring"),
    "angular": ("triangle", "square", "pentagon", "hexagon"),
    "spiky": ("star", "cross", "burst"),
}
SYNTHETIC_CLASSES: tuple[str, ...] = tuple(
    sorted(name for family in SHAPE_FAMILIES.values() for name in family)
)
# Each class's neighbours from most to least alike: its family first, then the nearest
# outline of another family (a hexagon is almost a circle).
SYNTHETIC_RANKINGS: dict[str, list[str]] = {
    "circle": ["ellipse", "ring", "hexagon"],
    "ellipse": ["circle", "ring"],
    "ring": ["circle", "ellipse"],
    "triangle": ["square", "pentagon", "hexagon"],
    "square": ["pentagon", "triangle", "hexagon"],
    "pentagon": ["hexagon", "square", "triangle"],
    "hexagon": ["pentagon", "square", "triangle", "circle"],
    "star": ["burst", "cross"],
    "cross": ["star", "burst"],
    "burst": ["star", "cross"],
}
# Objects per scene (1..MAX_OBJECTS) and their radius as a fraction of the image side.
MAX_OBJECTS = 3
RADIUS_RANGE = (0.09, 0.2)
_SUPERSAMPLE = 2


def render_scene(
    index: int, seed: int, image_size: int = 256
) -> tuple[np.ndarray, ImageAnnotation]:
    """Scene ``index`` of the data set with ``seed``: uint8 ``[H, W, 3]`` pixels and objects.

    Boxes are VOC-style (1-based inclusive pixel indices) around each object's pixels inside the
    image. An object less than 60% visible (occluded by later objects) would be ``difficult``,
    which placement rules out; one cut by the border is ``truncated``.
    """
    rng = np.random.default_rng([seed, index])
    size = image_size
    canvas = _background(rng, size)
    placed: list[dict[str, object]] = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        obj = _place_object(rng, size, placed)
        if obj is None:
            continue
        texture = _texture(rng, size)
        alpha = obj["alpha"][..., None]
        canvas = canvas * (1 - alpha) + texture * alpha
        for earlier in placed:
            earlier["visible"] = earlier["visible"] * (1 - obj["alpha"])
        placed.append(obj)
    canvas += rng.normal(0, 4.0, canvas.shape)
    pixels = np.clip(canvas, 0, 255).round().astype(np.uint8)

    boxes, labels, difficult, truncated = [], [], [], []
    for obj in placed:
        inside = obj["alpha"] > 0.5
        rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
        boxes.append([cols[0] + 1, rows[0] + 1, cols[-1] + 1, rows[-1] + 1])
        labels.append(SYNTHETIC_CLASSES.index(obj["name"]))
        visible_fraction = obj["visible"].sum() / obj["alpha"].sum()
        difficult.append(visible_fraction < 0.6)
        truncated.append(obj["inside_fraction"] < 0.98)
    annotation = ImageAnnotation(
        image_id=f"{index:06d}",
        image_path=Path(f"{index:06d}.jpg"),
        width=size,
        height=size,
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        labels=labels,
        difficult=difficult,
        truncated=truncated,
    )
    return pixels, annotation


def _place_object(
    rng: np.random.Generator, size: int, placed: list[dict[str, object]]
) -> dict[str, object] | None:
    """A new object that keeps every earlier object at least 60% visible, or None."""
    for _ in range(30):
        name = SYNTHETIC_CLASSES[int(rng.integers(len(SYNTHETIC_CLASSES)))]
        radius = rng.uniform(*RADIUS_RANGE) * size
        center = rng.uniform(0.3 * radius, size - 0.3 * radius, size=2)
        if placed and rng.uniform() < 0.15:
            # Close to an earlier object, so that occlusion happens.
            neighbour = placed[int(rng.integers(len(placed)))]
            center = neighbour["center"] + rng.normal(0, radius, size=2)
        outer, hole = _outline(name, rng)
        angle = rng.uniform(0, 2 * math.pi)
        if name == "ellipse":
            # Crops stretch every box to a square, which turns an ellipse lying along an axis
            # into a circle; a diagonal one stays an ellipse in its crop.
            angle = rng.uniform(math.radians(25), math.radians(65)) + math.pi / 2 * rng.integers(4)
        rotation = np.array(
            [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
        )
        outer = outer @ rotation.T * radius + center
        hole = None if hole is None else hole @ rotation.T * radius + center
        alpha = _rasterize(outer, hole, size)
        full_area = _polygon_area(outer) - (0 if hole is None else _polygon_area(hole))
        inside_fraction = alpha.sum() / full_area
        inside = alpha > 0.5
        if inside_fraction < 0.5 or inside.any(axis=0).sum() < 10 or inside.any(axis=1).sum() < 10:
            continue
        if any(
            (earlier["visible"] * (1 - alpha)).sum() < 0.6 * earlier["alpha"].sum()
            for earlier in placed
        ):
            continue
        return {
            "name": name,
            "alpha": alpha,
            "visible": alpha.copy(),
            "center": center,
            "inside_fraction": inside_fraction,
        }
    return None


def _outline(name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Unit-radius outline (and hole, for a ring) of a shape class, with per-object variation."""
    hole = None
    if name == "circle":
        outer = _ellipse(1.0, 1.0)
    elif name == "ellipse":
        outer = _ellipse(1.0, rng.uniform(0.45, 0.65))
    elif name == "ring":
        outer = _ellipse(1.0, 1.0)
        hole = _ellipse(1.0, 1.0) * rng.uniform(0.5, 0.65)
    elif name in ("triangle", "square", "pentagon", "hexagon"):
        sides = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}[name]
        outer = _star(sides, inner_ratio=None)
    elif name == "star":
        outer = _star(5, inner_ratio=rng.uniform(0.38, 0.5))
    elif name == "burst":
        outer = _star(8, inner_ratio=rng.uniform(0.55, 0.7))
    elif name == "cross":
        arm = rng.uniform(0.28, 0.38)
        outer = np.array(
            [
                (arm, 1),
                (arm, arm),
                (1, arm),
                (1, -arm),
                (arm, -arm),
                (arm, -1),
                (-arm, -1),
                (-arm, -arm),
                (-1, -arm),
                (-1, arm),
                (-arm, arm),
                (-arm, 1),
            ],
            float,
        )
    else:
        raise ValueError(f"unknown shape {name!r}")
    if name != "ellipse":
        stretch = rng.uniform(0.94, 1.06, size=2)
        outer = outer * stretch
        hole = None if hole is None else hole * stretch
    return outer, hole


def _ellipse(x_radius: float, y_radius: float, points: int = 64) -> np.ndarray:
    angles = np.linspace(0, 2 * math.pi, points, endpoint=False)
    return np.stack([x_radius * np.cos(angles), y_radius * np.sin(angles)], axis=1)


def _star(points: int, inner_ratio: float | None) -> np.ndarray:
    """A regular polygon (``inner_ratio`` None) or a star with ``points`` tips."""
    if inner_ratio is None:
        angles = np.arange(points) * 2 * math.pi / points + math.pi / 2
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    angles = np.arange(2 * points) * math.pi / points + math.pi / 2
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner_ratio)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _rasterize(outer: np.ndarray, hole: np.ndarray | None, size: int) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of the polygon (minus its hole), ``[size, size]``."""
    scale = _SUPERSAMPLE
    mask = Image.new("L", (size * scale, size * scale), 0)
    draw = ImageDraw.Draw(mask)
    draw.polygon([tuple(p) for p in (outer * scale).tolist()], fill=255)
    if hole is not None:
        draw.polygon([tuple(p) for p in (hole * scale).tolist()], fill=0)
    mask = mask.resize((size, size), Image.Resampling.BOX)
    return np.asarray(mask, np.float64) / 255.0


def _random_colour(
    rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]
) -> np.ndarray:
    """An RGB colour (0..255) from a uniform hue and the given saturation and value ranges."""
    hue = rng.uniform(0, 1)
    sat, val = rng.uniform(*saturation), rng.uniform(*value)
    return np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coordinates = np.arange(size, dtype=np.float64)
    return np.meshgrid(coordinates, coordinates)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """An object's fill: solid, stripes, checks, dots or a gradient in two random colours."""
    first = _random_colour(rng, (0.5, 1.0), (0.55, 1.0))
    # The pattern's second colour lies between the first and a random one, so patterns stay
    # fainter than the outline, which alone tells the class.
    second = 0.5 * first + 0.5 * _random_colour(rng, (0.3, 1.0), (0.3, 1.0))
    x, y = _grid(size)
    angle = rng.uniform(0, math.pi)
    along = x * math.cos(angle) + y * math.sin(angle)
    across = -x * math.sin(angle) + y * math.cos(angle)
    period = rng.uniform(5, 14)
    kind = rng.integers(5)
    if kind == 0:
        weight = np.zeros_like(x)
    elif kind == 1:
        weight = (np.sin(along * 2 * math.pi / period) > 0).astype(float)
    elif kind == 2:
        weight = ((np.floor(along / period) + np.floor(across / period)) % 2).astype(float)
    elif kind == 3:
        dx = along % period - period / 2
        dy = across % period - period / 2
        weight = (dx**2 + dy**2 < (period / 3.5) ** 2).astype(float)
    else:
        weight = (along - along.min()) / (np.ptp(along) + 1e-9)
    weight = weight[..., None]
    return first * (1 - weight) + second * weight


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted two-colour gradient with line and irregular-blob clutter, float ``[H, W, 3]``."""
    first = _random_colour(rng, (0.0, 0.5), (0.3, 0.9))
    second = _random_colour(rng, (0.0, 0.5), (0.3, 0.9))
    x, y = _grid(size)
    angle = rng.uniform(0, 2 * math.pi)
    along = x * math.cos(angle) + y * math.sin(angle)
    weight = ((along - along.min()) / (np.ptp(along) + 1e-9))[..., None]
    image = Image.fromarray(np.uint8(first * (1 - weight) + second * weight))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 8))):
        colour = tuple(int(c) for c in _random_colour(rng, (0.0, 0.7), (0.2, 0.95)))
        if rng.uniform() < 0.7:
            start, end = rng.uniform(0, size, size=2), rng.uniform(0, size, size=2)
            draw.line([tuple(start), tuple(end)], fill=colour, width=int(rng.integers(1, 4)))
        else:
            vertices = int(rng.integers(6, 11))
            angles = np.sort(rng.uniform(0, 2 * math.pi, vertices))
            radii = rng.uniform(0.5, 1.0, vertices) * rng.uniform(4, 20)
            centre = rng.uniform(0, size, size=2)
            blob = np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii[:, None] + centre
            draw.polygon([tuple(p) for p in blob.tolist()], fill=colour)
    return np.asarray(image, np.float64)
