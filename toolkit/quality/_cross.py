"""Exact median of the cosine similarities between two sets of faces.

The mean of the ``n_a × n_b`` similarities is a sufficient statistic
(``S_a·S_b / (n_a n_b)``); the median is not. When the block fits in
``chunk_bytes`` it is taken directly; otherwise the value is found by
narrowing an interval over repeated chunked passes (a histogram per pass)
until the few values left in it fit, then selected exactly. Never more than
one chunk of similarities is held.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ._data import chunk_rows, unit_rows

__all__ = ["cross_median"]

_BINS = 4096


def _blocks(X: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray, step: int
            ) -> Callable[[], Iterator[np.ndarray]]:
    def make() -> Iterator[np.ndarray]:
        for start in range(0, len(rows_b), step):
            B, _ = unit_rows(X, rows_b[start:start + step])
            for a_start in range(0, len(rows_a), step):
                A, _ = unit_rows(X, rows_a[a_start:a_start + step])
                yield (A @ B.T).ravel()
    return make


def _select(make: Callable[[], Iterator[np.ndarray]], rank: int, budget: int) -> float:
    """The ``rank``-th smallest value (0-based) of everything ``make()`` yields."""
    lo, hi = -np.inf, np.inf   # the value lies in (lo, hi]
    below = 0                  # how many values are <= lo
    while True:
        count, vmin, vmax = 0, np.inf, -np.inf
        for v in make():
            v = v[(v > lo) & (v <= hi)]
            if v.size:
                count += v.size
                vmin, vmax = min(vmin, float(v.min())), max(vmax, float(v.max()))
        if count <= budget or vmin == vmax:
            if vmin == vmax:
                return vmin
            kept = np.concatenate([v[(v > lo) & (v <= hi)] for v in make()])
            return float(np.partition(kept, rank - below)[rank - below])
        # Bin j holds (e_j, e_{j+1}] with e_0 just below vmin and e_B = vmax.
        inner = np.linspace(vmin, vmax, _BINS + 1)[1:-1]
        hist = np.zeros(_BINS, dtype=np.int64)
        for v in make():
            v = v[(v > lo) & (v <= hi)]
            hist += np.bincount(np.searchsorted(inner, v, side="left"), minlength=_BINS)
        cum = np.cumsum(hist)
        j = int(np.searchsorted(cum, rank - below, side="right"))
        new_lo = np.nextafter(vmin, -np.inf) if j == 0 else float(inner[j - 1])
        below += int(cum[j - 1]) if j else 0
        lo, hi = new_lo, (float(inner[j]) if j < _BINS - 1 else vmax)


def cross_median(X: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray, *, chunk_bytes: int
                 ) -> float:
    """Median of the cosine similarities of every row in ``rows_a`` with every row in
    ``rows_b`` (the mean of the two middle values for an even count), exactly."""
    total = len(rows_a) * len(rows_b)
    if total == 0:
        return float("nan")
    d = X.shape[1]
    step = chunk_rows(chunk_bytes // 2, 8 * max(d, int(np.sqrt(chunk_bytes // 16))),
                      max(len(rows_a), len(rows_b)))
    budget = max(1, chunk_bytes // 16)
    make = _blocks(X, rows_a, rows_b, step)
    if total <= budget:
        values = np.concatenate(list(make()))
        return float(np.median(values))
    ranks = sorted({(total - 1) // 2, total // 2})
    picked = [_select(make, r, budget) for r in ranks]
    return float(np.mean(picked))
