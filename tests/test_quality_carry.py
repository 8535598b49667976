"""Tests of toolkit.quality._carry: the merged state's context derived from the one before.

The carried context must be the fresh one exactly: same sums, same dot products, same tie
rule, so every array is compared bit for bit (``np.array_equal``), not to a tolerance.
"""

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
from hypothesis import given, settings
from hypothesis import strategies as st

import toolkit as tk
from toolkit.clustering import ClusterState
from toolkit.errors import MergeError
from toolkit.quality import _cache, silhouette_samples, silhouette_score
from toolkit.quality._carry import carry_context
from toolkit.quality._data import labelled
from toolkit.quality._silhouette import silhouette_context
from toolkit.quality._stats import cluster_sums

CONTEXT_ARRAYS = ("xx", "own", "best_sim", "best", "second_sim", "second", "samples")
SUMS_ARRAYS = ("counts", "sums", "sq", "order", "starts")
SAMPLE = __import__("pathlib").Path(__file__).parent.parent / "sample_data"


def fresh_context(state, chunk_bytes):
    """The context computed from scratch, on a new state object with the same clustering."""
    copy = state.with_cluster_ids(state.face_cluster_ids())
    return silhouette_context(copy, chunk_bytes=chunk_bytes, caller="test")


def assert_same_context(carried, fresh):
    assert carried.data.cluster_ids.tolist() == fresh.data.cluster_ids.tolist()
    assert np.array_equal(carried.data.codes, fresh.data.codes)
    for name in CONTEXT_ARRAYS:
        assert np.array_equal(getattr(carried, name), getattr(fresh, name), equal_nan=True), name
    for name in SUMS_ARRAYS:
        assert np.array_equal(getattr(carried.stats, name), getattr(fresh.stats, name)), name
    assert carried.stats.segment == fresh.stats.segment


def merge_and_carry(state, to, froms, chunk_bytes):
    silhouette_context(state, chunk_bytes=chunk_bytes, caller="test")
    after, _ = state.merge(to, froms=froms)
    carried = carry_context(state, after, to, froms, chunk_bytes=chunk_bytes)
    return after, carried


def tiny_state():
    # a = {[1, 0], [.8, .6]}, b = {[0, 1], [-.6, .8]}, c = {[.6, -.8]}, last face in no cluster.
    X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8], [0.6, -0.8], [0.0, 1.0]])
    return ClusterState.from_arrays(X, ["a", "a", "b", "b", "c", None])


@st.composite
def states(draw):
    n = draw(st.integers(4, 40))
    dim = draw(st.integers(1, 6))
    k = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    grid = draw(st.booleans())
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim))
    if grid:
        # Few distinct directions: duplicate faces and exactly tied clusters.
        X = np.round(X) + 0.5
    labels = np.array([f"c{v}" for v in rng.integers(0, k, n)], dtype=object)
    labels[rng.random(n) < 0.15] = None
    state = ClusterState.from_arrays(X, labels)
    return state, rng


@settings(deadline=None, max_examples=60)
@given(case=states(), n_merges=st.integers(1, 3),
       chunk_bytes=st.sampled_from([64 * 2 ** 20, 4000, 300]))
def test_carried_context_equals_a_fresh_one_along_a_chain_of_merges(case, n_merges, chunk_bytes):
    state, rng = case
    for _ in range(n_merges):
        if state.n_clusters < 2:
            break
        ids = state.cluster_ids.tolist()
        picked = rng.choice(len(ids), size=min(len(ids), int(rng.integers(2, 5))), replace=False)
        to, froms = ids[picked[0]], [ids[i] for i in picked[1:]]
        after, carried = merge_and_carry(state, to, froms, chunk_bytes)
        assert_same_context(carried, fresh_context(after, chunk_bytes))
        state = after


def test_merged_state_finds_the_carried_context_in_its_memo():
    state = tiny_state()
    after, carried = merge_and_carry(state, "b", ["c"], 2 ** 20)
    assert silhouette_context(after, chunk_bytes=2 ** 20, caller="test") is carried
    # A second carry finds it too: nothing is rebuilt.
    assert carry_context(state, after, "b", ["c"]) is carried


