"""Exact float64 dot products of row pairs, the one routine every link goes through.

Each value is ``einsum("ij,ij->i")`` over two contiguous float64 rows (float32
rows are converted first, which is exact), so it depends only on the two rows:
equal rows give equal values, ``(i, j)`` gives what ``(j, i)`` gives, a row
read from float32 embeddings gives what its float64 copy gives, and the
neighbour search and the average linkage agree to the last bit. Long lists of
pairs are cut into chunks shared by a few threads (NumPy releases the GIL in
the gathers and in ``einsum``); a value never depends on the chunking.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

__all__ = ["pair_dots", "row_dots", "n_workers"]

# Rows per chunk: the random gathers, not the arithmetic, cost here, and a
# chunk of a few hundred rows stays in cache.
_CHUNK = 256
# Fewer pairs than this are not worth a second thread.
_PARALLEL_MIN = 2048
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
            _pool = ThreadPoolExecutor(max_workers=_MAX_WORKERS,
                                       thread_name_prefix="toolkit-dots")
        return _pool


def _as64(rows: np.ndarray) -> np.ndarray:
    return rows if rows.dtype == np.float64 else rows.astype(np.float64)


def _fill(out: np.ndarray, left: Callable, right: Callable, start: int, stop: int) -> None:
    for s in range(start, stop, _CHUNK):
        e = min(stop, s + _CHUNK)
        np.einsum("ij,ij->i", _as64(left(s, e)), _as64(right(s, e)), out=out[s:e])


def row_dots(m: int, left: Callable[[int, int], np.ndarray],
             right: Callable[[int, int], np.ndarray], *, workers: int | None = None
             ) -> np.ndarray:
    """``out[i] = left_i . right_i`` for ``i < m``, in float64.

    ``left(s, e)`` and ``right(s, e)`` return rows ``s:e`` of each side as
    ``(e - s, d)`` arrays (float32 or float64); they are called from worker
    threads and must not change shared state. ``workers``: threads to use
    (default :func:`n_workers` for long lists, else 1).
    """
    out = np.empty(m, dtype=np.float64)
    if workers is None:
        workers = n_workers() if m >= _PARALLEL_MIN else 1
    workers = max(1, min(int(workers), _MAX_WORKERS))
    if workers < 2:
        _fill(out, left, right, 0, m)
        return out
    # Whole chunks per worker; the calling thread takes the first part.
    bounds = [min(m, -(-m * w // workers // _CHUNK) * _CHUNK) for w in range(workers + 1)]
    jobs = [_executor().submit(_fill, out, left, right, bounds[w], bounds[w + 1])
            for w in range(1, workers)]
    _fill(out, left, right, bounds[0], bounds[1])
    for job in jobs:
        job.result()
    return out


def pair_dots(left: np.ndarray, right: np.ndarray, rows: np.ndarray,
              cols: np.ndarray, *, workers: int | None = None) -> np.ndarray:
    """float64 ``left[rows[i]] . right[cols[i]]`` for each pair ``i`` (see the module notes).

    Example
    -------
    >>> x = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    >>> pair_dots(x, x, np.array([0, 1]), np.array([1, 1])).tolist()
    [0.6000000238418579, 1.0000000476837165]
    """
    rows = np.asarray(rows, dtype=np.intp)
    cols = np.asarray(cols, dtype=np.intp)
    return row_dots(rows.size, lambda s, e: left[rows[s:e]], lambda s, e: right[cols[s:e]],
                    workers=workers)
