"""Merge and split suggestions, ranked on the data's own similarity scale.

Similarities are compared to two levels of the data itself: the ``floor``
(mean similarity of all pairs of clustered faces, i.e. strangers) and each
cluster's ``cohesion`` (mean similarity between its own faces). A *relative
similarity* ``(s - floor) / sqrt((coh_A - floor) (coh_B - floor))`` is 1 when
two groups of faces are as alike as the faces inside them and 0 when they
are as alike as strangers, on an ArcFace-like scale or a dlib-like one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._cannot_link import CannotLink
from ._inputs import check_positive_int
from ._knn import nearest_neighbors
from ._threshold import mean_pair_similarity
from ._whiten import within_whitening

__all__ = ["suggest_merges", "suggest_splits", "MERGE_COLUMNS", "SPLIT_COLUMNS"]

_IMPACT_COLUMNS = ("silhouette_before", "silhouette_after", "merged_silhouette_after",
                   "cohesion_after", "feature_drift", "nearer_to_feature_after",
                   "pairwise_f_before", "pairwise_f_after", "bcubed_f_before", "bcubed_f_after")
MERGE_COLUMNS = ("rank", "merge_to", "merge_from", "size_to", "size_from", "score",
                 "mean_similarity", "median_link", "weakest_link", "cohesion_to",
                 "cohesion_from") + _IMPACT_COLUMNS
SPLIT_COLUMNS = ("rank", "cluster_id", "size", "score", "size_a", "size_b", "n_outliers",
                 "cross_similarity", "cohesion", "cohesion_a", "cohesion_b", "silhouette",
                 "faces_a", "faces_b")
# Below this a cohesion is too close to the floor to divide by.
_EPS = 1e-9


def _require_state(state: Any, caller: str) -> None:
    from ..clustering import ClusterState

    if not isinstance(state, ClusterState):
        raise TypeError(f"{caller} needs a ClusterState, but {type(state).__name__} was passed.")


def _cohesions(state: Any) -> np.ndarray:
    """Mean similarity between distinct members per cluster; NaN for singletons."""
    n = state.counts.astype(np.float64)
    sq = np.einsum("ij,ij->i", state.sums, state.sums)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, (sq - n) / (n * (n - 1)), np.nan)


def _relative(s: np.ndarray, floor: float, coh_a: np.ndarray, coh_b: np.ndarray) -> np.ndarray:
    ref = np.sqrt(np.maximum(coh_a - floor, _EPS) * np.maximum(coh_b - floor, _EPS))
    return (s - floor) / ref


def _candidate_pairs(state: Any, clustered: np.ndarray, n_neighbors: int,
                     memory_budget: int | None) -> np.ndarray:
    """Cluster code pairs linked by a face neighbour edge or a feature neighbour edge."""
    labels = state.labels[clustered]
    x = state.embeddings[clustered]
    kw = {} if memory_budget is None else {"memory_budget": memory_budget}
    idx, _ = nearest_neighbors(x, min(n_neighbors, x.shape[0] - 1), **kw)
    a = np.repeat(labels, idx.shape[1])
    b = labels[idx.ravel()]
    k = state.n_clusters
    if k > 2:
        fidx, _ = nearest_neighbors(state.features.astype(np.float32), min(n_neighbors, k - 1))
        a = np.concatenate([a, np.repeat(np.arange(k), fidx.shape[1])])
        b = np.concatenate([b, fidx.ravel()])
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    return np.unique(lo.astype(np.int64) * k + hi).reshape(-1)


def _member_links(state: Any, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and minimum, over the members of both clusters, of a member's mean
    similarity to the other cluster (``x . S_other / n_other``)."""
    values: list[list[np.ndarray]] = [[] for _ in range(lo.size)]
    partners: dict[int, list[tuple[int, int]]] = {}
    for p, (i, j) in enumerate(zip(lo.tolist(), hi.tolist())):
        partners.setdefault(i, []).append((p, j))
        partners.setdefault(j, []).append((p, i))
    sums, counts = state.sums, state.counts
    for c, items in partners.items():
        xc = state.embeddings[state.members(state.cluster_ids[c])].astype(np.float64)
        others = np.array([o for _, o in items], dtype=np.int64)
        sims = (xc @ sums[others].T) / counts[others]
        for col, (p, _) in enumerate(items):
            values[p].append(sims[:, col])
    med = np.array([np.median(np.concatenate(v)) for v in values]) if lo.size else np.empty(0)
    low = np.array([np.min(np.concatenate(v)) for v in values]) if lo.size else np.empty(0)
    return med, low


