"""Exact cosine-distance silhouette from cluster sums.

For unit rows the cosine distance is ``d(x, y) = 1 - x·y``, so the mean
distance of a face ``x`` to a cluster ``c`` it is not in is
``1 - x·S_c / n_c`` and to the other members of its own cluster
``1 - (x·S_c - x·x) / (n_c - 1)``. The whole silhouette therefore costs one
faces × clusters product (chunked, screened in float32 and finished exactly
in float64: see ``_screen``), never a faces × faces matrix.

The per-face context (own-cluster similarity sum, nearest and second-nearest
other cluster) is memoised per ClusterState: merge impact reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import _cache
from ._data import DEFAULT_CHUNK_BYTES, Labelled, check_chunk_bytes, is_state, labelled
from ._screen import nearest_clusters
from ._stats import ClusterSums, cluster_sums

__all__ = ["silhouette_samples", "silhouette_score", "silhouette_report", "SilhouetteReport",
           "SilhouetteContext", "silhouette_context", "context_of", "prepare", "state_sums",
           "silhouette_values", "check_n_clusters", "silhouette_defined"]


#: Mean cosine distances below this are rounding noise (identical faces give
#: about n·eps from the sums) and count as 0.
ZERO_DISTANCE = 1e-11


@dataclass(frozen=True, eq=False)
class SilhouetteContext:
    """Per-face figures behind the silhouette, all of shape (n_faces,).

    Faces in no cluster hold NaN (floats) or -1 (cluster codes).

    Attributes
    ----------
    data : Labelled
    stats : ClusterSums
    xx : float64
        ``x̂·x̂`` of the unit row (1 up to rounding; 0 for a zero embedding).
    own : float64
        ``x̂·S_own``: similarity sum to the face's own cluster, itself included.
    best_sim, best : float64, int64
        Highest mean similarity to another cluster, and that cluster's code
        (``-inf`` / -1 when there is no other cluster).
    second_sim, second : float64, int64 or None
        The runner-up, when the context was built for merge impact.
    samples : float64
        The silhouette of each face.
    """

    data: Labelled
    stats: ClusterSums
    xx: np.ndarray
    own: np.ndarray
    best_sim: np.ndarray
    best: np.ndarray
    second_sim: np.ndarray | None
    second: np.ndarray | None
    samples: np.ndarray

    @property
    def n_scored(self) -> int:
        return int(self.stats.counts.sum())

    def cluster_means(self) -> np.ndarray:
        """Mean silhouette of each cluster's members, shape (k,)."""
        scored = self.data.codes >= 0
        total = np.bincount(self.data.codes[scored], weights=self.samples[scored],
                            minlength=self.data.n_clusters)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / self.stats.counts