def test_a_face_whose_nearest_cluster_is_merged_away_is_rescanned():
    state = tiny_state()
    before = silhouette_context(state, chunk_bytes=2 ** 20, caller="test")
    # Face 0 = [1, 0]: mean similarity 0.6 to c, (0 - 0.6) / 2 = -0.3 to b: nearest c, then b.
    assert before.best[0] == 2 and before.second[0] == 1
    after, carried = merge_and_carry(state, "b", ["c"], 2 ** 20)
    # c is gone; b∪c sums to [0, 1]: face 0's mean similarity to it is 0 / 3 = 0, face 1's
    # ([.8, .6]) 0.6 / 3 = 0.2. Codes: a = 0, b = 1, and nothing is left for the runner-up.
    assert carried.best[:2].tolist() == [1, 1]
    assert carried.best_sim[:2] == pytest.approx([0.0, 0.2], abs=1e-7)
    assert carried.second[:2].tolist() == [-1, -1]
    assert np.isneginf(carried.second_sim[:2]).all()
    X = np.asarray(after.embeddings, dtype=np.float64)[:5]
    expected = sklearn.metrics.silhouette_samples(X, after.labels[:5], metric="cosine")
    assert carried.samples[:5] == pytest.approx(expected, abs=1e-9)
    assert_same_context(carried, fresh_context(after, 2 ** 20))


def test_faces_in_no_cluster_stay_nan_and_minus_one():
    after, carried = merge_and_carry(tiny_state(), "a", ["c"], 2 ** 20)
    for name in ("xx", "own", "best_sim", "second_sim", "samples"):
        assert np.isnan(getattr(carried, name)[5])
    assert carried.best[5] == -1 and carried.second[5] == -1
    assert np.isnan(silhouette_samples(after)[5])


@pytest.mark.parametrize("to, froms, rescanned", [
    # d and e were never face 0's top two: it keeps b, c and meets d∪e (code 3) at the
    # same 0, which loses the tie to both lower codes.
    ("d", ["e"], False),
    # c was its runner-up: rescanned, b and c∪d tie at 0 and stay in code order.
    ("c", ["d"], True),
    # b was its nearest: rescanned, b∪e (code 1) and c tie at 0.
    ("b", ["e"], True),
])
def test_ties_go_to_the_lower_code_as_in_a_fresh_context(monkeypatch, to, froms, rescanned):
    # Faces 0-1 at [1, 0] in a; b, c, d, e one face each at [0, 1]: mean similarity 0 from
    # face 0 to every other cluster, so its nearest is b (code 1) and its runner-up c (2).
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    state = ClusterState.from_arrays(X, ["a", "a", "b", "c", "d", "e"])
    before = silhouette_context(state, chunk_bytes=2 ** 20, caller="test")
    assert before.best[0] == 1 and before.second[0] == 2
    import toolkit.quality._carry as carry_module
    seen = []
    real = carry_module.nearest_clusters

    def spy(data, stats, positions, **kwargs):
        seen.append(positions.copy())
        return real(data, stats, positions, **kwargs)

    monkeypatch.setattr(carry_module, "nearest_clusters", spy)
    after, carried = merge_and_carry(state, to, froms, 2 ** 20)
    assert any(0 in positions for positions in seen) == rescanned
    assert carried.best[0] == 1 and carried.second[0] == 2
    assert carried.best_sim[0] == carried.second_sim[0] == 0.0
    assert_same_context(carried, fresh_context(after, 2 ** 20))


def test_two_clusters_merged_into_one_behave_as_a_fresh_state():
    state = ClusterState.from_arrays(np.eye(3)[[0, 0, 1, 2]], ["a", "a", "b", "b"])
    after, carried = merge_and_carry(state, "a", ["b"], 2 ** 20)
    assert carried.best.tolist() == [-1] * 4 and np.isneginf(carried.best_sim).all()
    assert_same_context(carried, fresh_context(after, 2 ** 20))
    with pytest.raises(ValueError, match="Number of labels is 1"):
        silhouette_score(after)


@pytest.mark.parametrize("chunk_bytes", [2 ** 26, 5000])
def test_only_faces_that_lost_their_nearest_or_runner_up_are_rescanned(monkeypatch, chunk_bytes):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 8))
    state = ClusterState.from_arrays(X, [f"c{v}" for v in rng.integers(0, 30, 300)])
    before = silhouette_context(state, chunk_bytes=chunk_bytes, caller="test")
    group = [state.cluster_index(c) for c in ("c1", "c2", "c3")]
    lost = np.isin(before.best, group) | np.isin(before.second, group)
    import toolkit.quality._carry as carry_module
    seen = []
    real = carry_module.nearest_clusters

    def spy(data, stats, positions, **kwargs):
        seen.append(positions.copy())
        return real(data, stats, positions, **kwargs)

    monkeypatch.setattr(carry_module, "nearest_clusters", spy)
    after, carried = merge_and_carry(state, "c1", ["c2", "c3"], chunk_bytes)
    assert len(seen) == 1 and seen[0].tolist() == np.flatnonzero(lost).tolist()
    assert 0 < lost.sum() < 300
    assert_same_context(carried, fresh_context(after, chunk_bytes))