def _co_occurring(state: Any) -> set[int]:
    """Keys ``i * k + j`` of cluster pairs with faces in one photo (``file_id``)."""
    faces = state.faceset.faces
    if "file_id" not in faces.columns:
        return set()
    clustered = state.labels >= 0
    files = faces["file_id"].to_numpy(dtype=object)[clustered]
    known = pd.notna(files)
    frame = pd.DataFrame({"file": files[known], "c": state.labels[clustered][known]})
    frame = frame.drop_duplicates()
    frame = frame[frame.duplicated("file", keep=False)]
    k = state.n_clusters
    out: set[int] = set()
    for _, codes in frame.groupby("file", sort=True)["c"]:
        cs = np.sort(codes.to_numpy())
        for x in range(cs.size):
            for y in range(x + 1, cs.size):
                out.add(int(cs[x]) * k + int(cs[y]))
    return out


def _as_cannot_link(cannot_link: Any) -> CannotLink | None:
    if cannot_link is None or isinstance(cannot_link, CannotLink):
        return cannot_link
    if isinstance(cannot_link, (str, bytes)) or hasattr(cannot_link, "__fspath__"):
        return CannotLink.load(cannot_link)
    return CannotLink(cannot_link)


def suggest_merges(state: Any, *, top: int = 50, cannot_link: Any = None, n_neighbors: int = 10,
                   impact: bool = True, memory_budget: int | None = None) -> pd.DataFrame:
    """Cluster pairs that are likely one person, best first.

    Candidates are cluster pairs linked by an exact nearest-neighbour edge
    between their faces or between their features. Each is scored by its
    *relative median link*: for every face of either cluster take its mean
    similarity to the other cluster (``x . S / n``, exact), take the median
    over those faces, and measure it from the data's ``floor`` in units of
    the two clusters' own cohesion (see the module notes): 1 means the two
    clusters are as alike as the faces inside them. The median is robust to
    a few odd faces; the mean from the sums and the weakest link are
    reported beside it.

    Pairs are dropped when a photo (``file_id``) holds faces of both -- one
    person rarely appears twice in a photo -- or when ``cannot_link``
    keeps them apart.

    Parameters
    ----------
    state : ClusterState
        The clustering.
    top : int, default=50
        Suggestions returned.
    cannot_link : CannotLink, path or iterable of (str, str), optional
        Pairs judged "not the same person" (a path is read with
        :meth:`CannotLink.load`).
    n_neighbors : int, default=10
        Neighbours per face (and per feature) searched for candidates.
    impact : bool, default=True
        Add each suggestion's :func:`toolkit.quality.merge_impact` figures.
    memory_budget : int, optional
        Bytes one block of the neighbour search may use (default 128 MiB).

    Returns
    -------
    DataFrame
        One row per suggestion (columns :data:`MERGE_COLUMNS`): ``rank``
        (1 = best); ``merge_to`` (the larger cluster; IMM moves its feature)
        and ``merge_from``; their sizes; ``score`` (relative median link, about
        1 for fragments of one person, lower for look-alikes, near 0 for
        strangers); ``mean_similarity`` (``S_A . S_B / (n_A n_B)``);
        ``median_link`` and ``weakest_link`` (raw cosines); each cluster's
        cohesion (NaN for one face); and with ``impact`` the silhouette before
        and after, the merged cluster's silhouette and cohesion, the feature
        drift, faces nearer to the new feature, and pairwise / BCubed F before
        and after against ``identity`` (NaN without it). ``attrs`` hold
        ``floor``, ``n_candidates``, ``n_vetoed_co_occurrence`` and
        ``n_vetoed_cannot_link``.

    Examples
    --------
    >>> from toolkit import FaceSet
    >>> from toolkit.clustering import ClusterState
    >>> from toolkit.sampledata import generate_faces
    >>> faces, X = generate_faces(600, 30, dim=64, seed=1)
    >>> merges = suggest_merges(ClusterState(FaceSet(faces, X)), top=5, impact=False)
    >>> merges.columns[:3].tolist()
    ['rank', 'merge_to', 'merge_from']
    """
    _require_state(state, "suggest_merges")
    top = check_positive_int("top", top)
    n_neighbors = check_positive_int("n_neighbors", n_neighbors)
    rules = _as_cannot_link(cannot_link)
    k = state.n_clusters
    clustered = np.flatnonzero(state.labels >= 0)
    attrs = {"floor": float("nan"), "n_candidates": 0, "n_vetoed_co_occurrence": 0,
             "n_vetoed_cannot_link": 0}
    if k < 2 or clustered.size < 2:
        out = pd.DataFrame({c: [] for c in MERGE_COLUMNS})
        out.attrs.update(attrs)
        return out
    floor = mean_pair_similarity(state.embeddings[clustered])
    keys = _candidate_pairs(state, clustered, n_neighbors, memory_budget)
    attrs.update(floor=floor, n_candidates=int(keys.size))
    co = _co_occurring(state)
    vetoed_co = np.isin(keys, np.fromiter(co, dtype=np.int64, count=len(co)))
    blocked = rules.blocked_pairs(state) if rules is not None else set()
    blocked_keys = np.fromiter((i * k + j for i, j in blocked), dtype=np.int64, count=len(blocked))
    vetoed_cl = np.isin(keys, blocked_keys) & ~vetoed_co
    attrs.update(n_vetoed_co_occurrence=int(vetoed_co.sum()),
                 n_vetoed_cannot_link=int(vetoed_cl.sum()))
    keys = keys[~vetoed_co & ~vetoed_cl]
    lo, hi = np.divmod(keys, k)
    counts = state.counts
    mean = np.einsum("ij,ij->i", state.sums[lo], state.sums[hi]) / (counts[lo] * counts[hi])
    med, weak = _member_links(state, lo, hi)
    coh = _cohesions(state)
    # A single face has no cohesion of its own: it is measured against the typical cluster.
    typical = float(np.nanmedian(coh)) if np.isfinite(coh).any() else 1.0
    coh_ref = np.where(np.isfinite(coh), coh, typical)
    score = _relative(med, floor, coh_ref[lo], coh_ref[hi])
    # Destination: the larger cluster; on equal sizes the smaller id.
    lo_is_to = counts[lo] >= counts[hi]
    to = np.where(lo_is_to, lo, hi)
    fr = np.where(lo_is_to, hi, lo)
    ids = state.cluster_ids
    frame = pd.DataFrame({
        "merge_to": ids[to], "merge_from": ids[fr], "size_to": counts[to], "size_from": counts[fr],
        "score": score, "mean_similarity": mean, "median_link": med, "weakest_link": weak,
        "cohesion_to": coh[to], "cohesion_from": coh[fr]})
    frame = frame.sort_values(["score", "merge_to", "merge_from"], ascending=[False, True, True],
                              kind="stable").head(top).reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1, dtype=np.int64))
    if impact and len(frame):
        from ..quality import merge_impact_frame

        figures = merge_impact_frame(state, list(zip(frame["merge_to"], frame["merge_from"])))
        for col in _IMPACT_COLUMNS:
            frame[col] = pd.to_numeric(figures[col], errors="coerce").to_numpy(dtype=np.float64)
    else:
        for col in _IMPACT_COLUMNS:
            frame[col] = np.nan
    for col in ("merge_to", "merge_from"):
        frame[col] = frame[col].astype("str")
    frame.attrs.update(attrs)
    return frame[list(MERGE_COLUMNS)]