def silhouette_values(own: np.ndarray, xx: np.ndarray, n_own: np.ndarray, best_sim: np.ndarray
                      ) -> np.ndarray:
    """Silhouette of faces from their own-cluster sum and nearest-cluster similarity.

    ``a = 1 - (own - xx) / (n_own - 1)`` and ``b = 1 - best_sim`` are mean
    cosine distances, clipped to [0, 2] as scikit-learn clips each distance;
    ``s = (b - a) / max(a, b)``, and a singleton (0/0) scores 0. A mean
    distance below ``ZERO_DISTANCE`` is rounding noise of identical faces and
    counts as 0, so identical faces score as scikit-learn scores them.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        # A singleton's own-cluster sum is itself: a is 0/0, however the
        # product rounded, exactly as scikit-learn's zero self-distance gives.
        a = np.where(n_own > 1, np.clip(1.0 - (own - xx) / (n_own - 1), 0.0, 2.0), np.nan)
        b = np.clip(1.0 - best_sim, 0.0, 2.0)
        a[a < ZERO_DISTANCE] = 0.0
        b[b < ZERO_DISTANCE] = 0.0
        s = (b - a) / np.maximum(a, b)
    return np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)


def build_context(data: Labelled, stats: ClusterSums, *, chunk_bytes: int, runner_up: bool
                  ) -> SilhouetteContext:
    """The chunked faces × clusters pass: O(n·k·d) time, O(chunk) extra memory."""
    n = data.n_faces
    scored = data.scored
    top = 2 if runner_up else 1
    xx_s, own_s, idx, val = nearest_clusters(data, stats, scored, chunk_bytes=chunk_bytes,
                                             top=top)
    xx, own, best_sim = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    best = np.full(n, -1, dtype=np.int64)
    xx[scored], own[scored] = xx_s, own_s
    best[scored], best_sim[scored] = idx[:, 0], val[:, 0]
    second_sim = second = None
    if runner_up:
        second_sim, second = np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
        second[scored], second_sim[scored] = idx[:, 1], val[:, 1]
    samples = np.full(n, np.nan)
    samples[scored] = silhouette_values(own_s, xx_s, stats.counts[data.codes[scored]],
                                        val[:, 0])
    return SilhouetteContext(data, stats, xx, own, best_sim, best, second_sim, second, samples)


def state_sums(state: Any, data: Labelled, *, chunk_bytes: int) -> ClusterSums:
    """Cluster sums of a state's float64 unit rows, memoised per state."""
    return _cache.memo(state, "sums", lambda: cluster_sums(data, chunk_bytes=chunk_bytes))


def context_of(X: Any, data: Labelled, stats: ClusterSums, *, chunk_bytes: int,
               runner_up: bool = False) -> SilhouetteContext:
    """The context of prepared input: memoised with runner-ups for a state."""
    if is_state(X):
        return _cache.memo(X, "silhouette", lambda: build_context(
            data, stats, chunk_bytes=chunk_bytes, runner_up=True))
    return build_context(data, stats, chunk_bytes=chunk_bytes, runner_up=runner_up)


def prepare(X: Any, labels: Any, *, chunk_bytes: int, caller: str
            ) -> tuple[Labelled, ClusterSums]:
    """Checked input and its cluster sums (memoised for a state)."""
    data = labelled(X, labels, chunk_bytes=chunk_bytes, caller=caller)
    if is_state(X):
        return data, state_sums(X, data, chunk_bytes=chunk_bytes)
    return data, cluster_sums(data, chunk_bytes=chunk_bytes)


def silhouette_context(X: Any, labels: Any = None, *, chunk_bytes: int, caller: str,
                       runner_up: bool = False) -> SilhouetteContext:
    """The context of a ClusterState (memoised, with runner-ups) or of arrays."""
    chunk_bytes = check_chunk_bytes(chunk_bytes)
    data, stats = prepare(X, labels, chunk_bytes=chunk_bytes, caller=caller)
    return context_of(X, data, stats, chunk_bytes=chunk_bytes, runner_up=runner_up)


def silhouette_defined(n_clusters: int, n_scored: int) -> bool:
    """Whether the silhouette is defined: 2 <= clusters <= clustered faces - 1."""
    return 1 < n_clusters < n_scored


def check_n_clusters(n_clusters: int, n_scored: int, n_excluded: int) -> None:
    """Raise scikit-learn's error when the number of clusters is out of range."""
    if not silhouette_defined(n_clusters, n_scored):
        note = f" ({n_excluded} faces in no cluster are not counted)" if n_excluded else ""
        raise ValueError(f"Number of labels is {n_clusters} among {n_scored} clustered "
                         f"faces{note}. Valid values are 2 to n_clustered_faces - 1 "
                         "(inclusive).")


