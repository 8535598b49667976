"""Incremental clustering as IMM runs it: new faces join groups or open new ones.

IMM's CreateFigureClusteringTask is incremental: each run only handles faces
added since the last one. The documentation says a new face is compared with
the existing groups' features, that opening a group takes at least three
good faces (FaceQuality > 0.8, a face box wider and taller than 75 px, each
head-pose angle within +-30 degrees) and that lower-quality faces may still
join an existing group. It does not say when a group's feature moves; here
it moves at once, face by face, so the arrival order matters and
:func:`assignment_stability` measures how much.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..faceset import FaceSet
from ._agglomerate import average_linkage
from ._graph import neighbour_graph
from ._inputs import (as_faceset, check_n_neighbors, check_positive_int, check_threshold,
                      progress_bar)
from ._recluster import COHESION_RATIO, INDEPENDENT
from ._threshold import mean_pair_similarity, threshold_from_graph

__all__ = ["assign_incremental", "IncrementalResult", "assignment_stability", "GATES",
           "group_id"]

#: Quality gates for opening a group: name -> the faces columns it needs.
GATES = {
    "face_quality": ("face_quality",),
    "face_box": ("boundary_width", "boundary_height"),
    "head_pose": ("head_pose_pitch", "head_pose_roll", "head_pose_yaw"),
}
_NAMESPACE = uuid.UUID("6f1d3a52-9c0e-4e7b-8a45-2b7c9d0e1f63")
_BLOCK = 256  # faces compared with all features in one product


def group_id(first_face_id: str) -> str:
    """Id of a group opened here: ``Cluster-`` + a UUID5 of its first face's id.

    The first face is the member earliest in ``new_faces`` row order, so the
    same members give the same id whatever the arrival order.
    """
    return f"Cluster-{uuid.uuid5(_NAMESPACE, str(first_face_id))}"


@dataclass(frozen=True, eq=False)
class IncrementalResult:
    """What an incremental run did.

    Attributes
    ----------
    state : ClusterState
        The old faces (current clustering) followed by the new faces, rows in
        that order, with the new faces' clusters.
    assignments : DataFrame
        One row per new face, in ``new_faces`` row order: ``face_id``;
        ``arrival`` (0-based position in the arrival order); ``outcome``
        (``"joined"`` an existing group, ``"new-group"``, ``"independent"``);
        ``cluster_id`` (the group, or ``figure-cluster-id-independent``);
        ``nearest_cluster`` (the existing group whose feature was nearest on
        arrival; missing when there were no groups); ``similarity`` (the
        face's mean cosine similarity to that group's faces on arrival,
        ``x . S / n``); ``good`` (passed every applied quality gate).
    threshold : float
        The cosine similarity used (given or derived).
    threshold_source : str
        ``"given"`` or ``"estimated"``.
    gates : dict
        Per gate in :data:`GATES`: ``"applied"`` or ``"skipped: no column ..."``.
    features_update : str
        ``"per-face"``: a group's sum and feature move as each face joins.
    """

    state: Any
    assignments: pd.DataFrame
    threshold: float
    threshold_source: str
    gates: dict = field(default_factory=dict)
    features_update: str = "per-face"

    @property
    def counts(self) -> dict:
        """Faces per outcome."""
        out = self.assignments["outcome"].value_counts()
        return {k: int(out.get(k, 0)) for k in ("joined", "new-group", "independent")}

    def __repr__(self) -> str:
        c = self.counts
        skipped = [g for g, v in self.gates.items() if v != "applied"]
        return (f"IncrementalResult({len(self.assignments)} new faces: {c['joined']} joined, "
                f"{c['new-group']} in new groups, {c['independent']} independent; "
                f"threshold={self.threshold:.4f}"
                + (f"; gates skipped: {skipped}" if skipped else "") + ")")


def _gates(faces: pd.DataFrame, *, min_quality: float, min_box: float, max_pose: float
           ) -> tuple[np.ndarray, dict]:
    """Good-face mask and the report of which gates ran. Missing values fail a gate."""
    good = np.ones(len(faces), dtype=bool)
    report = {}
    for gate, columns in GATES.items():
        absent = [c for c in columns if c not in faces.columns]
        if absent:
            report[gate] = f"skipped: no column {', '.join(map(repr, absent))}"
            continue
        report[gate] = "applied"
        values = [pd.to_numeric(faces[c], errors="coerce").to_numpy(dtype=np.float64)
                  for c in columns]
        with np.errstate(invalid="ignore"):
            if gate == "face_quality":
                ok = values[0] > min_quality
            elif gate == "face_box":
                ok = (values[0] > min_box) & (values[1] > min_box)
            else:
                ok = np.logical_and.reduce([np.abs(v) <= max_pose for v in values])
        good &= ok  # NaN compares False: an unknown value does not pass
    return good, report


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value):
        raise ValueError(f"The value for `{name}` must be a finite number, but {value!r} "
                         "was passed.")
    return float(value)


def _check_order(order: Any, n: int) -> np.ndarray:
    if order is None:
        return np.arange(n, dtype=np.int64)
    arr = np.asarray(order)
    if arr.shape != (n,) or arr.dtype.kind not in "iu" or not np.array_equal(
            np.sort(arr), np.arange(n)):
        raise ValueError(f"`order` must be a permutation of 0..{n - 1} (the positions of the new "
                         f"faces in arrival order), but {_short(order)} was passed.")
    return arr.astype(np.int64)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _join_existing(x: np.ndarray, order: np.ndarray, sums: np.ndarray, counts: np.ndarray,
                   threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces in arrival order; each joins the nearest feature's group if similar enough.

    Returns per face (row order): the group joined (-1: none), the nearest
    group on arrival (-1: no groups), the mean similarity to it.
    """
    n = x.shape[0]
    joined = np.full(n, -1, dtype=np.int64)
    nearest = np.full(n, -1, dtype=np.int64)
    mean_sim = np.full(n, np.nan)
    if sums.shape[0] == 0:
        return joined, nearest, mean_sim
    norms = np.sqrt(np.einsum("ij,ij->i", sums, sums))
    for start in range(0, n, _BLOCK):
        rows = order[start:start + _BLOCK]
        xb = x[rows].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = (xb @ sums.T) / norms
        cos = np.where(np.isfinite(cos), cos, -np.inf)
        dirty: list[int] = []
        for i, r in enumerate(rows.tolist()):
            row = cos[i]
            if dirty:
                # Features that moved since this block was computed.
                d = np.array(sorted(set(dirty)), dtype=np.int64)
                row = row.copy()
                row[d] = (sums[d] @ xb[i]) / norms[d]
            c = int(np.argmax(row))  # ties: the first (smallest) cluster code
            s = float(sums[c] @ xb[i]) / counts[c]
            nearest[r] = c
            mean_sim[r] = s
            if s >= threshold:
                joined[r] = c
                sums[c] += xb[i]
                counts[c] += 1
                norms[c] = np.sqrt(sums[c] @ sums[c])
                dirty.append(c)
    return joined, nearest, mean_sim


