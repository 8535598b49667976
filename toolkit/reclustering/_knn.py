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
against columns ``I``.

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

import numpy as np

__all__ = ["nearest_neighbors", "exact_neighbors", "pair_dots", "DEFAULT_MEMORY_BUDGET"]

#: Bytes one block of similarities may take (the block and its scratch).
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
    """Largest row norm, in float64, read in chunks."""
    step = max(1, budget // (8 * max(1, x.shape[1])))
    sq = 0.0
    for start in range(0, x.shape[0], step):
        block = x[start:start + step].astype(np.float64)
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
    # A stable sort keeps the column order among equal values.
    order = np.lexsort((-exact, rows))
    rows = rows[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else rows
    rank = np.arange(rows.size) - np.repeat(starts, np.diff(np.r_[starts, rows.size]))
    return order[rank < k]


class _Screen:
    """Per query row: the k best float32 screen values so far and the candidates kept.

    A candidate is kept while its float32 value is at least the row's running
    k-th best minus ``2B``; the running k-th best only rises, so a candidate
    dropped could never come back. When too many are kept (many exact ties,
    e.g. duplicate faces), they are ranked exactly and only each row's k best
    stay, and their exact k-th best bounds the screen too.
    """

    def __init__(self, n_rows: int, k: int, margin: float, exact, to_screen: int,
                 budget: int) -> None:
        self.k = k
        self.margin = margin
        self.exact = exact
        self.to_screen = to_screen
        self.best = np.full((n_rows, k), -np.inf, dtype=np.float32)
        self.kth = np.full(n_rows, -np.inf, dtype=np.float32)
        self.thresh = np.full(n_rows, _LOWEST32, dtype=np.float32)
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._n_kept = 0
        # 20 bytes a candidate (row, column, float32 value) before an exact ranking.
        self._cap = max(4 * n_rows * k, budget // 20)

    def offer(self, sims: np.ndarray, q0: int, c0: int, *, by_column: bool = False) -> None:
        """Screen one C-contiguous block: ``sims[a, b]`` is query ``q0 + a`` against
        column ``c0 + b`` or, ``by_column``, query ``q0 + b`` against column ``c0 + a``."""
        k = self.k
        axis = 0 if by_column else 1
        width = sims.shape[axis]
        q = slice(q0, q0 + sims.shape[1 - axis])
        # Rows without k values yet take the k-th best of the block's first columns
        # as the running one -- k values at least that high exist -- rather than
        # keep the whole block.
        fresh = np.flatnonzero(self.kth[q] == -np.inf)
        sample = min(width, max(2 * k, _SAMPLE))
        if fresh.size and sample >= k:
            part = (np.ascontiguousarray(sims[:sample, fresh].T) if by_column
                    else sims[fresh, :sample])
            kth = np.partition(part, sample - k, axis=1)[:, sample - k]
            got = _round_down32(kth.astype(np.float64) - self.margin)
            self.thresh[q0 + fresh] = np.maximum(self.thresh[q0 + fresh], got)
        thresh = self.thresh[q]
        flat = np.flatnonzero(sims >= (thresh[None, :] if by_column else thresh[:, None]))
        if not flat.size:
            return
        a, b = np.divmod(flat, sims.shape[1])
        vals = sims.ravel()[flat]
        if by_column:
            order = np.argsort(b, kind="stable")
            rows, cols, vals = b[order], a[order], vals[order]
        else:
            rows, cols = a, b
        rows += q0
        cols += c0
        self._merge(rows, vals)
        # The block itself may have raised the rows' k-th best.
        keep = vals >= self.thresh[rows]
        self._rows.append(rows[keep])
        self._cols.append(cols[keep])
        self._vals.append(vals[keep])
        self._n_kept += int(keep.sum())
        if self._n_kept > self._cap:
            self._rank_kept()

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

    def _rank_kept(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rank the kept candidates exactly; keep each row's k best."""
        rows, cols, vals = (np.concatenate(p) if p else np.empty(0, dtype=d) for p, d in
                            ((self._rows, np.intp), (self._cols, np.intp),
                             (self._vals, np.float32)))
        # Candidates kept before their row's k-th best rose are out by now.
        keep = vals >= self.thresh[rows]
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        # By row, so the exact pass reads each query row once.
        order = np.lexsort((cols, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        exact = self.exact(rows, cols)
        order = _best_per_row(rows, cols, exact, self.k)
        rows, cols, vals, exact = rows[order], cols[order], vals[order], exact[order]
        ends = np.flatnonzero(np.r_[rows[1:] != rows[:-1], True]) if rows.size else rows
        full = ends[ends - np.r_[-1, ends[:-1]] == self.k]
        at = rows[full]
        # Exact values to screen units (a power of two); the full margin also covers
        # float64 underflow there.
        kth = np.ldexp(exact[full], self.to_screen)
        self.thresh[at] = np.maximum(self.thresh[at], _round_down32(kth - self.margin))
        self._rows, self._cols, self._vals, self._n_kept = [rows], [cols], [vals], rows.size
        self._cap = max(self._cap, 2 * rows.size)
        return rows, cols, exact

    def result(self, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Each row's k nearest columns and their exact values, shape (n_rows, k)."""
        rows, cols, exact = self._rank_kept()
        if rows.size != n_rows * self.k:  # pragma: no cover - the screen keeps the k best
            raise RuntimeError("nearest_neighbors lost a candidate; please report this")
        return cols.reshape(n_rows, self.k), exact.reshape(n_rows, self.k)


def pair_dots(left: np.ndarray, right: np.ndarray, rows: np.ndarray,
              cols: np.ndarray) -> np.ndarray:
    """float64 ``left[rows[i]] . right[cols[i]]`` for each pair ``i``.

    Every pair goes through one routine -- both rows gathered as contiguous
    float64 (float32 converts exactly), then one ``einsum`` row by row -- so a
    value depends only on the two rows: equal rows give equal values, ``(i, j)``
    gives what ``(j, i)`` gives, and the neighbour search and the average
    linkage agree to the last bit.
    """
    rows = np.asarray(rows, dtype=np.intp)
    cols = np.asarray(cols, dtype=np.intp)
    dim = left.shape[1]
    out = np.empty(rows.size, dtype=np.float64)
    # Small cache-resident chunks: the random gathers, not the arithmetic, cost here.
    step = max(1, min(rows.size, 2**16 // max(1, dim)))
    a = np.empty((step, dim), dtype=np.float64)
    b = np.empty((step, dim), dtype=np.float64)
    a_in = a if left.dtype == np.float64 else np.empty((step, dim), dtype=left.dtype)
    b_in = b if right.dtype == np.float64 else np.empty((step, dim), dtype=right.dtype)
    for s in range(0, rows.size, step):
        m = min(step, rows.size - s)
        np.take(left, rows[s:s + m], axis=0, out=a_in[:m])
        np.take(right, cols[s:s + m], axis=0, out=b_in[:m])
        if a_in is not a:
            np.copyto(a[:m], a_in[:m])
        if b_in is not b:
            np.copyto(b[:m], b_in[:m])
        np.einsum("ij,ij->i", a[:m], b[:m], out=out[s:s + m])
    return out


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
        Bytes one block of similarities and its scratch may use (blocks are
        about ``sqrt(memory_budget / 32)`` rows square).
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
    screen = _Screen(n_q, k, 2.0 * _screen_bound(x.shape[1], norm_q, norm_x),
                     lambda rows, cols: pair_dots(q, x, rows, cols), -(exp_q + exp_x), budget)
    step = _rows_per_block(n_q, n, budget)
    starts = range(0, n_q, step)
    if self_query:
        # The diagonal blocks first: every row gets a running k-th best from its
        # own block, read along rows, before the off-diagonal blocks are screened.
        blocks = [(i0, i0) for i0 in starts] + [(i0, j0) for i0 in starts
                                                for j0 in starts if j0 > i0]
        left = {i0: len(starts) for i0 in starts}
    else:
        blocks = [(i0, j0) for i0 in starts for j0 in range(0, n, step)]
        left = {i0: len(range(0, n, step)) for i0 in starts}
    scratch = np.empty(step * step, dtype=np.float32)
    for i0, j0 in blocks:
        qi, xj = q32[i0:i0 + step], x32[j0:j0 + step]
        sims = np.matmul(qi, xj.T, out=scratch[:qi.shape[0] * xj.shape[0]]
                         .reshape(qi.shape[0], xj.shape[0]))
        if self_query and j0 == i0:
            # A row is not its own neighbour; -inf is below every screen threshold.
            sims.ravel()[::sims.shape[1] + 1] = -np.inf
        screen.offer(sims, i0, j0)
        done = [i0]
        if self_query and j0 != i0:
            screen.offer(sims, j0, i0, by_column=True)
            done.append(j0)
        for r0 in done:
            left[r0] -= 1
            if progress is not None and not left[r0]:
                progress.update(min(step, n_q - r0))
    indices, sims = screen.result(n_q)
    return indices.astype(np.int64, copy=False), sims
