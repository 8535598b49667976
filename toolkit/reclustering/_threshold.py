"""The similarity threshold: derived from the data, or calibrated on labelled faces.

Embedding models differ in scale (ArcFace-like: strangers near 0; dlib-like:
strangers above 0.8), so no threshold is a constant. The default rule below
uses only quantities of the data at hand and is equivariant under any affine
change of the similarity scale ``s -> a*s + b`` (``a > 0``): feed it the same
faces on a compressed scale and it returns the same threshold on that scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._graph import NeighbourGraph, neighbour_graph
from ._inputs import as_faceset, check_choice, check_n_neighbors, progress_bar

__all__ = ["ThresholdEstimate", "estimate_threshold", "Calibration", "calibrate_threshold",
           "FRACTION", "mean_pair_similarity"]

#: Where between the floor (0) and the ceiling (1) the default threshold sits.
FRACTION = 0.25


@dataclass(frozen=True)
class ThresholdEstimate:
    """The data-derived threshold and the two levels it was read from.

    Attributes
    ----------
    threshold : float
        The cosine similarity chosen, ``floor + fraction * (ceiling - floor)``:
        clusters whose mean cross similarity is at least this are joined.
    floor : float
        Mean cosine similarity over all pairs of distinct faces (exact, from
        the sum of all embeddings): the level of strangers, since almost all
        pairs are strangers. Below it everything would join.
    ceiling : float
        Median, over faces, of the similarity to the nearest other face: the
        level of a face and its closest look.
    fraction : float
        :data:`FRACTION` (0.25).
    rule : str
        ``"quarter-way"``, or ``"degenerate"`` when ``ceiling <= floor``
        (all faces alike), where the ceiling is returned.
    """

    threshold: float
    floor: float
    ceiling: float
    fraction: float = FRACTION
    rule: str = "quarter-way"


def mean_pair_similarity(embeddings: np.ndarray) -> float:
    """Mean cosine similarity over pairs of distinct rows, exact, in O(n d).

    Sum over ``i != j`` of ``x_i . x_j`` is ``||sum x||^2 - sum ||x||^2``.
    """
    n = embeddings.shape[0]
    if n < 2:
        raise ValueError(f"the mean pair similarity needs at least 2 faces, but {n} were passed.")
    total = np.zeros(embeddings.shape[1], dtype=np.float64)
    sq = 0.0
    step = max(1, (8 * 2**20) // (8 * max(1, embeddings.shape[1])))
    for start in range(0, n, step):
        block = embeddings[start:start + step].astype(np.float64)
        total += block.sum(axis=0)
        sq += float(np.einsum("ij,ij->", block, block))
    return float((total @ total - sq) / (n * (n - 1)))


def threshold_from_graph(embeddings: np.ndarray, graph: NeighbourGraph) -> ThresholdEstimate:
    """:func:`estimate_threshold` on a neighbour graph that is already built."""
    floor = mean_pair_similarity(embeddings)
    ceiling = float(np.median(graph.similarities[:, 0]))
    if not ceiling > floor + 1e-9:
        return ThresholdEstimate(ceiling, floor, ceiling, rule="degenerate")
    return ThresholdEstimate(floor + FRACTION * (ceiling - floor), floor, ceiling)


def estimate_threshold(faces: Any, *, memory_budget: int | None = None,
                       progress: bool | None = None) -> ThresholdEstimate:
    """Derive a cosine-similarity threshold for average linkage from the data.

    Rule ("quarter-way"): the threshold is a quarter of the way from the
    ``floor`` -- the mean similarity of all pairs of faces, i.e. of strangers
    -- to the ``ceiling`` -- the median similarity of a face to its nearest
    other face. Both levels are computed from the data at hand and move with
    the similarity scale (the rule is equivariant under ``s -> a*s + b``,
    ``a > 0``), so it holds on ArcFace-like scales (strangers near 0) and
    dlib-like ones (strangers above 0.8) alike.

    The threshold mainly decides when a lone face joins a cluster; joins of
    two clusters are also held to :func:`recluster`'s ``cohesion_ratio``.
    The fraction was chosen on generated faces of both scales and two
    embedding models, with and without one-photo strangers: the pairwise F
    it gives was within 0.01 of the best threshold's on each.

    Parameters
    ----------
    faces : FaceSet, ClusterState or array-like of shape (n_faces, dim)
        The faces (unit embeddings; arrays are L2-normalised), at least 3.
    memory_budget : int, optional
        Bytes one block of the neighbour search may use (default 128 MiB).
    progress : bool, optional
        Show a progress bar; default only for 10,000 faces or more.

    Returns
    -------
    ThresholdEstimate
        ``.threshold`` with the ``.floor`` and ``.ceiling`` it came from.

    Examples
    --------
    >>> from toolkit.sampledata import generate_faces
    >>> faces, X = generate_faces(600, 30, dim=64, seed=1)
    >>> est = estimate_threshold(X)
    >>> bool(est.floor < est.threshold < est.ceiling)
    True
    """
    fs = as_faceset(faces, caller="estimate_threshold")
    x = fs.embeddings
    if x.shape[0] < 3:
        raise ValueError(f"estimate_threshold needs at least 3 faces, but {x.shape[0]} were "
                         "passed; pass `threshold=` explicitly for so few faces.")
    with progress_bar(progress, x.shape[0], "neighbours") as bar:
        graph = neighbour_graph(x, 1, memory_budget=memory_budget, progress=bar)
    return threshold_from_graph(x, graph)


@dataclass(frozen=True, eq=False)
class Calibration:
    """A threshold picked on labelled faces.

    Attributes
    ----------
    threshold : float
        The grid threshold with the highest pairwise F (the lowest one on ties).
    scores : DataFrame
        One row per grid threshold: ``threshold``, ``pairwise_precision``,
        ``pairwise_recall``, ``pairwise_f``, ``bcubed_f``, ``n_clusters``.
    n_faces : int
        Labelled faces used (faces with a missing identity are left out).
    method : str
        The clustering method calibrated.
    truth_column : str
        Column holding the identities.
    """

    threshold: float
    scores: pd.DataFrame
    n_faces: int
    method: str
    truth_column: str

    @property
    def best(self) -> pd.Series:
        """The row of ``scores`` at the chosen threshold."""
        return self.scores.loc[self.scores["threshold"] == self.threshold].iloc[0]


def calibrate_threshold(faces: Any, truth_column: str = "identity", *, thresholds: Any = None,
                        method: str = "graph", n_neighbors: int = 15,
                        progress: bool | None = None) -> Calibration:
    """Pick the threshold that maximises pairwise F on faces with known identities.

    Parameters
    ----------
    faces : FaceSet or ClusterState
        Faces whose ``truth_column`` holds the true identity; faces where it
        is missing are left out.
    truth_column : str, default="identity"
        Column of ``faces`` with the identities.
    thresholds : array-like of float, optional
        Grid to search. Default: 41 points from the floor to the ceiling of
        :func:`estimate_threshold` on the labelled faces (data-derived, so
        right on any similarity scale).
    method : str, default="graph"
        Any method of :func:`recluster`.
    n_neighbors : int, default=15
        Neighbours per face for ``method="graph"`` and for the default grid.
    progress : bool, optional
        Show a progress bar over the grid; default only for 10,000 faces or more.

    Returns
    -------
    Calibration
        ``.threshold`` and ``.scores`` (every grid point, reported).

    Examples
    --------
    >>> from toolkit import FaceSet
    >>> from toolkit.sampledata import generate_faces
    >>> faces, X = generate_faces(600, 30, dim=64, seed=1)
    >>> cal = calibrate_threshold(FaceSet(faces, X))
    >>> bool(cal.best["pairwise_f"] > 0.8)
    True
    """
    from ..quality import compare_to_truth
    from ._recluster import COHESION_RATIO, METHODS, labeller

    fs = as_faceset(faces, caller="calibrate_threshold", need_frame=True)
    method = check_choice("method", method, METHODS)
    n_neighbors = check_n_neighbors(n_neighbors)
    if truth_column not in fs.faces.columns:
        raise ValueError(f"calibrate_threshold: the faces have no {truth_column!r} column; "
                         f"columns are {list(fs.faces.columns)}. Pass `truth_column=`.")
    known = fs.faces[truth_column].notna().to_numpy()
    if known.sum() < 3:
        raise ValueError(f"calibrate_threshold needs at least 3 faces with a known "
                         f"{truth_column!r}, but {int(known.sum())} have one.")
    labelled = fs.subset(known) if not known.all() else fs
    truth = labelled.faces[truth_column].to_numpy(dtype=object)
    x = labelled.embeddings
    graph = floor = None
    if method == "graph":
        # One neighbour search serves the default grid (its first column is each
        # face's nearest) and the merging.
        with progress_bar(progress, x.shape[0], "neighbours") as bar:
            graph = neighbour_graph(x, n_neighbors, progress=bar)
    if thresholds is None:
        est = (threshold_from_graph(x, graph) if graph is not None
               else estimate_threshold(labelled, progress=progress))
        floor = est.floor
        grid = np.linspace(est.floor, est.ceiling, 41)
    else:
        grid = np.asarray(thresholds, dtype=np.float64).ravel()
        if grid.size == 0 or not np.isfinite(grid).all():
            raise ValueError("`thresholds` must be a non-empty sequence of finite numbers, "
                             f"but {thresholds!r} was passed.")
        grid = np.unique(grid)
    rows = []
    labels_at = labeller(x, method=method, n_neighbors=n_neighbors,
                         cohesion_ratio=COHESION_RATIO, min_cluster_size=1, graph=graph,
                         floor=floor, progress=False)
    with progress_bar(progress, grid.size, "calibrate", unit="threshold",
                      n_faces=labelled.embeddings.shape[0]) as bar:
        for t in grid.tolist():
            labels = labels_at(t)
            cmp = compare_to_truth(labels, truth)
            rows.append({"threshold": t, "pairwise_precision": cmp.pairwise_precision,
                         "pairwise_recall": cmp.pairwise_recall, "pairwise_f": cmp.pairwise_f,
                         "bcubed_f": cmp.bcubed_f,
                         "n_clusters": int(np.unique(labels[labels >= 0]).size)})
            if bar is not None:
                bar.update(1)
    scores = pd.DataFrame(rows)
    best = int(np.argmax(scores["pairwise_f"].to_numpy()))
    return Calibration(float(scores["threshold"].iloc[best]), scores, int(known.sum()), method,
                       truth_column)
