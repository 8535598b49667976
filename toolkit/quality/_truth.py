"""Comparing a clustering with ground-truth identities, from a sparse contingency table.

Every figure is a function of the table's non-zero cells (cluster, identity,
count), so the cost is O(n) in the faces, never O(n²) in their pairs. A face
in no cluster is its own singleton cluster; a face without a ground-truth
identity is left out and counted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import _cache
from ._data import encode_labels, is_state

__all__ = ["compare_to_truth", "TruthComparison", "Contingency", "contingency",
           "state_contingency", "AVERAGE_METHODS", "pairwise_prf", "bcubed_prf"]

#: Ways to average the two entropies in NMI's denominator (as scikit-learn).
AVERAGE_METHODS = ("arithmetic", "geometric", "min", "max")


@dataclass(frozen=True, eq=False)
class Contingency:
    """Non-zero cells of the cluster × identity table, sorted by row then column.

    Rows ``0 .. n_cluster_rows - 1`` are the clusters (their codes); the rows
    after them are the singletons made of faces in no cluster.
    """

    rows: np.ndarray        # (cells,) int64
    cols: np.ndarray        # (cells,) int64
    counts: np.ndarray      # (cells,) int64
    row_sizes: np.ndarray   # (n_rows,) int64: faces with an identity per row
    col_sizes: np.ndarray   # (n_identities,) int64
    row_starts: np.ndarray  # (n_rows + 1,) int64: cells of row r are [starts[r], starts[r+1])
    n_cluster_rows: int
    n_faces: int
    n_excluded: int
    n_no_cluster: int

    def cells_of(self, rows: np.ndarray) -> np.ndarray:
        """Positions of the cells of the given rows."""
        if len(rows) == 0:
            return np.empty(0, dtype=np.int64)
        return np.concatenate([np.arange(self.row_starts[r], self.row_starts[r + 1])
                               for r in rows])


def _pairs(x: np.ndarray) -> int:
    """Σ x(x-1)/2 as an exact integer."""
    x = x.astype(np.int64)
    return int(np.sum(x * (x - 1) // 2))


def pairwise_prf(same_both: int, same_pred: int, same_true: int) -> tuple[float, float, float]:
    """Pairwise precision, recall, F from pair counts; 0/0 counts as 1 (nothing claimed,
    nothing wrong; nothing to find, nothing missed)."""
    p = same_both / same_pred if same_pred else 1.0
    r = same_both / same_true if same_true else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def bcubed_prf(p_sum: float, r_sum: float, n: int) -> tuple[float, float, float]:
    """BCubed precision, recall, F from ``Σ c²/|cluster|``, ``Σ c²/|identity|``."""
    p, r = p_sum / n, r_sum / n
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _truth_missing(values: np.ndarray) -> np.ndarray:
    s = pd.Series(values, dtype="object")
    return s.isna().to_numpy(dtype=bool)


def contingency(codes: np.ndarray, n_clusters: int, truth: Any, *, source: str = "object",
                field: str = "truth") -> Contingency:
    """Build the table from cluster codes (-1 = no cluster) and identities."""
    n = len(codes)
    tv = truth.to_numpy() if isinstance(truth, (pd.Series, pd.Index)) else np.asarray(truth)
    if tv.dtype.kind not in "iufb":
        tv = tv.astype(object)
    if tv.ndim != 1 or len(tv) != n:
        raise _length_error(source, field, n, tv)
    missing = _truth_missing(tv)
    keep = ~missing
    if not keep.any():
        raise ValueError(f"{source}: no face has a ground-truth identity in `{field}`; "
                         "nothing to compare.")
    tcodes, tids = pd.factorize(tv[keep], sort=False)
    pred = codes[keep].astype(np.int64)
    lone = pred < 0
    # Each face in no cluster becomes its own cluster, after the real ones.
    pred[lone] = n_clusters + np.arange(int(lone.sum()))
    n_rows = n_clusters + int(lone.sum())
    n_cols = len(tids)
    key = pred * n_cols + tcodes.astype(np.int64)
    cells, counts = np.unique(key, return_counts=True)
    rows, cols = np.divmod(cells, n_cols)
    row_sizes = np.bincount(rows, weights=counts, minlength=n_rows).astype(np.int64)
    col_sizes = np.bincount(cols, weights=counts, minlength=n_cols).astype(np.int64)
    starts = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=starts[1:])
    return Contingency(rows, cols, counts.astype(np.int64), row_sizes, col_sizes, starts,
                       n_clusters, int(keep.sum()), int(missing.sum()), int(lone.sum()))


def _length_error(source: str, field: str, n: int, values: np.ndarray):
    from ..errors import RecordError

    return RecordError(source, f"`{field}` and the labels differ in length", field=field,
                       expected=f"{n} identities, one per face", got=f"shape {values.shape}")


def state_contingency(state: Any) -> Contingency | None:
    """The table of a state against ``faceset.faces["identity"]`` (memoised); None
    when the faces frame has no identity column."""
    faces = state.faceset.faces
    if "identity" not in faces.columns:
        return None
    return _cache.memo(state, "truth", lambda: contingency(
        np.asarray(state.labels, dtype=np.int64), len(state.cluster_ids), faces["identity"],
        source="faceset.faces", field="identity"))


@dataclass(frozen=True)
class TruthComparison:
    """How a clustering agrees with the ground truth.

    All scores are in [0, 1] (ARI in [-0.5, 1]); 1 is perfect agreement.

    Attributes
    ----------
    pairwise_precision, pairwise_recall, pairwise_f : float
        Over pairs of faces: precision is the share of same-cluster pairs
        that are the same identity, recall the share of same-identity pairs
        put in one cluster, F their harmonic mean. With no pair to judge
        (no same-cluster pair, or no same-identity pair) the figure is 1.0.
    bcubed_precision, bcubed_recall, bcubed_f : float
        Per face, averaged over faces: precision is the share of the face's
        cluster that has its identity, recall the share of its identity that
        is in its cluster. Each face counts itself (it is in its own cluster
        and identity), so a singleton has precision 1.
    nmi : float
        Normalised mutual information, the mean named by ``nmi_average``.
    nmi_average : str
        How the two entropies were averaged: ``"arithmetic"`` (default),
        ``"geometric"``, ``"min"`` or ``"max"``.
    ari : float
        Adjusted Rand index (0 for chance, 1 perfect).
    homogeneity, completeness, v_measure : float
        Each cluster holds one identity; each identity is in one cluster;
        their harmonic mean.
    n_faces : int
        Faces compared (those with an identity).
    n_excluded : int
        Faces left out because their identity is missing.
    n_no_cluster : int
        Compared faces in no cluster, each scored as a singleton cluster.
    n_clusters : int
        Clusters among the compared faces, singletons included.
    n_identities : int
        Distinct identities among the compared faces.

    Examples
    --------
    Built by :func:`compare_to_truth` (clusters first, identities second):

    >>> r = compare_to_truth(["a", "a", "b", "b"], ["x", "x", "x", "y"])
    >>> r.n_clusters, r.n_identities
    (2, 2)
    >>> round(r.bcubed_precision, 4), round(r.bcubed_recall, 4), round(r.bcubed_f, 4)
    (0.75, 0.6667, 0.7059)
    """

    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    nmi: float
    nmi_average: str
    ari: float
    homogeneity: float
    completeness: float
    v_measure: float
    n_faces: int
    n_excluded: int
    n_no_cluster: int
    n_clusters: int
    n_identities: int

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict."""
        return asdict(self)