def _two_means(x: np.ndarray, max_iter: int = 50) -> np.ndarray:
    """Spherical 2-means with a deterministic start; boolean mask of part B.

    Start: the member least like the cluster's mean direction, then the member
    least like that one (a farthest-first start); then alternate assigning
    each member to the nearer unit centre (ties to A) and recomputing centres.
    """
    centre = x.sum(axis=0)
    first = int(np.argmin(x @ centre))
    second = int(np.argmin(x @ x[first]))
    ca, cb = x[second], x[first]
    part = np.zeros(x.shape[0], dtype=bool)
    for _ in range(max_iter):
        new = (x @ cb) > (x @ ca)
        if new.all() or not new.any():
            break
        if np.array_equal(new, part):
            break
        part = new
        ca, cb = x[~part].sum(axis=0), x[part].sum(axis=0)
        ca, cb = ca / np.linalg.norm(ca), cb / np.linalg.norm(cb)
    return part


def _robust_split(x: np.ndarray, min_part: int) -> tuple[np.ndarray | None, np.ndarray]:
    """2-means that sets aside lone outliers: a part smaller than ``min_part``
    is a few odd faces, so they are set aside and the rest is split again (at
    most a fifth of the cluster is set aside). When the odd faces would pass
    that fifth before a split of two real parts appears, the odd faces
    together are the proposed second part instead: a small group of
    intruders can be less alike to each other than to the cluster's own
    people, and 2-means then peels them off one or two at a time.

    Returns the part mask over all faces (set-aside faces go to the part whose
    centre is nearer) and the mask of the faces the split was judged on; the
    part mask is None when no split leaves two parts of ``min_part`` faces.
    """
    n = x.shape[0]
    core = np.ones(n, dtype=bool)
    budget = n // 5
    while True:
        rows = np.flatnonzero(core)
        if rows.size < 2 * min_part:
            small = np.empty(0, dtype=np.intp)
            break
        sub = _two_means(x[rows])
        small = rows[sub] if sub.sum() < (~sub).sum() else rows[~sub]
        if small.size >= min_part:
            part = np.zeros(n, dtype=bool)
            part[rows[sub]] = True
            if (~core).any():
                ca, cb = x[rows[~sub]].sum(axis=0), x[rows[sub]].sum(axis=0)
                odd = np.flatnonzero(~core)
                part[odd] = ((x[odd] @ (cb / np.linalg.norm(cb)))
                             > (x[odd] @ (ca / np.linalg.norm(ca))))
            return part, core
        if int((~core).sum()) + small.size > budget:
            break
        core[small] = False
    odd = ~core
    odd[small] = True
    if min_part <= odd.sum() <= n - min_part:
        return odd, np.ones(n, dtype=bool)
    return None, core


