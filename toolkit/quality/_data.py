"""What every metric sees: unit rows, integer cluster codes, cluster ids.

A metric takes either a :class:`~toolkit.clustering.ClusterState` or an
embedding matrix with one label per row. Both become a :class:`Labelled`:
the rows as given (float32 stays float32), ``codes`` (int64 positions into
``cluster_ids``, ``-1`` for a face in no cluster) and the sorted cluster ids.

Rows are L2-normalised in float64, one chunk at a time, whenever they are
used (:func:`unit_rows`), exactly as scikit-learn's cosine distance
normalises them; a zero row, or one shorter than 10 float64 epsilons, is
the zero vector (cosine similarity 0 with anything).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..errors import RecordError
from ..faceset import is_clustered

__all__ = ["DEFAULT_CHUNK_BYTES", "Labelled", "check_chunk_bytes", "chunk_rows", "is_state",
           "encode_labels", "labelled", "unit_rows", "iter_unit_rows"]

#: Default memory budget of one chunk of work (64 MiB).
DEFAULT_CHUNK_BYTES = 64 * 2 ** 20

_TINY_NORM = 10 * np.finfo(np.float64).eps
# Label kinds (pandas.api.types.infer_dtype) whose values compare with each other.
_ORDERABLE = frozenset({"string", "integer", "floating", "mixed-integer-float", "boolean",
                        "decimal", "empty"})


@dataclass(frozen=True, eq=False)
class Labelled:
    """Embeddings and cluster codes, checked and aligned.

    Attributes
    ----------
    X : ndarray of shape (n_faces, dim), float32 or float64
        The rows as given; not normalised, not copied.
    codes : ndarray of shape (n_faces,), int64
        Position of each face's cluster in ``cluster_ids``; -1 = in no cluster.
    cluster_ids : ndarray of shape (n_clusters,), object
        The cluster ids, sorted.
    counts : ndarray of shape (n_clusters,), int64
        Faces per cluster.
    face_ids : ndarray of shape (n_faces,) or None
        Face ids when the input was a ClusterState.
    source : str
        ``"ClusterState"`` or ``"object"``, for messages.
    """

    X: np.ndarray
    codes: np.ndarray
    cluster_ids: np.ndarray
    counts: np.ndarray
    face_ids: np.ndarray | None
    source: str

    @property
    def n_faces(self) -> int:
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_clusters(self) -> int:
        return int(self.cluster_ids.shape[0])

    @property
    def scored(self) -> np.ndarray:
        """Positions of the faces that belong to a cluster, ascending."""
        return np.flatnonzero(self.codes >= 0)


def check_chunk_bytes(chunk_bytes: Any) -> int:
    """Validate the memory budget of one chunk of work."""
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, numbers.Integral) \
            or chunk_bytes < 1:
        raise ValueError(f"The value for `chunk_bytes` must be a positive integer (bytes), "
                         f"but {chunk_bytes!r} was passed.")
    return int(chunk_bytes)


def chunk_rows(chunk_bytes: int, bytes_per_row: int, n_rows: int) -> int:
    """How many rows fit in one chunk; at least one."""
    return int(max(1, min(max(n_rows, 1), chunk_bytes // max(bytes_per_row, 1))))


def is_state(obj: Any) -> bool:
    """Whether ``obj`` looks like a ClusterState (duck-typed, so tests may fake one)."""
    return all(hasattr(obj, name) for name in ("embeddings", "labels", "cluster_ids", "faceset"))


def _check_embeddings(X: Any, *, source: str, chunk_bytes: int) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise RecordError(source, "embeddings are not an array", field="X",
                          expected="an array of shape (n_faces, dim)", got=type(X).__name__
                          ) from exc
    if arr.ndim != 2:
        raise RecordError(source, "embeddings must be two-dimensional", field="X",
                          expected="an array of shape (n_faces, dim)", got=f"shape {arr.shape}")
    if arr.shape[1] == 0:
        raise RecordError(source, "embeddings have no columns", field="X",
                          expected="dim >= 1", got=f"shape {arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise RecordError(source, "embeddings are not numbers", field="X",
                          expected="a float32 or float64 array", got=str(arr.dtype))
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    step = chunk_rows(chunk_bytes, arr.shape[1] * arr.itemsize, arr.shape[0])
    for start in range(0, arr.shape[0], step):
        block = arr[start:start + step]
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            row = start + int(np.flatnonzero(~finite)[0])
            raise RecordError(f"{source}[{row}]", "embedding holds a non-finite value",
                              field="X", expected="finite numbers",
                              got=arr[row][~np.isfinite(arr[row])][0].item())
    return arr


def _no_cluster_mask(values: np.ndarray) -> np.ndarray:
    """True where a label means "in no cluster".

    Missing values, IMM's reserved ids and the empty string (as
    :func:`toolkit.is_clustered`), plus negative numbers: -1 is what
    ``ClusterState.labels`` and scikit-learn's DBSCAN/HDBSCAN use for noise.
    """
    out = ~is_clustered(values)
    if values.dtype.kind in "iuf":
        with np.errstate(invalid="ignore"):
            out |= values < 0
    elif values.dtype == object:
        out |= np.fromiter(
            (isinstance(v, numbers.Real) and not isinstance(v, bool) and v < 0 for v in values),
            dtype=bool, count=len(values))
    return out


def encode_labels(labels: Any, n_faces: int, *, source: str = "object", field: str = "labels"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for any hashable cluster ids.

    Returns ``codes`` (int64, -1 for a face in no cluster) and the sorted ids.
    Ids are never assumed to be ``0..k-1``.
    """
    values = _label_array(labels)
    if values.dtype.kind not in "iufb":
        values = values.astype(object)
    if values.ndim != 1:
        raise RecordError(source, f"`{field}` must be one-dimensional", field=field,
                          expected=f"{n_faces} labels, one per face", got=f"shape {values.shape}")
    if len(values) != n_faces:
        raise RecordError(source, f"`{field}` and the embeddings differ in length", field=field,
                          expected=f"{n_faces} labels, one per face", got=f"{len(values)} labels")
    try:
        codes = np.full(n_faces, -1, dtype=np.int64)
        keep = ~_no_cluster_mask(values)
        if keep.any():
            sub, ids = _factorize_sorted(values[keep])
            codes[keep] = sub
        else:
            ids = np.empty(0, dtype=object)
    except TypeError as exc:
        bad = next((i for i, v in enumerate(values) if not _hashable(v)), None)
        if bad is None:
            raise
        raise RecordError(f"{source}[{bad}]", "a label is not hashable", field=field,
                          expected="a hashable cluster id", got=values[bad]) from exc
    return codes, ids