def _entropy(sizes: np.ndarray) -> float:
    # scikit-learn's _entropy: log(a / b) as log(a) - log(b) for precision.
    sizes = sizes[sizes > 0].astype(np.float64)
    if sizes.size <= 1:
        return 0.0
    total = sizes.sum()
    return float(-np.sum((sizes / total) * (np.log(sizes) - math.log(total))))


def _mutual_info(table: Contingency, used_rows: np.ndarray, used_cols: np.ndarray) -> float:
    # scikit-learn's mutual_info_score on the sparse table, term for term.
    if used_rows.size == 1 or used_cols.size == 1:
        return 0.0
    c = table.counts.astype(np.float64)
    total = c.sum()
    pi = table.row_sizes[table.rows].astype(np.int64)
    pj = table.col_sizes[table.cols].astype(np.int64)
    log_outer = -np.log(pi * pj) + 2.0 * math.log(total)
    share = c / total
    mi = share * (np.log(c) - math.log(total)) + share * log_outer
    mi = np.where(np.abs(mi) < np.finfo(mi.dtype).eps, 0.0, mi)
    return float(np.clip(mi.sum(), 0.0, None))


def _ari(table: Contingency) -> float:
    # scikit-learn's pair confusion matrix (ordered pairs), in exact integers.
    n = table.n_faces
    c = table.counts.astype(np.int64)
    sum_squares = int(np.sum(c * c))
    by_pred = int(np.sum(c * table.row_sizes[table.rows]))
    by_true = int(np.sum(c * table.col_sizes[table.cols]))
    tp = sum_squares - n
    fp = by_pred - sum_squares   # same cluster, different identity
    fn = by_true - sum_squares   # same identity, different cluster
    tn = n * n - fp - fn - sum_squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def _generalized_average(u: float, v: float, method: str) -> float:
    if method == "arithmetic":
        return float(np.mean([u, v]))
    if method == "geometric":
        return float(np.sqrt(u * v))
    return min(u, v) if method == "min" else max(u, v)


