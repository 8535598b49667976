"""The silhouette context of a merged state, derived from the state before it.

Replaying N merges needs the context (own-cluster sum, nearest and runner-up
other cluster of every face) of every intermediate state; a fresh one costs
an O(n·k·d) faces × clusters pass. A merge of sources ``F`` into ``T`` makes
one cluster ``M`` and leaves every other cluster's members alone, so almost
all of the context carries over:

- cluster sums: an untouched cluster keeps its sum bit for bit (sums are
  taken per cluster in segments counted from the cluster's first member, see
  :func:`~toolkit.quality._stats.add_cluster_sums`); only ``S_M`` is summed
  again, over ``M``'s members (O(n_M·d));
- a face whose nearest and runner-up clusters are both outside the merged
  group keeps them (their values are bit for bit what a fresh pass computes)
  and only meets ``M``: one dot product ``x̂·S_M`` (its new own-cluster sum
  when the face is in ``M``, else its mean similarity ``x̂·S_M / n_M`` to
  compare with the two it has). Outside ``M`` that comparison can only
  matter through rounding (``M``'s mean similarity is a weighted mean of
  its parts', none of which beat the runner-up), so a float32 screen with a
  proven error bound leaves out every face that cannot reach its runner-up;
- a face whose nearest or runner-up cluster was merged (``A`` faces) is
  rescanned over all clusters with the same screened pass a fresh context
  uses.

Cost O(n·d + A·k·d) instead of O(n·k·d). Every value goes through the same
expressions as a fresh :func:`~toolkit.quality._silhouette.build_context`
(same sums, same dot products, same tie rule: the lower cluster code), so
the carried context equals a fresh one exactly, bit for bit, ties included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _cache
from ._data import (_TINY_NORM, DEFAULT_CHUNK_BYTES, check_chunk_bytes, chunk_rows, is_state,
                    iter_unit_rows, labelled)
from ._screen import inverse_counts, nearest_clusters, pair_dots, pair_step_of
from ._silhouette import SilhouetteContext, silhouette_context, silhouette_values
from ._stats import ClusterSums, add_cluster_sums, grouped_positions

__all__ = ["carry_context"]

_U32 = float(np.finfo(np.float32).eps) / 2.0


def carry_context(before: Any, after: Any, to: str, froms: Any, *,
                  chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> SilhouetteContext | None:
    """Seed the memoised silhouette context of ``after`` from that of ``before``.

    ``after`` must be ``before`` with ``froms`` merged into ``to`` (as
    :meth:`ClusterState.merge <toolkit.clustering.ClusterState.merge>` or
    :meth:`Ledger.merge <toolkit.clustering.Ledger.merge>` builds it). Every
    metric and :func:`~toolkit.quality.merge_impact` on ``after`` then finds
    its context, and its cluster sums, already computed.

    Parameters
    ----------
    before : ClusterState
        The state the merge was applied to. Its context is computed first
        when it is not memoised yet (one O(n·k·d) pass).
    after : ClusterState
        The merged state.
    to : str
        Destination cluster id.
    froms : str or sequence of str
        Source cluster id(s), as given to the merge.
    chunk_bytes : int, default=64 MiB
        Memory budget of one block of work.

    Returns
    -------
    context : SilhouetteContext or None
        The memoised context of ``after``: identical, array for array, to the
        one a fresh computation gives. None when ``after`` already holds
        cluster sums summed in other segments (another ``chunk_bytes``): no
        exact carry is possible then, and nothing is seeded (the context is
        computed fresh when first needed).

    Raises
    ------
    toolkit.errors.MergeError
        The request breaks a merge rule on ``before``.
    ValueError
        ``after`` is not ``before`` with that merge applied.

    Examples
    --------
    >>> import numpy as np
    >>> from toolkit.clustering import ClusterState
    >>> from toolkit.quality import silhouette_samples
    >>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8], [0.6, -0.8]])
    >>> before = ClusterState.from_arrays(X, ["a", "a", "b", "b", "c"])
    >>> after, _ = before.merge("a", from_="c")
    >>> ctx = carry_context(before, after, "a", "c")
    >>> after.cluster_ids.tolist(), ctx.best.tolist()     # each face's nearest other cluster
    (['a', 'b'], [1, 1, 0, 0, 1])
    >>> carried = silhouette_samples(after)                # served from the carried context
    >>> fresh = silhouette_samples(after.with_cluster_ids(after.face_cluster_ids()))
    >>> carried.round(3).tolist(), np.array_equal(carried, fresh)
    ([0.769, 0.143, 0.812, 0.87, 0.632], True)
    """
    from ._impact import _sources

    for name, state in (("before", before), ("after", after)):
        if not is_state(state):
            raise TypeError(f"carry_context needs ClusterStates, but `{name}` is a "
                            f"{type(state).__name__}.")
    chunk_bytes = check_chunk_bytes(chunk_bytes)
    found = _cache.peek(after, "silhouette")
    if found is not None:
        return found
    sources = _sources(before, to, froms)
    ctx = silhouette_context(before, chunk_bytes=chunk_bytes, caller="carry_context")
    data, stats = ctx.data, ctx.stats
    k = data.n_clusters
    t = int(before.cluster_index(to))
    src = np.array([before.cluster_index(s) for s in sources], dtype=np.int64)

    # Old code -> new code: the sources go, the rest keep their order, the
    # sources' faces join the destination (slot k answers for code -1).
    keep = np.ones(k, dtype=bool)
    keep[src] = False
    remap = np.empty(k + 1, dtype=np.int64)
    remap[:k] = np.cumsum(keep) - 1
    m = int(remap[t])
    remap[src] = m
    remap[k] = -1
    after_data = labelled(after, chunk_bytes=chunk_bytes, caller="carry_context")
    _check_merged(data, after_data, keep, remap, to, sources)

    after_stats = _cache.peek(after, "sums")
    if after_stats is None:
        after_stats = _merged_sums(data.X, stats, after_data, keep, m)
        _cache.seed(after, "sums", after_stats)
    elif after_stats.segment != stats.segment:
        return None

    in_group = np.zeros(k + 1, dtype=bool)
    in_group[t] = True
    in_group[src] = True
    scored = data.codes >= 0
    lost = in_group[ctx.best] | in_group[ctx.second]
    rescan = np.flatnonzero(scored & lost)
    kept = np.flatnonzero(scored & ~lost)

    xx, own = ctx.xx.copy(), ctx.own.copy()
    best, second = remap[ctx.best], remap[ctx.second]
    best_sim, second_sim = ctx.best_sim.copy(), ctx.second_sim.copy()

    joined = in_group[data.codes[kept]]
    inside, outside = kept[joined], kept[~joined]
    s_m = after_stats.sums[m]
    own[inside] = _dots_to(data.X, inside, after_stats.sums, m, chunk_bytes=chunk_bytes)
    if after_stats.counts[m] > 0 and outside.size:
        inv_m = inverse_counts(after_stats)[m]
        outside = outside[_may_reach(data.X, outside, s_m, inv_m, second_sim[outside],
                                     chunk_bytes=chunk_bytes)]
        sim_m = _dots_to(data.X, outside, after_stats.sums, m, chunk_bytes=chunk_bytes) * inv_m
        _offer(outside, sim_m, m, best, best_sim, second, second_sim)

    if rescan.size:
        xx_r, own_r, idx, val = nearest_clusters(after_data, after_stats, rescan,
                                                 chunk_bytes=chunk_bytes, top=2)
        xx[rescan], own[rescan] = xx_r, own_r
        best[rescan], best_sim[rescan] = idx[:, 0], val[:, 0]
        second[rescan], second_sim[rescan] = idx[:, 1], val[:, 1]

    samples = np.full(data.n_faces, np.nan)
    pos = np.flatnonzero(scored)
    samples[pos] = silhouette_values(own[pos], xx[pos],
                                     after_stats.counts[after_data.codes[pos]], best_sim[pos])
    _cache.seed(after, "silhouette", SilhouetteContext(
        after_data, after_stats, xx, own, best_sim, best, second_sim, second, samples))
    return _cache.peek(after, "silhouette")


def _check_merged(data: Any, after: Any, keep: np.ndarray, remap: np.ndarray, to: str,
                  sources: list[str]) -> None:
    """Raise unless ``after`` is exactly the state before with the merge applied."""
    same_rows = after.X is data.X or (after.X.shape == data.X.shape
                                      and np.array_equal(after.X, data.X))
    if not same_rows:
        raise ValueError("carry_context: `after` holds other embeddings than `before`; it "
                         "must be `before` with the merge applied.")
    expected_ids = data.cluster_ids[keep]
    if not (np.array_equal(after.cluster_ids, expected_ids)
            and np.array_equal(after.codes, remap[data.codes])):
        raise ValueError(f"carry_context: `after` is not `before` with {sources} merged into "
                         f"{to!r}: its clusters or labels differ from that merge's.")


def _merged_sums(X: np.ndarray, stats: ClusterSums, after: Any, keep: np.ndarray, m: int
                 ) -> ClusterSums:
    """The merged state's cluster sums: the untouched rows copied, ``S_M`` summed
    again over its members exactly as :func:`cluster_sums` sums a cluster."""
    order, starts = grouped_positions(after.codes, after.counts)
    sums, sq = stats.sums[keep], stats.sq[keep]
    sums[m], sq[m] = 0.0, 0.0
    members = order[starts[m]:starts[m + 1]]
    add_cluster_sums(X, members, np.full(len(members), m, dtype=np.int64), stats.segment,
                     sums, sq)
    return ClusterSums(after.counts, sums, sq, order, starts, stats.segment)


def _dots_to(X: np.ndarray, positions: np.ndarray, sums: np.ndarray, m: int, *,
             chunk_bytes: int) -> np.ndarray:
    """``x̂·S_m`` of the faces at ``positions``, through the same expression as a
    fresh pass (its bits do not depend on the batch)."""
    d = X.shape[1]
    out = np.empty(len(positions))
    # The unit rows, plus the two rows pair_dots gathers per face.
    step = chunk_rows(chunk_bytes, 24 * d + 64, len(positions))
    pair_step = pair_step_of(chunk_bytes, d)
    done = 0
    for pos, block, _sq in iter_unit_rows(X, positions, step):
        rows = np.arange(len(pos))
        out[done:done + len(pos)] = pair_dots(block, rows, np.full(len(pos), m), sums,
                                              pair_step)
        done += len(pos)
    return out


def _row_norms(X: np.ndarray, *, chunk_bytes: int) -> np.ndarray:
    """float64 L2 norm of every row, memoised on the embedding array (every state of a
    replay shares it); 0 for a row that :func:`unit_rows` turns into the zero row."""
    def build() -> np.ndarray:
        out = np.empty(X.shape[0])
        step = chunk_rows(chunk_bytes, 16 * X.shape[1] + 64, X.shape[0])
        for start in range(0, X.shape[0], step):
            block = np.asarray(X[start:start + step], dtype=np.float64)
            out[start:start + step] = np.sqrt(np.einsum("ij,ij->i", block, block))
        out[out < _TINY_NORM] = 0.0
        return out

    return _cache.memo(X, "row_norms", build)


def _may_reach(X: np.ndarray, positions: np.ndarray, s_m: np.ndarray, inv_m: float,
               level: np.ndarray, *, chunk_bytes: int) -> np.ndarray:
    """Mask of the faces whose exact mean similarity to ``M`` may reach ``level`` (their
    runner-up's): only those can take ``M`` into their top two.

    Screened in float32 (``x·S_M`` with the raw rows, one matrix-vector product) and
    proven: with ``u = 2**-24``, rounding ``S_M`` to float32 and the float32 dot product
    move ``x·S_M`` by at most ``(d + 2) u ‖x‖ ‖S_M‖ / (1 - (d + 2) u)``; dividing by the
    row norm, and the float64 roundings of the exact value, add far less than the
    ``6 u`` more of the margin ``(d + 8) u · 1.01 · ‖S_M‖ / n_M``. Zero rows are always
    kept (they get the exact 0).
    """
    n, d = X.shape
    norms = _row_norms(X, chunk_bytes=chunk_bytes)
    margin = (d + 8) * _U32 * 1.01 * float(np.linalg.norm(s_m)) * inv_m + 1e-30
    s32 = s_m.astype(np.float32)
    # Over all rows in place (no gather): most faces are outside M anyway.
    dots = np.empty(n, dtype=np.float32)
    step = chunk_rows(chunk_bytes, 8 * d + 64, n)
    for start in range(0, n, step):
        dots[start:start + step] = np.asarray(X[start:start + step], dtype=np.float32) @ s32
    dots, norms = dots[positions].astype(np.float64), norms[positions]
    live = norms > 0
    screened = np.zeros(len(positions))
    screened[live] = dots[live] / norms[live] * inv_m
    return ~live | (screened + margin >= level)


def _offer(positions: np.ndarray, value: np.ndarray, m: int, best: np.ndarray,
           best_sim: np.ndarray, second: np.ndarray, second_sim: np.ndarray) -> None:
    """Put cluster ``m`` with ``value`` into each face's top two (highest value
    first, ties to the lower code, -1 / -inf for a missing place), in place."""
    b, bs = best[positions], best_sim[positions]
    s, ss = second[positions], second_sim[positions]
    first = (b < 0) | (value > bs) | ((value == bs) & (m < b))
    runner = ~first & ((s < 0) | (value > ss) | ((value == ss) & (m < s)))
    best[positions] = np.where(first, m, b)
    best_sim[positions] = np.where(first, value, bs)
    second[positions] = np.where(first, b, np.where(runner, m, s))
    second_sim[positions] = np.where(first, bs, np.where(runner, value, ss))