@dataclass(frozen=True, eq=False)
class SilhouetteReport:
    """The silhouette of a clustering with what was left out.

    Attributes
    ----------
    score : float
        Mean silhouette over the clustered faces, in [-1, 1]; higher is better.
    samples : ndarray of shape (n_faces,), float64
        Each face's silhouette; NaN for a face in no cluster.
    nearest : ndarray of shape (n_faces,), object
        The cluster each face is nearest to after its own (lowest mean
        cosine distance): the cluster its ``b`` comes from; None for a face
        in no cluster.
    cluster_ids : ndarray of shape (n_faces,), object
        Each face's cluster id; None for a face in no cluster.
    face_ids : ndarray of shape (n_faces,), object or None
        Face ids when computed from a ClusterState.
    n_scored : int
        Faces that belong to a cluster, over which ``score`` is the mean.
    n_excluded : int
        Faces in no cluster, left out.
    n_clusters : int
        Clusters.

    Examples
    --------
    Built by :func:`silhouette_report`:

    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8], [0.6, -0.8]])
    >>> report = silhouette_report(X, ["a", "a", "b", "b", None])
    >>> report.n_clusters, report.nearest.tolist()
    (2, ['b', 'b', 'a', 'a', None])
    >>> report.to_frame().columns.tolist()
    ['cluster_id', 'silhouette', 'nearest_cluster']
    """

    score: float
    samples: np.ndarray
    nearest: np.ndarray
    cluster_ids: np.ndarray
    face_ids: np.ndarray | None
    n_scored: int
    n_excluded: int
    n_clusters: int

    def to_dict(self) -> dict[str, Any]:
        """The scalar figures: score, n_scored, n_excluded, n_clusters."""
        return {"score": self.score, "n_scored": self.n_scored, "n_excluded": self.n_excluded,
                "n_clusters": self.n_clusters}

    def to_frame(self) -> pd.DataFrame:
        """One row per face: ``face_id`` (from a state), ``cluster_id``,
        ``silhouette``, ``nearest_cluster``; the frame
        :func:`toolkit.plots.plot_silhouette` draws."""
        cols: dict[str, Any] = {}
        if self.face_ids is not None:
            cols["face_id"] = self.face_ids
        cols["cluster_id"] = self.cluster_ids
        cols["silhouette"] = self.samples
        cols["nearest_cluster"] = self.nearest
        return pd.DataFrame(cols)


def _ids_of(cluster_ids: np.ndarray, codes: np.ndarray) -> np.ndarray:
    out = np.full(len(codes), None, dtype=object)
    hit = codes >= 0
    out[hit] = cluster_ids[codes[hit]]
    return out


def silhouette_report(X: Any, labels: Any = None, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
                      ) -> SilhouetteReport:
    """Silhouette of every face, its mean, and how many faces were left out.

    Same computation as :func:`silhouette_samples`; the report adds each
    face's nearest other cluster and the counts of faces scored and excluded.

    Parameters
    ----------
    X : ClusterState or array-like of shape (n_faces, dim)
        A state, or embeddings (normalised here).
    labels : array-like of shape (n_faces,), default=None
        Cluster ids, with an array ``X`` only. See :func:`silhouette_samples`
        for which ids mean "in no cluster".
    chunk_bytes : int, default=64 MiB
        Memory budget of one block of the faces × clusters product.

    Returns
    -------
    report : SilhouetteReport

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8], [0.6, -0.8]])
    >>> report = silhouette_report(X, ["a", "a", "b", "b", None])
    >>> report.n_scored, report.n_excluded, round(report.score, 4)
    (4, 1, 0.7802)
    """
    ctx = silhouette_context(X, labels, chunk_bytes=chunk_bytes, caller="silhouette_report")
    data = ctx.data
    n_excl = data.n_faces - ctx.n_scored
    check_n_clusters(data.n_clusters, ctx.n_scored, n_excl)
    scored = data.codes >= 0
    return SilhouetteReport(
        score=float(np.mean(ctx.samples[scored])),
        samples=ctx.samples.copy(),
        nearest=_ids_of(data.cluster_ids, ctx.best),
        cluster_ids=_ids_of(data.cluster_ids, data.codes),
        face_ids=data.face_ids,
        n_scored=ctx.n_scored, n_excluded=n_excl, n_clusters=data.n_clusters)


