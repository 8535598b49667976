"""What a merge would do, computed exactly without applying it.

Merging sources ``F`` into destination ``T`` makes one cluster ``M`` with
``S_M = S_T + Σ S_F`` and ``n_M = n_T + Σ n_F``; every other cluster is
untouched. So, from the state's memoised silhouette context:

- a face in ``M`` gets a new own-cluster sum ``x̂·S_M`` (O(n_M·d)) and a new
  nearest other cluster: its old one if that is not in ``M``, else its
  runner-up if that is not in ``M``, else a full scan over the clusters;
- a face outside ``M`` whose nearest other cluster was in ``M`` gets
  ``max(x̂·S_M / n_M, runner-up)`` (a full scan when the runner-up was in ``M``
  too);
- any other face keeps its silhouette: the mean similarity to ``M`` is a
  weighted mean of those to ``T`` and ``F``, so it cannot beat the face's old
  nearest cluster.

The cost is O((n_M + affected)·d) plus O(k·d) per face that needs a full scan,
instead of the O(n·k·d) of recomputing the silhouette.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from . import _cache
from ._cross import cross_median
from ._data import DEFAULT_CHUNK_BYTES, check_chunk_bytes, chunk_rows, is_state, iter_unit_rows
from ._silhouette import (SilhouetteContext, silhouette_context, silhouette_defined,
                          silhouette_values)
from ._stats import iter_products
from ._truth import Contingency, bcubed_prf, pairwise_prf, state_contingency

__all__ = ["MergeImpact", "merge_impact", "merge_impact_frame"]


@dataclass(frozen=True)
class MergeImpact:
    """Exact before/after figures of one merge of ``froms`` into ``to``.

    Similarities are cosine similarities of the L2-normalised embeddings,
    in [-1, 1]. "Feature" is a cluster's unit centroid ``S / ‖S‖``, the value
    IMM keeps per group and updates on a merge.

    Attributes
    ----------
    to : str
        Destination cluster.
    froms : tuple of str
        Source clusters, in request order.
    sizes : dict of str to int
        Faces in the destination and in each source before the merge.
    merged_size : int
        Faces in the merged cluster.
    silhouette_before, silhouette_after : float
        Mean silhouette over all clustered faces (see
        :func:`silhouette_score`); NaN where it is undefined (fewer than 2
        clusters, or every cluster a singleton).
    cluster_silhouette_before : dict of str to float
        Mean silhouette of the destination's and of each source's members.
    merged_silhouette_after : float
        Mean silhouette of the merged cluster's members.
    neighbour_silhouette : dict of str to (float, float)
        Other clusters whose members' silhouettes change (because their
        nearest other cluster was the destination or a source): mean before,
        mean after.
    cohesion_before : dict of str to float
        Mean similarity over pairs of distinct members, per cluster (NaN for
        a singleton).
    cohesion_after : float
        The same for the merged cluster.
    cross_similarity_mean : dict of str to float
        Per source: mean similarity over all (source face, destination face)
        pairs, ``S_F·S_T / (n_F n_T)``.
    cross_similarity_median : dict of str to float
        Per source: median of those pairwise similarities, exact.
    weakest_link : float
        The lowest, over all source faces, of a face's mean similarity to the
        destination's faces (``x̂·S_T / n_T``): the source face that fits the
        destination worst.
    weakest_link_face : object
        That face's id (its row position for array-built states).
    feature_drift : float
        Cosine between the destination's feature before and after: 1 means
        the feature does not move; lower values mean later incremental
        clustering will compare new faces to a different centre.
    co_occurrence_files : int or None
        Photos (``file_id``) holding faces from two or more of the merged
        clusters: one person rarely appears twice in a photo. None when the
        faces frame has no ``file_id`` column.
    co_occurrence_file_ids : tuple
        Those photos' ids, sorted.
    nearer_to_feature_before, nearer_to_feature_after : int
        Clustered faces outside the merged clusters whose cosine to the
        destination's feature (before: the old one; after: the new one) is
        strictly greater than to their own cluster's feature: faces the
        destination would pull away in later incremental clustering.
    pairwise_f_before, pairwise_f_after, bcubed_f_before, bcubed_f_after : float or None
        Against ``faceset.faces["identity"]`` (see :func:`compare_to_truth`);
        None without ground truth.
    n_faces_recomputed : int
        Faces whose silhouette had to be recomputed.

    Examples
    --------
    Built by :func:`merge_impact`:

    >>> import numpy as np
    >>> from toolkit.clustering import ClusterState
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8], [0.6, -0.8]])
    >>> impact = merge_impact(ClusterState.from_arrays(X, ["a", "a", "b", "b", "c"]), "a", "c")
    >>> impact.froms, impact.sizes, impact.merged_size
    (('c',), {'a': 2, 'c': 1}, 3)
    """

    to: str
    froms: tuple
    sizes: dict
    merged_size: int
    silhouette_before: float
    silhouette_after: float
    cluster_silhouette_before: dict
    merged_silhouette_after: float
    neighbour_silhouette: dict
    cohesion_before: dict
    cohesion_after: float
    cross_similarity_mean: dict
    cross_similarity_median: dict
    weakest_link: float
    weakest_link_face: Any
    feature_drift: float
    co_occurrence_files: int | None
    co_occurrence_file_ids: tuple
    nearer_to_feature_before: int
    nearer_to_feature_after: int
    pairwise_f_before: float | None
    pairwise_f_after: float | None
    bcubed_f_before: float | None
    bcubed_f_after: float | None
    n_faces_recomputed: int = field(default=0)

    def to_dict(self) -> dict[str, Any]:
        """All figures as a plain dict (per-cluster figures stay dicts)."""
        return asdict(self)


def _sources(state: Any, to: Any, froms: Any) -> list[str]:
    from ..clustering import validate_merge_request

    existing = _cache.memo(state, "ids", lambda: frozenset(state.cluster_ids.tolist()))
    if isinstance(froms, str) or froms is None:
        return validate_merge_request(to, from_=froms, existing=existing)
    return validate_merge_request(to, froms=froms, existing=existing)


def _cohesion(s_sq: float, sq: float, n: int) -> float:
    return (s_sq - sq) / (n * (n - 1.0)) if n > 1 else float("nan")


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    return float(u @ v) / (nu * nv) if nu > 0 and nv > 0 else float("nan")


def _file_codes(state: Any) -> tuple[np.ndarray, np.ndarray] | None:
    faces = state.faceset.faces
    if "file_id" not in faces.columns:
        return None

    def build() -> tuple[np.ndarray, np.ndarray]:
        codes, ids = pd.factorize(faces["file_id"].to_numpy(dtype=object), sort=True)
        return codes.astype(np.int64), np.asarray(ids, dtype=object)

    return _cache.memo(state, "files", build)


def _co_occurrence(state: Any, groups: list[np.ndarray]) -> tuple[int | None, tuple]:
    files = _file_codes(state)
    if files is None:
        return None, ()
    codes, ids = files
    pos = np.concatenate(groups)
    which = np.concatenate([np.full(len(g), i, dtype=np.int64) for i, g in enumerate(groups)])
    f = codes[pos]
    keep = f >= 0
    pairs = np.unique(np.stack([f[keep], which[keep]], axis=1), axis=0)
    shared, n_groups = np.unique(pairs[:, 0], return_counts=True)
    hit = shared[n_groups >= 2]
    return int(hit.size), tuple(ids[hit].tolist())


def _truth_change(table: Contingency | None, group: np.ndarray
                  ) -> tuple[float | None, ...]:
    if table is None:
        return None, None, None, None
    rows, cols, counts = table.rows, table.cols, table.counts
    a, b = table.row_sizes, table.col_sizes
    c2 = counts.astype(np.float64) ** 2
    tp = int(np.sum(counts * (counts - 1) // 2))
    pred = int(np.sum(a * (a - 1) // 2))
    true = int(np.sum(b * (b - 1) // 2))
    p_sum = float(np.sum(c2 / a[rows]))
    r_sum = float(np.sum(c2 / b[cols]))
    before_pw = pairwise_prf(tp, pred, true)[2]
    before_bc = bcubed_prf(p_sum, r_sum, table.n_faces)[2]
    cells = table.cells_of(group)
    old_c = counts[cells]
    old_c2 = c2[cells]
    merged_cols, inv = np.unique(cols[cells], return_inverse=True)
    new_c = np.bincount(inv, weights=old_c, minlength=len(merged_cols)).astype(np.int64)
    a_m = int(a[group].sum())
    tp2 = tp - int(np.sum(old_c * (old_c - 1) // 2)) + int(np.sum(new_c * (new_c - 1) // 2))
    pred2 = pred - int(np.sum(a[group] * (a[group] - 1) // 2)) + a_m * (a_m - 1) // 2
    new_c2 = new_c.astype(np.float64) ** 2
    p_sum2 = p_sum - float(np.sum(old_c2 / a[rows[cells]])) \
        + (float(np.sum(new_c2)) / a_m if a_m else 0.0)
    r_sum2 = r_sum - float(np.sum(old_c2 / b[cols[cells]])) + float(np.sum(new_c2 / b[merged_cols]))
    after_pw = pairwise_prf(tp2, pred2, true)[2]
    after_bc = bcubed_prf(p_sum2, r_sum2, table.n_faces)[2]
    return before_pw, after_pw, before_bc, after_bc


def _full_scan(ctx: SilhouetteContext, positions: np.ndarray, in_group: np.ndarray, *,
               chunk_bytes: int) -> np.ndarray:
    """Highest mean similarity to a cluster neither the face's own nor in the group."""
    stats = ctx.stats
    with np.errstate(divide="ignore"):
        inv = 1.0 / stats.counts
    masked = np.flatnonzero(in_group | (stats.counts == 0))
    out = np.empty(len(positions))
    done = 0
    for pos, _block, _sq, P in iter_products(ctx.data, stats.sums, positions,
                                             chunk_bytes=chunk_bytes):
        rows = np.arange(len(pos))
        P *= inv
        P[:, masked] = -np.inf
        P[rows, ctx.data.codes[pos]] = -np.inf
        out[done:done + len(pos)] = P.max(axis=1) if P.shape[1] else -np.inf
        done += len(pos)
    return out


