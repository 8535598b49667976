"""Average-linkage agglomeration from cluster sums, on a k-nearest-neighbour graph.

For unit vectors the mean cosine similarity between clusters A and B is
``S_A . S_B / (n_A * n_B)`` with ``S`` the sum of a cluster's vectors, so
average linkage needs the cluster sums, never the face pairs. Only pairs linked
by a neighbour edge are candidates; a merged cluster inherits the candidates of
its parts; when no candidate is left, the clusters' nearest clusters by
feature can be offered as new ones. With every pair a candidate
(``n_neighbors >= n - 1``) this is plain average linkage (UPGMA) cut at the
threshold.

Every decision is taken on the link the float64 sums give, computed by one
routine (:func:`~toolkit.reclustering._kernels.dot`, which the neighbour search
uses too), so the result is that of recomputing a merged cluster's links after
every merge, bit for bit. But most of those links decide nothing, and are not
computed.

The links and their intervals. Each candidate edge ``u < v`` carries ``sim``
and ``err``: the link the sums would give now lies in ``[sim - err, sim +
err]``; ``err == 0`` means ``sim`` *is* that value, bit for bit. Average
linkage is reducible: in exact arithmetic the link of ``M = A u B`` to ``C`` is
the size-weighted mean of its parts' links, ``(n_A L(A, C) + n_B L(B, C)) /
(n_A + n_B)`` (with ``C`` also merged, the mean runs over the four part pairs).
So a merged cluster's links are not recomputed but estimated by that mean, with
an interval covering

- the parts' own intervals;
- the rounding of the float64 sums and of their dot product: every computed
  link is within ``eps`` of the exact mean similarity, ``eps = 1.1 r**2
  (2 gamma_n + gamma_(d+2)) + 16 u r**2`` for ``n`` faces of dimension ``d``
  and norm at most ``r`` (Higham, *Accuracy and Stability of Numerical
  Algorithms*, 2nd ed., sections 3.1 and 4.2: a float64 sum of ``m`` rows built
  by any sequence of additions is within ``gamma_(m-1) sum |x_i|`` of the exact
  one); counted three times per merge;
- a part pair with no edge (never a candidate, or dropped below the
  threshold): any link it could have, ``|L(X, Y)| <= rho_X rho_Y`` with
  ``rho_X`` an upper bound of ``|S_X| / n_X``.

A link is computed exactly only when a decision could turn on it: when its
interval overlaps another at the top of one of its clusters, when it is the top
one but may lie below the threshold, when its pair merges (the merge height),
and when one of its clusters merges while the interval holds the threshold (the
union inherits exactly the edges at or above it). Every decision is the one the
exact values give.

The rounds run compiled (:mod:`._kernels`): a round is a few passes over the
live edges, so the many late rounds in which a large cluster takes in one face
at a time cost microseconds, not the fixed cost of a few hundred array calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._knn import nearest_neighbors

__all__ = ["Agglomeration", "average_linkage", "neighbor_pairs", "unique_pairs"]

_U64 = float(np.finfo(np.float64).eps) / 2.0


@dataclass(frozen=True)
class Agglomeration:
    """What :func:`average_linkage` did.

    Attributes
    ----------
    labels : ndarray of shape (n_faces,), int64
        Cluster of each face, ``0..n_clusters-1`` numbered in the order of each
        cluster's first face.
    merges : ndarray of shape (n_merges, 5), float64
        One row per merge, round by round: the two clusters (each named by its
        smallest face position), the average-linkage similarity at which they
        merged, and the two sizes before the merge (their product is the
        number of face pairs the merge puts in one cluster). Sorted by
        similarity, the third column is the dendrogram's heights as
        ``1 - distance``.
    """

    labels: np.ndarray
    merges: np.ndarray

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0


def unique_pairs(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`neighbor_pairs` and, per pair, the flat position in ``indices`` of
    its first occurrence (to pick the pair's similarity from the table)."""
    n, k = indices.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = indices.ravel().astype(np.int64)
    valid = np.flatnonzero(rows != cols)
    if not valid.size:
        return np.empty((0, 2), dtype=np.int64), valid
    size = max(n, int(cols.max()) + 1)
    # One int64 key per undirected pair: sorting keys is much cheaper than rows.
    key = np.minimum(rows[valid], cols[valid]) * size + np.maximum(rows[valid], cols[valid])
    uniq, first = np.unique(key, return_index=True)
    return np.stack([uniq // size, uniq % size], axis=1), valid[first]


def neighbor_pairs(indices: np.ndarray) -> np.ndarray:
    """Unique undirected pairs ``(i, j)``, ``i < j``, of a neighbour table.

    Parameters
    ----------
    indices : ndarray of shape (n, k), int
        ``indices[i]`` are the neighbours of row ``i``.

    Returns
    -------
    ndarray of shape (n_pairs, 2), int64, sorted by ``i`` then ``j``.
    """
    return unique_pairs(indices)[0]


def _gamma(k: int) -> float:
    """Higham's ``gamma_k = k u / (1 - k u)``, ``u`` the float64 unit roundoff."""
    return k * _U64 / (1.0 - k * _U64)


def _norm_bounds(faces: np.ndarray) -> np.ndarray:
    """An upper bound of each row's norm, float64. float32 rows are summed in
    float32 (cheaper than a float64 copy): all terms are positive, so the
    squared norm is within a relative ``gamma_(d+1)`` of float32's unit roundoff."""
    d = faces.shape[1]
    if faces.dtype == np.float32:
        u32 = float(np.finfo(np.float32).eps) / 2.0
        g = (d + 1) * u32 / (1.0 - (d + 1) * u32)
        sq = np.einsum("ij,ij->i", faces, faces).astype(np.float64)
    else:
        g = _gamma(d + 1)
        sq = np.empty(faces.shape[0], dtype=np.float64)
        step = max(1, 2**17 // max(1, d))
        for s in range(0, faces.shape[0], step):
            block = faces[s:s + step].astype(np.float64, copy=False)
            sq[s:s + step] = np.einsum("ij,ij->i", block, block)
    return np.sqrt(sq * (1.0 + 4.0 * g))


class _Agglomerator:
    """One run's state: the clusters' float64 sums, sizes and parents, and the
    candidate edges with their links and intervals (see the module notes). The
    rounds themselves are compiled (:mod:`._kernels`).

    A single face's sum is its embedding row, read from the embeddings (exact
    in float64); only clusters of two faces or more hold a row of their own,
    in a pool that reuses the rows of merged-away clusters, so memory follows
    the clusters alive, not the faces (at most ``n / 2`` of them at once;
    untouched rows of the pool cost no memory). ``sq[c]`` is ``S_c . S_c``, for
    clusters of two faces or more (the cohesion needs no other).
    """

    def __init__(self, faces: np.ndarray, threshold: float) -> None:
        from . import _kernels

        self._k = _kernels
        self.faces = np.ascontiguousarray(faces)
        n, d = self.faces.shape
        self.threshold = float(threshold)
        self.pool = np.empty((n // 2 + 1, d), dtype=np.float64)
        self.slot = np.full(n, -1, dtype=np.int64)
        self.free = np.empty(n // 2 + 1, dtype=np.int64)
        # Reusable rows in ``free``, rows of the pool in use.
        self.counters = np.zeros(2, dtype=np.int64)
        self.sizes = np.ones(n, dtype=np.float64)
        self.sq = np.zeros(n, dtype=np.float64)
        self.parent = np.arange(n, dtype=np.int64)
        # Norms inflated for their own rounding (a relative gamma_d at most).
        self.norm_factor = 1.0 + 2.0 * _gamma(d + 2)
        norms = _norm_bounds(self.faces)
        r = float(norms.max(initial=0.0))
        self.eps = 1.1 * r * r * (2.0 * _gamma(n) + _gamma(d + 2)) + 16.0 * _U64 * r * r
        # |S_X| <= |S~_X| + gamma_n n_X r: the float64 sum's own error.
        self.rho_slack = _gamma(n) * r
        self.rho = norms + self.rho_slack
        self.n_exact = 0
        self.scratch = _kernels.new_scratch(n)
        self.set_edges(*(np.empty(0, dtype=np.int64),) * 2, np.empty(0))

    @property
    def n(self) -> int:
        return self.sizes.shape[0]

    def set_edges(self, u: np.ndarray, v: np.ndarray, sim: np.ndarray) -> None:
        """New candidate edges ``u < v`` with exact links."""
        self.u = np.array(u, dtype=np.int64)
        self.v = np.array(v, dtype=np.int64)
        self.sim = np.array(sim, dtype=np.float64)
        self.err = np.zeros(self.u.size)
        self.m = self.u.size

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The live edges: ``u``, ``v``, ``sim``, ``err`` (views)."""
        m = self.m
        return self.u[:m], self.v[:m], self.sim[:m], self.err[:m]

    def rows(self, c: np.ndarray) -> np.ndarray:
        """The sums of clusters ``c``, shape (len(c), dim), float64 (a new array)."""
        slot = self.slot[c]
        own = slot >= 0
        out = np.empty((c.size, self.faces.shape[1]), dtype=np.float64)
        out[own] = self.pool[slot[own]]
        out[~own] = self.faces[c[~own]]
        return out

    def links(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Mean cross similarity ``S_a . S_b / (n_a n_b)`` of cluster pairs, exact."""
        return self._k.links_exact(self.faces, self.pool, self.slot, self.sizes,
                                   np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))

    def best_pairs(self, cohesion_ratio: float | None = None, floor: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The reciprocal best candidate pairs ``a < b`` at or above the threshold,
        by ``a``, with their exact links, less those the cohesion guard refuses
        (returned apart; their edges go). See :func:`._kernels.best_pairs`."""
        guard = cohesion_ratio is not None
        self.m, a, b, s, ra, rb, n_exact = self._k.best_pairs(
            self.u, self.v, self.sim, self.err, self.m, self.threshold,
            self.faces, self.pool, self.slot, self.sizes, self.sq, guard,
            float(cohesion_ratio) if guard else 0.0, float(floor), self.scratch)
        self.n_exact += n_exact
        return a, b, s, ra, rb

    def merge(self, a: np.ndarray, b: np.ndarray) -> None:
        """Merge ``b[i]`` into ``a[i]`` and fold the edges (:func:`._kernels.merge_round`)."""
        self.m, n_exact = self._k.merge_round(
            self.u, self.v, self.sim, self.err, self.m, a, b, self.threshold, self.faces,
            self.pool, self.slot, self.free, self.counters, self.sizes, self.sq, self.parent,
            self.rho, self.norm_factor, self.rho_slack, self.eps, self.scratch)
        self.n_exact += n_exact


def _refresh(agg: _Agglomerator, k: int, refused: dict[int, tuple[float, float]]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New candidate pairs between the current clusters: each cluster's ``k``
    nearest by feature (unit centroid), at or above the threshold, minus pairs
    the guard refused with the same members."""
    n = agg.n
    alive = np.flatnonzero(agg.parent == np.arange(n))
    if alive.size < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    feats = agg.rows(alive)
    norms = np.sqrt(np.einsum("ij,ij->i", feats, feats))
    feats = feats / np.where(norms > 0, norms, 1.0)[:, None]
    idx, _ = nearest_neighbors(feats, min(k, alive.size - 1))
    pairs = alive[neighbor_pairs(idx)]
    u, v = pairs[:, 0], pairs[:, 1]
    sim = agg.links(u, v)
    keep = sim >= agg.threshold
    if refused:
        # Refused pairs by key, with the sizes they had then.
        keys = np.fromiter(refused, dtype=np.int64, count=len(refused))
        then = np.array(list(refused.values()), dtype=np.float64).reshape(-1, 2)
        order = np.argsort(keys)
        keys, then = keys[order], then[order]
        at = np.minimum(np.searchsorted(keys, u * n + v), keys.size - 1)
        again = ((keys[at] == u * n + v) & (then[at, 0] == agg.sizes[u])
                 & (then[at, 1] == agg.sizes[v]))
        keep &= ~again
    return u[keep], v[keep], sim[keep]


def average_linkage(embeddings: np.ndarray, pairs: np.ndarray, threshold: float, *,
                    pair_similarities: np.ndarray | None = None,
                    cohesion_ratio: float | None = None, floor: float = 0.0,
                    refresh_neighbors: int | None = None, progress=None) -> Agglomeration:
    """Exact average linkage on a candidate graph, cut at a similarity threshold.

    Parameters
    ----------
    embeddings : ndarray of shape (n_faces, dim)
        Unit rows.
    pairs : ndarray of shape (n_pairs, 2), int
        Candidate face pairs (the neighbour graph, see :func:`neighbor_pairs`).
    threshold : float
        Two clusters may merge while their mean cross similarity is at least
        this; use ``-inf`` for the whole hierarchy.
    pair_similarities : ndarray of shape (n_pairs,), default=None
        The similarity of each pair, as :func:`~toolkit.reclustering._dots.pair_dots`
        computes it (the neighbour graph's ``pair_similarities``). None:
        computed here.
    cohesion_ratio : float or None, default=None
        When set, two clusters of 2 or more faces may merge only if
        ``link - floor >= cohesion_ratio * sqrt((coh_A - floor) (coh_B - floor))``
        where ``coh`` is a cluster's mean within similarity: they must be
        nearly as alike as each is inside. A refused pair stops being a
        candidate. None: plain average linkage.
    floor : float, default=0.0
        The similarity level of strangers the ratio is measured from.
    refresh_neighbors : int or None, default=None
        When no candidate is left, look for more: each current cluster's
        ``refresh_neighbors`` nearest clusters by feature (unit centroid)
        become candidates, and merging goes on until a refresh brings none.
        Large clusters whose faces all have their neighbours inside (two
        big fragments of one person) are found this way. None: no refresh.
    progress : tqdm-like or None
        Advanced by the number of merges of each round.

    Returns
    -------
    Agglomeration

    Notes
    -----
    Clusters are merged in rounds: every pair of clusters that are each
    other's most similar candidate (reciprocal nearest neighbours) and at or
    above the threshold merges. Average linkage is *reducible* -- the linkage
    of ``A u B`` to ``C`` is the size-weighted mean of the linkages of ``A``
    and ``B`` to ``C`` -- so a reciprocal pair is merged by the classic
    one-pair-at-a-time algorithm too, and both end in the same clusters.
    The same property lets pairs below the threshold be dropped for good: a
    merged cluster can reach the threshold with ``C`` only through a part that
    did. With every pair a candidate and no ``cohesion_ratio`` the result is
    UPGMA (scikit-learn's ``linkage="average"``) cut at ``1 - threshold``
    cosine distance.

    Links are exact: each is computed from the float64 sums whenever it can
    decide something (being a cluster's best candidate, or being on either
    side of the threshold when a cluster merges); in between, the weighted
    mean of the parts' links with a proven error interval stands in for it
    (see the module notes), which spares most of the recomputation without changing
    a bit of the result.

    Equal similarities are broken by the smaller cluster name; a cluster is
    named by its smallest face position, so the result is the same on every
    run and every machine.
    """
    faces = np.asarray(embeddings)
    n = faces.shape[0]
    agg = _Agglomerator(faces, threshold)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    u = np.minimum(pairs[:, 0], pairs[:, 1])
    v = np.maximum(pairs[:, 0], pairs[:, 1])
    ok = u != v
    u, v = u[ok], v[ok]
    if pair_similarities is None:
        sim = agg.links(u, v)
    else:
        sim = np.asarray(pair_similarities, dtype=np.float64).ravel()
        if sim.shape[0] != pairs.shape[0]:
            raise ValueError(f"`pair_similarities` holds {sim.shape[0]} values for "
                             f"{pairs.shape[0]} pairs; pass one per pair.")
        sim = sim[ok]
    keep = sim >= threshold
    agg.set_edges(u[keep], v[keep], sim[keep])
    sizes = agg.sizes
    merges: list[np.ndarray] = []
    # Pairs the cohesion guard refused, with the sizes they had: the same pair
    # with the same members is not offered again by a refresh.
    refused: dict[int, tuple[float, float]] = {}
    while True:
        if not agg.m:
            if not refresh_neighbors:
                break
            agg.set_edges(*_refresh(agg, refresh_neighbors, refused))
            if not agg.m:
                break
        a, b, s, ra, rb = agg.best_pairs(cohesion_ratio, floor)
        if ra.size:
            for i, j in zip(ra.tolist(), rb.tolist()):
                refused[i * n + j] = (float(sizes[i]), float(sizes[j]))
        if not a.size:
            if agg.m and not ra.size:  # pragma: no cover - the best pair overall is mutual
                raise RuntimeError("average_linkage found no reciprocal pair; please report this")
            continue  # every edge left was below the threshold, or refused
        merges.append((a, b, s, sizes[a], sizes[b]))
        agg.merge(a, b)
        if progress is not None:
            progress.update(int(a.size))

    # Roots are first-face positions (a merge keeps the smaller name), so
    # numbering the sorted roots numbers clusters in order of their first face.
    root = agg.parent
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    _, labels = np.unique(root, return_inverse=True)
    merge_arr = (np.column_stack([np.concatenate(col) for col in zip(*merges)]).astype(np.float64)
                 if merges else np.empty((0, 5), dtype=np.float64))
    return Agglomeration(labels=labels.astype(np.int64), merges=merge_arr)
