"""Exact chunked k-nearest neighbours (toolkit.reclustering._knn)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.neighbors import NearestNeighbors

from toolkit.reclustering import nearest_neighbors


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_hand_worked_neighbours():
    # cos(a, b) = 0.8, cos(b, c) = 0.6, cos(a, c) = 0: a's nearest is b, c's nearest is b,
    # b's nearest is a (0.8 > 0.6).
    x = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    idx, sim = nearest_neighbors(x, 2)
    assert idx.tolist() == [[1, 2], [0, 2], [1, 0]]
    assert sim[:, 0] == pytest.approx([0.8, 0.8, 0.6], abs=1e-6)
    assert sim.dtype == np.float32


@pytest.mark.parametrize("budget", [64, 10_000, 2**27])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_scikit_learn_brute_force(budget, dtype):
    rng = np.random.default_rng(0)
    x = _unit(rng.standard_normal((120, 9))).astype(dtype)
    idx, sim = nearest_neighbors(x, 7, memory_budget=budget)
    nn = NearestNeighbors(n_neighbors=8, metric="cosine", algorithm="brute").fit(x)
    dist, ref = nn.kneighbors(x)
    # Column 0 of scikit-learn's answer is the row itself.
    assert np.array_equal(idx, ref[:, 1:])
    assert sim == pytest.approx(1 - dist[:, 1:], abs=1e-5)
    assert sim.dtype == dtype


def test_ties_are_broken_by_position():
    # Rows 1, 2 and 3 are the same vector: from row 0 they tie, the lowest positions win.
    x = np.array([[1, 0], [0.6, 0.8], [0.6, 0.8], [0.6, 0.8], [0, 1]], dtype=np.float32)
    idx, _ = nearest_neighbors(x, 2)
    assert idx[0].tolist() == [1, 2]
    assert idx[2].tolist() == [1, 3]


def test_queries_search_the_embeddings_without_excluding_anything():
    x = np.array([[1, 0], [0, 1]], dtype=np.float32)
    idx, sim = nearest_neighbors(x, 1, queries=np.array([[0.6, 0.8]], dtype=np.float32))
    assert idx.tolist() == [[1]]
    assert sim[0, 0] == pytest.approx(0.8)


def test_k_is_capped_at_the_number_of_other_rows():
    x = _unit(np.eye(3))
    idx, _ = nearest_neighbors(x, 10)
    assert idx.shape == (3, 2)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_neighbors": 0}, "n_neighbors"),
    ({"n_neighbors": True}, "n_neighbors"),
    ({"n_neighbors": 2, "memory_budget": 0}, "memory_budget"),
])
def test_bad_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nearest_neighbors(_unit(np.eye(3)), **kwargs)


def test_bad_embeddings_are_refused():
    with pytest.raises(ValueError, match="2-D"):
        nearest_neighbors(np.ones(3), 1)
    x = _unit(np.eye(3))
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match="row 1 holds NaN"):
        nearest_neighbors(x, 1)
    with pytest.raises(ValueError, match="dimension"):
        nearest_neighbors(x[[0, 2]], 1, queries=np.ones((1, 2)))


@settings(deadline=None, max_examples=25)
@given(n=st.integers(2, 40), dim=st.integers(1, 6), k=st.integers(1, 8),
       seed=st.integers(0, 10_000), budget=st.sampled_from([8, 200, 2**20]))
def test_every_row_gets_its_exact_top_k(n, dim, k, seed, budget):
    x = _unit(np.random.default_rng(seed).standard_normal((n, dim)) + 1e-3)
    idx, sim = nearest_neighbors(x, k, memory_budget=budget)
    full = x.astype(np.float64) @ x.T.astype(np.float64)
    np.fill_diagonal(full, -np.inf)
    kk = min(k, n - 1)
    for i in range(n):
        assert i not in idx[i]
        # The k-th similarity found equals the true k-th largest one.
        assert sim[i, -1] == pytest.approx(np.sort(full[i])[::-1][kk - 1], abs=1e-5)
        assert np.all(np.diff(sim[i]) <= 1e-7)
