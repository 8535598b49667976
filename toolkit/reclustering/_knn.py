"""Exact k-nearest neighbours under cosine similarity, chunked.

The embeddings are unit rows, so cosine similarity is a dot product. Rows are
compared in blocks of ``chunk x n`` under a memory budget: the full ``n x n``
similarity matrix never exists.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_neighbors", "DEFAULT_MEMORY_BUDGET"]

#: Bytes one block of similarities may take (the block and its top-k scratch).
DEFAULT_MEMORY_BUDGET = 128 * 2**20


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
    return x


def _rows_per_block(n_rows: int, n_cols: int, itemsize: int, budget: int) -> int:
    # The block, its negated copy and argpartition's int64 result live together.
    per_row = max(1, n_cols) * (2 * itemsize + 8)
    return int(max(1, min(n_rows, budget // per_row)))


def _top_k_block(sims: np.ndarray, k: int, col_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of each row of ``sims``: descending similarity, ties by column."""
    n_rows, n_cols = sims.shape
    neg = -sims
    if k < n_cols:
        part = np.argpartition(neg, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    vals = np.take_along_axis(neg, part, axis=1)
    # Sort the k chosen by (-similarity, column) so ties resolve by position.
    order = np.lexsort((part, vals), axis=1) if n_rows else np.empty((0, k), dtype=np.int64)
    part = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    if k < n_cols:
        # argpartition picks arbitrarily among values equal to the k-th one; a row
        # with such a tie at the cut is redone in full so the lowest columns win.
        kth = vals[:, -1:]
        tied = np.flatnonzero((neg <= kth).sum(axis=1) > k)
        for r in tied:
            full = np.lexsort((np.arange(n_cols), neg[r]))[:k]
            part[r] = full
            vals[r] = neg[r, full]
    return part.astype(np.int64) + col_offset, (-vals).astype(sims.dtype, copy=False)


def nearest_neighbors(embeddings, n_neighbors: int, *, queries=None,
                      memory_budget: int = DEFAULT_MEMORY_BUDGET, progress=None):
    """Exact cosine k-nearest neighbours, computed in row blocks.

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
        Bytes one block of similarities may use.
    progress : tqdm-like or None
        An object with ``update(n)``, advanced by the rows done.

    Returns
    -------
    indices : ndarray of shape (n_queries, k), int64
        Row positions in ``embeddings`` of the neighbours, most similar first;
        equal similarities are ordered by position.
    similarities : ndarray of shape (n_queries, k)
        The cosine similarities, in ``[-1, 1]``, same dtype as the input.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    >>> idx, sim = nearest_neighbors(x, 1)
    >>> idx.ravel().tolist()
    [1, 0, 1]
    """
    x = _check_embeddings(embeddings)
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) \
            or n_neighbors < 1:
        raise ValueError(f"`n_neighbors` must be an integer >= 1, but {n_neighbors!r} was passed.")
    if not isinstance(memory_budget, (int, np.integer)) or memory_budget <= 0:
        raise ValueError(f"`memory_budget` must be a positive number of bytes, "
                         f"but {memory_budget!r} was passed.")
    self_query = queries is None
    q = x if self_query else _check_embeddings(queries, "queries").astype(x.dtype, copy=False)
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"`queries` have dimension {q.shape[1]} but `embeddings` have "
                         f"{x.shape[1]}; they must match.")
    n = x.shape[0]
    k = int(min(n_neighbors, n - 1 if self_query else n))
    if k <= 0:
        return np.empty((q.shape[0], 0), dtype=np.int64), np.empty((q.shape[0], 0), dtype=x.dtype)
    indices = np.empty((q.shape[0], k), dtype=np.int64)
    sims = np.empty((q.shape[0], k), dtype=x.dtype)
    step = _rows_per_block(q.shape[0], n, x.dtype.itemsize, memory_budget)
    for start in range(0, q.shape[0], step):
        stop = min(start + step, q.shape[0])
        block = q[start:stop] @ x.T
        if self_query:
            # A row is not its own neighbour; -inf sorts after every real similarity.
            block[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        indices[start:stop], sims[start:stop] = _top_k_block(block, k)
        if progress is not None:
            progress.update(stop - start)
    return indices, sims
