"""Tests of toolkit.quality._screen: float32 screening gives the float64-exact nearest clusters."""

import numpy as np
import pytest
from sklearn.preprocessing import normalize

from toolkit.quality._data import labelled
from toolkit.quality._screen import nearest_clusters, screen_bound
from toolkit.quality._stats import cluster_sums


def _brute_top(X, labels, top):
    """Top mean similarities to other clusters, float64, ties to the lower code."""
    Xn = normalize(X.astype(np.float64))
    ids = np.unique(labels)
    means = np.stack([Xn @ Xn[labels == c].mean(axis=0) for c in ids], axis=1)
    codes = np.searchsorted(ids, labels)
    means[np.arange(len(X)), codes] = -np.inf
    order = np.argsort(-means, axis=1, kind="stable")[:, :top]
    vals = np.take_along_axis(means, order, axis=1)
    order[vals == -np.inf] = -1
    return order, vals


def _run(X, labels, top, chunk_bytes=2 ** 20):
    data = labelled(X, labels, chunk_bytes=chunk_bytes, caller="t")
    stats = cluster_sums(data, chunk_bytes=chunk_bytes)
    return nearest_clusters(data, stats, data.scored, chunk_bytes=chunk_bytes, top=top)


@pytest.mark.parametrize("top", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_float64_brute_force_with_exact_and_near_ties(top, dtype):
    rng = np.random.default_rng(top)
    k, d = 12, 16
    centres = rng.standard_normal((k, d))
    labels = np.repeat(np.arange(k), 10)
    X = centres[labels] + 0.5 * rng.standard_normal((len(labels), d))
    # Clusters 1 and 2 are exact copies of cluster 0 (exact ties), cluster 3 a
    # copy nudged by far less than float32 can resolve (near ties).
    for c in (1, 2):
        X[labels == c] = X[labels == 0]
    X[labels == 3] = X[labels == 0] * (1 + 1e-12)
    X = X.astype(dtype)
    _xx, _own, idx, val = _run(X, labels, top)
    expected_idx, expected_val = _brute_top(X, labels, top + 1)
    assert val == pytest.approx(expected_val[:, :top], abs=1e-12)
    # Which of several tied clusters wins depends on rounding; wherever the
    # brute force's top values are clearly apart, the clusters must agree.
    clear = (-np.diff(expected_val, axis=1) > 1e-9).all(axis=1)
    assert clear.sum() >= 40
    assert (idx[clear] == expected_idx[clear, :top]).all()


@pytest.mark.parametrize("chunk_bytes", [64, 5000, 2 ** 22])
def test_values_do_not_depend_on_the_chunk(chunk_bytes):
    rng = np.random.default_rng(0)
    X, labels = rng.standard_normal((90, 5)), rng.integers(0, 7, 90)
    base = _run(X, labels, 2)
    got = _run(X, labels, 2, chunk_bytes=chunk_bytes)
    for a, b in zip(base, got):
        assert a == pytest.approx(b, abs=1e-13)


def test_two_clusters_have_no_runner_up():
    X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    _xx, own, idx, val = _run(X, [0, 0, 1], 2)
    # Face 0: own sum x1·(x1 + x2) = 1 + 0.8; nearest other: cluster 1 at x1·x3 = 0.
    assert own[0] == pytest.approx(1.8)
    assert idx.tolist() == [[1, -1], [1, -1], [0, -1]]
    assert val[:, 1].tolist() == [-np.inf] * 3
    assert val[:, 0] == pytest.approx([0.0, 0.6, 0.3])


def test_bound_scales_with_dimension_and_is_tiny():
    rng = np.random.default_rng(1)
    X, labels = rng.standard_normal((50, 64)), rng.integers(0, 4, 50)
    data = labelled(X, labels, chunk_bytes=2 ** 20, caller="t")
    bound = screen_bound(cluster_sums(data, chunk_bytes=2 ** 20), 64)
    # (64 + 8) * 2**-24 * 1.01 * max ‖S_c‖/n_c, with ‖S_c‖/n_c <= 1.
    assert 0 < bound <= 72 * 2.0 ** -24 * 1.01 + 1e-30