def merge_impact(state: Any, to: str, froms: Any, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
                 ) -> MergeImpact:
    """Exact effect of merging ``froms`` into ``to``, without merging.

    Every figure equals what applying the merge (``state.merge``) and
    recomputing from scratch gives, up to floating-point rounding.

    Parameters
    ----------
    state : ClusterState
        The clustering before the merge.
    to : str
        Destination cluster id.
    froms : str or sequence of str
        One source id (IMM's ``From``) or several (``Froms``). The request is
        checked with :func:`toolkit.clustering.validate_merge_request`.
    chunk_bytes : int, default=64 MiB
        Memory budget of one block of work.

    Returns
    -------
    impact : MergeImpact
        Silhouettes (global, per merged cluster, per neighbouring cluster),
        cohesion, cross-similarity mean and median per source, the weakest
        link, the destination's feature drift, photo co-occurrence conflicts,
        faces the new feature would pull, and pairwise / BCubed F against the
        ground truth when the faces have an ``identity`` column.

    Raises
    ------
    toolkit.errors.MergeError
        The request breaks a merge rule (unknown cluster, ``to`` among the
        sources, ...).

    Notes
    -----
    The first call on a state computes its silhouette context: one chunked
    O(n·k·d) pass, memoised for the life of the state. Each call after that
    costs O((n_M + affected)·d), plus O(k·d) for each face whose nearest and
    runner-up clusters are both merged, plus the cross-similarity medians
    (O(n_F·n_T·d)), plus O(n) vectorised bookkeeping (the feature-pull
    count is pruned by an exact bound, so only a few faces need a product).

    Examples
    --------
    >>> import numpy as np
    >>> from toolkit.clustering import ClusterState
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8], [0.6, -0.8]])
    >>> state = ClusterState.from_arrays(X, ["a", "a", "b", "b", "c"])
    >>> impact = merge_impact(state, "a", ["c"])
    >>> impact.merged_size, round(impact.cohesion_after, 4)
    (3, 0.4667)
    """
    if not is_state(state):
        raise TypeError(f"merge_impact needs a ClusterState, but {type(state).__name__} was "
                        "passed; build one with ClusterState.from_arrays(embeddings, labels).")
    chunk_bytes = check_chunk_bytes(chunk_bytes)
    sources = _sources(state, to, froms)
    ctx = silhouette_context(state, chunk_bytes=chunk_bytes, caller="merge_impact")
    data, stats = ctx.data, ctx.stats
    k = data.n_clusters
    t = state.cluster_index(to)
    src = [state.cluster_index(s) for s in sources]
    group = np.array([t] + src, dtype=np.int64)
    in_group = np.zeros(k + 1, dtype=bool)   # slot k answers for code -1
    in_group[group] = True

    counts, sums = stats.counts, stats.sums
    n_m = int(counts[group].sum())
    s_m = sums[t].copy()
    for c in src:
        s_m = s_m + sums[c]
    k_after = k - len(src)
    n_scored = ctx.n_scored
    member_groups = [stats.members(c) for c in group]
    members = np.concatenate(member_groups)

    # Faces of M: own cluster becomes M; nearest other from the cached ranks.
    # Their similarity to the destination's old sum gives the weakest link.
    dots = _row_dots(data.X, members, np.stack([s_m, sums[t]], axis=1),
                     chunk_bytes=chunk_bytes)
    own_m = dots[:, 0]
    other_m = _other_after(ctx, members, in_group)

    # Faces outside M whose nearest other cluster is merged.
    outside = np.flatnonzero(in_group[ctx.best] & ~in_group[data.codes])
    sim_m = _row_dots(data.X, outside, s_m[:, None], chunk_bytes=chunk_bytes)[:, 0] / n_m
    other_o = _other_after(ctx, outside, in_group)

    for pos, other in ((members, other_m), (outside, other_o)):
        need = np.isnan(other)
        if need.any():
            other[need] = _full_scan(ctx, pos[need], in_group[:k], chunk_bytes=chunk_bytes)
    best_o = np.maximum(other_o, sim_m)

    s_new_m = silhouette_values(own_m, ctx.xx[members], np.full(len(members), n_m), other_m)
    s_new_o = silhouette_values(ctx.own[outside], ctx.xx[outside],
                                counts[data.codes[outside]], best_o)

    scored = data.codes >= 0
    samples = ctx.samples
    total = float(np.sum(samples[scored]))
    before = total / n_scored if silhouette_defined(k, n_scored) else float("nan")
    after_total = total - float(np.sum(samples[members])) - float(np.sum(samples[outside])) \
        + float(np.sum(s_new_m)) + float(np.sum(s_new_o))
    after = after_total / n_scored if silhouette_defined(k_after, n_scored) else float("nan")

    means = ctx.cluster_means()
    ids = data.cluster_ids
    sizes = {ids[c]: int(counts[c]) for c in group}
    cl_before = {ids[c]: float(means[c]) for c in group} if k >= 2 else \
        {ids[c]: float("nan") for c in group}
    merged_after = float(np.mean(s_new_m)) if k_after >= 2 else float("nan")
    neighbours = _neighbours(data.codes[outside], samples[outside], s_new_o, means, counts, ids)

    s_sq = np.einsum("ij,ij->i", sums[group], sums[group])
    cohesion_before = {ids[c]: _cohesion(float(s_sq[i]), float(stats.sq[c]), int(counts[c]))
                       for i, c in enumerate(group)}
    cohesion_after = _cohesion(float(s_m @ s_m), float(stats.sq[group].sum()), n_m)

    # Source faces against the destination: their rows follow T's in ``members``.
    n_t = int(counts[t])
    to_dest = dots[n_t:, 1] / n_t
    weakest = int(np.argmin(to_dest))
    weakest_pos = members[n_t + weakest]
    face_ids = data.face_ids
    cross_mean = {ids[c]: float(sums[c] @ sums[t]) / (int(counts[c]) * n_t) for c in src}
    cross_med = {ids[c]: cross_median(data.X, stats.members(c), member_groups[0],
                                      chunk_bytes=chunk_bytes) for c in src}

    drift = _cos(sums[t], s_m)
    n_files, file_ids = _co_occurrence(state, member_groups)
    norms = _cache.memo(state, "sum_norms",
                        lambda: np.sqrt(np.einsum("ij,ij->i", sums, sums)))
    near_before, near_after = _nearer(ctx, norms, in_group, t, s_m, n_m,
                                      chunk_bytes=chunk_bytes)
    pw_b, pw_a, bc_b, bc_a = _truth_change(state_contingency(state), group)

    return MergeImpact(
        to=str(to), froms=tuple(sources), sizes=sizes, merged_size=n_m,
        silhouette_before=before, silhouette_after=after,
        cluster_silhouette_before=cl_before, merged_silhouette_after=merged_after,
        neighbour_silhouette=neighbours,
        cohesion_before=cohesion_before, cohesion_after=cohesion_after,
        cross_similarity_mean=cross_mean, cross_similarity_median=cross_med,
        weakest_link=float(to_dest[weakest]),
        weakest_link_face=face_ids[weakest_pos] if face_ids is not None else int(weakest_pos),
        feature_drift=drift, co_occurrence_files=n_files, co_occurrence_file_ids=file_ids,
        nearer_to_feature_before=near_before, nearer_to_feature_after=near_after,
        pairwise_f_before=pw_b, pairwise_f_after=pw_a, bcubed_f_before=bc_b,
        bcubed_f_after=bc_a, n_faces_recomputed=int(len(members) + len(outside)))


