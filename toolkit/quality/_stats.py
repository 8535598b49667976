"""Per-cluster sufficient statistics and the chunked face-by-cluster products.

For unit rows everything the metrics need follows from per-cluster sums:
the mean cosine similarity of a face ``x`` to cluster ``c`` is
``x·S_c / n_c``. The only large product is ``X̂ Sᵀ`` (faces × clusters),
computed a block of rows at a time so that a block and its temporaries stay
within ``chunk_bytes``. Nothing here builds a faces × faces matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ._data import Labelled, chunk_rows, iter_unit_rows

__all__ = ["ClusterSums", "cluster_sums", "iter_products", "cluster_pairs"]

_SUM_BLOCK_BYTES = 2 ** 20


@dataclass(frozen=True, eq=False)
class ClusterSums:
    """Sums of the float64 unit rows of every cluster.

    Attributes
    ----------
    counts : ndarray of shape (k,), int64
        Faces per cluster.
    sums : ndarray of shape (k, dim), float64
        ``S_c``: sum of the member unit rows.
    sq : ndarray of shape (k,), float64
        ``Σ ‖x̂‖²`` over the members: the cluster size up to rounding (a zero
        embedding adds 0).
    order : ndarray of shape (n_clustered,), int64
        Positions of the clustered faces, grouped by cluster (stable).
    starts : ndarray of shape (k + 1,), int64
        Cluster ``c``'s members are ``order[starts[c]:starts[c + 1]]``.
    """

    counts: np.ndarray
    sums: np.ndarray
    sq: np.ndarray
    order: np.ndarray
    starts: np.ndarray

    def members(self, c: int) -> np.ndarray:
        """Positions of the faces of cluster code ``c``, ascending."""
        return self.order[self.starts[c]:self.starts[c + 1]]


def cluster_sums(data: Labelled, *, chunk_bytes: int) -> ClusterSums:
    """One O(n·d) pass over the clustered rows, in cluster order."""
    k, d = data.n_clusters, data.dim
    order = np.argsort(data.codes, kind="stable")
    order = order[data.codes[order] >= 0]
    starts = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(data.counts, out=starts[1:])
    sums = np.zeros((k, d), dtype=np.float64)
    sq = np.zeros(k, dtype=np.float64)
    # The unit-row block plus the reduceat output: two float64 rows per face.
    # Cache-sized blocks (1 MiB) reduce several times faster than large ones.
    step = chunk_rows(min(chunk_bytes, _SUM_BLOCK_BYTES), 16 * d + 64, len(order))
    for pos, block, block_sq in iter_unit_rows(data.X, order, step):
        codes = data.codes[pos]
        # Rows arrive grouped by cluster: one reduceat per run of equal codes.
        run_starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        run_codes = codes[run_starts]
        sums[run_codes] += np.add.reduceat(block, run_starts, axis=0)
        sq[run_codes] += np.add.reduceat(block_sq, run_starts)
    return ClusterSums(data.counts, sums, sq, order, starts)


def iter_products(data: Labelled, S: np.ndarray, positions: np.ndarray, *, chunk_bytes: int,
                  extra_per_row: int = 2) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray,
                                                             np.ndarray]]:
    """Yield ``(positions, unit rows, squared norms, X̂ Sᵀ)`` block by block.

    ``extra_per_row`` is how many more (k,) float64 temporaries per row the
    caller makes from the product; the block size keeps all of them within
    ``chunk_bytes``.
    """
    k, d = S.shape
    step = chunk_rows(chunk_bytes, 8 * (d + (1 + extra_per_row) * k) + 64, len(positions))
    ST = np.ascontiguousarray(S.T)
    for pos, block, sq in iter_unit_rows(data.X, positions, step):
        yield pos, block, sq, block @ ST


def cluster_pairs(S: np.ndarray, *, chunk_bytes: int, extra_per_row: int = 3
                  ) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, S[rows] Sᵀ)``: the k×k Gram matrix of the sums, a block at a time."""
    k = S.shape[0]
    step = chunk_rows(chunk_bytes, 8 * (1 + extra_per_row) * k + 64, k)
    ST = np.ascontiguousarray(S.T)
    for start in range(0, k, step):
        rows = slice(start, min(start + step, k))
        yield rows, S[rows] @ ST
