"""Exact k-nearest neighbours under cosine similarity, chunked.

The embeddings are unit rows, so cosine similarity is a dot product. A row's
neighbours are the ``k`` columns with the largest float64 dot product, equal
values ordered by position: what a float64 brute force gives. The ``n x n``
similarity matrix never exists.

Most of the work is a float32 BLAS product used only to *screen*. Every
float32 value is within a proven bound ``B`` of the exact dot product, so a
column whose float32 value is more than ``2B`` below a row's k-th best float32
value cannot be among the row's exact ``k`` nearest (k columns are exactly
above ``kth - B``; it is exactly below). The few columns left -- about ``k``
per row on face embeddings -- are re-ranked in float64. For a self search only
the blocks on and above the diagonal are multiplied: block ``(I, J)`` screens
rows ``I`` against columns ``J`` and, read down its columns, rows ``J``
against columns ``I`` (in one pass); a diagonal block is cut in halves and
its lower-left quarter skipped.

Two threads, each with one BLAS thread, multiply and screen blocks side by
side, so the screening of one block runs while the other core multiplies; a
block of rows whose column blocks are all screened is re-ranked at once by the
thread that finished it. The screen's thresholds only ever hold valid bounds
whatever order the blocks come in, and the re-rank is exact, so the answer
does not depend on the threads.

The bound. For rows ``a``, ``b`` rounded to float32 (relative error
``u = 2**-24`` each) and multiplied in float32 in any summation order, with or
without FMA, ``|fl(a'.b') - a'.b'| <= gamma_d sum|a'_t b'_t|`` with
``gamma_d = d u / (1 - d u)`` (Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., section 3.1), and ``sum|a_t b_t| <= |a| |b|``
(Cauchy-Schwarz); the input roundings add ``(2u + u**2) |a| |b|``. So
``B = 1.01 gamma_(d+2) (1 + u)**2 max|a| max|b|`` (1% for the float64
arithmetic of the bound itself) plus ``d 2**-120`` for float32 underflow.
Rows are first scaled by a power of two (exact) when their norms are far from
1, so float32 neither overflows nor loses them to underflow.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np

from ._dots import n_workers, pair_dots

__all__ = ["nearest_neighbors", "exact_neighbors", "pair_dots", "DEFAULT_MEMORY_BUDGET"]

#: Bytes the blocks of similarities in flight may take (blocks and scratch).
DEFAULT_MEMORY_BUDGET = 128 * 2**20

_U32 = float(np.finfo(np.float32).eps) / 2.0
_LOWEST32 = float(np.finfo(np.float32).min)
# Columns of a block that give a row its first running k-th best.
_SAMPLE = 512
# Bytes per similarity of a block: the float32 block, its mask and, when every
# value of a block survives the screen (all rows tied), the survivors' positions.
_BYTES_PER_SIM = 32
# Beyond this many dimensions the float32 screen's bound stops being small.
_MAX_DIM = 2**20
# Row norms outside [2**-20, 2**20] are brought to [0.5, 1) before the screen.
_NORM_RANGE = (2.0**-20, 2.0**20)


def _check_embeddings(embeddings, name: str = "embeddings") -> np.ndarray:
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D array of shape (n_faces, dim), "
                         f"but an array of shape {x.shape} was passed.")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"`{name}` row {bad} holds NaN or infinite values; "
                         "every embedding must be finite.")
    if x.shape[1] > _MAX_DIM:
        raise ValueError(f"`{name}` have {x.shape[1]} dimensions, but at most {_MAX_DIM} "
                         "are supported.")
    return x


def _max_norm(x: np.ndarray, name: str, budget: int) -> float:
    """An upper bound of the largest row norm (float64 arithmetic, or float32 with
    its rounding bounded)."""
    d = max(1, x.shape[1])
    if x.dtype == np.float32 and x.size:
        # float32 squares summed in float32, in any order: all terms are positive,
        # so the computed value is at least (1 - gamma_(d+1)) times the exact one.
        sq = float(np.einsum("ij,ij->i", x, x).max())
        if np.isfinite(sq) and sq > 2.0**-100:  # no overflow, nothing lost to underflow
            g = (d + 1) * _U32 / (1.0 - (d + 1) * _U32)
            return float(np.sqrt(sq / (1.0 - g))) * (1.0 + 2.0**-50)
    # Chunks of about 1 MiB stay in cache (a budget-sized float64 copy of the
    # whole input would cost more in fresh memory than in arithmetic).
    step = max(1, min(budget, 2**20) // (8 * d))
    sq = 0.0
    for start in range(0, x.shape[0], step):
        block = x[start:start + step].astype(np.float64, copy=False)
        sq = max(sq, float(np.einsum("ij,ij->i", block, block).max(initial=0.0)))
    if not np.isfinite(sq):
        raise ValueError(f"`{name}` have rows too long to multiply in float64 (a squared "
                         "norm overflows); pass unit-length rows.")
    return float(np.sqrt(sq))


def _screen_rows(x: np.ndarray, max_norm: float) -> tuple[np.ndarray, float, int]:
    """The float32 rows the screen multiplies, their largest norm and ``e``: the
    screen holds ``x * 2**-e``.

    Unit-scale float32 input is used as it is; other norms are scaled by a
    power of two, which is exact, so the ranking of each row is unchanged.
    """
    exp = 0
    if max_norm > 0.0 and not _NORM_RANGE[0] <= max_norm <= _NORM_RANGE[1]:
        exp = int(np.frexp(max_norm)[1])  # max_norm = m * 2**exp, 0.5 <= m < 1
    if exp == 0:
        return x.astype(np.float32, copy=False), max_norm, 0
    return (np.ldexp(x, -exp).astype(np.float32, copy=False), float(np.ldexp(max_norm, -exp)),
            exp)


def _screen_bound(dim: int, norm_a: float, norm_b: float) -> float:
    """Largest |float32 screen value - exact dot product| (see the module notes)."""
    n = dim + 2
    gamma = n * _U32 / (1.0 - n * _U32)
    return 1.01 * gamma * (1.0 + _U32) ** 2 * norm_a * norm_b + dim * 2.0**-120


def _round_down32(values: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each float64 value (the lowest finite float32
    for -inf and below), so ``float32 >= result`` keeps everything ``>= value``."""
    v = np.maximum(values, _LOWEST32)
    out = v.astype(np.float32)
    up = out.astype(np.float64) > v
    out[up] = np.nextafter(out[up], np.float32(-np.inf))
    return out


