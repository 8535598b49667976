"""Per-cluster quality, Davies–Bouldin and Calinski–Harabasz on unit rows.

Davies–Bouldin and Calinski–Harabasz are computed as scikit-learn computes
them (Euclidean distances, centroids = member means) on the L2-normalised
rows. Centroids and between-cluster figures come from the cluster sums (a
chunked k×k Gram product); the one figure that is not a sufficient
statistic, each member's distance to its centroid, takes one chunked O(n·d)
pass over the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import _cache
from ._data import DEFAULT_CHUNK_BYTES, Labelled, check_chunk_bytes, chunk_rows, is_state, \
    iter_unit_rows
from ._silhouette import check_n_clusters, context_of, prepare
from ._stats import ClusterSums, cluster_pairs

__all__ = ["cluster_quality", "davies_bouldin", "calinski_harabasz"]


@dataclass(frozen=True, eq=False)
class _Spread:
    """Euclidean distances of members to their centroid, per cluster."""

    mean_dist: np.ndarray  # (k,) mean ‖x̂ - μ_c‖: the Davies–Bouldin "s_c"
    sum_sq: np.ndarray     # (k,) Σ ‖x̂ - μ_c‖²: Calinski–Harabasz's within dispersion


@dataclass(frozen=True, eq=False)
class _Between:
    """Per cluster: nearest other cluster by mean similarity, and its DB term."""

    nearest: np.ndarray      # (k,) int64 code, -1 when there is no other cluster
    nearest_sim: np.ndarray  # (k,) mean cross-similarity μ_a·μ_b = S_a·S_b / (n_a n_b)
    db_terms: np.ndarray     # (k,) max over b of (s_a + s_b) / ‖μ_a - μ_b‖
    any_apart: bool          # some pair of centroids is not ~0 apart (sklearn's shortcut)


def _spread(data: Labelled, stats: ClusterSums, *, chunk_bytes: int) -> _Spread:
    k, d = data.n_clusters, data.dim
    centroids = stats.sums / np.maximum(stats.counts, 1)[:, None]
    dist_sum = np.zeros(k)
    sq_sum = np.zeros(k)
    # Unit rows, their gathered centroids, and the difference: three rows per face.
    step = chunk_rows(chunk_bytes, 24 * d + 64, len(stats.order))
    for pos, block, _sq in iter_unit_rows(data.X, stats.order, step):
        codes = data.codes[pos]
        block -= centroids[codes]
        # The difference itself, not ‖x‖² - 2x·μ + ‖μ‖², so a singleton is exactly 0.
        sq = np.einsum("ij,ij->i", block, block)
        dist_sum += np.bincount(codes, weights=np.sqrt(sq), minlength=k)
        sq_sum += np.bincount(codes, weights=sq, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _Spread(dist_sum / stats.counts, sq_sum)


def _between(stats: ClusterSums, spread: _Spread, *, chunk_bytes: int) -> _Between:
    k = len(stats.counts)
    mu = stats.sums / np.maximum(stats.counts, 1)[:, None]
    mu_sq = np.einsum("ij,ij->i", mu, mu)
    s = spread.mean_dist
    nearest = np.full(k, -1, dtype=np.int64)
    nearest_sim = np.full(k, np.nan)
    terms = np.full(k, np.nan)
    any_apart = False
    # G plus the distance, ratio and mask temporaries: six (k,) rows per cluster.
    for rows, G in cluster_pairs(mu, chunk_bytes=chunk_bytes, extra_per_row=5):
        idx = np.arange(rows.start, rows.stop)
        local = np.arange(len(idx))
        # Centroid distances as scikit-learn's euclidean_distances forms them.
        dist = np.sqrt(np.maximum(mu_sq[idx, None] - 2.0 * G + mu_sq[None, :], 0.0))
        dist[local, idx] = 0.0
        any_apart = any_apart or not np.isclose(dist, 0.0).all()
        dist[dist == 0.0] = np.inf
        with np.errstate(invalid="ignore"):
            terms[idx] = ((s[idx, None] + s[None, :]) / dist).max(axis=1)
        G[local, idx] = -np.inf
        near = G.argmax(axis=1)
        val = G[local, near]
        has_other = val > -np.inf
        nearest[idx[has_other]] = near[has_other]
        nearest_sim[idx[has_other]] = val[has_other]
    terms[nearest < 0] = np.nan   # no other cluster to compare with
    return _Between(nearest, nearest_sim, terms, any_apart)


def _prepare(X: Any, labels: Any, *, chunk_bytes: int, caller: str
             ) -> tuple[Labelled, ClusterSums, _Spread]:
    data, stats = prepare(X, labels, chunk_bytes=chunk_bytes, caller=caller)
    if is_state(X):
        spread = _cache.memo(X, "spread", lambda: _spread(data, stats, chunk_bytes=chunk_bytes))
    else:
        spread = _spread(data, stats, chunk_bytes=chunk_bytes)
    return data, stats, spread


def _check_labels(data: Labelled, stats: ClusterSums) -> None:
    n_scored = int(stats.counts.sum())
    check_n_clusters(data.n_clusters, n_scored, data.n_faces - n_scored)


def davies_bouldin(X: Any, labels: Any = None, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
                   ) -> float:
    """Davies–Bouldin index of the clustering, on the L2-normalised rows.

    For each cluster ``a``, ``s_a`` is the mean Euclidean distance of its
    members to its centroid (their mean); the index is the mean over clusters
    of ``max over b != a of (s_a + s_b) / ‖μ_a - μ_b‖``. It is >= 0; lower
    means tighter, better separated clusters.

    Parameters
    ----------
    X : ClusterState or array-like of shape (n_faces, dim)
        A state, or embeddings (L2-normalised here in float64).
    labels : array-like of shape (n_faces,), default=None
        Cluster ids, with an array ``X`` only; faces in no cluster (see
        :func:`silhouette_samples`) are left out.
    chunk_bytes : int, default=64 MiB
        Memory budget of one block of work.

    Returns
    -------
    score : float
        Equal to ``sklearn.metrics.davies_bouldin_score(normalize(X), labels)``
        on the clustered faces. Centroids of identical position are skipped
        and a clustering with no spread scores 0.0, as in scikit-learn.

    Notes
    -----
    Members' distances are taken as the norm of the difference, so a
    singleton's spread is exactly 0; scikit-learn's expanded form
    ``‖x‖² - 2x·μ + ‖μ‖²`` leaves up to ~1e-8 there, the only place the two
    differ by more than rounding. Costs O(n·d) plus O(k²·d) for the chunked
    centroid Gram matrix.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> round(davies_bouldin(X, ["a", "a", "b", "b"]), 4)
    0.4714
    """
    chunk_bytes = check_chunk_bytes(chunk_bytes)
    data, stats, spread = _prepare(X, labels, chunk_bytes=chunk_bytes, caller="davies_bouldin")
    _check_labels(data, stats)
    between = _between(stats, spread, chunk_bytes=chunk_bytes)
    if np.isclose(spread.mean_dist, 0.0).all() or not between.any_apart:
        return 0.0
    return float(np.mean(between.db_terms))


def calinski_harabasz(X: Any, labels: Any = None, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
                      ) -> float:
    """Calinski–Harabasz index (variance ratio) on the L2-normalised rows.

    ``(B / (k - 1)) / (W / (n - k))`` with ``B = Σ n_c ‖μ_c - μ‖²`` the
    between-cluster and ``W = Σ ‖x̂ - μ_c‖²`` the within-cluster dispersion
    (Euclidean, centroids = member means). Higher is better; unbounded.

    Parameters
    ----------
    X : ClusterState or array-like of shape (n_faces, dim)
        A state, or embeddings (L2-normalised here in float64).
    labels : array-like of shape (n_faces,), default=None
        Cluster ids, with an array ``X`` only; faces in no cluster are left out.
    chunk_bytes : int, default=64 MiB
        Memory budget of one block of work.

    Returns
    -------
    score : float
        Equal to ``sklearn.metrics.calinski_harabasz_score(normalize(X), labels)``
        on the clustered faces; 1.0 when ``W`` is 0, as in scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> round(calinski_harabasz(X, ["a", "a", "b", "b"]), 4)
    9.0
    """
    chunk_bytes = check_chunk_bytes(chunk_bytes)
    data, stats, spread = _prepare(X, labels, chunk_bytes=chunk_bytes,
                                   caller="calinski_harabasz")
    _check_labels(data, stats)
    n = int(stats.counts.sum())
    k = data.n_clusters
    mean = stats.sums.sum(axis=0) / n
    mu = stats.sums / stats.counts[:, None]
    between = float(np.sum(stats.counts * np.einsum("ij,ij->i", mu - mean, mu - mean)))
    within = float(spread.sum_sq.sum())
    return 1.0 if within == 0.0 else between * (n - k) / (within * (k - 1.0))


def cluster_quality(X: Any, labels: Any = None, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
                    ) -> pd.DataFrame:
    """One row of quality figures per cluster.

    Parameters
    ----------
    X : ClusterState or array-like of shape (n_faces, dim)
        A state, or embeddings (L2-normalised here in float64).
    labels : array-like of shape (n_faces,), default=None
        Cluster ids, with an array ``X`` only; faces in no cluster are left out.
    chunk_bytes : int, default=64 MiB
        Memory budget of one block of work.

    Returns
    -------
    quality : DataFrame
        Sorted by ``cluster_id``; columns:

        - ``cluster_id``
        - ``size``: faces in the cluster (int64).
        - ``cohesion``: mean cosine similarity over the pairs of distinct
          members, ``(‖S‖² - Σ‖x̂‖²) / (n (n - 1))``, in [-1, 1], higher is
          tighter; NaN for a singleton (it has no pair).
        - ``nearest_cluster``: the other cluster with the highest mean
          cross-similarity (average linkage); None when there is no other.
        - ``nearest_similarity``: that mean cross-similarity over all
          member pairs, ``S_a·S_b / (n_a n_b)``, in [-1, 1].
        - ``silhouette``: mean silhouette of the members (see
          :func:`silhouette_samples`), in [-1, 1]; NaN with a single cluster.
        - ``davies_bouldin``: the cluster's Davies–Bouldin term
          ``max over b of (s_a + s_b) / ‖μ_a - μ_b‖`` (lower is better); their
          mean is :func:`davies_bouldin` except in scikit-learn's degenerate
          cases (no spread at all, all centroids together), where the index
          is 0. NaN with a single cluster.

    Notes
    -----
    The nearest cluster comes from the k×k Gram matrix of the cluster sums,
    computed a block of rows at a time: O(k²·d) time, fine up to some 20,000
    clusters. The silhouette costs the chunked O(n·k·d) faces × clusters
    product; on a ClusterState it is computed once and reused.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> cluster_quality(X, ["a", "a", "b", "b"])[["cluster_id", "size", "cohesion",
    ...                                           "nearest_cluster"]]
      cluster_id  size  cohesion nearest_cluster
    0          a     2       0.8               b
    1          b     2       0.8               a
    """
    chunk_bytes = check_chunk_bytes(chunk_bytes)
    data, stats, spread = _prepare(X, labels, chunk_bytes=chunk_bytes, caller="cluster_quality")
    between = _between(stats, spread, chunk_bytes=chunk_bytes)
    k = data.n_clusters
    counts = stats.counts
    with np.errstate(invalid="ignore", divide="ignore"):
        cohesion = (np.einsum("ij,ij->i", stats.sums, stats.sums) - stats.sq) \
            / (counts * (counts - 1.0))
    cohesion[counts < 2] = np.nan
    if k >= 2:
        sil = context_of(X, data, stats, chunk_bytes=chunk_bytes).cluster_means()
    else:
        sil = np.full(k, np.nan)
    nearest = np.full(k, None, dtype=object)
    has = between.nearest >= 0
    nearest[has] = data.cluster_ids[between.nearest[has]]
    return pd.DataFrame({
        "cluster_id": data.cluster_ids,
        "size": counts.astype(np.int64),
        "cohesion": cohesion,
        "nearest_cluster": nearest,
        "nearest_similarity": between.nearest_sim,
        "silhouette": sil,
        "davies_bouldin": between.db_terms,
    })
