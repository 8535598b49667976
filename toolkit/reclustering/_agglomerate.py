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
routine (:func:`~toolkit.reclustering._dots.pair_dots`), so the result is that
of recomputing a merged cluster's links after every merge. But most of those
links decide nothing: a merged cluster's link to a neighbour is known to lie in
a narrow interval around the size-weighted mean of its parts' links (average
linkage is reducible), and is computed only when the interval cannot settle a
decision (see ``_Links``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._dots import pair_dots
from ._knn import nearest_neighbors

__all__ = ["Agglomeration", "average_linkage", "neighbor_pairs", "unique_pairs"]

_U64 = float(np.finfo(np.float64).eps) / 2.0
# Up to this many links are computed in one gather (see :func:`_linkage`).
_FEW = 256


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


class _Sums:
    """The clusters' float64 sums and their squared norms.

    A single face's sum is its embedding row, read from the embeddings (exact
    in float64); only clusters of two faces or more hold a row of their own,
    in a pool that reuses the rows of merged-away clusters, so memory follows
    the clusters alive, not the faces. ``sq[c]`` is ``S_c . S_c`` as
    :func:`_linkage` would compute it, for clusters of two faces or more (the
    cohesion needs no other).
    """

    def __init__(self, faces: np.ndarray) -> None:
        self.faces = faces
        n, d = faces.shape
        self.slot = np.full(n, -1, dtype=np.int64)
        # At most n / 2 clusters of two faces or more live at once; untouched
        # rows of the pool cost no memory.
        self.pool = np.empty((n // 2 + 1, d), dtype=np.float64)
        self._free = np.empty(0, dtype=np.int64)
        self._used = 0
        self.sq = np.zeros(n, dtype=np.float64)

    def rows(self, c: np.ndarray) -> np.ndarray:
        """The sums of clusters ``c``, shape (len(c), dim), float64 (a new array)."""
        slot = self.slot[c]
        own = slot >= 0
        out = np.empty((c.size, self.pool.shape[1]), dtype=np.float64)
        out[own] = self.pool[slot[own]]
        out[~own] = self.faces[c[~own]]
        return out

    def _claim(self, m: int) -> np.ndarray:
        reuse, self._free = self._free[:m], self._free[m:]
        fresh = m - reuse.size
        if self._used + fresh > self.pool.shape[0]:
            grown = np.empty((max(2 * self.pool.shape[0], self._used + fresh, 64),
                              self.pool.shape[1]), dtype=np.float64)
            grown[:self._used] = self.pool[:self._used]
            self.pool = grown
        out = np.concatenate([reuse, np.arange(self._used, self._used + fresh, dtype=np.int64)])
        self._used += fresh
        return out

    def merge(self, a: np.ndarray, b: np.ndarray) -> None:
        """``S_a += S_b`` for distinct clusters (the additions the eager algorithm
        makes, so the same bits); ``b`` stops having a sum."""
        new = a[self.slot[a] < 0]
        if new.size:
            self.slot[new] = self._claim(new.size)
            self.pool[self.slot[new]] = self.faces[new]
        at = self.slot[a]
        merged = self.pool[at] + self.rows(b)
        self.pool[at] = merged
        self.sq[a] = np.einsum("ij,ij->i", merged, merged)
        gone = self.slot[b]
        self._free = np.concatenate([self._free, gone[gone >= 0]])
        self.slot[b] = -1


def _linkage(sums: _Sums, sizes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean cross similarity ``S_a . S_b / (n_a n_b)`` of cluster pairs.

    Every value is :func:`~toolkit.reclustering._dots.pair_dots` of the two
    sums: it depends only on them, whichever order the pair comes in. The
    pairs are split by where their sums live (the pool or the embeddings) so
    each part is one plain gather.
    """
    if a.size <= _FEW:
        # A few pairs: one gather per side costs less than sorting them by source.
        dots = np.einsum("ij,ij->i", sums.rows(a), sums.rows(b))
        return dots / (sizes[a] * sizes[b])
    out = np.empty(a.size, dtype=np.float64)
    slot_a, slot_b = sums.slot[a], sums.slot[b]
    own_a, own_b = slot_a >= 0, slot_b >= 0
    for in_a in (True, False):
        for in_b in (True, False):
            at = np.flatnonzero((own_a == in_a) & (own_b == in_b))
            if not at.size:
                continue
            left, li = (sums.pool, slot_a[at]) if in_a else (sums.faces, a[at])
            right, ri = (sums.pool, slot_b[at]) if in_b else (sums.faces, b[at])
            out[at] = pair_dots(left, right, li, ri)
    return out / (sizes[a] * sizes[b])


def _cohesion(sums: _Sums, sizes: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Mean similarity over pairs of distinct members, ``(||S||^2 - n) / (n (n - 1))``."""
    n = sizes[c]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, (sums.sq[c] - n) / (n * (n - 1)), np.nan)


def _refresh(sums: _Sums, sizes: np.ndarray, parent: np.ndarray, k: int,
             threshold: float, refused: dict[int, tuple[float, float]]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New candidate pairs between the current clusters: each cluster's ``k``
    nearest by feature (unit centroid), at or above the threshold, minus pairs
    the guard refused with the same members."""
    n = parent.shape[0]
    alive = np.flatnonzero(parent == np.arange(n))
    if alive.size < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    feats = sums.rows(alive)
    norms = np.sqrt(np.einsum("ij,ij->i", feats, feats))
    feats = feats / np.where(norms > 0, norms, 1.0)[:, None]
    idx, _ = nearest_neighbors(feats, min(k, alive.size - 1))
    pairs = alive[neighbor_pairs(idx)]
    u, v = pairs[:, 0], pairs[:, 1]
    sim = _linkage(sums, sizes, u, v)
    keep = sim >= threshold
    if refused:
        again = np.array([refused.get(i * n + j) == (float(sizes[i]), float(sizes[j]))
                          for i, j in zip(u.tolist(), v.tolist())], dtype=bool)
        keep &= ~again
    return u[keep], v[keep], sim[keep]


def _best_of(u: np.ndarray, v: np.ndarray, sim: np.ndarray, n: int) -> np.ndarray:
    """Each cluster's best candidate (``n`` for none): the highest linkage, then
    the smallest name. Scatter-max and scatter-min over the edges do it in
    O(edges), without sorting them."""
    best_sim = np.full(n, -np.inf)
    np.maximum.at(best_sim, u, sim)
    np.maximum.at(best_sim, v, sim)
    best = np.full(n, n, dtype=np.int64)
    at_u = sim == best_sim[u]
    np.minimum.at(best, u[at_u], v[at_u])
    at_v = sim == best_sim[v]
    np.minimum.at(best, v[at_v], u[at_v])
    return best


def _reciprocal_best(u: np.ndarray, v: np.ndarray, sim: np.ndarray,
                     n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``a < b`` that are each other's best candidate, and their linkage."""
    best = _best_of(u, v, sim, n)
    mutual = np.flatnonzero((best[u] == v) & (best[v] == u))
    mutual = mutual[np.argsort(u[mutual], kind="stable")]
    return u[mutual], v[mutual], sim[mutual]


class _Links:
    """The candidate edges ``u < v`` between the current clusters, each link
    known exactly or only within a proven interval.

    ``sim[e]`` and ``err[e]`` say that the link :func:`_linkage` would compute
    now from the float64 sums lies in ``[sim - err, sim + err]``; ``err == 0``
    means ``sim`` *is* that value, bit for bit. Average linkage is reducible:
    in exact arithmetic the link of ``M = A u B`` to ``C`` is the size-weighted
    mean of its parts' links, ``(n_A L(A, C) + n_B L(B, C)) / (n_A + n_B)``
    (with ``C`` also merged, the mean runs over the four part pairs). So a
    merged cluster's links are not recomputed but estimated by that mean, with
    an interval covering

    - the parts' own intervals;
    - the rounding of the float64 sums and of their dot product: every
      computed link is within ``eps`` of the exact mean similarity, ``eps =
      1.1 r**2 (2 gamma_n + gamma_(d+2)) + 16 u r**2`` for ``n`` faces of
      dimension ``d`` and norm at most ``r`` (Higham, *Accuracy and Stability of
      Numerical Algorithms*, 2nd ed., sections 3.1 and 4.2: a float64 sum of
      ``m`` rows built by any sequence of additions is within ``gamma_(m-1)
      sum |x_i|`` of the exact one); counted three times per merge;
    - a part pair with no edge (never a candidate, or dropped below the
      threshold): any link it could have, ``|L(X, Y)| <= rho_X rho_Y`` with
      ``rho_X`` an upper bound of ``|S_X| / n_X``.

    A link is computed exactly only when a decision could turn on it: when
    its interval overlaps another at the top of one of its clusters, when it
    is the top one but may lie below the threshold, when its pair merges (the
    merge height), and when one of its clusters merges while the interval
    holds the threshold (the union inherits exactly the edges at or above
    it). Every decision is the one the exact values give, so the merges are
    those of recomputing every link after every merge, bit for bit.
    """

    def __init__(self, u: np.ndarray, v: np.ndarray, sim: np.ndarray, sums: _Sums,
                 sizes: np.ndarray, threshold: float) -> None:
        self.u, self.v, self.sim = u, v, sim
        self.err = np.zeros(u.size)
        self.sums, self.sizes = sums, sizes
        self.threshold = threshold
        n, d = sums.faces.shape
        # Norms inflated for their own rounding (a relative gamma_d at most).
        self._norm_factor = 1.0 + 2.0 * _gamma(d + 2)
        norms = _norm_bounds(sums.faces)
        r = float(norms.max(initial=0.0))
        self.eps = 1.1 * r * r * (2.0 * _gamma(n) + _gamma(d + 2)) + 16.0 * _U64 * r * r
        # |S_X| <= |S~_X| + gamma_n n_X r: the float64 sum's own error.
        self._rho_slack = _gamma(n) * r
        self.rho = norms + self._rho_slack
        # Scratch indexed by cluster, restored after each use.
        self._scratch = np.full(n, -np.inf)
        self._rename = np.arange(n, dtype=np.int64)
        self._touched = np.zeros(n, dtype=bool)
        self.n_exact = 0

    @property
    def size(self) -> int:
        return self.u.size

    def replace(self, u: np.ndarray, v: np.ndarray, sim: np.ndarray) -> None:
        """New edges with exact links (a refresh)."""
        self.u, self.v, self.sim, self.err = u, v, sim, np.zeros(u.size)

    def keep(self, mask: np.ndarray) -> None:
        self.u, self.v, self.sim, self.err = (self.u[mask], self.v[mask], self.sim[mask],
                                              self.err[mask])

    def _settle(self, at: np.ndarray) -> bool:
        """Compute the links of edges ``at`` exactly; drop those below the threshold
        (and say whether any was)."""
        exact = _linkage(self.sums, self.sizes, self.u[at], self.v[at])
        self.sim[at] = exact
        self.err[at] = 0.0
        self.n_exact += at.size
        low = exact < self.threshold
        if not low.any():
            return False
        mask = np.ones(self.u.size, dtype=bool)
        mask[at[low]] = False
        self.keep(mask)
        return True

    def _top_lower(self, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The highest lower end at each edge's two clusters."""
        best = self._scratch
        np.maximum.at(best, self.u, lo)
        np.maximum.at(best, self.v, lo)
        at_u, at_v = best[self.u], best[self.v]
        best[self.u] = -np.inf
        best[self.v] = -np.inf
        return at_u, at_v

    def reciprocal_best(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`_reciprocal_best` on the exact links of the edges at or above
        the threshold, computing only the links a decision turns on.

        A cluster's top edges are those whose interval reaches the highest
        lower end among its edges. One alone is its best, whatever its exact
        value; several are computed until one stands out -- but only at a
        cluster with an edge at the top of both its ends: elsewhere the best
        cannot be reciprocated, whichever it is. An edge at both tops is
        computed when it may lie below the threshold. Off its clusters' tops
        an edge is below both clusters' best, so the top edges alone decide.
        """
        while True:
            inexact = self.err > 0
            if not inexact.any():
                top = np.ones(self.u.size, dtype=bool)
                break
            lo = self.sim - self.err
            hi = self.sim + self.err
            lo_u, lo_v = self._top_lower(lo)
            top_u = hi >= lo_u
            top_v = hi >= lo_v
            top = top_u | top_v
            # Only a cluster with an edge at the top of both its clusters can be
            # in a reciprocal pair: only its top needs deciding.
            both = top_u & top_v
            live = self._touched
            live[self.u[both]] = True
            live[self.v[both]] = True
            n_top = (np.bincount(self.u[top_u], minlength=n)
                     + np.bincount(self.v[top_v], minlength=n))
            unsure = ((top_u & live[self.u] & (n_top[self.u] > 1))
                      | (top_v & live[self.v] & (n_top[self.v] > 1))
                      | (both & (lo < self.threshold)))
            live[self.u[both]] = False
            live[self.v[both]] = False
            todo = np.flatnonzero(unsure & inexact)
            if not todo.size or not self._settle(todo):
                # Settling only narrows intervals, so the tops only shrink: the edges
                # still at a top are among those, and none has a rival left. An edge
                # dropped below the threshold may lower a cluster's top: look again.
                break
        cand = np.flatnonzero(top)
        cu, cv = self.u[cand], self.v[cand]
        best = _best_of(cu, cv, self.sim[cand], n)
        at = cand[(best[cu] == cv) & (best[cv] == cu)]
        at = at[np.argsort(self.u[at], kind="stable")]  # by ``a``
        inexact = at[self.err[at] > 0]
        if inexact.size:
            # The merge heights, exact; still the clusters' best and above the threshold.
            self.sim[inexact] = _linkage(self.sums, self.sizes, self.u[inexact], self.v[inexact])
            self.err[inexact] = 0.0
            self.n_exact += inexact.size
        return self.u[at], self.v[at], self.sim[at]

    def settle_around(self, a: np.ndarray, b: np.ndarray) -> None:
        """Before ``a`` and ``b`` merge: settle their edges whose interval holds
        the threshold, so the union inherits exactly the edges at or above it."""
        touched = self._touched
        touched[a] = True
        touched[b] = True
        near = touched[self.u] | touched[self.v]
        touched[a] = False
        touched[b] = False
        at = np.flatnonzero(near & (self.err > 0) & (self.sim - self.err < self.threshold))
        if at.size:
            self._settle(at)

    def contract(self, a: np.ndarray, b: np.ndarray, old_sizes: np.ndarray) -> None:
        """The edges after ``b`` merged into ``a`` (sums and sizes already updated,
        ``old_sizes`` from before): a merged cluster's edges are renamed, folded
        into one edge per neighbour and given the weighted mean of the parts'
        links with its interval; edges surely below the threshold are dropped."""
        n = self.sizes.shape[0]
        u, v, sim, err = self.u, self.v, self.sim, self.err
        rename, touched = self._rename, self._touched
        rename[b] = a
        touched[a] = True
        ru, rv = rename[u], rename[v]
        touch = touched[ru] | touched[rv]
        rename[b] = b
        touched[a] = False
        redo = np.flatnonzero(touch)
        lo, hi = np.minimum(ru[redo], rv[redo]), np.maximum(ru[redo], rv[redo])
        unfolded = lo != hi  # the merging pair's own edge folds onto itself
        redo, lo, hi = redo[unfolded], lo[unfolded], hi[unfolded]
        # A part pair's weight in the union's link: n_X n_Y, exact in float64.
        weight = old_sizes[u[redo]] * old_sizes[v[redo]]
        keys, group = np.unique(lo * n + hi, return_inverse=True)
        klo, khi = keys // n, keys % n
        total = self.sizes[klo] * self.sizes[khi]
        # (float64 even with no edge: bincount of nothing is an int array)
        mean = np.bincount(group, weights=weight * sim[redo],
                           minlength=keys.size).astype(np.float64, copy=False)
        spread = np.bincount(group, weights=weight * err[redo],
                             minlength=keys.size).astype(np.float64, copy=False)
        # Part pairs without an edge: any link up to the longest parts' means allow.
        missing = np.maximum(total - np.bincount(group, weights=weight, minlength=keys.size),
                             0.0)
        rho_parts = self.rho.copy()
        rho_parts[a] = np.maximum(self.rho[a], self.rho[b])
        spread += missing * (rho_parts[klo] * rho_parts[khi])
        value = mean / total
        bound = spread / total * (1.0 + 16.0 * _U64) + 3.0 * self.eps
        ok = value + bound >= self.threshold
        stay = ~touch
        self.u = np.concatenate([u[stay], klo[ok]])
        self.v = np.concatenate([v[stay], khi[ok]])
        self.sim = np.concatenate([sim[stay], value[ok]])
        self.err = np.concatenate([err[stay], bound[ok]])
        self.rho[a] = (np.sqrt(self.sums.sq[a]) / self.sizes[a] * self._norm_factor
                       + self._rho_slack)


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
        The similarity of each pair, as :func:`~toolkit.reclustering._knn.pair_dots`
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
    (see ``_Links``), which spares most of the recomputation without changing
    a bit of the result.

    Equal similarities are broken by the smaller cluster name; a cluster is
    named by its smallest face position, so the result is the same on every
    run and every machine.
    """
    faces = np.asarray(embeddings)
    n = faces.shape[0]
    sums = _Sums(faces)
    sizes = np.ones(n, dtype=np.float64)
    parent = np.arange(n, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    u = np.minimum(pairs[:, 0], pairs[:, 1])
    v = np.maximum(pairs[:, 0], pairs[:, 1])
    ok = u != v
    u, v = u[ok], v[ok]
    if pair_similarities is None:
        sim = _linkage(sums, sizes, u, v)
    else:
        sim = np.asarray(pair_similarities, dtype=np.float64).ravel()
        if sim.shape[0] != pairs.shape[0]:
            raise ValueError(f"`pair_similarities` holds {sim.shape[0]} values for "
                             f"{pairs.shape[0]} pairs; pass one per pair.")
        sim = sim[ok]
    keep = sim >= threshold
    links = _Links(u[keep], v[keep], sim[keep], sums, sizes, threshold)
    merges: list[np.ndarray] = []
    # Pairs the cohesion guard refused, with the sizes they had: the same pair
    # with the same members is not offered again by a refresh.
    refused: dict[int, tuple[float, float]] = {}
    while True:
        if not links.size:
            if not refresh_neighbors:
                break
            links.replace(*_refresh(sums, sizes, parent, refresh_neighbors, threshold, refused))
            if not links.size:
                break
        a, b, s = links.reciprocal_best(n)
        if not a.size:
            if links.size:  # pragma: no cover - the best pair overall is always mutual
                raise RuntimeError("average_linkage found no reciprocal pair; please report this")
            continue  # every edge left was below the threshold
        if cohesion_ratio is not None:
            both = (sizes[a] > 1) & (sizes[b] > 1)
            if both.any():
                ref = np.sqrt(np.clip(_cohesion(sums, sizes, a) - floor, 0.0, None)
                              * np.clip(_cohesion(sums, sizes, b) - floor, 0.0, None))
                no = both & ~(s - floor >= cohesion_ratio * ref)
                if no.any():
                    for i, j in zip(a[no].tolist(), b[no].tolist()):
                        refused[i * n + j] = (float(sizes[i]), float(sizes[j]))
                    links.keep(~np.isin(links.u * n + links.v, a[no] * n + b[no]))
                    a, b, s = a[~no], b[~no], s[~no]
                    if not a.size:
                        continue
        merges.append(np.stack([a, b, s, sizes[a], sizes[b]], axis=1))
        links.settle_around(a, b)
        old_sizes = sizes.copy()
        sums.merge(a, b)
        sizes[a] += sizes[b]
        parent[b] = a
        if progress is not None:
            progress.update(int(a.size))
        links.contract(a, b, old_sizes)

    # Roots are first-face positions (a merge keeps the smaller name), so
    # numbering the sorted roots numbers clusters in order of their first face.
    root = parent
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    _, labels = np.unique(root, return_inverse=True)
    merge_arr = np.concatenate(merges) if merges else np.empty((0, 5), dtype=np.float64)
    return Agglomeration(labels=labels.astype(np.int64), merges=merge_arr)