def _row_dots(X: np.ndarray, positions: np.ndarray, V: np.ndarray, *, chunk_bytes: int
              ) -> np.ndarray:
    """``X̂[positions] @ V`` for a few float64 columns ``V`` (dim, m), a block at a time."""
    d, m = V.shape
    out = np.empty((len(positions), m))
    step = chunk_rows(chunk_bytes, 8 * (d + m) + 64, len(positions))
    done = 0
    for pos, block, _sq in iter_unit_rows(X, positions, step):
        out[done:done + len(pos)] = block @ V
        done += len(pos)
    return out


def _other_after(ctx: SilhouetteContext, positions: np.ndarray, in_group: np.ndarray
                 ) -> np.ndarray:
    """Highest mean similarity to a cluster outside the merged group, from the cached
    nearest and runner-up; NaN where both were in the group (a full scan is needed)."""
    best, second = ctx.best[positions], ctx.second[positions]
    out = np.full(len(positions), np.nan)
    keep = ~in_group[best]
    out[keep] = ctx.best_sim[positions][keep]
    use_second = ~keep & (second >= 0) & ~in_group[second]
    out[use_second] = ctx.second_sim[positions][use_second]
    # No other cluster at all (best is -1): nothing outside the group either.
    out[best < 0] = -np.inf
    return out