def compare_to_truth(labels: Any, truth: Any = None, *, average_method: str = "arithmetic"
                     ) -> TruthComparison:
    """Score a clustering against ground-truth identities.

    Parameters
    ----------
    labels : ClusterState or array-like of shape (n_faces,)
        A state (its identities come from ``faceset.faces["identity"]``), or
        one cluster id per face. Faces in no cluster (missing, empty or
        reserved ids, negative numbers; see :func:`silhouette_samples`) are
        each scored as a singleton cluster.
    truth : array-like of shape (n_faces,), default=None
        The true identity of each face; required with array labels, optional
        with a state. A face with a missing identity (None, NaN) is left out.
    average_method : {"arithmetic", "geometric", "min", "max"}, default="arithmetic"
        Mean of the two entropies that normalises the mutual information.

    Returns
    -------
    comparison : TruthComparison
        Pairwise and BCubed precision / recall / F, NMI (with the averaging
        method named), ARI, homogeneity, completeness, V-measure and the
        face counts. NMI, ARI, homogeneity, completeness and V equal
        scikit-learn's functions on the same faces, with each face in no
        cluster given a label of its own.

    Notes
    -----
    Built from a sparse contingency table: O(n) time and memory, never a
    pass over pairs of faces.

    Examples
    --------
    >>> r = compare_to_truth(["a", "a", "a", "b"], ["x", "x", "y", "y"])
    >>> round(r.pairwise_precision, 4), r.pairwise_recall, round(r.bcubed_precision, 4)
    (0.3333, 0.5, 0.6667)
    """
    if average_method not in AVERAGE_METHODS:
        raise ValueError(f"The value for `average_method` must be one of "
                         f"{list(AVERAGE_METHODS)}, but {average_method!r} was passed.")
    if is_state(labels):
        if truth is None:
            table = state_contingency(labels)
            if table is None:
                raise ValueError("compare_to_truth: the ClusterState's faces frame has no "
                                 "'identity' column; pass `truth=` explicitly.")
        else:
            table = contingency(np.asarray(labels.labels, dtype=np.int64),
                                len(labels.cluster_ids), truth)
    else:
        if truth is None:
            raise TypeError("compare_to_truth: `truth` is required when `labels` is an array "
                            "rather than a ClusterState.")
        n = len(labels) if hasattr(labels, "__len__") else np.asarray(labels).shape[0]
        codes, ids = encode_labels(labels, n, field="labels")
        table = contingency(codes, len(ids), truth)
    return _score(table, average_method)


def _score(table: Contingency, average_method: str) -> TruthComparison:
    used_rows = np.flatnonzero(table.row_sizes)
    used_cols = np.flatnonzero(table.col_sizes)
    pw = pairwise_prf(_pairs(table.counts), _pairs(table.row_sizes), _pairs(table.col_sizes))
    c2 = table.counts.astype(np.float64) ** 2
    bc = bcubed_prf(float(np.sum(c2 / table.row_sizes[table.rows])),
                    float(np.sum(c2 / table.col_sizes[table.cols])), table.n_faces)
    h_true = _entropy(table.col_sizes)
    h_pred = _entropy(table.row_sizes)
    mi = _mutual_info(table, used_rows, used_cols)
    if used_rows.size == used_cols.size == 1:
        nmi = 1.0
    elif mi == 0.0:
        nmi = 0.0
    else:
        nmi = mi / _generalized_average(h_true, h_pred, average_method)
    homogeneity = mi / h_true if h_true else 1.0
    completeness = mi / h_pred if h_pred else 1.0
    v = 0.0 if homogeneity + completeness == 0.0 else \
        2.0 * homogeneity * completeness / (homogeneity + completeness)
    return TruthComparison(
        pairwise_precision=pw[0], pairwise_recall=pw[1], pairwise_f=pw[2],
        bcubed_precision=bc[0], bcubed_recall=bc[1], bcubed_f=bc[2],
        nmi=float(nmi), nmi_average=average_method, ari=float(_ari(table)),
        homogeneity=float(homogeneity), completeness=float(completeness), v_measure=float(v),
        n_faces=table.n_faces, n_excluded=table.n_excluded, n_no_cluster=table.n_no_cluster,
        n_clusters=int(used_rows.size), n_identities=int(used_cols.size))
