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

from ._knn import nearest_neighbors

__all__ = ["Agglomeration", "average_linkage", "neighbor_pairs"]


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
    n, k = indices.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = indices.ravel().astype(np.int64)
    keep = rows != cols
    a = np.minimum(rows[keep], cols[keep])
    b = np.maximum(rows[keep], cols[keep])
    pairs = np.unique(np.stack([a, b], axis=1), axis=0) if a.size else np.empty((0, 2), np.int64)
    return pairs.astype(np.int64)


def _linkage(sums: np.ndarray, sizes: np.ndarray, a: np.ndarray, b: np.ndarray,
             chunk: int = 8192) -> np.ndarray:
    """Mean cross similarity ``S_a . S_b / (n_a n_b)`` of cluster pairs, chunked."""
    out = np.empty(a.size, dtype=np.float64)
    for s in range(0, a.size, chunk):
        i, j = a[s:s + chunk], b[s:s + chunk]
        out[s:s + chunk] = np.einsum("ij,ij->i", sums[i], sums[j]) / (sizes[i] * sizes[j])
    return out


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


def average_linkage(embeddings: np.ndarray, pairs: np.ndarray, threshold: float, *,
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
    n = embeddings.shape[0]
    sums = embeddings.astype(np.float64, copy=True)
    sizes = np.ones(n, dtype=np.float64)
    parent = np.arange(n, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    u = np.minimum(pairs[:, 0], pairs[:, 1])
    v = np.maximum(pairs[:, 0], pairs[:, 1])
    ok = u != v
    u, v = u[ok], v[ok]
    sim = _linkage(sums, sizes, u, v)
    keep = sim >= threshold
    u, v, sim = u[keep], v[keep], sim[keep]
    best = np.full(n, -1, dtype=np.int64)
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
        # Each cluster's best candidate: highest linkage, then smallest name.
        src = np.concatenate([u, v])
        dst = np.concatenate([v, u])
        s = np.concatenate([sim, sim])
        order = np.lexsort((dst, -s, src))
        src, dst, s = src[order], dst[order], s[order]
        first = np.ones(src.size, dtype=bool)
        first[1:] = src[1:] != src[:-1]
        a, b, s = src[first], dst[first], s[first]
        best[a] = b
        mutual = (a < b) & (best[b] == a)
        a, b, s = a[mutual], b[mutual], s[mutual]
        best[src] = -1
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
        rename = np.arange(n, dtype=np.int64)
        rename[b] = a
        touched = np.zeros(n, dtype=bool)
        touched[a] = True
        u, v = rename[u], rename[v]
        lo, hi = np.minimum(u, v), np.maximum(u, v)
        ok = lo != hi
        lo, hi, sim = lo[ok], hi[ok], sim[ok]
        _, first_edge = np.unique(lo * n + hi, return_index=True)
        lo, hi, sim = lo[first_edge], hi[first_edge], sim[first_edge]
        redo = touched[lo] | touched[hi]
        sim[redo] = _linkage(sums, sizes, lo[redo], hi[redo])
        keep = sim >= threshold
        u, v, sim = lo[keep], hi[keep], sim[keep]

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
