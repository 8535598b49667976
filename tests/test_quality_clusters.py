"""Tests of toolkit.quality's per-cluster quality, Davies–Bouldin and Calinski–Harabasz."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
from sklearn.preprocessing import normalize

from toolkit.clustering import ClusterState
from toolkit.quality import (calinski_harabasz, cluster_quality, davies_bouldin,
                             silhouette_samples)

# Hand-worked: x1 = (1, 0), x2 = (0.8, 0.6) in "a"; x3 = (0, 1), x4 = (-0.6, 0.8) in "b".
#   Centroids: μa = (0.9, 0.3), μb = (-0.3, 0.9).
#   Spread: ‖x1 - μa‖ = ‖(0.1, -0.3)‖ = √0.1, ‖x2 - μa‖ = ‖(-0.1, 0.3)‖ = √0.1, so s_a = √0.1;
#           likewise s_b = √0.1.
#   ‖μa - μb‖ = ‖(1.2, -0.6)‖ = √1.8.
#   Davies–Bouldin: both terms (√0.1 + √0.1) / √1.8 = 2 √(1/18) = 0.471404...
#   Calinski–Harabasz: overall mean μ = (0.3, 0.6);
#     B = 2 ‖(0.6, -0.3)‖² + 2 ‖(-0.6, 0.3)‖² = 4 * 0.45 = 1.8;  W = 4 * 0.1 = 0.4;
#     CH = (B / (k - 1)) / (W / (n - k)) = 1.8 / 0.2 = 9.
#   Cohesion: one pair per cluster, x1·x2 = 0.8, x3·x4 = 0.8.
#   Mean cross-similarity a-b: (x1·x3 + x1·x4 + x2·x3 + x2·x4) / 4 = (0 - 0.6 + 0.6 + 0) / 4 = 0.
HAND_X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
HAND_LABELS = ["a", "a", "b", "b"]


def _blobs(n, k, d, *, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d))
    labels = rng.integers(0, k, n)
    return (centres[labels] + 0.8 * rng.standard_normal((n, d))).astype(dtype), labels


def test_hand_worked_davies_bouldin_and_calinski_harabasz():
    assert davies_bouldin(HAND_X, HAND_LABELS) == pytest.approx(2 * np.sqrt(1 / 18))
    assert calinski_harabasz(HAND_X, HAND_LABELS) == pytest.approx(9.0)


def test_hand_worked_cluster_quality():
    q = cluster_quality(HAND_X, HAND_LABELS)
    assert list(q.columns) == ["cluster_id", "size", "cohesion", "nearest_cluster",
                               "nearest_similarity", "silhouette", "davies_bouldin"]
    assert q["cluster_id"].tolist() == ["a", "b"]
    assert q["size"].tolist() == [2, 2]
    assert q["cohesion"].to_numpy() == pytest.approx([0.8, 0.8])
    assert q["nearest_cluster"].tolist() == ["b", "a"]
    assert q["nearest_similarity"].to_numpy() == pytest.approx([0.0, 0.0], abs=1e-15)
    # Both clusters' silhouettes: (11/13 + 5/7) / 2 (see the silhouette tests).
    assert q["silhouette"].to_numpy() == pytest.approx([(11 / 13 + 5 / 7) / 2] * 2)
    assert q["davies_bouldin"].to_numpy() == pytest.approx([2 * np.sqrt(1 / 18)] * 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, k, d", [(80, 2, 3), (300, 12, 10)])
def test_equal_sklearn_on_normalised_rows(dtype, n, k, d):
    X, labels = _blobs(n, k, d, seed=k, dtype=dtype)
    Xn = normalize(X.astype(np.float64))
    assert davies_bouldin(X, labels) == pytest.approx(davies_bouldin_score(Xn, labels),
                                                      rel=1e-9)
    assert calinski_harabasz(X, labels) == pytest.approx(calinski_harabasz_score(Xn, labels),
                                                         rel=1e-9)


def test_singletons_match_sklearn_up_to_its_expanded_distance_noise():
    # scikit-learn takes a member's distance to its centroid as
    # sqrt(‖x‖² - 2x·μ + ‖μ‖²), which leaves ~1e-8 for a singleton; ours is 0.
    X, labels = _blobs(60, 4, 5, seed=1)
    labels[:3] = [10, 11, 12]
    Xn = normalize(X)
    assert davies_bouldin(X, labels) == pytest.approx(davies_bouldin_score(Xn, labels),
                                                      abs=1e-6)
    assert calinski_harabasz(X, labels) == pytest.approx(
        calinski_harabasz_score(Xn, labels), rel=1e-9)
    q = cluster_quality(X, labels).set_index("cluster_id")
    assert q.loc[[10, 11, 12], "cohesion"].isna().all()


def test_degenerate_cases_follow_sklearn():
    # No spread at all: every cluster is identical points -> DB 0, CH 1.
    X = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3)
    labels = [0, 0, 0, 1, 1, 1]
    assert davies_bouldin(X, labels) == 0.0 == davies_bouldin_score(X, labels)
    assert calinski_harabasz(X, labels) == 1.0 == calinski_harabasz_score(X, labels)


def test_cluster_quality_equals_brute_force():
    X, labels = _blobs(150, 6, 7, seed=4)
    ids = np.array([f"id-{c}" for c in labels], dtype=object)
    ids[::10] = None
    q = cluster_quality(X, ids)
    Xn = normalize(X)
    keep = np.array([v is not None for v in ids])
    samples = silhouette_samples(X, ids)
    for row in q.itertuples():
        mine = Xn[ids == row.cluster_id]
        G = mine @ mine.T
        n = len(mine)
        assert row.size == n
        assert row.cohesion == pytest.approx((G.sum() - np.trace(G)) / (n * (n - 1)))
        cross = {c: (mine @ Xn[ids == c].T).mean() for c in q["cluster_id"]
                 if c != row.cluster_id}
        assert row.nearest_cluster == max(cross, key=cross.get)
        assert row.nearest_similarity == pytest.approx(max(cross.values()))
        assert row.silhouette == pytest.approx(samples[ids == row.cluster_id].mean())
    assert q["davies_bouldin"].mean() == pytest.approx(
        davies_bouldin_score(Xn[keep], ids[keep].astype(str)), rel=1e-9)


@pytest.mark.parametrize("chunk_bytes", [1, 2048, 64 * 2 ** 20])
def test_chunk_size_does_not_change_the_result(chunk_bytes):
    X, labels = _blobs(120, 9, 6, seed=7)
    base = cluster_quality(X, labels)
    got = cluster_quality(X, labels, chunk_bytes=chunk_bytes)
    pd.testing.assert_frame_equal(got, base, check_exact=False, rtol=1e-12)
    assert davies_bouldin(X, labels, chunk_bytes=chunk_bytes) == pytest.approx(
        davies_bouldin(X, labels), rel=1e-12)


def test_invariant_to_relabelling_and_row_order():
    X, labels = _blobs(100, 5, 4, seed=2)
    perm = np.random.default_rng(1).permutation(100)
    renamed = np.array(["e", "d", "c", "b", "a"], dtype=object)[labels]
    for f in (davies_bouldin, calinski_harabasz):
        assert f(X[perm], renamed[perm]) == pytest.approx(f(X, labels), rel=1e-12)


def test_state_equals_arrays():
    X, labels = _blobs(90, 4, 5, seed=3)
    ids = np.array([f"Cluster-{c}" for c in labels], dtype=object)
    ids[:5] = "figure-cluster-id-unavailable"
    state = ClusterState.from_arrays(X, ids)
    arr_ids = state.face_cluster_ids()
    pd.testing.assert_frame_equal(cluster_quality(state),
                                  cluster_quality(state.embeddings, arr_ids))
    assert davies_bouldin(state) == davies_bouldin(state.embeddings, arr_ids)
    assert calinski_harabasz(state) == calinski_harabasz(state.embeddings, arr_ids)


def test_single_cluster_quality_has_no_neighbour():
    q = cluster_quality(HAND_X, ["a"] * 4)
    assert q["nearest_cluster"].tolist() == [None]
    assert q[["nearest_similarity", "silhouette", "davies_bouldin"]].isna().all(axis=None)
    # All six pairs: (0.8 + 0 - 0.6 + 0.6 + 0 + 0.8) / 6 = 1.6 / 6.
    assert q["cohesion"].iloc[0] == pytest.approx(1.6 / 6)


@pytest.mark.parametrize("func", [davies_bouldin, calinski_harabasz])
def test_number_of_labels_out_of_range_raises(func):
    with pytest.raises(ValueError, match="Number of labels is 1"):
        func(HAND_X, ["a"] * 4)
    with pytest.raises(ValueError, match="Number of labels is 4 among 4"):
        func(HAND_X, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="`chunk_bytes` must be a positive integer"):
        func(HAND_X, HAND_LABELS, chunk_bytes=-5)