def _rows_per_block(n_rows: int, n_cols: int, budget: int) -> int:
    side = int(np.sqrt(budget / _BYTES_PER_SIM))
    return int(max(1, min(max(n_rows, n_cols), side)))


def _best_per_row(rows: np.ndarray, cols: np.ndarray, exact: np.ndarray, k: int) -> np.ndarray:
    """Positions of each row's (at most) k best pairs, by row, then highest exact
    value, then lower column. ``rows`` and ``cols`` come sorted by row, then column."""
    if not rows.size:
        return rows
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    counts = np.diff(np.r_[starts, rows.size])
    width = int(counts.max())
    if width > max(4 * k, 64):
        # Many candidates in a row (exact ties): one sort of everything.
        order = np.lexsort((-exact, rows))
        rank = np.arange(rows.size) - np.repeat(starts, counts)
        return order[rank < k]
    # Each row's candidates side by side, in column order, padded after them: a
    # stable sort of each row by value keeps the lower column first among equals.
    grid = np.full((starts.size, width), np.inf)
    slot = np.arange(rows.size) - np.repeat(starts, counts)
    grid[np.repeat(np.arange(starts.size), counts), slot] = -exact
    best = np.argsort(grid, axis=1, kind="stable")[:, :k]
    return (starts[:, None] + best)[best < counts[:, None]]