def _neighbours(codes: np.ndarray, old: np.ndarray, new: np.ndarray, means: np.ndarray,
                counts: np.ndarray, ids: np.ndarray) -> dict:
    if codes.size == 0:
        return {}
    touched, inv = np.unique(codes, return_inverse=True)
    delta = np.bincount(inv, weights=new - old, minlength=len(touched))
    after = means[touched] + delta / counts[touched]
    return {ids[c]: (float(means[c]), float(a)) for c, a in zip(touched, after)}


def _nearer(ctx: SilhouetteContext, norms: np.ndarray, in_group: np.ndarray, t: int,
            s_m: np.ndarray, n_m: int, *, chunk_bytes: int) -> tuple[int, int]:
    """Faces outside the group nearer (cosine) to T's old / M's new feature than to their own.

    Pruned exactly: for a face outside the group, ``x̂·S_c <= n_c · best_sim``
    for every other cluster ``c``, so ``x̂·S / ‖S‖ <= n · best_sim / ‖S‖``
    bounds its cosine to the feature; only faces whose bound reaches their
    own-feature cosine are computed.
    """
    data, stats = ctx.data, ctx.stats
    codes = data.codes
    candidates = np.flatnonzero((codes >= 0) & ~in_group[codes])
    with np.errstate(invalid="ignore", divide="ignore"):
        # A cluster whose vectors sum to zero has no feature: NaN never counts.
        own_cos = ctx.own[candidates] / norms[codes[candidates]]
    best = ctx.best_sim[candidates]
    results = []
    for S, n in ((stats.sums[t], int(stats.counts[t])), (s_m, n_m)):
        norm = float(np.linalg.norm(S))
        if norm == 0.0:
            results.append(0)
            continue
        bound = n * best / norm
        # A little slack so rounding in the bound never drops a true case.
        maybe = candidates[bound >= own_cos - 1e-9 * (1.0 + np.abs(own_cos))]
        if maybe.size == 0:
            results.append(0)
            continue
        cos_feature = _row_dots(data.X, maybe, S[:, None], chunk_bytes=chunk_bytes)[:, 0] / norm
        with np.errstate(invalid="ignore", divide="ignore"):
            own = ctx.own[maybe] / norms[codes[maybe]]
        results.append(int(np.count_nonzero(cos_feature > own)))
    return results[0], results[1]


