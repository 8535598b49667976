"""Average linkage from cluster sums on a neighbour graph (toolkit.reclustering._agglomerate)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.cluster.hierarchy import linkage
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from toolkit.reclustering import nearest_neighbors, recluster
from toolkit.reclustering._agglomerate import average_linkage, neighbor_pairs

# a=(1,0) b=(0.8,0.6) c=(0,1) d=(-0.6,0.8): cos ab=0.8 ac=0 ad=-0.6 bc=0.6 bd=0 cd=0.8
SQUARE = np.array([[1, 0], [0.8, 0.6], [0, 1], [-0.6, 0.8]], dtype=np.float32)


def _all_pairs(x):
    return neighbor_pairs(nearest_neighbors(x, x.shape[0] - 1)[0])


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _blobs(n_per=12, k=6, dim=10, spread=0.5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim))
    return _unit(np.repeat(centres, n_per, axis=0) + spread * rng.standard_normal((n_per * k, dim)))


def test_hand_worked_square():
    # Round 1: a-b and c-d are reciprocal best pairs at 0.8. Then {a,b} vs {c,d}:
    # mean of ac, ad, bc, bd = (0 - 0.6 + 0.6 + 0) / 4 = 0.
    agg = average_linkage(SQUARE, _all_pairs(SQUARE), -np.inf)
    assert sorted(agg.merges[:, 2].tolist()) == pytest.approx([0.0, 0.8, 0.8], abs=1e-6)
    assert agg.merges[-1, 3:].tolist() == [2.0, 2.0]  # two pairs of faces joined: 4 face pairs
    assert average_linkage(SQUARE, _all_pairs(SQUARE), 0.5).labels.tolist() == [0, 0, 1, 1]
    assert average_linkage(SQUARE, _all_pairs(SQUARE), 0.0).labels.tolist() == [0, 0, 0, 0]


def test_cohesion_guard_hand_worked():
    # {a,b} and {c,d} have cohesion 0.8 and link 0. With floor -0.2 the guard asks
    # link + 0.2 >= ratio * (0.8 + 0.2): ratio 0.6 needs 0.6 > 0.2 -> refused; 0.1 -> 0.1 <= 0.2.
    pairs = _all_pairs(SQUARE)
    kept = average_linkage(SQUARE, pairs, -1.0, cohesion_ratio=0.6, floor=-0.2)
    joined = average_linkage(SQUARE, pairs, -1.0, cohesion_ratio=0.1, floor=-0.2)
    assert kept.n_clusters == 2
    assert joined.n_clusters == 1


def test_heights_equal_scipy_upgma():
    x = _blobs()
    agg = average_linkage(x, _all_pairs(x), -np.inf)
    z = linkage(x.astype(np.float64), "average", metric="cosine")
    assert np.sort(1 - agg.merges[:, 2]) == pytest.approx(np.sort(z[:, 2]), abs=1e-6)


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.5, 0.7])
def test_partition_equals_scikit_learn_with_every_pair_a_candidate(threshold):
    x = _blobs(seed=1)
    ours = average_linkage(x, _all_pairs(x), threshold).labels
    sk = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                 distance_threshold=1 - threshold).fit_predict(x)
    assert adjusted_rand_score(ours, sk) == pytest.approx(1.0)
    res = recluster(x, threshold=threshold, n_neighbors=len(x), cohesion_ratio=None)
    assert adjusted_rand_score(res.state.labels, sk) == pytest.approx(1.0)


def test_a_chain_of_faces_does_not_join_two_people():
    # Two people at 0 and 90 degrees, bridged by faces every 15 degrees. cos 15 = 0.966 is
    # above the threshold cos 16 = 0.961, so single linkage walks the chain from one person
    # to the other; average linkage needs the mean over all cross pairs, e.g. A with a
    # merged {15, 30} pair: about (0.966 + 0.866) / 2 = 0.92 < 0.961.
    deg = np.concatenate([[-2, -1, 0, 1, 2], [15, 30, 45, 60, 75], [88, 89, 90, 91, 92]])
    x = np.stack([np.cos(np.radians(deg)), np.sin(np.radians(deg))], axis=1).astype(np.float32)
    t = float(np.cos(np.radians(16)))
    single = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="single",
                                     distance_threshold=1 - t).fit_predict(x)
    assert single[0] == single[-1]  # the baseline really chains
    for ratio in (None, 0.6):
        labels = recluster(x, threshold=t, n_neighbors=4, cohesion_ratio=ratio).state.labels
        assert len(set(labels[:5])) == 1 and len(set(labels[-5:])) == 1
        assert labels[0] != labels[-1]


def test_result_does_not_depend_on_row_order():
    x = _blobs(seed=2)
    perm = np.random.default_rng(3).permutation(len(x))
    a = average_linkage(x, _all_pairs(x), 0.4).labels
    b = average_linkage(x[perm], _all_pairs(x[perm]), 0.4).labels
    assert adjusted_rand_score(a[perm], b) == pytest.approx(1.0)


def test_duplicates_tie_deterministically_and_clusters_are_numbered_by_first_face():
    x = _unit(np.array([[1, 0], [0, 1], [1, 0], [0, 1], [1, 0]], dtype=np.float64))
    agg = average_linkage(x, _all_pairs(x), 0.5)
    assert agg.labels.tolist() == [0, 1, 0, 1, 0]
    again = average_linkage(x, _all_pairs(x), 0.5)
    assert np.array_equal(agg.merges, again.merges)


def test_only_candidate_pairs_can_merge():
    # a-b are similar but not a candidate pair: nothing merges.
    agg = average_linkage(SQUARE, np.array([[0, 2]]), 0.5)
    assert agg.n_clusters == 4 and agg.merges.shape == (0, 5)


def test_neighbor_pairs_are_unique_and_ordered():
    idx = np.array([[1, 2], [0, 2], [1, 0]])
    assert neighbor_pairs(idx).tolist() == [[0, 1], [0, 2], [1, 2]]


def test_graph_pair_similarities_are_the_linkage_of_two_faces_bit_for_bit():
    from toolkit.reclustering._agglomerate import _Agglomerator
    from toolkit.reclustering._graph import neighbour_graph

    x = _blobs(seed=4)
    graph = neighbour_graph(x, 5)
    own = _Agglomerator(x, 0.0).links(graph.pairs[:, 0], graph.pairs[:, 1])
    assert np.array_equal(graph.pair_similarities, own)
    assert graph.pairs.tolist() == neighbor_pairs(graph.indices).tolist()


@pytest.mark.parametrize("ratio", [None, 0.6])
def test_handing_over_the_pair_similarities_changes_nothing(ratio):
    from toolkit.reclustering._graph import neighbour_graph

    x = _blobs(n_per=20, seed=5)
    graph = neighbour_graph(x, 6)
    given = average_linkage(x, graph.pairs, 0.2, pair_similarities=graph.pair_similarities,
                            cohesion_ratio=ratio, refresh_neighbors=6)
    computed = average_linkage(x, graph.pairs, 0.2, cohesion_ratio=ratio, refresh_neighbors=6)
    assert np.array_equal(given.merges, computed.merges)
    assert np.array_equal(given.labels, computed.labels)


def test_pair_similarities_must_match_the_pairs():
    with pytest.raises(ValueError, match="`pair_similarities` holds 1 values for 2 pairs"):
        average_linkage(SQUARE, np.array([[0, 1], [2, 3]]), 0.5, pair_similarities=[0.8])


def test_reciprocal_best_breaks_ties_by_the_smaller_name():
    from toolkit.reclustering._agglomerate import _Agglomerator

    # Edges 0-1 (0.5), 1-2 (0.5), 2-3 (0.9). Cluster 1 ties between 0 and 2 at 0.5 and
    # takes 0, the smaller name; 2 and 3 pick each other. Both pairs are mutual.
    agg = _Agglomerator(SQUARE, 0.0)
    agg.set_edges(np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([0.5, 0.5, 0.9]))
    a, b, s, _, _ = agg.best_pairs()
    assert a.tolist() == [0, 2] and b.tolist() == [1, 3]
    assert s.tolist() == [0.5, 0.9]
    assert agg.n_exact == 0  # every link was exact already
    # Named the other way round, 1 still takes the smaller name.
    agg.set_edges(np.array([1, 0, 2]), np.array([2, 1, 3]), np.array([0.5, 0.5, 0.9]))
    assert agg.best_pairs()[0].tolist() == [0, 2]


def test_unique_pairs_point_at_each_pairs_first_entry():
    from toolkit.reclustering._agglomerate import unique_pairs

    # Row 0 lists 1 then 2; row 1 lists 0 (the pair 0-1 again) then 1 itself (dropped).
    idx = np.array([[1, 2], [0, 1], [1, 0]])
    pairs, first = unique_pairs(idx)
    assert pairs.tolist() == [[0, 1], [0, 2], [1, 2]]
    assert first.tolist() == [0, 1, 4]  # flat positions: (0,0)=0, (0,1)=1, (2,0)=4


# ---- the lazy links: the same merges as recomputing every link ---------------------------

def _reciprocal_best(u, v, sim, n):
    """Pairs ``a < b`` that are each other's best edge (highest link, then smaller name)."""
    best_sim = np.full(n, -np.inf)
    np.maximum.at(best_sim, u, sim)
    np.maximum.at(best_sim, v, sim)
    best = np.full(n, n)
    np.minimum.at(best, u[sim == best_sim[u]], v[sim == best_sim[u]])
    np.minimum.at(best, v[sim == best_sim[v]], u[sim == best_sim[v]])
    mutual = np.flatnonzero((best[u] == v) & (best[v] == u))
    mutual = mutual[np.argsort(u[mutual], kind="stable")]
    return u[mutual], v[mutual], sim[mutual]