def test_a_cluster_sum_depends_only_on_its_members():
    # Summed in segments counted from the cluster's first member, so relabelling the other
    # faces (which moves the cluster's run in the grouped order) leaves its bits alone.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((500, 16))
    labels = rng.integers(0, 4, 500)
    shuffled = np.where(labels == 0, 0, rng.integers(1, 9, 500))
    sums = [cluster_sums(labelled(X, lab, chunk_bytes=3000, caller="test"), chunk_bytes=3000)
            for lab in (labels, shuffled)]
    assert sums[0].segment < 100 < sums[0].counts[0]   # several segments per cluster
    assert np.array_equal(sums[0].sums[0], sums[1].sums[0])
    assert sums[0].sq[0] == sums[1].sq[0]


def test_sums_of_another_segment_are_left_alone():
    state = tiny_state()
    silhouette_context(state, chunk_bytes=2 ** 20, caller="test")
    after, _ = state.merge("b", froms=["c"])
    # The merged state already holds sums taken in 1-row segments (a 100-byte budget), the
    # state before in 5-row ones: the bits could differ, so nothing is carried.
    odd = cluster_sums(labelled(after, chunk_bytes=100, caller="test"), chunk_bytes=100)
    assert odd.segment == 1 and _cache.memo(state, "sums", lambda: None).segment == 5
    _cache.seed(after, "sums", odd)
    assert carry_context(state, after, "b", ["c"]) is None
    assert _cache.peek(after, "silhouette") is None


def test_rejects_a_state_that_is_not_the_merge():
    state = tiny_state()
    other, _ = state.merge("a", froms=["c"])
    with pytest.raises(ValueError, match="is not `before` with \\['c'\\] merged into 'b'"):
        carry_context(state, other, "b", ["c"])
    moved = ClusterState.from_arrays(np.eye(6, 2) + 0.1, ["a", "a", "b", "b", "b", None])
    with pytest.raises(ValueError, match="other embeddings"):
        carry_context(state, moved, "b", ["c"])


def test_rejects_a_broken_merge_and_non_states():
    state = tiny_state()
    with pytest.raises(MergeError, match="zzz"):
        carry_context(state, state, "b", ["zzz"])
    with pytest.raises(TypeError, match="`after` is a ndarray"):
        carry_context(state, np.eye(2), "b", ["c"])
    with pytest.raises(ValueError, match="`chunk_bytes` must be a positive integer"):
        carry_context(state, state, "b", ["c"], chunk_bytes=0)


def test_audit_of_the_sample_data_is_identical_without_the_carry(monkeypatch):
    faces = tk.read_faces(SAMPLE / "faces.parquet")
    tasks = tk.read_tasks(SAMPLE / "tasks")
    carried = tk.audit_merges(faces, tasks)
    _cache.clear()
    import toolkit.audit._replay as replay
    monkeypatch.setattr(replay, "carry_context", lambda *args, **kwargs: None)
    fresh = tk.audit_merges(faces, tasks)
    assert (carried.merges["outcome"] == "applied").sum() >= 10
    pd.testing.assert_frame_equal(carried.merges, fresh.merges, check_exact=True)
    pd.testing.assert_frame_equal(carried.timeline, fresh.timeline, check_exact=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_float32_screen_never_drops_a_face_that_reaches_its_runner_up(dtype):
    from toolkit.quality._carry import _dots_to, _may_reach

    rng = np.random.default_rng(7)
    X = (rng.standard_normal((400, 96)) * rng.uniform(0.1, 10, (400, 1))).astype(dtype)
    S = np.zeros((2, 96))
    S[1] = rng.standard_normal((25, 96)).sum(axis=0)
    positions = np.arange(0, 400, 3)
    exact = _dots_to(X, positions, S, 1, chunk_bytes=5000) / 25
    # Runner-up exactly at the face's value: M could tie, so every face is kept ...
    assert _may_reach(X, positions, S[1], 1 / 25, exact, chunk_bytes=5000).all()
    # ... and one float32 rounding above it, too: the screen's error is larger than that.
    above = exact + np.abs(exact) * 2.0 ** -23
    assert _may_reach(X, positions, S[1], 1 / 25, above, chunk_bytes=5000).all()
    # A runner-up clearly above (0.01) drops them all; a missing one (-inf) keeps them.
    assert not _may_reach(X, positions, S[1], 1 / 25, exact + 0.01, chunk_bytes=5000).any()
    level = np.where(np.arange(len(positions)) % 2 == 0, -np.inf, exact + 0.01)
    kept = _may_reach(X, positions, S[1], 1 / 25, level, chunk_bytes=5000)
    assert kept.tolist() == (level == -np.inf).tolist()
