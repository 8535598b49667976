"""Per-cluster sufficient statistics: label codes, member sums, unit centroids.

Sums are float64 whatever the embedding dtype, so a destination's sum stays
exact enough under thousands of merges; they are reduced in chunks so memory
stays bounded whatever the number of faces.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from ..errors import RecordError
from ..faceset import is_clustered

# Bytes of float64 rows (plus their float32 source) converted at a time.
CHUNK_BYTES = 64 * 2 ** 20
# Bytes of embedding rows gathered per reduction step: small enough to stay in
# cache, which makes the reduction several times faster than large blocks.
SUM_CHUNK_BYTES = 2 ** 20
# float32 rounding leaves |norm - 1| around 1e-7 * sqrt(dim); anything far
# beyond that was never normalised.
UNIT_TOLERANCE = 1e-4


def _chunk_rows(dim: int) -> int:
    return max(1, CHUNK_BYTES // (12 * max(dim, 1)))


def encode_cluster_ids(cluster_ids: Any, n_faces: int, *, source: str = "object"
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Label codes into the sorted live ids; -1 for faces in no cluster.

    Missing values, the empty string and IMM's reserved ids mean "in no
    cluster". Every other value must be a string.

    Returns
    -------
    labels : ndarray of shape (n_faces,), int64
    ids : ndarray of shape (n_clusters,), object
        Sorted distinct cluster ids (Python ``str``).
    """
    if isinstance(cluster_ids, (pd.Series, pd.Index)):
        raw = cluster_ids.to_numpy(dtype=object)
    else:
        raw = np.asarray(cluster_ids, dtype=object)
    if raw.ndim != 1 or raw.shape[0] != n_faces:
        raise ValueError(f"cluster_ids must be 1-D with one entry per face ({n_faces}), "
                         f"but an array of shape {raw.shape} was passed.")
    clustered = is_clustered(raw)
    values = raw[clustered]
    if infer_dtype(values, skipna=False) not in ("string", "empty"):
        rows = np.flatnonzero(clustered)
        i = next(j for j, v in enumerate(values) if not isinstance(v, str))
        raise RecordError(f"{source}[{rows[i]}]", "cluster ids must be strings",
                          field="cluster_id", expected="a string id, or None for no cluster",
                          got=values[i])
    codes, uniques = pd.factorize(values, sort=True)
    labels = np.full(n_faces, -1, dtype=np.int64)
    labels[clustered] = codes
    ids = np.empty(len(uniques), dtype=object)
    ids[:] = [str(u) for u in uniques]
    return labels, ids


def cluster_sums(embeddings: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum of member rows per cluster, float64 of shape (n_clusters, dim).

    Faces are visited sorted by label (stable, so by position within a
    cluster) in cache-sized chunks; each chunk is reduced with
    ``np.add.reduceat`` accumulating in float64. The
    result depends only on ``labels`` and ``embeddings``, so rebuilding a
    state gives identical bits.
    """
    dim = embeddings.shape[1]
    sums = np.zeros((n_clusters, dim), dtype=np.float64)
    order = np.flatnonzero(labels >= 0)
    order = order[np.argsort(labels[order], kind="stable")]
    step = max(64, SUM_CHUNK_BYTES // (embeddings.itemsize * max(dim, 1)))
    for start in range(0, order.size, step):
        idx = order[start:start + step]
        lab = labels[idx]
        heads = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
        # Labels are unique among heads, so the fancy += adds each once.
        sums[lab[heads]] += np.add.reduceat(embeddings[idx], heads, axis=0, dtype=np.float64)
    return sums


def unit_rows(sums: np.ndarray) -> np.ndarray:
    """Rows of ``sums`` scaled to unit length; an all-zero row stays zero.

    Always called on a 2-D array (a single row as shape (1, dim)) so that a
    row's result does not depend on how many rows come with it.
    """
    norms = np.sqrt((sums * sums).sum(axis=1))
    out = np.zeros_like(sums)
    nonzero = norms > 0
    out[nonzero] = sums[nonzero] / norms[nonzero, None]
    return out


def normalise_rows(embeddings: Any, *, source: str = "object") -> tuple[np.ndarray, np.ndarray]:
    """float32 unit rows and the float64 norms they had, in bounded memory.

    Raises
    ------
    RecordError
        A row holds NaN/inf or is all zeros (it has no direction).
    """
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array of shape (n_faces, dim), but an array "
                         f"of shape {x.shape} was passed.")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"embeddings must be numeric, but dtype {x.dtype} was passed.")
    out = np.empty(x.shape, dtype=np.float32)
    norms = np.empty(x.shape[0], dtype=np.float64)
    step = _chunk_rows(x.shape[1])
    for start in range(0, x.shape[0], step):
        block = x[start:start + step].astype(np.float64)
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            i = start + int(np.flatnonzero(bad)[0])
            raise RecordError(f"{source}[{i}]", "the embedding holds NaN or infinity",
                              field="embedding", expected="finite numbers", got=x[i])
        nb = np.sqrt((block * block).sum(axis=1))
        if (nb == 0).any():
            i = start + int(np.flatnonzero(nb == 0)[0])
            raise RecordError(f"{source}[{i}]", "the embedding is all zeros, so it has no "
                              "direction to normalise", field="embedding",
                              expected="a non-zero vector", got=x[i])
        norms[start:start + step] = nb
        out[start:start + step] = block / nb[:, None]
    return out, norms


def check_unit_rows(embeddings: np.ndarray, face_ids: np.ndarray) -> None:
    """Raise RecordError naming the first face whose embedding is not unit length."""
    step = _chunk_rows(embeddings.shape[1])
    for start in range(0, embeddings.shape[0], step):
        block = embeddings[start:start + step].astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            norms = np.sqrt(np.einsum("ij,ij->i", block, block))
        bad = ~(np.abs(norms - 1.0) <= UNIT_TOLERANCE)
        if bad.any():
            i = start + int(np.flatnonzero(bad)[0])
            raise RecordError(f"faces[{i}] (face_id {face_ids[i]!r})",
                              "FaceSet embeddings must be unit rows (L2-normalised); build the "
                              "state with ClusterState.from_arrays to normalise raw vectors",
                              field="embedding", expected="L2 norm 1", got=float(norms[i - start]))
