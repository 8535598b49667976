"""Exact float64 dot products of row pairs (toolkit.reclustering._dots)."""

import numpy as np
import pytest

from toolkit.reclustering._dots import pair_dots


@pytest.mark.parametrize("dim", [1, 7, 512, 1000])
def test_threads_do_not_change_a_bit(dim):
    # 5000 pairs: split between two threads, or in one.
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((400, dim)).astype(np.float32)
    rows, cols = rng.integers(0, 400, 5000), rng.integers(0, 400, 5000)
    one = pair_dots(x, x, rows, cols, workers=1)
    two = pair_dots(x, x, rows, cols, workers=2)
    assert np.array_equal(one, two)
    # Each value is the float64 dot product of the two rows, whatever else is around.
    picks = (0, 2499, 2500, 4999)  # each side of the split
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


def _fixed_order_dot(a, b):
    """The documented order: eight partial sums over positions t = j (mod 8) of
    the whole blocks of 8, the rest added to the first, then paired up."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    end = len(a) - len(a) % 8
    acc = [0.0] * 8
    for t in range(end):
        acc[t % 8] += float(a[t] * b[t])
    for t in range(end, len(a)):
        acc[0] += float(a[t] * b[t])
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


@pytest.mark.parametrize("dim", [3, 8, 21, 512])
def test_each_value_is_summed_in_the_documented_order(dim):
    # Values of wildly different sizes make every other order round differently.
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((6, dim)) * 10.0 ** rng.integers(-8, 9, (6, dim))
    rows, cols = np.array([0, 1, 2, 3, 4]), np.array([5, 4, 3, 2, 1])
    got = pair_dots(x, x, rows, cols)
    assert got.tolist() == [_fixed_order_dot(x[i], x[j]) for i, j in zip(rows, cols)]


def test_hand_worked_and_empty():
    # 3 . 4 + 0 . 5 = 12 and 1 . 0 + 2 . 1 = 2.
    left = np.array([[3.0, 0.0], [1.0, 2.0]])
    right = np.array([[4.0, 5.0], [0.0, 1.0]])
    assert pair_dots(left, right, np.array([0, 1]), np.array([0, 1])).tolist() == [12.0, 2.0]
    assert pair_dots(left, right, np.array([], dtype=int), np.array([], dtype=int)).shape == (0,)
