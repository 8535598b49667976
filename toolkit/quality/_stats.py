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

from ._data import Labelled, chunk_rows, iter_unit_rows, unit_rows

__all__ = ["ClusterSums", "cluster_sums", "grouped_positions", "summation_segment",
           "add_cluster_sums", "iter_products", "cluster_pairs"]

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
    segment : int
        Rows per summation segment (see :func:`cluster_sums`): the sums of two
        states agree bit for bit on a cluster with the same members only when
        their segments are equal.
    """

    counts: np.ndarray
    sums: np.ndarray
    sq: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    segment: int

    def members(self, c: int) -> np.ndarray:
        """Positions of the faces of cluster code ``c``, ascending."""
        return self.order[self.starts[c]:self.starts[c + 1]]


def grouped_positions(codes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``order`` and ``starts`` of :class:`ClusterSums`: clustered positions by cluster."""
    order = np.argsort(codes, kind="stable")
    order = order[codes[order] >= 0]
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return order, starts


def summation_segment(chunk_bytes: int, dim: int, n_rows: int) -> int:
    """Rows per summation segment: a block of up to two segments stays within
    ``min(chunk_bytes, 1 MiB)`` (the unit rows plus the reduceat output, two
    float64 rows per face); cache-sized blocks reduce several times faster."""
    return chunk_rows(min(chunk_bytes, _SUM_BLOCK_BYTES) // 2, 16 * dim + 64, n_rows)


def add_cluster_sums(X: np.ndarray, positions: np.ndarray, codes: np.ndarray, segment: int,
                     sums: np.ndarray, sq: np.ndarray) -> None:
    """Add the unit rows at ``positions`` into ``sums[codes]`` and ``sq[codes]``.

    ``positions`` come grouped by cluster (``codes`` in runs, each run one
    cluster's members, ascending). Each cluster is summed in segments of
    ``segment`` rows counted from its own first member, segment after
    segment: so a cluster's sum depends only on its members, never on where
    its run sits among the others. That is what lets the sums of a merged
    state be derived from the state before it bit for bit (untouched
    clusters keep their sums; see ``_carry``).
    """
    n = len(positions)
    if n == 0:
        return
    run_starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    run_lengths = np.diff(np.r_[run_starts, n])
    rel = np.arange(n) - np.repeat(run_starts, run_lengths)
    heads = np.flatnonzero(rel % segment == 0)
    # Segments are packed into blocks by where they start: a block holds fewer
    # than two segments' rows, and never two segments of one cluster (a
    # cluster's earlier segments are full), so the += below sees unique codes.
    window = heads // segment
    firsts = heads[np.r_[True, window[1:] != window[:-1]]]
    edges = np.r_[firsts, n]
    h = 0
    for a, b in zip(edges[:-1], edges[1:]):
        stop = h + int(np.searchsorted(heads[h:], b))
        local = heads[h:stop] - a
        block, block_sq = unit_rows(X, positions[a:b])
        seg_codes = codes[heads[h:stop]]
        sums[seg_codes] += np.add.reduceat(block, local, axis=0)
        sq[seg_codes] += np.add.reduceat(block_sq, local)
        h = stop


def cluster_sums(data: Labelled, *, chunk_bytes: int) -> ClusterSums:
    """One O(n·d) pass over the clustered rows, in cluster order."""
    k, d = data.n_clusters, data.dim
    order, starts = grouped_positions(data.codes, data.counts)
    sums = np.zeros((k, d), dtype=np.float64)
    sq = np.zeros(k, dtype=np.float64)
    segment = summation_segment(chunk_bytes, d, len(order))
    add_cluster_sums(data.X, order, data.codes[order], segment, sums, sq)
    return ClusterSums(data.counts, sums, sq, order, starts, segment)


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
