"""IMM figure attributes of each face, consistent with its quality and photo.

Good faces meet IMM's group-creation bar (box wider than 75 px, every head
pose angle within 30 degrees, FaceQuality above 0.8); low-quality faces miss it.
Values are rounded as IMM prints them, so the Parquet file and the JSON
records hold the same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._photos import Photos
from ._population import Population

__all__ = ["figure_attributes", "ATTRIBUTE_COLUMNS"]

ATTRIBUTE_COLUMNS = (
    "face_quality", "figure_confidence", "sharpness",
    "boundary_left", "boundary_top", "boundary_width", "boundary_height",
    "head_pose_pitch", "head_pose_roll", "head_pose_yaw",
    "age", "gender", "emotion", "glasses", "mask",
)


def _pose(rng: np.random.Generator, low: np.ndarray, good_sd: float, low_sd: float,
          good_max: float, low_max: float) -> np.ndarray:
    good = np.clip(rng.normal(0.0, good_sd, len(low)), -good_max, good_max)
    bad = np.clip(rng.normal(0.0, low_sd, len(low)), -low_max, low_max)
    return np.round(np.where(low, bad, good), 1)


def figure_attributes(rng: np.random.Generator, pop: Population, photos: Photos) -> pd.DataFrame:
    """One row per face (population order) with the columns of :data:`ATTRIBUTE_COLUMNS`."""
    n, low, ids = pop.n_faces, pop.low_quality, pop.face_identity
    files = photos.files
    width = files["width"].to_numpy()[photos.face_photo]
    height = files["height"].to_numpy()[photos.face_photo]
    per_photo = files["n_faces"].to_numpy()[photos.face_photo]

    # Boxes sit side by side: the photo's width is cut into one column per face.
    column = width / per_photo
    box_w = np.where(low, rng.uniform(36, 74, n), width * rng.uniform(0.045, 0.12, n))
    box_w = np.floor(np.minimum(box_w, 0.85 * column)).astype(np.int64)
    box_h = np.floor(box_w * rng.uniform(1.15, 1.3, n)).astype(np.int64)
    left = np.floor(photos.face_slot * column + rng.random(n) * (column - box_w)).astype(np.int64)
    top = np.floor(rng.uniform(0.1, 0.6, n) * (height - box_h)).astype(np.int64)

    identities = pop.identities
    wears_glasses = (rng.random(pop.n_identities) < 0.2)[ids]
    glasses = np.where(wears_glasses & (rng.random(n) < 0.7), "glasses",
                       np.where(rng.random(n) < 0.03, "sunglasses", "none"))
    age = np.maximum(identities["age"].to_numpy()[ids] + np.round(rng.normal(0, 1.5, n)), 1)
    return pd.DataFrame({
        "face_quality": pop.face_quality,
        "figure_confidence": np.round(np.where(low, rng.uniform(0.62, 0.93, n),
                                               rng.uniform(0.93, 0.999, n)), 3),
        "sharpness": np.round(np.where(low, rng.uniform(0.1, 0.6, n),
                                       rng.uniform(0.7, 0.98, n)), 3),
        "boundary_left": left,
        "boundary_top": top,
        "boundary_width": box_w,
        "boundary_height": box_h,
        "head_pose_pitch": _pose(rng, low, 7.0, 18.0, 25.0, 60.0),
        "head_pose_roll": _pose(rng, low, 5.0, 12.0, 25.0, 45.0),
        "head_pose_yaw": _pose(rng, low, 11.0, 35.0, 29.0, 85.0),
        "age": age.astype(np.int64),
        "gender": pd.array(identities["gender"].to_numpy()[ids], dtype="str"),
        "emotion": pd.array(np.where(rng.random(n) < 0.45, "happiness", "none"), dtype="str"),
        "glasses": pd.array(glasses, dtype="str"),
        "mask": pd.array(np.where(rng.random(n) < 0.03, "mask", "none"), dtype="str"),
    })
