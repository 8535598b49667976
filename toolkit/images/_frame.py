"""The faces frame the image functions take: a DataFrame or a FaceSet, checked once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import RecordError
from ..faceset import FaceSet

__all__ = ["faces_frame", "numeric_column"]

_EXPECTED = {
    "face_id": "a column of face ids (strings)",
    "cluster_id": "a column of cluster ids (strings)",
}


def faces_frame(faces: Any, required: tuple[str, ...]) -> pd.DataFrame:
    """``faces`` as a DataFrame holding the ``required`` columns (a FaceSet gives its frame)."""
    if isinstance(faces, FaceSet):
        faces = faces.faces
    if not isinstance(faces, pd.DataFrame):
        raise TypeError(f"The value for `faces` must be a faces frame (DataFrame, e.g. "
                        f"FaceSet.faces) or a FaceSet, but a {type(faces).__name__} was passed.")
    for column in required:
        if column not in faces.columns:
            raise RecordError("object", "missing required column", field=column,
                              expected=_EXPECTED.get(column, "a column"),
                              got=f"columns {list(map(str, faces.columns))}")
    return faces


def numeric_column(faces: pd.DataFrame, column: str, expected: str) -> pd.Series:
    """A column as float64 (missing -> NaN); values that are not numbers raise RecordError."""
    values = faces[column]
    try:
        return pd.to_numeric(values, errors="raise").astype("float64")
    except (TypeError, ValueError):
        bad = (pd.to_numeric(values, errors="coerce").isna() & values.notna()).to_numpy()
        position = int(np.flatnonzero(bad)[0]) if bad.any() else 0
        raise RecordError(f"object row {position}", "wrong type", field=column,
                          expected=expected, got=values.iloc[position]) from None
