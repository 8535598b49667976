"""``recluster``: cluster faces afresh, by average linkage on a neighbour graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._agglomerate import average_linkage
from ._graph import NeighbourGraph, neighbour_graph
from ._inputs import (as_faceset, check_choice, check_n_neighbors, check_positive_int,
                      check_threshold, progress_bar)
from ._threshold import ThresholdEstimate, mean_pair_similarity, threshold_from_graph

__all__ = ["recluster", "ReclusterResult", "METHODS", "INDEPENDENT", "cluster_names"]

#: ``"graph"``: exact average linkage restricted to the k-nearest-neighbour
#: graph (this module); the others call scikit-learn for comparison.
METHODS = ("graph", "agglomerative-average", "agglomerative-complete", "hdbscan")
#: Default guard against joining two people: see ``recluster(cohesion_ratio=)``.
COHESION_RATIO = 0.6
#: IMM's reserved id for a face with no suitable group.
INDEPENDENT = "figure-cluster-id-independent"


@dataclass(frozen=True, eq=False)
class ReclusterResult:
    """A reclustering and how it was made.

    Attributes
    ----------
    state : ClusterState
        The new clustering of the same faces (same rows, same embeddings).
    threshold : float
        The cosine similarity used, given or derived from the data.
    method : str
        One of :data:`METHODS`.
    params : dict
        Every other setting: ``n_neighbors``, ``cohesion_ratio``,
        ``min_cluster_size``, ``id_prefix`` and ``threshold_source`` (``"given"`` or
        ``"estimated"``).
    estimate : ThresholdEstimate or None
        The floor and ceiling the threshold was read from, when it was derived.
    """

    state: Any
    threshold: float
    method: str
    params: dict = field(default_factory=dict)
    estimate: ThresholdEstimate | None = field(default=None, repr=False)

    @property
    def n_clusters(self) -> int:
        """Clusters in the new state."""
        return self.state.n_clusters

    def __repr__(self) -> str:
        return (f"ReclusterResult(method={self.method!r}, threshold={self.threshold:.4f} "
                f"({self.params.get('threshold_source')}), {self.state.n_clusters} clusters, "
                f"{self.state.n_unclustered} faces in no cluster)")


def cluster_names(labels: np.ndarray, *, prefix: str, min_size: int = 1) -> np.ndarray:
    """Cluster id per face from integer labels.

    Clusters are numbered from 1 in the order of their first face (row
    position); ids are ``f"{prefix}{number:04d}"`` (more digits when there
    are 10,000 clusters or more). A cluster smaller than ``min_size``, and a
    negative label, becomes :data:`INDEPENDENT`.
    """
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full(labels.shape[0], INDEPENDENT, dtype=object)
    valid = labels >= 0
    if not valid.any():
        return out
    uniq, first, inverse, counts = np.unique(labels[valid], return_index=True,
                                             return_inverse=True, return_counts=True)
    keep = counts >= min_size
    order = np.argsort(first[keep], kind="stable")
    number = np.zeros(uniq.size, dtype=np.int64)
    number[np.flatnonzero(keep)[order]] = np.arange(1, int(keep.sum()) + 1)
    width = max(4, len(str(int(keep.sum()))))
    names = np.array([INDEPENDENT] + [f"{prefix}{i:0{width}d}" for i in range(1, keep.sum() + 1)],
                     dtype=object)
    out[valid] = names[number[inverse]]
    return out


def labeller(x: np.ndarray, *, method: str, n_neighbors: int, cohesion_ratio: float | None,
             min_cluster_size: int, graph: NeighbourGraph | None = None,
             floor: float | None = None, memory_budget: int | None = None,
             progress: bool | None = None) -> Callable[[float], np.ndarray]:
    """``labels(threshold)`` for one method on fixed faces, the threshold-free work done once.

    ``"graph"`` builds the neighbour graph and the floor once; ``"hdbscan"``
    fits the hierarchy once and cuts it per threshold; ``"agglomerative-*"``
    fits per threshold. Labels are integers, -1 for HDBSCAN's noise.
    """
    n = x.shape[0]
    if n < 2:
        return lambda threshold: np.zeros(n, dtype=np.int64)
    if method == "graph":
        if graph is None:
            with progress_bar(progress, n, "neighbours") as bar:
                graph = neighbour_graph(x, n_neighbors, memory_budget=memory_budget,
                                        progress=bar)
        if floor is None:
            floor = mean_pair_similarity(x)
        ratio = None if cohesion_ratio is None else float(cohesion_ratio)

        def graph_labels(threshold: float) -> np.ndarray:
            with progress_bar(progress, n, "recluster", unit="merge") as bar:
                return average_linkage(x, graph.pairs, threshold,
                                       pair_similarities=graph.pair_similarities,
                                       cohesion_ratio=ratio, floor=floor,
                                       refresh_neighbors=n_neighbors, progress=bar).labels
        return graph_labels
    if method.startswith("agglomerative-"):
        from sklearn.cluster import AgglomerativeClustering

        def agglomerative_labels(threshold: float) -> np.ndarray:
            model = AgglomerativeClustering(n_clusters=None, metric="cosine",
                                            linkage=method.split("-", 1)[1],
                                            distance_threshold=max(1.0 - threshold, 0.0))
            return model.fit_predict(x).astype(np.int64)
        return agglomerative_labels
    from sklearn.cluster import HDBSCAN

    size = max(2, min_cluster_size)
    model = HDBSCAN(metric="cosine", min_cluster_size=size, copy=True).fit(x)

    def hdbscan_labels(threshold: float) -> np.ndarray:
        # The hierarchy cut at cosine distance 1 - threshold (DBSCAN*); scikit-learn's
        # own cluster_selection_epsilon fails under NumPy 2 (scikit-learn issue #33219).
        return model.dbscan_clustering(max(1.0 - threshold, 0.0),
                                       min_cluster_size=size).astype(np.int64)
    return hdbscan_labels


def recluster(faces: Any, *, threshold: float | None = None, method: str = "graph",
              n_neighbors: int = 15, cohesion_ratio: float | None = COHESION_RATIO,
              min_cluster_size: int = 1, id_prefix: str = "recluster-",
              memory_budget: int | None = None, progress: bool | None = None) -> ReclusterResult:
    """Cluster the faces afresh.

    The default method is exact average linkage in cosine similarity,
    restricted to the pairs of an exact k-nearest-neighbour graph: start from
    single faces; repeatedly merge the candidate pair of clusters with the
    highest mean cross similarity ``S_A . S_B / (n_A n_B)`` (computed exactly
    from the cluster sums) while it is at least ``threshold``. A merged
    cluster's candidates are the union of its parts'; when none is left, each
    cluster's ``n_neighbors`` nearest clusters by feature become candidates
    (so two large fragments of one person, whose faces all have their
    neighbours at home, still meet), until that brings nothing new. Unlike a threshold
    graph with connected components (single linkage), one bridge face cannot
    join two people: a join needs the *mean* similarity of all cross pairs.
    Two clusters of several faces must moreover be nearly as alike as each
    is inside (``cohesion_ratio``), which keeps look-alike siblings apart
    while lone low-quality faces still find their cluster.
    Memory is O(n k + n d); no faces x faces matrix is built. The loops run
    compiled (numba); the first call after an install compiles them (8 to
    18 s on the 2-core machines measured, then cached on disk), later
    processes load them in 0.5 to 1 s.

    Parameters
    ----------
    faces : FaceSet or ClusterState
        The faces (a state's own clustering is ignored).
    threshold : float, optional
        Cosine similarity, in [-1, 1]: clusters join while their mean cross
        similarity is at least this (for ``"agglomerative-*"``: scikit-learn's
        ``distance_threshold = 1 - threshold``; for ``"hdbscan"``:
        ``cluster_selection_epsilon = 1 - threshold``). Default: derived from
        the data by :func:`estimate_threshold`.
    method : {"graph", "agglomerative-average", "agglomerative-complete", "hdbscan"}, \
default="graph"
        ``"graph"`` is the method above; the others run scikit-learn's
        ``AgglomerativeClustering(metric="cosine")`` or ``HDBSCAN(metric="cosine")``
        on all pairs (O(n^2) memory: for comparison on small sets).
    n_neighbors : int, default=15
        Neighbours per face in the candidate graph (``"graph"``, and the
        default threshold). ``n_faces - 1`` or more makes every pair a
        candidate: plain average linkage.
    cohesion_ratio : float or None, default=0.6
        ``"graph"`` only. Two clusters of 2 or more faces join only if
        ``link - floor >= cohesion_ratio * sqrt((coh_A - floor) (coh_B - floor))``,
        where ``link`` is their mean cross similarity, ``coh`` a cluster's
        mean similarity between its own faces and ``floor`` the mean
        similarity of all face pairs (strangers' level): 1 would ask two
        clusters to be as alike as their own faces, 0 only to be above
        strangers. Measured from the data's floor, it holds on any scale. A
        refused pair is not a candidate again. None: plain average linkage
        (equal to scikit-learn's with every pair a candidate).
    min_cluster_size : int, default=1
        Clusters with fewer faces are dissolved: their faces get
        ``figure-cluster-id-independent`` (in no cluster). 3 mimics IMM's
        group-creation rule.
    id_prefix : str, default="recluster-"
        New cluster ids are ``id_prefix`` + a 4-digit number, numbered from 1
        in the order of each cluster's first face (row position): the same
        input gives the same ids.
    memory_budget : int, optional
        Bytes one block of the neighbour search may use (default 128 MiB).
    progress : bool, optional
        Progress bars (``tqdm.auto``); default only for 10,000 faces or more.

    Returns
    -------
    ReclusterResult
        ``.state`` (the new :class:`~toolkit.clustering.ClusterState`),
        ``.threshold`` (the value used), ``.method``, ``.params`` and, when
        the threshold was derived, ``.estimate``.

    See Also
    --------
    estimate_threshold : the default threshold.
    calibrate_threshold : a threshold from labelled faces.
    compare_labelings : what changed between two clusterings.

    Examples
    --------
    >>> from toolkit import FaceSet
    >>> from toolkit.sampledata import generate_faces
    >>> faces, X = generate_faces(600, 30, dim=64, seed=1)
    >>> result = recluster(FaceSet(faces, X), threshold=0.3)
    >>> result.state.cluster_ids[:2].tolist()
    ['recluster-0001', 'recluster-0002']
    """
    fs = as_faceset(faces, caller="recluster")
    method = check_choice("method", method, METHODS)
    threshold = check_threshold(threshold)
    n_neighbors = check_n_neighbors(n_neighbors)
    min_cluster_size = check_positive_int("min_cluster_size", min_cluster_size)
    if cohesion_ratio is not None and (isinstance(cohesion_ratio, bool) or not isinstance(
            cohesion_ratio, (int, float, np.floating)) or not 0.0 <= cohesion_ratio <= 1.0):
        raise ValueError(f"The value for `cohesion_ratio` must be a number between 0 and 1, or "
                         f"None to turn the guard off, but {cohesion_ratio!r} was passed.")
    if not isinstance(id_prefix, str):
        raise ValueError(f"The value for `id_prefix` must be a string, but {id_prefix!r} "
                         "was passed.")
    x = fs.embeddings
    n = x.shape[0]
    if n == 0:
        raise ValueError("recluster: the faces are empty; there is nothing to cluster.")

    graph = None
    estimate = None
    if threshold is None:
        if n < 3:
            raise ValueError(f"recluster: {n} faces are too few to derive a threshold from; "
                             "pass `threshold=`.")
        with progress_bar(progress, n, "neighbours") as bar:
            # The other methods need only each face's nearest neighbour (the ceiling).
            k = n_neighbors if method == "graph" else 1
            graph = neighbour_graph(x, k, memory_budget=memory_budget, progress=bar)
        estimate = threshold_from_graph(x, graph)
        threshold = estimate.threshold
        if method != "graph":
            graph = None
    labels = labeller(x, method=method, n_neighbors=n_neighbors, cohesion_ratio=cohesion_ratio,
                      min_cluster_size=min_cluster_size, graph=graph,
                      floor=estimate.floor if estimate is not None else None,
                      memory_budget=memory_budget, progress=progress)(threshold)
    ids = cluster_names(labels, prefix=id_prefix, min_size=min_cluster_size)
    from ..clustering import ClusterState

    if isinstance(faces, ClusterState):
        state = faces.with_cluster_ids(ids)
    else:
        state = ClusterState(fs, cluster_ids=ids)
    params = {"n_neighbors": n_neighbors, "min_cluster_size": min_cluster_size,
              "cohesion_ratio": cohesion_ratio if method == "graph" else None,
              "id_prefix": id_prefix,
              "threshold_source": "estimated" if estimate is not None else "given"}
    return ReclusterResult(state, float(threshold), method, params, estimate)
