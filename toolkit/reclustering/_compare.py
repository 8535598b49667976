"""``compare_labelings``: how two clusterings of the same faces agree, and what moved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["compare_labelings", "LabelingComparison", "CHANGES"]

#: Kinds of change, for one overlap of a cluster of ``a`` and a cluster of ``b``.
CHANGES = ("unchanged", "joined", "split", "moved", "left", "entered")


@dataclass(frozen=True, eq=False)
class LabelingComparison:
    """Agreement of clustering ``b`` with clustering ``a`` and the changes between them.

    Attributes
    ----------
    scores : dict
        ``ari`` and ``nmi`` (symmetric); ``pairwise_precision`` (share of
        ``b``'s same-cluster face pairs that ``a`` also puts together),
        ``pairwise_recall`` (share of ``a``'s pairs that ``b`` keeps
        together), ``pairwise_f``; the BCubed ones likewise. All in [0, 1]
        (ARI from -0.5), 1 when the clusterings are the same. A face in no
        cluster counts as a cluster of its own.
    changes : DataFrame
        One row per non-empty overlap of a cluster of ``a`` with a cluster of
        ``b``: ``cluster_a``, ``cluster_b`` (missing = in no cluster),
        ``faces`` (in both), ``size_a``, ``size_b`` and ``change``:
        ``"unchanged"`` (the same faces), ``"joined"`` (all of the ``a``
        cluster went into a larger ``b`` cluster), ``"split"`` (the ``b``
        cluster is part of a larger ``a`` cluster), ``"moved"`` (a partial
        overlap: faces changed cluster both ways), ``"left"`` (faces that
        are in no cluster in ``b``), ``"entered"`` (faces in no cluster in
        ``a``, in one in ``b``). Sorted by ``cluster_a`` then ``cluster_b``.
    summary : dict
        ``clusters_a``, ``clusters_b``, ``unchanged`` (clusters identical in
        both), ``split`` (clusters of ``a`` spread over several clusters of
        ``b``), ``joined`` (clusters of ``b`` drawn from several of ``a``),
        ``faces_moved`` (faces outside the largest share of their ``a``
        cluster, or that left or entered a cluster).
    """

    scores: dict
    changes: pd.DataFrame = field(repr=False)
    summary: dict = field(default_factory=dict)


def _ids_and_faces(x: Any, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    from ..clustering import ClusterState

    if isinstance(x, ClusterState):
        return x.face_cluster_ids(), x.face_ids
    arr = x.to_numpy(dtype=object) if isinstance(x, (pd.Series, pd.Index)) else np.asarray(
        x, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be a ClusterState or one cluster id per face, but an "
                         f"array of shape {arr.shape} was passed.")
    from ..faceset import is_clustered

    out = arr.copy()
    out[~is_clustered(arr)] = None
    return out, None


def compare_labelings(a: Any, b: Any) -> LabelingComparison:
    """Compare two clusterings of the same faces.

    Parameters
    ----------
    a : ClusterState or array-like of shape (n_faces,)
        The reference clustering (e.g. before a recluster).
    b : ClusterState or array-like of shape (n_faces,)
        The other clustering. Two states are matched by ``face_id`` (any
        row order); arrays by position. Missing values and IMM's reserved
        ids mean "in no cluster".

    Returns
    -------
    LabelingComparison
        ``.scores`` (ARI, NMI, pairwise and BCubed precision / recall / F of
        ``b`` against ``a``), ``.changes`` (a frame of overlaps: unchanged,
        joined, split, moved, left, entered) and ``.summary``.

    Examples
    --------
    >>> cmp = compare_labelings(["x", "x", "y", "y"], ["p", "p", "p", "q"])
    >>> cmp.changes[["cluster_a", "cluster_b", "faces", "change"]].values.tolist()
    [['x', 'p', 2, 'joined'], ['y', 'p', 1, 'moved'], ['y', 'q', 1, 'split']]
    """
    from ..quality import compare_to_truth

    ids_a, faces_a = _ids_and_faces(a, "a")
    ids_b, faces_b = _ids_and_faces(b, "b")
    if faces_a is not None and faces_b is not None:
        if len(faces_a) != len(faces_b) or set(faces_a.tolist()) != set(faces_b.tolist()):
            raise ValueError(f"compare_labelings: the two states hold different faces "
                             f"({len(faces_a)} and {len(faces_b)} faces); compare clusterings of "
                             "the same faces.")
        if not np.array_equal(faces_a, faces_b):
            pos = pd.Index(faces_b).get_indexer(faces_a)
            ids_b = ids_b[pos]
    elif len(ids_a) != len(ids_b):
        raise ValueError(f"compare_labelings: `a` has {len(ids_a)} faces but `b` has "
                         f"{len(ids_b)}; they must label the same faces.")
    n = len(ids_a)
    if n == 0:
        raise ValueError("compare_labelings: there are no faces to compare.")
    # In no cluster in `a`: a cluster of its own (as compare_to_truth does for `b`).
    none_a = pd.isna(pd.Series(ids_a, dtype=object)).to_numpy()
    truth = ids_a.copy()
    truth[none_a] = [f"\0none-{i}" for i in np.flatnonzero(none_a)]
    r = compare_to_truth(ids_b, truth)
    scores = {"ari": r.ari, "nmi": r.nmi, "pairwise_precision": r.pairwise_precision,
              "pairwise_recall": r.pairwise_recall, "pairwise_f": r.pairwise_f,
              "bcubed_precision": r.bcubed_precision, "bcubed_recall": r.bcubed_recall,
              "bcubed_f": r.bcubed_f}

    frame = pd.DataFrame({"cluster_a": pd.Series(ids_a, dtype=object),
                          "cluster_b": pd.Series(ids_b, dtype=object)})
    size_a = frame["cluster_a"].value_counts(dropna=True)
    size_b = frame["cluster_b"].value_counts(dropna=True)
    cells = frame.groupby(["cluster_a", "cluster_b"], dropna=False, sort=False).size()
    cells = cells.rename("faces").reset_index()
    cells = cells[~(cells["cluster_a"].isna() & cells["cluster_b"].isna())]
    cells["size_a"] = cells["cluster_a"].map(size_a).astype("Int64")
    cells["size_b"] = cells["cluster_b"].map(size_b).astype("Int64")
    na, nb = cells["cluster_a"].isna(), cells["cluster_b"].isna()
    whole_a = cells["faces"] == cells["size_a"]
    whole_b = cells["faces"] == cells["size_b"]
    change = np.select(
        [nb.to_numpy(), na.to_numpy(), (whole_a & whole_b).fillna(False).to_numpy(),
         whole_a.fillna(False).to_numpy(), whole_b.fillna(False).to_numpy()],
        ["left", "entered", "unchanged", "joined", "split"], default="moved")
    cells["change"] = change
    cells = cells.sort_values(["cluster_a", "cluster_b"], na_position="last",
                              kind="stable").reset_index(drop=True)
    for col in ("cluster_a", "cluster_b", "change"):
        cells[col] = cells[col].astype("str")
    cells["faces"] = cells["faces"].astype(np.int64)

    real = cells[cells["cluster_a"].notna() & cells["cluster_b"].notna()]
    spread = real.groupby("cluster_a").size()
    drawn = real.groupby("cluster_b").size()
    largest = real.groupby("cluster_a")["faces"].max()
    gained = int(cells.loc[cells["cluster_a"].isna(), "faces"].sum())
    in_a = int(size_a.sum())
    summary = {
        "clusters_a": int(size_a.size), "clusters_b": int(size_b.size),
        "unchanged": int((cells["change"] == "unchanged").sum()),
        "split": int((spread > 1).sum()), "joined": int((drawn > 1).sum()),
        # Faces outside their a-cluster's largest share (those that left
        # included), plus those that entered a cluster.
        "faces_moved": in_a - int(largest.sum()) + gained,
    }
    return LabelingComparison(scores, cells[["cluster_a", "cluster_b", "faces", "size_a",
                                             "size_b", "change"]], summary)