def _prepare(state: Any, new_faces: Any) -> tuple[Any, FaceSet]:
    from ..clustering import ClusterState

    if not isinstance(state, ClusterState):
        raise TypeError(f"assign_incremental needs a ClusterState of the existing faces, but "
                        f"{type(state).__name__} was passed.")
    new = as_faceset(new_faces, caller="assign_incremental", need_frame=True)
    if new.dim != state.dim:
        raise ValueError(f"new_faces have embedding dimension {new.dim} but the state's faces "
                         f"have {state.dim}; they must come from the same model.")
    clash = pd.Index(new.faces["face_id"].astype(object)).intersection(
        pd.Index(state.face_ids))
    if len(clash):
        raise ValueError(f"new_faces: face_id {clash[0]!r} is already in the state "
                         f"({len(clash)} such ids); incremental faces must be new.")
    return state, new


def _combined_threshold(state: Any, new: FaceSet, threshold: float | None
                        ) -> tuple[float, str, float]:
    x = np.concatenate([state.embeddings, new.embeddings])
    floor = mean_pair_similarity(x) if x.shape[0] >= 2 else 0.0
    if threshold is not None:
        return threshold, "given", floor
    if x.shape[0] < 3:
        raise ValueError("assign_incremental: too few faces to derive a threshold from; "
                         "pass `threshold=`.")
    graph = neighbour_graph(x, 1)
    return threshold_from_graph(x, graph).threshold, "estimated", floor


