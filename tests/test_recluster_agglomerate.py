"""Average linkage from cluster sums on a neighbour graph (toolkit.reclustering._agglomerate)."""

import numpy as np
import pytest
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
    from toolkit.reclustering._agglomerate import _linkage
    from toolkit.reclustering._graph import neighbour_graph

    x = _blobs(seed=4)
    graph = neighbour_graph(x, 5)
    own = _linkage(x.astype(np.float64), np.ones(len(x)), graph.pairs[:, 0], graph.pairs[:, 1])
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
    from toolkit.reclustering._agglomerate import _reciprocal_best

    # Edges 0-1 (0.5), 1-2 (0.5), 2-3 (0.9). Cluster 1 ties between 0 and 2 at 0.5 and
    # takes 0, the smaller name; 2 and 3 pick each other. Both pairs are mutual.
    u, v = np.array([0, 1, 2]), np.array([1, 2, 3])
    a, b, s = _reciprocal_best(u, v, np.array([0.5, 0.5, 0.9]), 4)
    assert a.tolist() == [0, 2] and b.tolist() == [1, 3]
    assert s.tolist() == [0.5, 0.9]


def test_unique_pairs_point_at_each_pairs_first_entry():
    from toolkit.reclustering._agglomerate import unique_pairs

    # Row 0 lists 1 then 2; row 1 lists 0 (the pair 0-1 again) then 1 itself (dropped).
    idx = np.array([[1, 2], [0, 1], [1, 0]])
    pairs, first = unique_pairs(idx)
    assert pairs.tolist() == [[0, 1], [0, 2], [1, 2]]
    assert first.tolist() == [0, 1, 4]  # flat positions: (0,0)=0, (0,1)=1, (2,0)=4
