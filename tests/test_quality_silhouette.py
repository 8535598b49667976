"""Tests of toolkit.quality's silhouette (exact cosine silhouette from cluster sums)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import silhouette_samples as sk_samples
from sklearn.metrics import silhouette_score as sk_score

from toolkit.clustering import ClusterState
from toolkit.errors import RecordError
from toolkit.quality import (SilhouetteReport, silhouette_report, silhouette_samples,
                             silhouette_score)
from toolkit.quality import _silhouette

EPS32 = np.finfo(np.float32).eps

# Hand-worked: four unit vectors in the plane, two clusters.
#   x1 = (1, 0), x2 = (0.8, 0.6) in "a";  x3 = (0, 1), x4 = (-0.6, 0.8) in "b".
#   Cosines: x1·x2 = 0.8, x1·x3 = 0, x1·x4 = -0.6, x2·x3 = 0.6, x2·x4 = 0, x3·x4 = 0.8.
#   x1: a = 1 - 0.8 = 0.2; b = mean(1 - 0, 1 + 0.6) = 1.3; s = 1.1 / 1.3 = 0.846153...
#   x2: a = 0.2; b = mean(1 - 0.6, 1 - 0) = 0.7;          s = 0.5 / 0.7 = 0.714285...
#   x3: a = 0.2; b = mean(1 - 0, 1 - 0.6) = 0.7;          s = 0.714285...
#   x4: a = 0.2; b = mean(1 + 0.6, 1 - 0) = 1.3;          s = 0.846153...
#   mean = (2 * 11/13 + 2 * 5/7) / 4 = (11/13 + 5/7) / 2 = 0.780219...
HAND_X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
HAND_LABELS = ["a", "a", "b", "b"]
HAND_SAMPLES = np.array([11 / 13, 5 / 7, 5 / 7, 11 / 13])


def _blobs(n, k, d, *, seed=0, dtype=np.float64, spread=0.8):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d))
    labels = rng.integers(0, k, n)
    X = centres[labels] + spread * rng.standard_normal((n, d))
    return X.astype(dtype), labels


def test_hand_worked_samples_and_score():
    assert silhouette_samples(HAND_X, HAND_LABELS) == pytest.approx(HAND_SAMPLES, abs=1e-12)
    assert silhouette_score(HAND_X, HAND_LABELS) == pytest.approx((11 / 13 + 5 / 7) / 2)


def test_scale_of_rows_does_not_matter():
    # Cosine ignores length: scaling each row changes nothing.
    scaled = HAND_X * np.array([[3.0], [0.5], [10.0], [2.0]])
    assert silhouette_samples(scaled, HAND_LABELS) == pytest.approx(HAND_SAMPLES, abs=1e-12)


@pytest.mark.parametrize("n, k, d", [(60, 2, 3), (200, 7, 16), (300, 40, 8), (150, 149, 4)])
def test_float64_equals_sklearn(n, k, d):
    X, labels = _blobs(n, k, d, seed=n + k)
    ours = silhouette_samples(X, labels)
    assert np.abs(ours - sk_samples(X, labels, metric="cosine")).max() < 1e-9
    assert silhouette_score(X, labels) == pytest.approx(
        sk_score(X, labels, metric="cosine"), abs=1e-9)


@pytest.mark.parametrize("d", [8, 64])
def test_float32_equals_sklearn_on_float64_view_and_float32_within_tolerance(d):
    X, labels = _blobs(250, 9, d, seed=d, dtype=np.float32)
    ours = silhouette_samples(X, labels)
    assert np.abs(ours - sk_samples(X.astype(np.float64), labels, metric="cosine")).max() < 1e-9
    assert np.abs(ours - sk_samples(X, labels, metric="cosine")).max() < 100 * EPS32


def test_invariant_to_relabelling_and_row_order():
    X, labels = _blobs(180, 6, 5, seed=3)
    base = silhouette_samples(X, labels)
    renamed = np.array(["zeta", "Cluster-é", "7", "alpha", "Ω", "b b"], dtype=object)[labels]
    assert silhouette_samples(X, renamed) == pytest.approx(base, abs=1e-12)
    perm = np.random.default_rng(0).permutation(len(X))
    assert silhouette_samples(X[perm], labels[perm]) == pytest.approx(base[perm], abs=1e-12)


def test_mixed_type_ids_are_distinct_clusters():
    X, labels = _blobs(120, 3, 4, seed=5)
    mixed = np.array([10, "10", ("t", 1)], dtype=object)[labels]
    assert silhouette_samples(X, mixed) == pytest.approx(
        sk_samples(X, labels, metric="cosine"), abs=1e-9)


@pytest.mark.parametrize("missing", [None, np.nan, "", "figure-cluster-id-independent",
                                     "figure-cluster-id-unavailable"])
def test_faces_in_no_cluster_are_left_out(missing):
    X, labels = _blobs(100, 4, 6, seed=11)
    ids = np.array([f"c{c}" for c in labels], dtype=object)
    out = np.zeros(len(X), dtype=bool)
    out[::7] = True
    ids[out] = missing
    samples = silhouette_samples(X, ids)
    assert np.isnan(samples[out]).all()
    expected = sk_samples(X[~out], labels[~out], metric="cosine")
    assert np.abs(samples[~out] - expected).max() < 1e-9
    report = silhouette_report(X, ids)
    assert (report.n_scored, report.n_excluded, report.n_clusters) == (int((~out).sum()),
                                                                         int(out.sum()), 4)
    assert report.score == pytest.approx(expected.mean(), abs=1e-12)


def test_negative_numbers_mean_no_cluster_as_state_labels_do():
    # -1 is ClusterState.labels' and DBSCAN's "noise": left out here, whereas
    # scikit-learn would score it as one more cluster.
    X, labels = _blobs(90, 3, 5, seed=2)
    noisy = labels.copy()
    noisy[:10] = -1
    ours = silhouette_samples(X, noisy)
    assert np.isnan(ours[:10]).all()
    assert np.abs(ours[10:] - sk_samples(X[10:], labels[10:], metric="cosine")).max() < 1e-9


def test_singletons_score_zero_like_sklearn():
    X, labels = _blobs(40, 3, 4, seed=8)
    labels = labels.copy()
    labels[0], labels[1] = 100, 101   # two singletons
    ours = silhouette_samples(X, labels)
    assert ours[0] == 0.0 and ours[1] == 0.0
    assert np.abs(ours - sk_samples(X, labels, metric="cosine")).max() < 1e-9


def test_zero_row_has_similarity_zero_like_sklearn():
    X, labels = _blobs(50, 3, 4, seed=9)
    X[5] = 0.0
    assert np.abs(silhouette_samples(X, labels)
                  - sk_samples(X, labels, metric="cosine")).max() < 1e-9


def test_duplicate_rows_stay_within_range():
    X = np.repeat(np.array([[1.0, 0.0], [0.0, 1.0]]), 3, axis=0)
    samples = silhouette_samples(X, [0, 0, 0, 1, 1, 1])
    # Identical members: a = 0, b = 1, s = 1 exactly as scikit-learn.
    assert samples == pytest.approx(np.ones(6), abs=1e-12)


@pytest.mark.parametrize("chunk_bytes", [1, 700, 10_000, 64 * 2 ** 20])
def test_chunk_size_does_not_change_the_result(chunk_bytes):
    X, labels = _blobs(130, 5, 7, seed=4)
    assert silhouette_samples(X, labels, chunk_bytes=chunk_bytes) == pytest.approx(
        sk_samples(X, labels, metric="cosine"), abs=1e-9)


@pytest.fixture
def state():
    X, labels = _blobs(160, 6, 8, seed=21)
    ids = np.array([f"Cluster-{c}" for c in labels], dtype=object)
    ids[::9] = "figure-cluster-id-independent"
    return ClusterState.from_arrays(X, ids)


def test_state_equals_arrays_and_sklearn(state):
    ids = state.face_cluster_ids()
    clustered = state.labels >= 0
    from_arrays = silhouette_samples(state.embeddings, ids)
    assert silhouette_samples(state) == pytest.approx(from_arrays, abs=1e-12, nan_ok=True)
    expected = sk_samples(state.embeddings[clustered].astype(np.float64),
                          state.labels[clustered], metric="cosine")
    assert np.abs(silhouette_samples(state)[clustered] - expected).max() < 1e-9
    assert silhouette_score(state) == pytest.approx(expected.mean(), abs=1e-12)


def test_state_context_is_computed_once(state, monkeypatch):
    calls = []
    real = _silhouette.build_context

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_silhouette, "build_context", counting)
    first = silhouette_score(state)
    silhouette_samples(state)
    silhouette_report(state)
    assert silhouette_score(state) == first
    assert len(calls) == 1
    # Arrays are never memoised.
    silhouette_score(state.embeddings, state.face_cluster_ids())
    silhouette_score(state.embeddings, state.face_cluster_ids())
    assert len(calls) == 3


def test_report_frame_and_nearest_cluster(state):
    report = silhouette_report(state)
    assert isinstance(report, SilhouetteReport)
    frame = report.to_frame()
    assert list(frame.columns) == ["face_id", "cluster_id", "silhouette", "nearest_cluster"]
    assert frame["face_id"].tolist() == state.face_ids.tolist()
    assert report.to_dict() == {"score": report.score, "n_scored": report.n_scored,
                                "n_excluded": report.n_excluded, "n_clusters": 6}
    # Nearest other cluster by brute force: highest mean cosine to another cluster.
    Xn = state.embeddings.astype(np.float64)
    Xn /= np.linalg.norm(Xn, axis=1, keepdims=True)
    ids = state.face_cluster_ids()
    for i in np.flatnonzero(state.labels >= 0)[:20]:
        means = {c: (Xn[state.members(c)] @ Xn[i]).mean() for c in state.cluster_ids
                 if c != ids[i]}
        assert frame["nearest_cluster"][i] == max(means, key=means.get)
    assert frame["nearest_cluster"][0] is None or pd.isna(frame["nearest_cluster"][0])


def test_hand_worked_report_counts_the_excluded_face():
    X = np.vstack([HAND_X, [[0.6, -0.8]]])
    report = silhouette_report(X, HAND_LABELS + [None])
    assert (report.n_scored, report.n_excluded) == (4, 1)
    assert report.score == pytest.approx((11 / 13 + 5 / 7) / 2)
    assert np.isnan(report.samples[4])


@settings(deadline=None, max_examples=40)
@given(data=st.data())
def test_equals_sklearn_on_random_input(data):
    # Small integer coordinates keep the problem well conditioned (no two
    # directions closer than rounding can resolve) while allowing duplicates
    # and zero rows.
    n = data.draw(st.integers(4, 30))
    d = data.draw(st.integers(1, 3))
    X = data.draw(hnp.arrays(np.float64, (n, d), elements=st.integers(-5, 5).map(float)))
    labels = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))
    k = len(np.unique(labels))
    if not 1 < k < n:
        with pytest.raises(ValueError, match="Valid values are 2"):
            silhouette_score(X, labels)
        return
    expected = sk_samples(X, labels, metric="cosine")
    assert np.abs(silhouette_samples(X, labels) - expected).max() < 1e-9


@pytest.mark.parametrize("labels, match", [
    (["a", "a", "a", "a"], "Number of labels is 1"),
    (["a", "b", "c", "d"], "Number of labels is 4 among 4"),
    (["a", None, "a", None], "Number of labels is 1 among 2 clustered faces \\(2 faces in no"),
])
def test_number_of_clusters_out_of_range_raises(labels, match):
    with pytest.raises(ValueError, match=match):
        silhouette_score(HAND_X, labels)


def test_bad_inputs_raise_clear_errors(state):
    with pytest.raises(RecordError, match="differ in length.*expected 4 labels"):
        silhouette_score(HAND_X, ["a", "b"])
    bad = HAND_X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(RecordError, match=r"object\[2\].*non-finite.*field 'X'"):
        silhouette_score(bad, HAND_LABELS)
    with pytest.raises(RecordError, match="two-dimensional"):
        silhouette_score(np.ones(4), HAND_LABELS)
    with pytest.raises(RecordError, match="not numbers"):
        silhouette_score(np.array([["a", "b"]] * 4), HAND_LABELS)
    with pytest.raises(RecordError, match=r"object\[1\].*not hashable"):
        silhouette_score(HAND_X, ["a", ["x"], "b", "b"])
    with pytest.raises(TypeError, match="`labels` is required"):
        silhouette_score(HAND_X)
    with pytest.raises(TypeError, match="brings its own cluster labels"):
        silhouette_score(state, state.labels)
    with pytest.raises(ValueError, match="`chunk_bytes` must be a positive integer.*0 was"):
        silhouette_score(HAND_X, HAND_LABELS, chunk_bytes=0)
