"""Exact float64 dot products of row pairs, the one routine every link goes through.

Each value is :func:`~toolkit.reclustering._kernels.dot` of two rows (float64,
a float32 row converted first, which is exact; partial sums in a fixed order),
so it depends only on the two rows: equal rows give equal values, ``(i, j)``
gives what ``(j, i)`` gives, a row read from float32 embeddings gives what its
float64 copy gives, and the neighbour search and the average linkage agree to
the last bit. Long lists of pairs are split between two threads (the compiled
loop releases the GIL); a value never depends on the split.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["pair_dots", "n_workers"]

# Fewer pairs than this are not worth a second thread.
_PARALLEL_MIN = 4096
_MAX_WORKERS = 2

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def n_workers() -> int:
    """Threads the exact computations may use: the CPUs this process may run on, at most 2."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(_MAX_WORKERS, cpus))


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_MAX_WORKERS - 1,
                                       thread_name_prefix="toolkit-dots")
        return _pool


def pair_dots(left: np.ndarray, right: np.ndarray, rows: np.ndarray,
              cols: np.ndarray, *, workers: int | None = None) -> np.ndarray:
    """float64 ``left[rows[i]] . right[cols[i]]`` for each pair ``i`` (see the module notes).

    ``workers``: threads to use (default :func:`n_workers` for long lists, else 1).

    Example
    -------
    >>> x = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    >>> pair_dots(x, x, np.array([0, 1]), np.array([1, 1])).tolist()
    [0.6000000238418579, 1.0000000476837165]
    """
    from ._kernels import pair_dots_into

    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    m = rows.size
    out = np.empty(m, dtype=np.float64)
    if workers is None:
        workers = n_workers() if m >= _PARALLEL_MIN else 1
    if min(int(workers), _MAX_WORKERS) < 2 or m < 2:
        pair_dots_into(left, right, rows, cols, out, 0, m)
        return out
    # The calling thread takes the first half, a pool thread the second.
    half = m // 2
    job = _executor().submit(pair_dots_into, left, right, rows, cols, out, half, m)
    pair_dots_into(left, right, rows, cols, out, 0, half)
    job.result()
    return out
