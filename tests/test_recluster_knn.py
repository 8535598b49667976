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


# --- exactness of the float32 screen with the float64 re-rank ---------------------------------

def _exact_reference(x, k, queries=None):
    """Brute force: every pair's correctly rounded float64 dot product (math.fsum of exact
    products -- the rows are float32-representable, so each product is exact in float64),
    ranked by (-value, position)."""
    import math

    x64 = np.asarray(x, dtype=np.float64)
    q64 = x64 if queries is None else np.asarray(queries, dtype=np.float64)
    idx, val = [], []
    for i, row in enumerate(q64):
        sims = np.array([math.fsum(row * other) for other in x64])
        cols = np.arange(len(x64))
        if queries is None:
            sims, cols = np.delete(sims, i), np.delete(cols, i)
        order = np.lexsort((cols, -sims))[:k]
        idx.append(cols[order])
        val.append(sims[order])
    return np.array(idx), np.array(val)


def _with_duplicates(n, dim, seed):
    # Every fifth row repeats an earlier one, so exact ties occur and must go to the
    # lower position.
    rng = np.random.default_rng(seed)
    x = _unit(rng.standard_normal((n, dim)))
    src = rng.integers(0, n, n // 5)
    x[rng.permutation(n)[: n // 5]] = x[src]
    return x


@pytest.mark.parametrize("budget", [200, 40_000, 2**27])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_a_float64_brute_force_with_ties_by_position(budget, dtype):
    x = _with_duplicates(150, 24, seed=1).astype(dtype)
    idx, sim = nearest_neighbors(x, 6, memory_budget=budget)
    ref_idx, ref_sim = _exact_reference(x, 6)
    assert np.array_equal(idx, ref_idx)
    assert sim.dtype == dtype
    assert sim.astype(np.float64) == pytest.approx(ref_sim, rel=1e-6 if dtype == np.float32
                                                   else 1e-13)


@pytest.mark.parametrize("budget", [200, 2**27])
def test_queries_equal_a_float64_brute_force(budget):
    x = _with_duplicates(90, 12, seed=2)
    q = np.concatenate([x[:5], _unit(np.random.default_rng(3).standard_normal((20, 12)))])
    idx, _ = nearest_neighbors(x, 4, queries=q, memory_budget=budget)
    assert np.array_equal(idx, _exact_reference(x, 4, queries=q)[0])
    # A query equal to an embedding finds it first (nothing is excluded), or the lowest
    # position holding the same row.
    same = [int(np.flatnonzero((x == x[i]).all(axis=1))[0]) for i in range(5)]
    assert idx[:5, 0].tolist() == same


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("budget", [300, 2**27])
def test_massive_exact_ties_are_ranked_like_integer_arithmetic(dtype, budget):
    # Entries in {-2..2} / 4: every dot product is exact in float32 and float64, and most
    # rows share their k-th value with many others, so the screen keeps whole blocks and
    # must thin them by exact rank. Reference: int64 arithmetic, ties by position.
    rng = np.random.default_rng(4)
    ints = rng.integers(-2, 3, size=(160, 5))
    x = (ints / 4).astype(dtype)
    idx, sim = nearest_neighbors(x, 7, memory_budget=budget)
    full = ints @ ints.T
    for i in range(len(x)):
        cols = np.delete(np.arange(len(x)), i)
        vals = np.delete(full[i], i)
        order = np.lexsort((cols, -vals))[:7]
        assert idx[i].tolist() == cols[order].tolist()
        assert sim[i].tolist() == (vals[order] / 16).tolist()


def test_differences_below_float32_resolution_are_ranked_in_float64():
    # Seen from row 0, rows 1 and 2 differ by about 1e-13 in cosine -- the same float32
    # value -- and the later row is the closer one: only the float64 re-rank gets it.
    t1, t2 = 0.3, 0.3 - 1e-12  # cos(0.3 - 1e-12) - cos(0.3) = sin(0.3) * 1e-12 ~ 3e-13
    x = np.array([[1.0, 0.0], [np.cos(t1), np.sin(t1)], [np.cos(t2), np.sin(t2)]])
    assert np.float32(x[1] @ x[0]) == np.float32(x[2] @ x[0])
    idx, sim = nearest_neighbors(x, 2)
    assert idx[0].tolist() == [2, 1]
    assert sim[0, 0] > sim[0, 1]


@pytest.mark.parametrize("dtype, scale", [(np.float64, 2.0**-70), (np.float64, 2.0**70),
                                          (np.float32, 2.0**-55), (np.float32, 2.0**50)])
def test_far_from_unit_norms_keep_the_ranking(dtype, scale):
    # Scaling every row by the same factor scales every similarity by its square: the
    # neighbours stay. A float32 screen of the raw rows would underflow (2**-140,
    # 2**-110 with tiny components) or overflow (2**140) without the power-of-two
    # rescaling first; the budget forces the exact thinning of kept candidates too.
    x = _with_duplicates(80, 16, seed=5).astype(np.float64)
    ref_idx, ref_sim = nearest_neighbors(x, 5)
    idx, sim = nearest_neighbors((x * scale).astype(dtype), 5, memory_budget=300)
    assert np.array_equal(idx, ref_idx)
    assert sim.astype(np.float64) == pytest.approx(ref_sim * scale**2, rel=1e-6)


def test_screen_bound_holds_for_float32_blas():
    from toolkit.reclustering._knn import _screen_bound

    # The float32 product of unit rows is within the proven bound of the exact one,
    # and the bound is small enough to screen with (d=512: about 3e-5).
    x = _unit(np.random.default_rng(6).standard_normal((400, 512)))
    err = np.abs((x @ x.T).astype(np.float64) - x.astype(np.float64) @ x.astype(np.float64).T)
    norm = float(np.linalg.norm(x.astype(np.float64), axis=1).max())
    bound = _screen_bound(512, norm, norm)
    assert err.max() <= bound
    assert bound < 1e-4


def test_all_rows_identical_ties_everything_and_keeps_the_lowest_positions():
    # Every similarity ties: each row's neighbours are the k lowest other positions.
    x = np.tile(_unit(np.array([[0.3, 0.4, 0.5]])), (60, 1))
    idx, _ = nearest_neighbors(x, 3, memory_budget=500)
    assert idx[0].tolist() == [1, 2, 3]
    assert idx[2].tolist() == [0, 1, 3]
    assert idx[59].tolist() == [0, 1, 2]


@pytest.mark.parametrize("queries", [None, "some"])
def test_progress_counts_every_row_once(queries):
    class Counter:
        done = 0

        def update(self, n):
            self.done += n

    x = _unit(np.random.default_rng(7).standard_normal((50, 4)))
    q = None if queries is None else x[:23]
    bar = Counter()
    nearest_neighbors(x, 3, queries=q, memory_budget=2000, progress=bar)
    assert bar.done == (50 if q is None else 23)


def test_pair_dots_depend_only_on_the_two_rows():
    from toolkit.reclustering._knn import pair_dots

    x = _with_duplicates(40, 7, seed=8)  # odd width: no help from alignment
    rows = np.array([0, 5, 9, 9, 33])
    cols = np.array([5, 0, 33, 9, 9])
    out = pair_dots(x, x, rows, cols)
    assert out[0] == out[1] and out[2] == out[4]  # (i, j) and (j, i) agree bit for bit
    assert out == pytest.approx(np.einsum("ij,ij->i", x[rows].astype(np.float64),
                                          x[cols].astype(np.float64)), rel=1e-14)
    # float32 rows give what their float64 copies give.
    assert np.array_equal(out, pair_dots(x.astype(np.float64), x.astype(np.float64), rows, cols))


def test_rows_too_long_for_float64_are_refused():
    with pytest.raises(ValueError, match="too long to multiply"):
        nearest_neighbors(np.array([[1e200, 0.0], [0.0, 1.0]]), 1)


@pytest.mark.parametrize("budget", [2000, 30_000, 2**27])
@pytest.mark.parametrize("data", ["random", "ties"])
def test_two_threads_give_what_one_gives(monkeypatch, budget, data):
    # The blocks are shared by two threads (one BLAS thread each): the order in which
    # they are screened changes, the exact answer does not.
    from toolkit.reclustering import _knn

    rng = np.random.default_rng(12)
    if data == "random":
        x = _unit(rng.standard_normal((300, 16)))
    else:
        x = (rng.integers(-2, 3, size=(300, 5)) / 4).astype(np.float32)
    results = []
    for workers in (1, 2):
        monkeypatch.setattr(_knn, "n_workers", lambda w=workers: w)
        results.append(_knn.exact_neighbors(x, 9, memory_budget=budget))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


def test_hundreds_of_tied_candidates_in_a_row_keep_the_lowest_positions():
    # 300 copies of one face: every row has 299 tied candidates (the wide path of
    # the exact ranking).
    x = np.tile(_unit(np.array([[0.3, 0.4, 0.5]])), (300, 1))
    idx, _ = nearest_neighbors(x, 4)
    assert idx[0].tolist() == [1, 2, 3, 4]
    assert idx[150].tolist() == [0, 1, 2, 3]


def test_an_error_in_one_thread_stops_the_other_and_reaches_the_caller(monkeypatch):
    from toolkit.reclustering import _knn

    monkeypatch.setattr(_knn, "n_workers", lambda: 2)
    calls = []
    original = _knn._Screen.offer

    def offer(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("block 3")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_knn._Screen, "offer", offer)
    x = _unit(np.random.default_rng(13).standard_normal((400, 8)))
    with pytest.raises(MemoryError, match="block 3"):
        _knn.exact_neighbors(x, 5, memory_budget=4000)
    # 400 rows in blocks of 7: hundreds of blocks; the threads stopped after a few.
    assert len(calls) < 20


@pytest.mark.parametrize("scale", [1e-30, 1e-3, 1.0, 1e6, 1e20])
def test_the_screen_bound_holds_the_largest_row_norm(scale):
    # float32 rows: the bound is read from float32 sums of squares, inflated for their
    # rounding; it must never be below the exact (float64) largest norm, nor far above.
    from toolkit.reclustering._knn import _max_norm

    rng = np.random.default_rng(7)
    x = (rng.standard_normal((300, 97)) * scale).astype(np.float32)
    exact = float(np.sqrt(np.einsum("ij,ij->i", x.astype(np.float64), x.astype(np.float64)).max()))
    got = _max_norm(x, "embeddings", 2**20)
    assert exact <= got <= exact * (1 + 1e-5)
    assert _max_norm(x.astype(np.float64), "embeddings", 2**20) == pytest.approx(exact, rel=1e-15)
