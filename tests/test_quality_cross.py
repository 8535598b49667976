"""Tests of toolkit.quality._cross: the exact, chunked median of cross-similarities."""

import numpy as np
import pytest
from sklearn.preprocessing import normalize

from toolkit.quality._cross import cross_median


def test_hand_worked_median():
    # Rows a = {(1, 0), (0, 1)}, b = {(1, 0), (0.6, 0.8), (-1, 0)}.
    # Cosines: (1,0)·b = 1, 0.6, -1;  (0,1)·b = 0, 0.8, 0.
    # Sorted: -1, 0, 0, 0.6, 0.8, 1 -> median (0 + 0.6) / 2 = 0.3.
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]])
    assert cross_median(X, np.array([0, 1]), np.array([2, 3, 4]),
                        chunk_bytes=2 ** 20) == pytest.approx(0.3)
    # Tiny budget: the interval-narrowing path must give the same value.
    assert cross_median(X, np.array([0, 1]), np.array([2, 3, 4]),
                        chunk_bytes=32) == pytest.approx(0.3)


@pytest.mark.parametrize("chunk_bytes", [16, 200, 4096, 2 ** 20])
@pytest.mark.parametrize("seed", range(4))
def test_equals_numpy_median_with_ties_and_any_budget(chunk_bytes, seed):
    rng = np.random.default_rng(seed)
    n, d = 70, 1 + seed
    X = rng.standard_normal((n, d)).astype(np.float32 if seed % 2 else np.float64)
    X[: n // 3] = X[0]   # many identical rows: heavy ties
    a = rng.choice(n, 25, replace=False)
    b = rng.choice(n, 30 + seed, replace=False)
    Xn = normalize(X.astype(np.float64))
    expected = np.median(Xn[a] @ Xn[b].T)
    assert cross_median(X, a, b, chunk_bytes=chunk_bytes) == pytest.approx(expected, abs=1e-12)


def test_empty_side_gives_nan():
    assert np.isnan(cross_median(np.eye(2), np.array([], dtype=np.int64), np.array([0]),
                                 chunk_bytes=1024))
