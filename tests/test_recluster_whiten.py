"""Within-person whitening (toolkit.reclustering._whiten)."""

import numpy as np
import pytest

from toolkit.reclustering._whiten import within_whitening


def _sums(x, labels, k):
    return np.stack([x[labels == c].sum(axis=0) for c in range(k)])


def _typical_spread(x, labels, vectors):
    """Reference: per cluster of 2+, the mean squared residual along each vector;
    the median over clusters."""
    rows = []
    for c in np.unique(labels[labels >= 0]):
        r = x[labels == c] - x[labels == c].mean(axis=0)
        if len(r) >= 2:
            rows.append(((r @ vectors) ** 2).mean(axis=0))
    return np.median(rows, axis=0)


def test_transform_divides_each_direction_by_its_typical_spread():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 6)) * [1, 2, 3, 1, 1, 5]
    labels = np.repeat(np.arange(10), 30)
    labels[:4] = -1  # faces in no cluster are left out
    w = within_whitening(x, labels, _sums(x, labels, 10))
    # Reference from the definition, on the pooled scatter's eigenvectors.
    r = np.vstack([x[labels == c] - x[labels == c].mean(axis=0) for c in range(10)])
    _, vectors = np.linalg.eigh(r.T @ r)
    typical = _typical_spread(x, labels, vectors)
    scale = 1 / np.sqrt(np.maximum(typical, typical.mean()))
    assert w.transform == pytest.approx((vectors * scale) @ vectors.T, abs=1e-12)
    assert w.spread_ratio == pytest.approx(typical.max() / typical.mean())
    # (spread 1, 4, 9, 1, 1, 25 on the axes: axis 5 is divided by 5, axes 0, 3, 4
    # by the floor sqrt(41 / 6), not by 1)
    assert w.centre == pytest.approx(x[labels >= 0].mean(axis=0))
    assert np.linalg.norm(w.apply(x[:3]), axis=1) == pytest.approx(np.ones(3))


def test_a_direction_everyone_varies_along_counts_less():
    # Every cluster spreads along axis 0 (a "pose" direction, variance 0.25) and
    # little elsewhere (0.0004): axis 0 is divided by 0.5, the others by the floor,
    # sqrt of the mean variance (0.25 + 8 * 0.0004) / 9 = 0.028, i.e. by 0.17.
    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(8), 30)
    x = np.repeat(np.eye(9)[1:], 30, axis=0) + rng.standard_normal((240, 9)) * ([0.5] + [0.02] * 8)
    w = within_whitening(x, labels, _sums(x, labels, 8))
    assert w.transform[0, 0] == pytest.approx(0.34 * w.transform[1, 1], rel=0.15)
    assert w.spread_ratio > 5


def test_one_cluster_of_two_people_does_not_teach_their_difference():
    # Eight clusters of one person each spread alike in every direction; cluster 0
    # holds two people 1.0 apart along axis 0. The pooled scatter is dominated by
    # that difference, the typical cluster's is not: axis 0 is not whitened away.
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(8), 12)
    x = np.repeat(np.eye(9)[1:], 12, axis=0) + 0.05 * rng.standard_normal((96, 9))
    x[:6, 0] += 1.0
    w = within_whitening(x, labels, _sums(x, labels, 8))
    scales = np.linalg.eigvalsh(w.transform)
    assert scales.max() / scales.min() < 1.5  # about isotropic: nothing much whitened
    y = w.apply(x[:12])
    host, other = y[6:].mean(axis=0), y[:6].mean(axis=0)
    assert host @ other / (np.linalg.norm(host) * np.linalg.norm(other)) < 0.9


def test_a_constant_component_changes_nothing():
    # Padding every face with the same extra coordinate (a compressed scale: dot
    # products become a + b s) leaves the whitened rows as they were.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((90, 4)) * [1.0, 0.2, 0.2, 3.0]
    labels = np.repeat(np.arange(6), 15)
    padded = np.hstack([np.sqrt(0.15) * x, np.full((90, 1), np.sqrt(0.85))])
    a = within_whitening(x, labels, _sums(x, labels, 6))
    b = within_whitening(padded, labels, _sums(padded, labels, 6))
    ya, yb = a.apply(x), b.apply(padded)
    assert yb @ yb.T == pytest.approx(ya @ ya.T, abs=1e-9)


@pytest.mark.parametrize("labels", [[-1, -1, -1], [0, -1, -1], [0, 1, 2]])
def test_without_scatter_nothing_is_whitened(labels):
    # No cluster of two faces (or no clustered face at all): the identity.
    x = np.eye(3)
    labels = np.array(labels)
    k = labels.max() + 1
    w = within_whitening(x, labels, _sums(x, labels, k) if k else np.zeros((0, 3)))
    assert w.spread_ratio == 1.0
    assert np.array_equal(w.transform, np.eye(3))
