"""Face boxes of a faces frame and the square each thumbnail is cut from (no PIL here)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ._frame import numeric_column

__all__ = ["Box", "face_boxes", "recorded_sizes", "square_crop", "letterbox_size"]

BOX_COLUMNS = ("boundary_left", "boundary_top", "boundary_width", "boundary_height")


@dataclass(frozen=True)
class Box:
    """A face box in the pixels of the photo as recorded (IMM's Boundary)."""

    left: float
    top: float
    width: float
    height: float


def _polygon_box(text: Any) -> Box | None:
    """Bounding box of an IMM ``Boundary.Polygon`` (JSON text of ``[{X, Y}, ...]``)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        points = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(points, list):
        return None
    xs, ys = [], []
    for point in points:
        if isinstance(point, dict):
            x, y = point.get("X", point.get("x")), point.get("Y", point.get("y"))
        elif isinstance(point, list) and len(point) == 2:
            x, y = point
        else:
            return None
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in (x, y)):
            return None
        xs.append(float(x))
        ys.append(float(y))
    if not xs or max(xs) <= min(xs) or max(ys) <= min(ys):
        return None
    return Box(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def face_boxes(faces: pd.DataFrame) -> list[Box | None]:
    """Each row's face box: the ``boundary_*`` columns, else the polygon's bounding box.

    ``None`` where neither gives a box of positive width and height.
    """
    n = len(faces)
    boxes: list[Box | None] = [None] * n
    if all(c in faces.columns for c in BOX_COLUMNS):
        values = np.column_stack([numeric_column(faces, c, "a number of pixels or missing")
                                  .to_numpy() for c in BOX_COLUMNS])
        good = np.isfinite(values).all(axis=1) & (values[:, 2] > 0) & (values[:, 3] > 0)
        for i in np.flatnonzero(good):
            boxes[i] = Box(*map(float, values[i]))
    if "boundary_polygon" in faces.columns:
        polygons = faces["boundary_polygon"].to_numpy(dtype=object)
        for i in range(n):
            if boxes[i] is None:
                boxes[i] = _polygon_box(polygons[i])
    return boxes


def recorded_sizes(faces: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``image_width`` and ``image_height`` as float64, NaN where unknown or not positive."""
    out = []
    for column in ("image_width", "image_height"):
        if column in faces.columns:
            values = numeric_column(faces, column, "a positive number of pixels or missing")
            values = values.to_numpy()
            out.append(np.where(values > 0, values, np.nan))
        else:
            out.append(np.full(len(faces), np.nan))
    return out[0], out[1]


def square_crop(box: Box, width: float, height: float,
                margin: float) -> tuple[float, float, float, float]:
    """The square ``(x0, y0, x1, y1)`` to cut around ``box`` from a ``width`` x ``height`` photo.

    All in the box's own frame (the photo as recorded). The box is enlarged by
    ``margin`` times its longer side on every side, made square around its
    centre, shrunk to the photo's shorter side if larger, and moved (never
    squeezed) to lie inside the photo. So the thumbnail is never distorted,
    and a face at the photo's edge stays in view.
    """
    cx = box.left + box.width / 2.0
    cy = box.top + box.height / 2.0
    side = max(box.width, box.height) * (1.0 + 2.0 * margin)
    side = min(side, float(width), float(height))
    x0 = min(max(cx - side / 2.0, 0.0), width - side)
    y0 = min(max(cy - side / 2.0, 0.0), height - side)
    return x0, y0, x0 + side, y0 + side


def letterbox_size(width: int, height: int, size: int) -> tuple[int, int]:
    """The size of a ``width`` x ``height`` image fitted inside a ``size`` square."""
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