def _blas_threads(limit: int):
    """A context limiting BLAS to ``limit`` threads (threadpoolctl, which
    scikit-learn brings), or nothing when it is missing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return nullcontext()
    return threadpool_limits(limits=limit, user_api="blas")


class _Screen:
    """Per query row: the k best float32 screen values so far and the candidates kept.

    A candidate is kept while its float32 value is at least the row's running
    k-th best minus ``2B``; the running k-th best only rises, so a candidate
    dropped could never come back. Candidates are kept per block of query
    rows; once every block of columns has been screened for a row block, its
    candidates are ranked exactly (:meth:`finish`). When too many are kept
    (many exact ties, e.g. duplicate faces), they are ranked exactly and only
    each row's k best stay, and their exact k-th best bounds the screen too.

    Blocks may be screened by several threads: the scan of a block reads the
    thresholds without the lock (a value read late is only a weaker bound);
    the updates of the k best and of the candidates hold it.
    """

    def __init__(self, n_rows: int, n_cols: int, k: int, margin: float, exact,
                 to_screen: int, budget: int) -> None:
        self.k = k
        self.n_cols = n_cols
        self.margin = margin
        self.exact = exact
        self.to_screen = to_screen
        self.best = np.full((n_rows, k), -np.inf, dtype=np.float32)
        self.kth = np.full(n_rows, -np.inf, dtype=np.float32)
        self.thresh = np.full(n_rows, _LOWEST32, dtype=np.float32)
        # Per row block (its first row): lists of rows, columns and float32 values.
        self._kept: dict[int, tuple[list, list, list]] = {}
        self._n_kept = 0
        # 20 bytes a candidate (row, column, float32 value) before an exact ranking.
        self._cap = max(4 * n_rows * k, budget // 20)
        self._lock = threading.Lock()

    def _start(self, sims: np.ndarray, q0: int, *, by_column: bool) -> None:
        """Rows without k values yet take the k-th best of the block's first columns
        as the running one -- k values at least that high exist -- rather than
        keep the whole block."""
        k = self.k
        width = sims.shape[0 if by_column else 1]
        fresh = np.flatnonzero(self.kth[q0:q0 + sims.shape[1 if by_column else 0]] == -np.inf)
        sample = min(width, max(2 * k, _SAMPLE))
        if fresh.size and sample >= k:
            part = (np.ascontiguousarray(sims[:sample, fresh].T) if by_column
                    else sims[fresh, :sample])
            kth = np.partition(part, sample - k, axis=1)[:, sample - k]
            got = _round_down32(kth.astype(np.float64) - self.margin)
            with self._lock:
                self.thresh[q0 + fresh] = np.maximum(self.thresh[q0 + fresh], got)

    def offer(self, sims: np.ndarray, q0: int, c0: int, *, both: bool = False,
              row_key: int | None = None, col_key: int | None = None) -> None:
        """Screen one C-contiguous block: ``sims[a, b]`` is query ``q0 + a`` against
        column ``c0 + b`` and, with ``both``, also query ``c0 + b`` against column
        ``q0 + a`` (a block above the diagonal of a self search, read both ways
        in one pass). The candidates are kept under the row blocks ``row_key``
        and ``col_key`` (default ``q0`` and ``c0``) that :meth:`finish` ranks."""
        from ._kernels import screen_block

        row_key = q0 if row_key is None else row_key
        col_key = c0 if col_key is None else col_key
        self._start(sims, q0, by_column=False)
        if both:
            self._start(sims, c0, by_column=True)
        # A value read late is only a weaker bound (see the class notes).
        ra, ca, va, rb, cb, vb = screen_block(sims, self.thresh[q0:q0 + sims.shape[0]],
                                              self.thresh[c0:c0 + sims.shape[1]], both)
        self._add(row_key, ra + q0, ca + c0, va)
        if both:
            self._add(col_key, rb + c0, cb + q0, vb)

    def _add(self, r0: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        """Fold screened pairs of row block ``r0``, sorted by row then column, into
        the rows' k best and keep those still above their rows' thresholds."""
        if not rows.size:
            return
        with self._lock:
            self._merge(rows, vals)
            # The block itself may have raised the rows' k-th best.
            keep = vals >= self.thresh[rows]
            lists = self._kept.setdefault(r0, ([], [], []))
            lists[0].append(rows[keep])
            lists[1].append(cols[keep])
            lists[2].append(vals[keep])
            self._n_kept += int(keep.sum())
            if self._n_kept > self._cap:
                for q0 in list(self._kept):
                    self._rank(q0)
                self._n_kept = sum(v[0][0].size for v in self._kept.values())
                self._cap = max(self._cap, 2 * self._n_kept)

    def _merge(self, rows: np.ndarray, vals: np.ndarray) -> None:
        """Fold screen values, sorted by row, into each row's k best."""
        k = self.k
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        counts = np.diff(np.r_[starts, rows.size])
        uniq = rows[starts]
        width = int(counts.max())
        grid = np.full((uniq.size, k + width), -np.inf, dtype=np.float32)
        grid[:, :k] = self.best[uniq]
        slot = np.arange(rows.size) - np.repeat(starts, counts)
        grid[np.repeat(np.arange(uniq.size), counts), k + slot] = vals
        top = np.partition(grid, width, axis=1)[:, width:]
        self.best[uniq] = top
        self.kth[uniq] = top[:, 0]
        raised = _round_down32(top[:, 0].astype(np.float64) - self.margin)
        self.thresh[uniq] = np.maximum(self.thresh[uniq], raised)

    def _ranked(self, lists: tuple[list, list, list], workers: int | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Candidates ranked exactly: each row's k best, by row then rank, with
        their float32 and exact values."""
        rows, cols, vals = (np.concatenate(p) if p else np.empty(0, dtype=d) for p, d in
                            zip(lists, (np.intp, np.intp, np.float32)))
        # Candidates kept before their row's k-th best rose are out by now.
        keep = vals >= self.thresh[rows]
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        # By row, then column (each pair is offered once, so the keys differ): the
        # exact pass reads each query row once, and equal values keep the lower
        # column first.
        order = np.argsort(rows * np.intp(self.n_cols) + cols)
        rows, cols, vals = rows[order], cols[order], vals[order]
        exact = self.exact(rows, cols, workers)
        order = _best_per_row(rows, cols, exact, self.k)
        return rows[order], cols[order], vals[order], exact[order]

    def _rank(self, r0: int) -> None:
        """Rank row block ``r0``'s candidates now (too many kept); raise the
        thresholds of its rows that have k."""
        rows, cols, vals, exact = self._ranked(self._kept[r0], workers=1)
        ends = np.flatnonzero(np.r_[rows[1:] != rows[:-1], True]) if rows.size else rows
        full = ends[ends - np.r_[-1, ends[:-1]] == self.k]
        at = rows[full]
        # Exact values to screen units (a power of two); the full margin also covers
        # float64 underflow there.
        kth = np.ldexp(exact[full], self.to_screen)
        self.thresh[at] = np.maximum(self.thresh[at], _round_down32(kth - self.margin))
        self._kept[r0] = ([rows], [cols], [vals])

    def finish(self, r0: int, n_rows: int, *, workers: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest columns of rows ``r0 : r0 + n_rows`` and their exact values,
        shape (n_rows, k), once every block of columns was offered for them (no
        thread writes their thresholds any more)."""
        with self._lock:
            lists = self._kept.pop(r0, ([], [], []))
            self._n_kept -= sum(p.size for p in lists[0])
        rows, cols, _, exact = self._ranked(lists, workers)
        if rows.size != n_rows * self.k:  # pragma: no cover - the screen keeps the k best
            raise RuntimeError("nearest_neighbors lost a candidate; please report this")
        return cols.reshape(n_rows, self.k), exact.reshape(n_rows, self.k)


def nearest_neighbors(embeddings, n_neighbors: int, *, queries=None,
                      memory_budget: int = DEFAULT_MEMORY_BUDGET, progress=None):
    """Exact cosine k-nearest neighbours, computed in blocks.

    Neighbours are ranked by their float64 dot product (the cosine similarity
    of unit rows) -- what a float64 brute force gives -- with equal values
    ordered by position. A float32 product with a proven error bound screens
    the candidates first (see the module notes), so the cost is mostly one
    float32 product over the upper half of the ``n x n`` matrix.

    Parameters
    ----------
    embeddings : array-like of shape (n_faces, dim)
        Unit-length rows (cosine similarity is their dot product). float32
        stays float32.
    n_neighbors : int
        Neighbours per row, ``1 <= n_neighbors``; capped at the number of
        candidates (``n_faces - 1`` without ``queries``).
    queries : array-like of shape (n_queries, dim), default=None
        Rows to find neighbours for among ``embeddings``. ``None`` means the
        embeddings themselves, each row excluding itself.
    memory_budget : int, default=128 MiB
        Bytes the blocks of similarities being screened and their scratch may
        use together (two threads hold a block each, about
        ``sqrt(memory_budget / 64)`` rows square).
    progress : tqdm-like or None
        An object with ``update(n)``, advanced by the rows done.

    Returns
    -------
    indices : ndarray of shape (n_queries, k), int64
        Row positions in ``embeddings`` of the neighbours, most similar first;
        equal similarities are ordered by position.
    similarities : ndarray of shape (n_queries, k)
        The cosine similarities, in ``[-1, 1]``: the float64 dot products,
        rounded to float32 for float32 input.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    >>> idx, sim = nearest_neighbors(x, 1)
    >>> idx.ravel().tolist()
    [1, 0, 1]
    """
    x = np.asarray(embeddings)
    indices, sims = exact_neighbors(x, n_neighbors, queries=queries,
                                    memory_budget=memory_budget, progress=progress)
    # float32 stays float32; everything else was read as float64.
    return indices, sims.astype(np.float32 if x.dtype == np.float32 else np.float64)


def exact_neighbors(embeddings, n_neighbors: int, *, queries=None,
                    memory_budget: int = DEFAULT_MEMORY_BUDGET,
                    progress=None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nearest_neighbors` with the similarities in float64, as :func:`pair_dots`
    computes them (the neighbour graph hands them on to the average linkage)."""
    x = _check_embeddings(embeddings)
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) \
            or n_neighbors < 1:
        raise ValueError(f"`n_neighbors` must be an integer >= 1, but {n_neighbors!r} was passed.")
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)) \
            or memory_budget <= 0:
        raise ValueError(f"`memory_budget` must be a positive number of bytes, "
                         f"but {memory_budget!r} was passed.")
    self_query = queries is None
    q = x if self_query else _check_embeddings(queries, "queries").astype(x.dtype, copy=False)
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"`queries` have dimension {q.shape[1]} but `embeddings` have "
                         f"{x.shape[1]}; they must match.")
    n, n_q = x.shape[0], q.shape[0]
    k = int(min(n_neighbors, n - 1 if self_query else n))
    if k <= 0 or n_q == 0:
        return np.empty((n_q, max(k, 0)), dtype=np.int64), np.empty((n_q, max(k, 0)))
    budget = int(memory_budget)
    x32, norm_x, exp_x = _screen_rows(x, _max_norm(x, "embeddings", budget))
    if self_query:
        q32, norm_q, exp_q = x32, norm_x, exp_x
    else:
        q32, norm_q, exp_q = _screen_rows(q, _max_norm(q, "queries", budget))
    screen = _Screen(n_q, n, k, 2.0 * _screen_bound(x.shape[1], norm_q, norm_x),
                     lambda rows, cols, workers: pair_dots(q, x, rows, cols, workers=workers),
                     -(exp_q + exp_x), budget)
    # Two threads, each with one BLAS thread, multiply and screen blocks side by
    # side: the screen then runs while the other core multiplies. Each holds one
    # block, so each gets half the budget.
    workers = n_workers()
    step = _rows_per_block(n_q, n, budget // workers)
    starts = range(0, n_q, step)
    # Tasks: (rows start, rows, columns start, columns, both ways, row blocks served).
    if self_query:
        # The diagonal blocks first: every row gets a running k-th best from its
        # own block, read along rows, before the off-diagonal blocks are screened.
        # A diagonal block is cut in halves and its lower-left quarter skipped:
        # it holds the upper-right one's pairs.
        tasks = []
        for i0 in starts:
            m = min(step, n_q - i0)
            h = m // 2
            if h:
                tasks += [(i0, h, i0, h, False, (i0,)),
                          (i0 + h, m - h, i0 + h, m - h, False, (i0,)),
                          (i0, h, i0 + h, m - h, True, (i0,))]
            else:
                tasks.append((i0, m, i0, m, False, (i0,)))
        tasks += [(i0, min(step, n_q - i0), j0, min(step, n - j0), True, (i0, j0))
                  for i0 in starts for j0 in starts if j0 > i0]
    else:
        tasks = [(i0, min(step, n_q - i0), j0, min(step, n - j0), False, (i0,))
                 for i0 in starts for j0 in range(0, n, step)]
    left = dict.fromkeys(starts, 0)
    for *_, served in tasks:
        for r0 in served:
            left[r0] += 1
    if len(tasks) < 2 * workers:
        workers = 1
    queue = iter(tasks)
    lock = threading.Lock()
    indices = np.empty((n_q, k), dtype=np.int64)
    sims_out = np.empty((n_q, k), dtype=np.float64)

    stop = threading.Event()

    def work() -> None:
        try:
            screen_blocks()
        except BaseException:
            # An error in one thread: the other stops after its block.
            stop.set()
            raise

    def screen_blocks() -> None:
        scratch = np.empty(step * step, dtype=np.float32)
        while not stop.is_set():
            with lock:
                task = next(queue, None)
            if task is None:
                return
            i0, ni, j0, nj, both, served = task
            sims = np.matmul(q32[i0:i0 + ni], x32[j0:j0 + nj].T,
                             out=scratch[:ni * nj].reshape(ni, nj))
            if self_query and j0 == i0:
                # A row is not its own neighbour; -inf is below every screen threshold.
                sims.ravel()[::nj + 1] = -np.inf
            screen.offer(sims, i0, j0, both=both, row_key=served[0], col_key=served[-1])
            with lock:
                for r0 in served:
                    left[r0] -= 1
                complete = [r0 for r0 in served if not left[r0]]
            # A row block with every column block screened is ranked exactly here,
            # while the other thread multiplies.
            for r0 in complete:
                m = min(step, n_q - r0)
                indices[r0:r0 + m], sims_out[r0:r0 + m] = screen.finish(
                    r0, m, workers=1 if workers > 1 else None)
                if progress is not None:
                    with lock:
                        progress.update(m)

    if workers == 1:
        work()
    else:
        with _blas_threads(1), ThreadPoolExecutor(workers,
                                                  thread_name_prefix="toolkit-knn") as pool:
            jobs = [pool.submit(work) for _ in range(workers)]
            try:
                for job in jobs:
                    job.result()
            except BaseException:
                # An interrupt here: the threads stop after their blocks.
                stop.set()
                raise
    return indices, sims_out