def _factorize_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the sorted distinct ids; ids that cannot be compared are
    ordered by type name, then text, so the order is still deterministic."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in _ORDERABLE:
        codes, uniques = pd.factorize(values, sort=True)
        return codes.astype(np.int64), np.asarray(uniques, dtype=object)
    codes, uniques = pd.factorize(values, sort=False)
    uniques = np.asarray(uniques, dtype=object)
    order = sorted(range(len(uniques)),
                   key=lambda i: (type(uniques[i]).__name__, repr(uniques[i])))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    ids = np.empty(len(order), dtype=object)
    ids[:] = [uniques[i] for i in order]
    return rank[codes], ids


def _label_array(labels: Any) -> np.ndarray:
    if isinstance(labels, (pd.Series, pd.Index)):
        return labels.to_numpy()
    if isinstance(labels, np.ndarray):
        return labels
    seq = list(labels)
    try:
        values = np.asarray(seq)
    except ValueError:
        values = None
    if values is None or values.ndim != 1:
        # Tuples are valid ids; keep each element whole instead of a 2-D array.
        values = np.empty(len(seq), dtype=object)
        values[:] = seq
    return values


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def labelled(X: Any, labels: Any = None, *, chunk_bytes: int, caller: str) -> Labelled:
    """Turn ``(X, labels)`` or a ClusterState into a :class:`Labelled`."""
    if is_state(X):
        if labels is not None:
            raise TypeError(f"{caller}: pass `labels` only with an embedding array; a "
                            "ClusterState brings its own cluster labels.")
        state = X
        emb = np.asarray(state.embeddings)
        codes = np.asarray(state.labels, dtype=np.int64)
        ids = np.asarray(state.cluster_ids, dtype=object)
        if emb.ndim != 2 or codes.shape != (emb.shape[0],):
            raise RecordError("ClusterState", "labels and embeddings are not aligned",
                              field="labels", expected=f"{emb.shape[0]} labels",
                              got=f"shape {codes.shape}")
        if codes.size and (codes.max() >= len(ids) or codes.min() < -1):
            raise RecordError("ClusterState", "a label code is out of range", field="labels",
                              expected=f"-1 .. {len(ids) - 1}",
                              got=int(codes.max() if codes.max() >= len(ids) else codes.min()))
        counts = np.bincount(codes[codes >= 0], minlength=len(ids)).astype(np.int64)
        face_ids = np.asarray(state.face_ids, dtype=object) \
            if getattr(state, "face_ids", None) is not None else None
        return Labelled(emb, codes, ids, counts, face_ids, "ClusterState")
    if hasattr(X, "faces") and hasattr(X, "embeddings"):
        raise TypeError(f"{caller} takes a ClusterState or an embedding array, but a FaceSet "
                        "was passed; build the state with ClusterState.from_faces(faceset).")
    if labels is None:
        raise TypeError(f"{caller}: `labels` is required when the first argument is an "
                        "embedding array rather than a ClusterState.")
    emb = _check_embeddings(X, source="object", chunk_bytes=chunk_bytes)
    codes, ids = encode_labels(labels, emb.shape[0])
    counts = np.bincount(codes[codes >= 0], minlength=len(ids)).astype(np.int64)
    return Labelled(emb, codes, ids, counts, None, "object")


def unit_rows(X: np.ndarray, rows: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
    """The selected rows L2-normalised in float64, and each one's squared norm after.

    The squared norm is 1 up to rounding, or 0 for a zero row; the silhouette
    uses the actual value so that removing a face from its own cluster's sum is
    exact.
    """
    block = np.array(X[rows], dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", block, block))
    # As sklearn.preprocessing.normalize: a row shorter than 10 eps has no
    # usable direction; it becomes the zero row (similarity 0 to everything).
    tiny = norms < _TINY_NORM
    norms[tiny] = 1.0
    block[tiny] = 0.0
    block /= norms[:, None]
    return block, np.einsum("ij,ij->i", block, block)


def iter_unit_rows(X: np.ndarray, positions: np.ndarray, step: int
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(positions chunk, unit rows, squared norms)`` over ``positions``."""
    for start in range(0, len(positions), step):
        pos = positions[start:start + step]
        block, sq = unit_rows(X, pos)
        yield pos, block, sq