def _cohesion_of(s: np.ndarray, n: float, sq: float) -> float:
    """Mean similarity between distinct rows of a group with sum ``s`` and
    squared norms summing to ``sq``; NaN for one row."""
    return float((s @ s - sq) / (n * (n - 1))) if n > 1 else float("nan")


def _split_figures(x: np.ndarray, part: np.ndarray) -> dict[str, float]:
    """Cross similarity, cohesions and silhouette of a split, in cosine."""
    sa, sb = x[~part].sum(axis=0), x[part].sum(axis=0)
    na, nb = float((~part).sum()), float(part.sum())
    sq = np.einsum("ij,ij->i", x, x)
    cross = float(sa @ sb) / (na * nb)
    # Silhouette in cosine distance, exact from the two sums (a lone face scores 0).
    own_s = np.where(part, x @ sb, x @ sa)
    own_n = np.where(part, nb, na)
    other = np.where(part, (x @ sa) / na, (x @ sb) / nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        a_dist = 1.0 - (own_s - sq) / (own_n - 1)
        b_dist = 1.0 - other
        s = np.where(own_n > 1, (b_dist - a_dist) / np.maximum(a_dist, b_dist), 0.0)
    return {"cross_similarity": cross, "cohesion": _cohesion_of(sa + sb, na + nb, sq.sum()),
            "cohesion_a": _cohesion_of(sa, na, sq[~part].sum()),
            "cohesion_b": _cohesion_of(sb, nb, sq[part].sum()),
            "silhouette": float(np.nan_to_num(s).mean())}


def _split_score(y: np.ndarray, part: np.ndarray, floor: float, typical: float) -> float:
    """1 - the relative similarity of the two parts in whitened unit rows ``y``
    (a one-face part is measured against the typical cluster's cohesion)."""
    sa, sb = y[~part].sum(axis=0), y[part].sum(axis=0)
    na, nb = float((~part).sum()), float(part.sum())
    cross = float(sa @ sb) / (na * nb)
    coh = [_cohesion_of(s, m, m) for s, m in ((sa, na), (sb, nb))]
    coh = [c if np.isfinite(c) else typical for c in coh]
    return 1.0 - float(_relative(np.array(cross), floor, np.array(coh[0]), np.array(coh[1])))


def suggest_splits(state: Any, *, top: int | None = None, min_size: int = 6,
                   min_part_size: int = 3) -> pd.DataFrame:
    """Clusters that likely hold two people, each with its proposed split.

    Every cluster of at least ``min_size`` faces is cut in two by spherical
    2-means (deterministic farthest-first start), in a geometry where a
    person's own variation counts less: each direction is divided by how much
    the typical cluster spreads along it (pose, light, age -- whatever moves
    a person's faces; see ``toolkit.reclustering._whiten``), which changes
    nothing when people vary alike in every direction. The split is judged
    as a merge would be, by the relative similarity of its two parts,
    ``rel = (cross - floor) / sqrt((coh_A - floor) (coh_B - floor))`` with
    ``cross`` the mean similarity between the parts, ``coh`` a part's mean
    similarity between its own faces and ``floor`` the mean similarity of all
    clustered face pairs (all in the whitened geometry): ``score = 1 - rel``.
    One person cut in two scores near 0 (the parts are as alike as their
    insides, whatever the scale); two people score clearly above, about 1 for
    strangers. Measuring the parts against their own cohesions, not against
    each other's, keeps a small group of intruders visible even when they are
    less alike to each other than to the cluster's own person.

    Parameters
    ----------
    state : ClusterState
        The clustering.
    top : int, optional
        Clusters returned; default all that were examined.
    min_size : int, default=6
        Smallest cluster examined (each part needs faces to judge by).
    min_part_size : int, default=3
        Faces each part of a split needs (IMM opens a group from 3). A
        2-means part smaller than this is a few odd faces, not a person:
        they are set aside (``n_outliers``, at most a fifth of the cluster),
        the rest is split again, and the set-aside faces join the nearer
        part of the proposed split but do not count in its figures. When
        the odd faces outgrow that fifth first, they together are proposed
        as the second part.

    Returns
    -------
    DataFrame
        One row per cluster, best first (columns :data:`SPLIT_COLUMNS`):
        ``rank``, ``cluster_id``, ``size``, ``score`` (see above, higher =
        more likely two people), ``size_a``, ``size_b``, ``n_outliers``, and
        the proposed split's figures in plain cosine similarity:
        ``cross_similarity``, ``cohesion`` (whole cluster), ``cohesion_a``,
        ``cohesion_b``, ``silhouette`` (mean cosine silhouette of the members
        over the two parts, in [-1, 1]), ``faces_a`` and ``faces_b`` (tuples
        of face ids: the proposed split). ``attrs`` hold ``floor`` (plain
        cosine), ``whitened_floor`` and ``spread_ratio`` (the largest typical
        within-cluster variance of a direction over their mean: 1 means
        nothing was whitened).

    Examples
    --------
    >>> from toolkit import FaceSet
    >>> from toolkit.clustering import ClusterState
    >>> from toolkit.sampledata import generate_faces
    >>> faces, X = generate_faces(600, 30, dim=64, seed=1)
    >>> splits = suggest_splits(ClusterState(FaceSet(faces, X)), top=3)
    >>> len(splits) <= 3
    True
    """
    _require_state(state, "suggest_splits")
    if top is not None:
        top = check_positive_int("top", top)
    min_part_size = check_positive_int("min_part_size", min_part_size, low=1)
    min_size = check_positive_int("min_size", min_size, low=max(2, 2 * min_part_size))
    clustered = np.flatnonzero(state.labels >= 0)
    rows = []
    floor = mean_pair_similarity(state.embeddings[clustered]) if clustered.size >= 2 else 0.0
    whitening = within_whitening(state.embeddings, state.labels, state.sums)
    examined = np.flatnonzero(state.counts >= min_size)
    y_floor = 0.0
    if examined.size:
        y_all = whitening.apply(state.embeddings[clustered])
        y_floor = mean_pair_similarity(y_all) if clustered.size >= 2 else 0.0
        # Whitened cohesion of every cluster of 2 or more: the typical one stands
        # in for a one-face part.
        labels = state.labels[clustered]
        y_sums = np.zeros((state.n_clusters, y_all.shape[1]))
        np.add.at(y_sums, labels, y_all)
        n = state.counts.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            y_coh = np.where(n > 1, (np.einsum("ij,ij->i", y_sums, y_sums) - n)
                             / (n * (n - 1)), np.nan)
        typical = float(np.nanmedian(y_coh)) if np.isfinite(y_coh).any() else 1.0
        position = np.full(state.labels.shape[0], -1, dtype=np.int64)
        position[clustered] = np.arange(clustered.size)
    for c in examined.tolist():
        members = state.members(state.cluster_ids[c])
        y = y_all[position[members]]
        part, core = _robust_split(y, min_part_size)
        if part is None:
            continue
        x = state.embeddings[members].astype(np.float64)
        ids = state.face_ids[members]
        rows.append({"cluster_id": state.cluster_ids[c], "size": int(members.size),
                     "size_a": int((~part).sum()), "size_b": int(part.sum()),
                     "score": _split_score(y[core], part[core], y_floor, typical),
                     **_split_figures(x[core], part[core]),
                     "n_outliers": int((~core).sum()),
                     "faces_a": tuple(str(f) for f in ids[~part]),
                     "faces_b": tuple(str(f) for f in ids[part])})
    frame = pd.DataFrame(rows, columns=[c for c in SPLIT_COLUMNS if c != "rank"])
    frame = frame.sort_values(["score", "cluster_id"], ascending=[False, True],
                              kind="stable").reset_index(drop=True)
    if top is not None:
        frame = frame.head(top)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1, dtype=np.int64))
    frame["cluster_id"] = frame["cluster_id"].astype("str")
    frame.attrs.update(floor=floor, whitened_floor=y_floor,
                       spread_ratio=whitening.spread_ratio)
    return frame
