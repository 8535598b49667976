"""Exact float64 dot products of row pairs (toolkit.reclustering._dots)."""

import numpy as np
import pytest

from toolkit.reclustering._dots import pair_dots, row_dots


@pytest.mark.parametrize("dim", [1, 7, 512, 1000])
def test_threads_and_chunks_do_not_change_a_bit(dim):
    # 5000 pairs: split across threads and chunks of 256 rows, or in one thread.
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((400, dim)).astype(np.float32)
    rows, cols = rng.integers(0, 400, 5000), rng.integers(0, 400, 5000)
    one = pair_dots(x, x, rows, cols, workers=1)
    two = pair_dots(x, x, rows, cols, workers=2)
    assert np.array_equal(one, two)
    # Each value is the float64 dot product of the two rows, whatever else is around.
    picks = (0, 255, 256, 4999)
    alone = np.array([pair_dots(x, x, rows[i:i + 1], cols[i:i + 1])[0] for i in picks])
    assert np.array_equal(alone, one[list(picks)])
    assert one == pytest.approx(np.einsum("ij,ij->i", x[rows].astype(np.float64),
                                          x[cols].astype(np.float64)), rel=1e-12, abs=1e-12)


def test_pairs_are_symmetric_and_float32_reads_as_its_float64_copy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 33)).astype(np.float32)
    a, b = rng.integers(0, 50, 300), rng.integers(0, 50, 300)
    assert np.array_equal(pair_dots(x, x, a, b), pair_dots(x, x, b, a))
    assert np.array_equal(pair_dots(x, x, a, b),
                          pair_dots(x.astype(np.float64), x.astype(np.float64), a, b))


def test_row_dots_reads_rows_through_callbacks():
    # 3 . 4 + 0 . 5 = 12 and 1 . 0 + 2 . 1 = 2: hand-worked.
    left = np.array([[3.0, 0.0], [1.0, 2.0]])
    right = np.array([[4.0, 5.0], [0.0, 1.0]])
    out = row_dots(2, lambda s, e: left[s:e], lambda s, e: right[s:e])
    assert out.tolist() == [12.0, 2.0]
    assert row_dots(0, lambda s, e: left[s:e], lambda s, e: right[s:e]).shape == (0,)
