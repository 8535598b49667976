"""Average-linkage agglomeration from cluster sums, on a k-nearest-neighbour graph.

For unit vectors the mean cosine similarity between clusters A and B is
``S_A . S_B / (n_A * n_B)`` with ``S`` the sum of a cluster's vectors, so
average linkage needs the cluster sums, never the face pairs. Only pairs linked
by a neighbour edge are candidates; a merged cluster inherits the candidates of
its parts and its linkage to each is recomputed exactly from the sums; when no
candidate is left, the clusters' nearest clusters by feature can be offered as
new ones. With every pair a candidate (``n_neighbors >= n - 1``) this is plain
average linkage (UPGMA) cut at the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._knn import nearest_neighbors, pair_dots

__all__ = ["Agglomeration", "average_linkage", "neighbor_pairs", "unique_pairs"]


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


def _linkage(sums: np.ndarray, sizes: np.ndarray, a: np.ndarray, b: np.ndarray,
             faces: np.ndarray | None = None) -> np.ndarray:
    """Mean cross similarity ``S_a . S_b / (n_a n_b)`` of cluster pairs.

    With ``faces`` (the embeddings the sums started from), a single-face
    cluster ``b`` is read from them: the same values as its float64 sum, at
    half the memory traffic when they are float32.
    """
    if faces is None:
        return pair_dots(sums, sums, a, b) / (sizes[a] * sizes[b])
    out = np.empty(a.size, dtype=np.float64)
    lone = sizes[b] == 1
    out[lone] = pair_dots(sums, faces, a[lone], b[lone])
    out[~lone] = pair_dots(sums, sums, a[~lone], b[~lone])
    return out / (sizes[a] * sizes[b])


def _cohesion(sums: np.ndarray, sizes: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Mean similarity over pairs of distinct members, ``(||S||^2 - n) / (n (n - 1))``."""
    n = sizes[c]
    sq = np.einsum("ij,ij->i", sums[c], sums[c])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, (sq - n) / (n * (n - 1)), np.nan)


def _refresh(sums: np.ndarray, sizes: np.ndarray, parent: np.ndarray, k: int,
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
    feats = sums[alive]
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


def _reciprocal_best(u: np.ndarray, v: np.ndarray, sim: np.ndarray,
                     n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``a < b`` that are each other's best candidate, and their linkage.

    A cluster's best candidate has the highest linkage, then the smallest
    name. Scatter-max and scatter-min over the edges do it in O(edges),
    without sorting them.
    """
    best_sim = np.full(n, -np.inf)
    np.maximum.at(best_sim, u, sim)
    np.maximum.at(best_sim, v, sim)
    best = np.full(n, n, dtype=np.int64)
    at_u = sim == best_sim[u]
    np.minimum.at(best, u[at_u], v[at_u])
    at_v = sim == best_sim[v]
    np.minimum.at(best, v[at_v], u[at_v])
    a = np.flatnonzero(best < n)
    b = best[a]
    mutual = (a < b) & (best[b] == a)
    a, b = a[mutual], b[mutual]
    return a, b, best_sim[a]


def _contract(u: np.ndarray, v: np.ndarray, sim: np.ndarray, a: np.ndarray, b: np.ndarray,
              sums: np.ndarray, sizes: np.ndarray, faces: np.ndarray, threshold: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate edges after ``b`` merged into ``a``: edges of a merged
    cluster are renamed, deduplicated and recomputed exactly from the sums;
    the others keep their linkage."""
    n = sums.shape[0]
    rename = np.arange(n, dtype=np.int64)
    rename[b] = a
    touched = np.zeros(n, dtype=bool)
    touched[a] = True
    u, v = rename[u], rename[v]
    redo = touched[u] | touched[v]
    lo, hi = np.minimum(u[redo], v[redo]), np.maximum(u[redo], v[redo])
    # Only a merged cluster's edges can coincide or fold onto itself.
    key = np.unique((lo * n + hi)[lo != hi])
    lo, hi = key // n, key % n
    # Merged cluster first and grouped: its row is read once per group, not per edge
    # (the value does not depend on the order of the two).
    merged = np.where(touched[lo], lo, hi)
    order = np.argsort(merged, kind="stable")
    lo, hi = lo[order], hi[order]
    other = lo + hi - merged[order]
    new = _linkage(sums, sizes, merged[order], other, faces)
    keep = new >= threshold
    stay = ~redo
    return (np.concatenate([u[stay], lo[keep]]), np.concatenate([v[stay], hi[keep]]),
            np.concatenate([sim[stay], new[keep]]))


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

    Equal similarities are broken by the smaller cluster name; a cluster is
    named by its smallest face position, so the result is the same on every
    run and every machine.
    """
    faces = np.asarray(embeddings)
    n = faces.shape[0]
    sums = faces.astype(np.float64, copy=True)
    sizes = np.ones(n, dtype=np.float64)
    parent = np.arange(n, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    u = np.minimum(pairs[:, 0], pairs[:, 1])
    v = np.maximum(pairs[:, 0], pairs[:, 1])
    ok = u != v
    u, v = u[ok], v[ok]
    if pair_similarities is None:
        sim = _linkage(sums, sizes, u, v, faces)
    else:
        sim = np.asarray(pair_similarities, dtype=np.float64).ravel()
        if sim.shape[0] != pairs.shape[0]:
            raise ValueError(f"`pair_similarities` holds {sim.shape[0]} values for "
                             f"{pairs.shape[0]} pairs; pass one per pair.")
        sim = sim[ok]
    keep = sim >= threshold
    u, v, sim = u[keep], v[keep], sim[keep]
    merges: list[np.ndarray] = []
    # Pairs the cohesion guard refused, with the sizes they had: the same pair
    # with the same members is not offered again by a refresh.
    refused: dict[int, tuple[float, float]] = {}
    while True:
        if not u.size:
            if not refresh_neighbors:
                break
            u, v, sim = _refresh(sums, sizes, parent, refresh_neighbors, threshold, refused)
            if not u.size:
                break
        a, b, s = _reciprocal_best(u, v, sim, n)
        if not a.size:  # pragma: no cover - the best pair overall is always mutual
            raise RuntimeError("average_linkage found no reciprocal pair; please report this")
        if cohesion_ratio is not None:
            both = (sizes[a] > 1) & (sizes[b] > 1)
            ref = np.sqrt(np.clip(_cohesion(sums, sizes, a) - floor, 0.0, None)
                          * np.clip(_cohesion(sums, sizes, b) - floor, 0.0, None))
            no = both & ~(s - floor >= cohesion_ratio * ref)
            if no.any():
                for i, j in zip(a[no].tolist(), b[no].tolist()):
                    refused[i * n + j] = (float(sizes[i]), float(sizes[j]))
                gone = np.isin(u * n + v, a[no] * n + b[no])
                u, v, sim = u[~gone], v[~gone], sim[~gone]
                a, b, s = a[~no], b[~no], s[~no]
                if not a.size:
                    continue
        merges.append(np.stack([a, b, s, sizes[a], sizes[b]], axis=1))
        sums[a] += sums[b]
        sizes[a] += sizes[b]
        parent[b] = a
        if progress is not None:
            progress.update(int(a.size))
        u, v, sim = _contract(u, v, sim, a, b, sums, sizes, faces, threshold)

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