def _eager_average_linkage(x, pairs, threshold, *, cohesion_ratio=None, floor=0.0,
                           refresh_neighbors=None):
    """The reference: every link of a merged cluster recomputed from the float64 sums
    after every round (with the same dot-product routine and the same rounds), in
    plain NumPy."""
    from toolkit.reclustering._dots import pair_dots

    n = x.shape[0]
    sums, sizes, parent = x.astype(np.float64), np.ones(n), np.arange(n)

    def link(a, b):
        return pair_dots(sums, sums, a, b) / (sizes[a] * sizes[b])

    def cohesion(c):
        sq = pair_dots(sums, sums, c, c)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(sizes[c] > 1, (sq - sizes[c]) / (sizes[c] * (sizes[c] - 1)), np.nan)

    u, v = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    sim = link(u, v)
    u, v, sim = u[sim >= threshold], v[sim >= threshold], sim[sim >= threshold]
    merges, refused = [], {}
    while True:
        if not u.size:
            if not refresh_neighbors:
                break
            alive = np.flatnonzero(parent == np.arange(n))
            if alive.size < 2:
                break
            feats = sums[alive] / np.linalg.norm(sums[alive], axis=1, keepdims=True)
            idx, _ = nearest_neighbors(feats, min(refresh_neighbors, alive.size - 1))
            cand = alive[neighbor_pairs(idx)]
            u, v = cand[:, 0], cand[:, 1]
            sim = link(u, v)
            again = np.array([refused.get(i * n + j) == (sizes[i], sizes[j])
                              for i, j in zip(u.tolist(), v.tolist())], dtype=bool)
            keep = (sim >= threshold) & ~again
            u, v, sim = u[keep], v[keep], sim[keep]
            if not u.size:
                break
        a, b, s = _reciprocal_best(u, v, sim, n)
        if cohesion_ratio is not None:
            ref = np.sqrt(np.clip(cohesion(a) - floor, 0, None)
                          * np.clip(cohesion(b) - floor, 0, None))
            no = (sizes[a] > 1) & (sizes[b] > 1) & ~(s - floor >= cohesion_ratio * ref)
            for i, j in zip(a[no].tolist(), b[no].tolist()):
                refused[i * n + j] = (sizes[i], sizes[j])
            gone = np.isin(u * n + v, a[no] * n + b[no])
            u, v, sim = u[~gone], v[~gone], sim[~gone]
            a, b, s = a[~no], b[~no], s[~no]
            if not a.size:
                continue
        merges.append(np.stack([a, b, s, sizes[a], sizes[b]], axis=1))
        sums[a] += sums[b]
        sizes[a] += sizes[b]
        parent[b] = a
        rename = np.arange(n)
        rename[b] = a
        u, v = rename[u], rename[v]
        redo = np.isin(u, a) | np.isin(v, a)
        lo, hi = np.minimum(u[redo], v[redo]), np.maximum(u[redo], v[redo])
        key = np.unique((lo * n + hi)[lo != hi])
        lo, hi = key // n, key % n
        new = link(lo, hi)
        keep = new >= threshold
        u = np.concatenate([u[~redo], lo[keep]])
        v = np.concatenate([v[~redo], hi[keep]])
        sim = np.concatenate([sim[~redo], new[keep]])
    return np.concatenate(merges) if merges else np.empty((0, 5))


