"""Argument checks and progress bars shared by the recluster functions."""

from __future__ import annotations

import contextlib
import numbers
from typing import Any, Iterator

import numpy as np

from ..faceset import FaceSet

__all__ = ["as_faceset", "check_n_neighbors", "check_threshold", "check_choice",
           "check_positive_int", "progress_bar", "PROGRESS_MIN_FACES"]

#: Progress bars appear on their own from this many faces on.
PROGRESS_MIN_FACES = 10_000


def _is_state(obj: Any) -> bool:
    from ..clustering import ClusterState

    return isinstance(obj, ClusterState)


def as_faceset(faces: Any, *, caller: str, need_frame: bool = False) -> FaceSet:
    """A FaceSet from a FaceSet, a ClusterState (its faces) or, unless ``need_frame``,
    an embedding array (L2-normalised, ids ``face-0``, ``face-1``, ...)."""
    if isinstance(faces, FaceSet):
        return faces
    if _is_state(faces):
        return faces.faceset
    if need_frame:
        raise TypeError(f"{caller} needs a toolkit.FaceSet or a ClusterState (faces with "
                        f"columns), but {type(faces).__name__} was passed.")
    if isinstance(faces, (np.ndarray, list, tuple)):
        from ..clustering import ClusterState

        x = np.asarray(faces)
        if x.ndim != 2:
            raise ValueError(f"{caller}: embeddings must be a 2-D array of shape "
                             f"(n_faces, dim), but an array of shape {x.shape} was passed.")
        return ClusterState.from_arrays(x, np.full(x.shape[0], None, dtype=object)).faceset
    raise TypeError(f"{caller} needs a toolkit.FaceSet, a ClusterState or an embedding array, "
                    f"but {type(faces).__name__} was passed.")


def check_positive_int(name: str, value: Any, *, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"The value for `{name}` must be an integer >= {low}, "
                         f"but {value!r} was passed.")
    return int(value)


def check_n_neighbors(value: Any) -> int:
    return check_positive_int("n_neighbors", value)


def check_threshold(value: Any, name: str = "threshold") -> float | None:
    """None, or a finite cosine similarity in [-1, 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or not -1.0 <= float(value) <= 1.0:
        raise ValueError(f"The value for `{name}` must be a cosine similarity between -1 and 1, "
                         f"or None to derive it from the data, but {value!r} was passed.")
    return float(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"The value for `{name}` must be one of {list(choices)}, "
                         f"but {value!r} was passed.")
    return value


@contextlib.contextmanager
def progress_bar(progress: bool | None, total: int | None, desc: str, *, unit: str = "face",
                 n_faces: int | None = None) -> Iterator[Any]:
    """A ``tqdm.auto`` bar, or None when progress is off.

    ``progress=None`` shows it only for :data:`PROGRESS_MIN_FACES` faces or more
    (``n_faces``, else ``total``).
    """
    if progress is None:
        size = n_faces if n_faces is not None else (total or 0)
        progress = size >= PROGRESS_MIN_FACES
    if not progress:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, leave=False)
    try:
        yield bar
    finally:
        bar.close()
