"""Each face's nearest other clusters, exactly, through a float32 screen.

The faces × clusters product dominates the silhouette's cost. It is done in
float32 (about twice as fast as float64) only to *screen*: every float32
mean similarity is within a proven bound ``B`` of the exact one, so only the
clusters whose float32 value comes within ``2B`` of a face's top values can
be its exact nearest or runner-up. Those few candidates are then recomputed
in float64, so the result is what a float64 product gives.

The bound: for a unit row ``x̂`` and a cluster sum ``S`` rounded to float32
and multiplied in float32 (any summation order, with or without FMA),
``|fl(x̂·S) - x̂·S| <= (d + 2) u ‖S‖ / (1 - (d + 2) u)`` with
``u = 2**-24``; scaling by ``1/n`` in float32 adds two roundings more. So for
the mean similarity ``x̂·S / n`` the error is at most
``(d + 8) u · max_c ‖S_c‖ / n_c`` (with a margin), where ``‖S_c‖ / n_c <= 1``.
"""

from __future__ import annotations

import numpy as np

from ._data import Labelled, chunk_rows, iter_unit_rows
from ._stats import ClusterSums

__all__ = ["nearest_clusters", "screen_bound", "pair_dots", "inverse_counts", "pair_step_of"]

_U = float(np.finfo(np.float32).eps) / 2.0
_LOWEST32 = float(np.finfo(np.float32).min)


def screen_bound(stats: ClusterSums, dim: int) -> float:
    """Largest possible |float32 mean similarity - exact| over all faces and clusters."""
    counts = np.maximum(stats.counts, 1)
    ratio = np.sqrt(np.einsum("ij,ij->i", stats.sums, stats.sums)) / counts
    worst = float(ratio.max()) if ratio.size else 0.0
    # 1.01: slack for the (1 - (d + 2) u) denominator and the float64 rounding of
    # this bound itself; 1e-30: float32 underflow near zero is absolute, not relative.
    return (dim + 8) * _U * 1.01 * worst + 1e-30


def _threshold(level: np.ndarray, margin: float) -> np.ndarray:
    """float32 value at or below ``level - margin`` (the lowest finite float32 when
    ``level`` is -inf, which still leaves out own and empty clusters at -inf)."""
    thresh = np.maximum(level.astype(np.float64) - margin, _LOWEST32).astype(np.float32)
    with np.errstate(over="ignore"):
        lower = np.nextafter(thresh, np.float32(-np.inf))
    return np.where(thresh > _LOWEST32, lower, thresh)


def pair_dots(block: np.ndarray, rows: np.ndarray, cols: np.ndarray, S64: np.ndarray,
              pair_step: int) -> np.ndarray:
    """``block[rows[i]] · S64[cols[i]]`` in float64, a few thousand pairs at a time.

    Every exact similarity of the silhouette goes through this one
    expression, so a value computed again (by ``_carry`` for a merged state)
    has the same bits: a row's dot product does not depend on which rows
    share its batch.
    """
    out = np.empty(len(rows))
    for start in range(0, len(rows), pair_step):
        part = slice(start, start + pair_step)
        out[part] = np.einsum("ij,ij->i", block[rows[part]], S64[cols[part]])
    return out


def inverse_counts(stats: ClusterSums) -> np.ndarray:
    """``1 / n_c`` of each live cluster, 0 for an empty one."""
    return np.where(stats.counts > 0, 1.0 / np.maximum(stats.counts, 1), 0.0)