def merge_impact_frame(state: Any, merges: Any, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
                       ) -> pd.DataFrame:
    """:func:`merge_impact` of many candidate merges, one row each.

    Each candidate is evaluated against the same ``state`` (they are
    alternatives, not a sequence); the state's silhouette context is computed
    once and shared.

    Parameters
    ----------
    state : ClusterState
        The clustering before any of the merges.
    merges : iterable of (to, froms) or DataFrame
        Pairs of destination id and source id(s), or a frame with columns
        ``merge_to`` and ``merge_sources`` (as the tasks frame has them).
    chunk_bytes : int, default=64 MiB
        Memory budget of one block of work.

    Returns
    -------
    DataFrame
        One row per candidate, in input order; the columns are the fields of
        :class:`MergeImpact` (per-cluster figures as dicts).

    Examples
    --------
    >>> import numpy as np
    >>> from toolkit.clustering import ClusterState
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8], [0.6, -0.8]])
    >>> state = ClusterState.from_arrays(X, ["a", "a", "b", "b", "c"])
    >>> merge_impact_frame(state, [("a", ["c"]), ("b", "c")])["merged_size"].tolist()
    [3, 3]
    """
    if isinstance(merges, pd.DataFrame):
        missing = [c for c in ("merge_to", "merge_sources") if c not in merges.columns]
        if missing:
            raise ValueError(f"merge_impact_frame: the frame of merges needs columns "
                             f"'merge_to' and 'merge_sources'; missing {missing}.")
        pairs: Iterable = zip(merges["merge_to"], merges["merge_sources"])
    else:
        pairs = merges
    rows = []
    for i, pair in enumerate(pairs):
        try:
            to, froms = pair
        except (TypeError, ValueError) as exc:
            raise ValueError(f"merge_impact_frame: merges[{i}] must be a (to, froms) pair, but "
                             f"{pair!r} was passed.") from exc
        if not isinstance(froms, str) and froms is not None:
            froms = list(froms)
        rows.append(merge_impact(state, to, froms, chunk_bytes=chunk_bytes).to_dict())
    columns = list(MergeImpact.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns)
