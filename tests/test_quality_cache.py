"""Tests of toolkit.quality._cache: per-state memo, dropped with the state."""

import gc

import numpy as np

from toolkit.clustering import ClusterState
from toolkit.quality import _cache


def test_memo_builds_once_per_state_and_name():
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", "b"])
    other = ClusterState.from_arrays(np.eye(3), ["a", "b", "b"])
    calls = []

    def build():
        calls.append(1)
        return len(calls)

    assert _cache.memo(state, "x", build) == 1
    assert _cache.memo(state, "x", build) == 1
    assert _cache.memo(state, "y", build) == 2
    # An equal state is still another object: its own entries.
    assert _cache.memo(other, "x", build) == 3


def test_entries_go_away_with_the_state():
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", "b"])
    _cache.memo(state, "x", lambda: np.zeros(10))
    key = id(state)
    assert key in _cache._MEMO
    del state
    gc.collect()
    assert key not in _cache._MEMO


def test_objects_without_weak_references_are_never_cached():
    class Slotted:
        __slots__ = ()

    calls = []
    thing = Slotted()
    _cache.memo(thing, "x", lambda: calls.append(1))
    _cache.memo(thing, "x", lambda: calls.append(1))
    assert len(calls) == 2