def pair_step_of(chunk_bytes: int, dim: int) -> int:
    """Pairs per batch of :func:`pair_dots`: two gathered float64 rows each."""
    return max(1, chunk_bytes // (16 * dim + 64))


def _exact(block: np.ndarray, rows: np.ndarray, cols: np.ndarray, S64: np.ndarray,
           inv: np.ndarray, pair_step: int) -> np.ndarray:
    """float64 mean similarity of face ``rows[i]`` to cluster ``cols[i]``."""
    return pair_dots(block, rows, cols, S64, pair_step) * inv[cols]


def nearest_clusters(data: Labelled, stats: ClusterSums, positions: np.ndarray, *,
                     chunk_bytes: int, top: int) -> tuple[np.ndarray, ...]:
    """For faces at ``positions``: ``x̂·x̂``, ``x̂·S_own``, and the ``top`` (1 or 2) other
    clusters with the highest mean similarity (codes, values; -1 / -inf when fewer).

    Ties go to the lower cluster code. All values are float64-exact.
    """
    k, d = data.n_clusters, data.dim
    m_all = len(positions)
    xx = np.empty(m_all)
    own = np.empty(m_all)
    idx = np.full((m_all, top), -1, dtype=np.int64)
    val = np.full((m_all, top), -np.inf)
    S64 = stats.sums
    live = stats.counts > 0
    inv = inverse_counts(stats)
    S32T = np.ascontiguousarray(S64.T, dtype=np.float32)
    inv32 = inv.astype(np.float32)
    dead = np.flatnonzero(~live)
    margin = 2.0 * screen_bound(stats, d)
    # Per face: the float32 product and a mask, the float64 and float32 rows,
    # and two gathered float64 cluster sums.
    step = chunk_rows(chunk_bytes, 5 * k + 28 * d + 64, m_all)
    pair_step = pair_step_of(chunk_bytes, d)
    done = 0
    for pos, block, sq in iter_unit_rows(data.X, positions, step):
        m = len(pos)
        rows = np.arange(m)
        codes = data.codes[pos]
        out = slice(done, done + m)
        xx[out] = sq
        own[out] = pair_dots(block, rows, codes, S64, pair_step)
        P = block.astype(np.float32) @ S32T
        P *= inv32
        P[:, dead] = -np.inf
        P[rows, codes] = -np.inf
        # The float32 leaders, then the best of the rest: when the rest falls
        # short of the last leader by more than twice the bound, the leaders are
        # the exact top; otherwise the face is ambiguous and all its clusters
        # within reach are recomputed.
        lead_idx, lead_val = [], []
        for _ in range(top):
            i = P.argmax(axis=1)
            lead_idx.append(i)
            lead_val.append(P[rows, i])
            P[rows, i] = -np.inf
        thresh = _threshold(lead_val[-1], margin)
        ambiguous = np.flatnonzero(P.max(axis=1) >= thresh)
        clear = np.setdiff1d(rows, ambiguous, assume_unique=True)

        found = [np.full(len(clear), -1, dtype=np.int64) for _ in range(top)]
        exact = [np.full(len(clear), -np.inf) for _ in range(top)]
        for j in range(top):
            ok = lead_val[j][clear] > -np.inf
            found[j][ok] = lead_idx[j][clear][ok]
            exact[j][ok] = _exact(block, clear[ok], found[j][ok], S64, inv, pair_step)
        if top == 2:
            swap = (exact[1] > exact[0]) | ((exact[1] == exact[0]) & (found[1] < found[0])
                                            & (found[1] >= 0))
            found[0][swap], found[1][swap] = found[1][swap], found[0][swap].copy()
            exact[0][swap], exact[1][swap] = exact[1][swap], exact[0][swap].copy()
        for j in range(top):
            idx[done + clear, j] = found[j]
            val[done + clear, j] = exact[j]

        if ambiguous.size:
            for i, v in zip(lead_idx, lead_val):
                P[ambiguous, i[ambiguous]] = v[ambiguous]
            sub_r, cand_c = np.nonzero(P[ambiguous] >= thresh[ambiguous, None])
            cand_r = ambiguous[sub_r]
            values = _exact(block, cand_r, cand_c, S64, inv, pair_step)
            # Per face: highest exact value first, ties to the lower code.
            order = np.lexsort((cand_c, -values, cand_r))
            r_sorted = cand_r[order]
            rank = np.arange(len(order)) - np.searchsorted(r_sorted, r_sorted)
            keep = rank < top
            idx[done + r_sorted[keep], rank[keep]] = cand_c[order][keep]
            val[done + r_sorted[keep], rank[keep]] = values[order][keep]
        done += m
    return xx, own, idx, val