def silhouette_samples(X: Any, labels: Any = None, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
                       ) -> np.ndarray:
    """Exact cosine-distance silhouette of each face.

    For a face ``x`` in cluster ``A``, ``a(x)`` is its mean cosine distance
    to the other members of ``A`` and ``b(x)`` the lowest mean cosine
    distance to the members of another cluster; the silhouette is
    ``(b - a) / max(a, b)``, in [-1, 1]: near 1 the face sits well inside its
    cluster, near 0 it is on a border, below 0 another cluster suits it
    better. A face alone in its cluster scores 0, as in scikit-learn.

    Computed from per-cluster sums of the L2-normalised rows: one chunked
    faces × clusters product, O(n·k·d) time and ``chunk_bytes`` of working
    memory, never a faces × faces matrix.

    Parameters
    ----------
    X : ClusterState or array-like of shape (n_faces, dim)
        A state, or embeddings. Rows are L2-normalised in float64 first, as
        scikit-learn's cosine distance does; a zero row has similarity 0 to
        everything.
    labels : array-like of shape (n_faces,), default=None
        Cluster id of each row, with an array ``X`` only (a state brings its
        own). Any hashable ids. A face is in no cluster, and left out, when
        its label is missing (None, NaN), the empty string, one of IMM's
        reserved ids (:data:`toolkit.NO_CLUSTER_IDS`) or a negative number
        (-1 is ``ClusterState.labels``' and DBSCAN's "noise"; unlike
        scikit-learn, which scores -1 as a cluster).
    chunk_bytes : int, default=64 MiB
        Memory budget of one block of the faces × clusters product.

    Returns
    -------
    samples : ndarray of shape (n_faces,), float64
        The silhouette of each face; NaN for a face in no cluster.

    Raises
    ------
    ValueError
        When there are fewer than 2 clusters, or as many clusters as
        clustered faces (scikit-learn's rule, counted over clustered faces).

    Notes
    -----
    On the clustered faces the values equal
    ``sklearn.metrics.silhouette_samples(X, labels, metric="cosine")`` to
    1e-9 for float64 input. Float32 input is promoted to float64 a block at a
    time, so the values equal scikit-learn's on ``X.astype(np.float64)`` to
    1e-9; scikit-learn run on the float32 array itself rounds its distances
    to float32 and differs by a few float32 epsilons (tested within
    ``100 * np.finfo(np.float32).eps``, about 1.2e-5). A mean distance below
    1e-11 is rounding noise (identical faces) and counts as 0, so duplicates
    score as in scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> silhouette_samples(X, ["a", "a", "b", "b"]).round(4)
    array([0.8462, 0.7143, 0.7143, 0.8462])
    """
    ctx = silhouette_context(X, labels, chunk_bytes=chunk_bytes, caller="silhouette_samples")
    check_n_clusters(ctx.data.n_clusters, ctx.n_scored, ctx.data.n_faces - ctx.n_scored)
    return ctx.samples.copy()


def silhouette_score(X: Any, labels: Any = None, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
                     ) -> float:
    """Mean exact cosine-distance silhouette over the clustered faces.

    See :func:`silhouette_samples` for the definition, the accepted inputs
    and the precision. Faces in no cluster are left out;
    :func:`silhouette_report` says how many.

    Parameters
    ----------
    X : ClusterState or array-like of shape (n_faces, dim)
        A state, or embeddings.
    labels : array-like of shape (n_faces,), default=None
        Cluster ids, with an array ``X`` only.
    chunk_bytes : int, default=64 MiB
        Memory budget of one block of the faces × clusters product.

    Returns
    -------
    score : float
        In [-1, 1]; higher means tighter, better separated clusters.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> round(silhouette_score(X, ["a", "a", "b", "b"]), 4)
    0.7802
    """
    ctx = silhouette_context(X, labels, chunk_bytes=chunk_bytes, caller="silhouette_score")
    check_n_clusters(ctx.data.n_clusters, ctx.n_scored, ctx.data.n_faces - ctx.n_scored)
    return float(np.mean(ctx.samples[ctx.data.codes >= 0]))