@pytest.mark.parametrize("ratio", [None, 0.6])
@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_merges_equal_recomputing_every_link_bit_for_bit(seed, threshold, ratio):
    from toolkit.reclustering._graph import neighbour_graph

    x = _blobs(n_per=15, k=8, dim=12, spread=0.7, seed=seed)
    graph = neighbour_graph(x, 5)
    ref = _eager_average_linkage(x, graph.pairs, threshold, cohesion_ratio=ratio, floor=0.05,
                                 refresh_neighbors=5)
    agg = average_linkage(x, graph.pairs, threshold, cohesion_ratio=ratio, floor=0.05,
                          refresh_neighbors=5)
    assert np.array_equal(agg.merges, ref)


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 10_000), st.floats(-0.2, 0.6), st.sampled_from([None, 0.5]))
def test_every_estimated_link_lies_in_its_interval(seed, threshold, ratio):
    # After every round's merges, each link not computed exactly must be within its
    # proven interval of the value the sums give; the merges equal the reference.
    from toolkit.reclustering import _agglomerate
    from toolkit.reclustering._graph import neighbour_graph

    x = _blobs(n_per=10, k=6, dim=6, spread=0.9, seed=seed)
    graph = neighbour_graph(x, 4)
    checked = []
    original = _agglomerate._Agglomerator.merge

    def merge(self, a, b):
        original(self, a, b)
        u, v, sim, err = self.edges()
        rough = np.flatnonzero(err > 0)
        exact = self.links(u[rough], v[rough])
        assert np.all(np.abs(exact - sim[rough]) <= err[rough])
        checked.append(rough.size)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_agglomerate._Agglomerator, "merge", merge)
        agg = average_linkage(x, graph.pairs, threshold, cohesion_ratio=ratio, floor=0.0,
                              refresh_neighbors=4)
    ref = _eager_average_linkage(x, graph.pairs, threshold, cohesion_ratio=ratio, floor=0.0,
                                 refresh_neighbors=4)
    assert np.array_equal(agg.merges, ref)
    assert sum(checked) > 0  # intervals were really put to the test