def _run(state: Any, new: FaceSet, *, threshold: float, floor: float, order: np.ndarray,
         good: np.ndarray, min_faces: int, n_neighbors: int, cohesion_ratio: float | None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Outcome codes (0 joined, 1 new group, 2 independent), cluster ids, nearest, sims."""
    x = new.embeddings
    n = x.shape[0]
    sums = np.array(state.sums, dtype=np.float64, copy=True)
    counts = np.array(state.counts, dtype=np.float64, copy=True)
    joined, nearest, sims = _join_existing(x, order, sums, counts, threshold)
    outcome = np.full(n, 2, dtype=np.int64)
    ids = np.full(n, INDEPENDENT, dtype=object)
    outcome[joined >= 0] = 0
    ids[joined >= 0] = state.cluster_ids[joined[joined >= 0]]
    rest = np.flatnonzero(joined < 0)
    if rest.size >= 2:
        # The rest are clustered among themselves, in arrival order so that
        # ties resolve as they arrived.
        rest = rest[np.argsort(np.argsort(order)[rest], kind="stable")]
        xr = x[rest]
        graph = neighbour_graph(xr, min(n_neighbors, rest.size - 1))
        labels = average_linkage(xr, graph.pairs, threshold, cohesion_ratio=cohesion_ratio,
                                 floor=floor, refresh_neighbors=n_neighbors).labels
        for lab in np.unique(labels).tolist():
            members = rest[labels == lab]
            if int(good[members].sum()) >= min_faces:
                outcome[members] = 1
                ids[members] = group_id(new.faces["face_id"].iloc[int(members.min())])
    elif rest.size == 1 and min_faces <= 1 and good[rest[0]]:
        outcome[rest] = 1
        ids[rest] = group_id(new.faces["face_id"].iloc[int(rest[0])])
    return outcome, ids, joined, nearest, sims


def assign_incremental(state: Any, new_faces: Any, *, threshold: float | None = None,
                       min_faces: int = 3, min_quality: float = 0.8, min_box: float = 75,
                       max_pose: float = 30.0, order: Any = None, n_neighbors: int = 15,
                       cohesion_ratio: float | None = COHESION_RATIO) -> IncrementalResult:
    """Add new faces to a clustering the way IMM's incremental clustering does.

    1. The new faces arrive one by one (``order``, default row order). Each is
       compared with every group's feature (unit centroid); it joins the
       nearest group when its mean similarity to that group's faces,
       ``x . S / n`` (exact from the sums), is at least ``threshold`` -- the
       criterion :func:`recluster` uses to let a lone face join a cluster.
       The group's sum and feature are updated at once (per face).
    2. The faces that joined nothing are clustered among themselves (as
       :func:`recluster`, same threshold). A cluster opens a new group when
       it holds at least ``min_faces`` good faces; its other faces come
       along (IMM lets lower-quality faces join a group once it exists).
    3. All other faces stay in no cluster (``figure-cluster-id-independent``).

    A good face passes every quality gate whose columns ``new_faces`` has:
    ``face_quality > min_quality``; ``boundary_width`` and ``boundary_height``
    > ``min_box``; ``|head_pose_pitch|``, ``|head_pose_roll|``,
    ``|head_pose_yaw|`` <= ``max_pose``. A gate without its columns is
    skipped and the result says so; a missing value fails its gate.

    Parameters
    ----------
    state : ClusterState
        The existing clustering; faces in no cluster are not groups.
    new_faces : FaceSet
        The faces of this run (same embedding model, new face ids).
    threshold : float, optional
        Cosine similarity; default derived from old and new faces together
        by :func:`estimate_threshold`.
    min_faces : int, default=3
        Good faces needed to open a group (IMM: 3).
    min_quality : float, default=0.8
        ``face_quality`` a good face must exceed.
    min_box : float, default=75
        Pixels the face box's width and height must exceed.
    max_pose : float, default=30.0
        Largest absolute head-pose angle (degrees) of a good face.
    order : array-like of int, optional
        Arrival order: positions of ``new_faces`` rows, first arrival first.
    n_neighbors : int, default=15
        Neighbours per face when clustering the leftover faces.
    cohesion_ratio : float or None, default=0.6
        As in :func:`recluster`, for clustering the leftover faces.

    Returns
    -------
    IncrementalResult
        ``.state`` (old + new faces), ``.assignments`` (one row per new
        face), ``.threshold``, ``.gates`` (applied or skipped) and
        ``.features_update`` (``"per-face"``).

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from toolkit import FaceSet
    >>> from toolkit.clustering import ClusterState
    >>> old = ClusterState.from_arrays([[1.0, 0.0], [0.8, 0.6]], ["A", "A"])
    >>> new = FaceSet(pd.DataFrame({"face_id": ["n1", "n2"], "cluster_id": [None, None]}),
    ...               np.array([[0.96, 0.28], [0.0, 1.0]], dtype=np.float32))
    >>> res = assign_incremental(old, new, threshold=0.5)
    >>> res.assignments["outcome"].tolist()
    ['joined', 'independent']
    """
    state, new = _prepare(state, new_faces)
    threshold = check_threshold(threshold)
    min_faces = check_positive_int("min_faces", min_faces)
    min_quality = _check_number("min_quality", min_quality)
    min_box = _check_number("min_box", min_box)
    max_pose = _check_number("max_pose", max_pose)
    n_neighbors = check_n_neighbors(n_neighbors)
    order = _check_order(order, len(new))
    good, gates = _gates(new.faces, min_quality=min_quality, min_box=min_box, max_pose=max_pose)
    threshold, source, floor = _combined_threshold(state, new, threshold)
    outcome, ids, joined, nearest, sims = _run(
        state, new, threshold=threshold, floor=floor, order=order, good=good,
        min_faces=min_faces, n_neighbors=n_neighbors, cohesion_ratio=cohesion_ratio)
    arrival = np.empty(len(new), dtype=np.int64)
    arrival[order] = np.arange(len(new))
    lookup = np.append(state.cluster_ids, None)
    assignments = pd.DataFrame({
        "face_id": new.faces["face_id"].to_numpy(dtype=object),
        "arrival": arrival,
        "outcome": np.array(["joined", "new-group", "independent"], dtype=object)[outcome],
        "cluster_id": ids,
        "nearest_cluster": lookup[nearest],
        "similarity": sims,
        "good": good,
    })
    for col in ("face_id", "outcome", "cluster_id", "nearest_cluster"):
        assignments[col] = assignments[col].astype("str")
    return IncrementalResult(_combined_state(state, new, ids), assignments, float(threshold),
                             source, gates)


def _combined_state(state: Any, new: FaceSet, ids: np.ndarray) -> Any:
    from ..clustering import ClusterState

    old = state.to_faceset()
    new_frame = new.faces.copy()
    new_frame["cluster_id"] = pd.array(ids.tolist(), dtype="str")
    frame = pd.concat([old.faces, new_frame], ignore_index=True, sort=False)
    emb = np.concatenate([old.embeddings, new.embeddings]).astype(np.float32, copy=False)
    cluster_ids = np.concatenate([state.face_cluster_ids(), ids])
    return ClusterState(FaceSet(frame, emb), cluster_ids=cluster_ids)


def assignment_stability(state: Any, new_faces: Any, *, orders: int = 10, seed: int = 0,
                         threshold: float | None = None, progress: bool | None = None,
                         **options: Any) -> pd.DataFrame:
    """How often each new face ends elsewhere when the faces arrive in another order.

    Runs :func:`assign_incremental` with the faces in row order (the
    reference) and in ``orders`` random orders (``numpy.random.default_rng(seed)``
    permutations), all with the same threshold.

    Parameters
    ----------
    state : ClusterState
        The existing clustering.
    new_faces : FaceSet
        The new faces.
    orders : int, default=10
        Random arrival orders to try.
    seed : int, default=0
        Seed of the orders.
    threshold : float, optional
        Shared by every run; default derived once from the data.
    progress : bool, optional
        Progress bar over the orders; default only for 10,000 new faces or more.
    **options
        Passed to :func:`assign_incremental` (``min_faces``, ``min_quality``, ...).

    Returns
    -------
    DataFrame
        One row per new face, in row order: ``face_id``; ``assignment``
        (its group in the row-order run, or ``figure-cluster-id-independent``);
        ``flip_rate`` (share of the random orders, in [0, 1], in which it
        ended in a different group: 0 = order does not matter for this face);
        ``n_assignments`` (distinct outcomes seen, reference included).
        ``attrs`` hold ``threshold``, ``orders``, ``seed`` and
        ``mean_flip_rate``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from toolkit import FaceSet
    >>> from toolkit.clustering import ClusterState
    >>> old = ClusterState.from_arrays([[1.0, 0.0], [0.0, 1.0]], ["A", "B"])
    >>> new = FaceSet(pd.DataFrame({"face_id": ["n1"], "cluster_id": [None]}),
    ...               np.array([[0.8, 0.6]], dtype=np.float32))
    >>> assignment_stability(old, new, orders=3, threshold=0.5)["flip_rate"].tolist()
    [0.0]
    """
    state, new = _prepare(state, new_faces)
    orders = check_positive_int("orders", orders)
    seed = check_positive_int("seed", seed, low=0)
    threshold = check_threshold(threshold)
    if threshold is None:
        threshold = _combined_threshold(state, new, None)[0]
    reference = assign_incremental(state, new, threshold=threshold, **options)
    ref = reference.assignments["cluster_id"].to_numpy(dtype=object)
    rng = np.random.default_rng(seed)
    flips = np.zeros(len(new), dtype=np.int64)
    seen = [{v} for v in ref.tolist()]
    with progress_bar(progress, orders, "orders", unit="order", n_faces=len(new)) as bar:
        for _ in range(orders):
            run = assign_incremental(state, new, threshold=threshold,
                                     order=rng.permutation(len(new)), **options)
            got = run.assignments["cluster_id"].to_numpy(dtype=object)
            flips += got != ref
            for s, v in zip(seen, got.tolist()):
                s.add(v)
            if bar is not None:
                bar.update(1)
    out = pd.DataFrame({"face_id": reference.assignments["face_id"],
                        "assignment": reference.assignments["cluster_id"],
                        "flip_rate": flips / orders,
                        "n_assignments": np.array([len(s) for s in seen], dtype=np.int64)})
    out.attrs.update(threshold=float(threshold), orders=orders, seed=seed,
                     mean_flip_rate=float(out["flip_rate"].mean()) if len(out) else 0.0)
    return out