def _agglomerator(x, pairs, threshold):
    from toolkit.reclustering._agglomerate import _Agglomerator

    agg = _Agglomerator(x, threshold)
    u, v = pairs[:, 0], pairs[:, 1]
    agg.set_edges(u, v, agg.links(u, v))
    return agg


def test_a_link_both_parts_know_is_estimated_not_recomputed():
    # a=(1,0), b=(0.8,0.6) merge; c=(0.6,0.8) has an edge to both: the union's link
    # to c is the mean of 0.6 and 0.96 = 0.78, known to within rounding, so it is
    # not computed again.
    x = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8]])
    agg = _agglomerator(x, np.array([[0, 1], [0, 2], [1, 2]]), 0.5)
    agg.merge(np.array([0]), np.array([1]))
    u, v, sim, err = agg.edges()
    assert agg.n_exact == 0
    assert u.tolist() == [0] and v.tolist() == [2]
    assert sim[0] == pytest.approx(0.78)
    assert 0 < err[0] < 1e-10
    assert abs(agg.links(u, v)[0] - sim[0]) <= err[0]


def test_a_link_with_an_unknown_part_is_bounded_then_computed_at_the_threshold():
    # Only b-c is an edge (0.96); a-c (0.6) is unknown to the union {a, b}: its link
    # to c lies in [(0.96 - 1) / 2, (0.96 + 1) / 2]. That holds the threshold 0.7, so
    # before it can be taken as the union's best it is computed: 0.78, kept, merged.
    x = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8], [-1, 0]])
    agg = _agglomerator(x, np.array([[0, 1], [1, 2]]), 0.7)
    agg.merge(np.array([0]), np.array([1]))
    _, _, sim, err = agg.edges()
    assert agg.n_exact == 0
    assert sim[0] - err[0] == pytest.approx(-0.02, abs=1e-9)
    assert sim[0] + err[0] == pytest.approx(0.98, abs=1e-9)
    a, b, s, _, _ = agg.best_pairs()
    assert agg.n_exact == 1 and agg.edges()[3][0] == 0
    assert (a.tolist(), b.tolist()) == ([0], [2])
    assert s[0] == pytest.approx(0.78)


def test_a_bounded_link_below_the_threshold_is_computed_and_dropped():
    # As above with the threshold at 0.9: the union's link to c (0.78) may be above
    # 0.9 by its interval, so it is kept; computed, it falls below and goes.
    x = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8], [-1, 0]])
    agg = _agglomerator(x, np.array([[0, 1], [1, 2]]), 0.9)
    agg.merge(np.array([0]), np.array([1]))
    assert agg.m == 1
    a, _, _, _, _ = agg.best_pairs()
    assert a.size == 0 and agg.m == 0 and agg.n_exact == 1


def test_sums_live_in_a_pool_that_reuses_merged_away_rows():
    from toolkit.reclustering._agglomerate import _Agglomerator

    x = _blobs(n_per=4, k=2, dim=3)
    agg = _Agglomerator(x, 0.0)
    agg.merge(np.array([0, 2]), np.array([1, 3]))   # {0,1} and {2,3}
    agg.merge(np.array([0]), np.array([2]))         # {0,1,2,3}: the row of 2 is freed
    agg.merge(np.array([4]), np.array([5]))         # {4,5} takes the freed row
    assert agg.counters.tolist() == [0, 2]          # no free row, 2 rows used
    x64 = x.astype(np.float64)
    expected = np.stack([x64[0] + x64[1] + (x64[2] + x64[3]), x64[4] + x64[5], x64[6]])
    assert np.array_equal(agg.rows(np.array([0, 4, 6])), expected)
    assert agg.sq[0] == pytest.approx(expected[0] @ expected[0])
    assert agg.sizes[[0, 4, 6]].tolist() == [4.0, 2.0, 1.0]
    assert agg.parent.tolist() == [0, 0, 0, 2, 4, 4, 6, 7]


def test_large_passes_on_all_cores_give_the_same_merges():
    # 2,400 faces: the early rounds compute thousands of links in one pass, which
    # run on all cores (above 512); the merges must still be the reference's.
    from toolkit.reclustering._graph import neighbour_graph

    x = _blobs(n_per=40, k=60, dim=24, spread=0.8, seed=11)
    graph = neighbour_graph(x, 10)
    agg = average_linkage(x, graph.pairs, 0.2, cohesion_ratio=0.6, floor=0.0,
                          refresh_neighbors=10)
    ref = _eager_average_linkage(x, graph.pairs, 0.2, cohesion_ratio=0.6, floor=0.0,
                                 refresh_neighbors=10)
    assert np.array_equal(agg.merges, ref)


def test_the_rounds_give_their_scratch_back_as_they_found_it():
    from toolkit.reclustering import _kernels

    x = _blobs(n_per=15, k=8, dim=12, spread=0.7, seed=2)
    agg = _agglomerator(x, _all_pairs(x), 0.3)
    fresh = _kernels.new_scratch(len(x))
    rounds = 0
    while agg.m:
        a, b, _, _, _ = agg.best_pairs(0.6, 0.0)
        if a.size:
            agg.merge(a, b)
        rounds += 1
        for name in ("low", "high", "count", "best", "mark", "rename"):
            assert np.array_equal(getattr(agg.scratch, name), getattr(fresh, name)), name
    assert rounds > 3
