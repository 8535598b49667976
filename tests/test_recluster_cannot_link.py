"""The cannot-link file (toolkit.reclustering._cannot_link)."""

import json

import numpy as np
import pytest

from toolkit.clustering import ClusterState
from toolkit.errors import RecordError
from toolkit.reclustering import CannotLink


@pytest.fixture
def state():
    return ClusterState.from_arrays(np.eye(4), ["A", "A", "B", "C"], face_ids=["a", "b", "c", "d"])


def test_round_trip_gives_the_same_rules_and_bytes(tmp_path, state):
    rules = CannotLink([("C", "A")]).add("B", "A", state=state, note="twins")
    first = rules.save(tmp_path / "one.json")
    loaded = CannotLink.load(first)
    assert loaded == rules
    second = loaded.save(tmp_path / "two.json")
    assert first.read_bytes() == second.read_bytes()
    doc = json.loads(first.read_text())
    assert doc["pairs"][1] == {"a": "A", "b": "B", "faces_a": ["a", "b"], "faces_b": ["c"],
                               "note": "twins"}
    assert rules.pairs == [("A", "C"), ("A", "B")]


def test_blocked_pairs_follow_the_faces(state):
    rules = CannotLink().add("A", "B", state=state)
    assert rules.blocked_pairs(state) == {(0, 1)}
    # A merged into C: the faces of A now sit in C, so C-B is blocked too.
    merged, _ = state.merge("C", from_="A")
    codes = {cid: i for i, cid in enumerate(merged.cluster_ids)}
    assert rules.blocked_pairs(merged) == {tuple(sorted((codes["B"], codes["C"])))}
    assert rules.blocks("B", "A") and not rules.blocks("B", "C")


def test_adding_the_same_pair_twice_keeps_one(state):
    rules = CannotLink().add("A", "B").add("B", "A")
    assert len(rules) == 1


@pytest.mark.parametrize("doc, match", [
    ({"version": 1}, "not a cannot-link document"),
    ({"version": 2, "pairs": []}, "unsupported cannot-link file version"),
    ({"version": 1, "pairs": [{"a": "A"}]}, r"pairs\[0\]: missing cluster id; field 'b'"),
    ({"version": 1, "pairs": [{"a": "A", "b": "A"}]}, "names the same cluster twice"),
    ({"version": 1, "pairs": [{"a": "A", "b": "B", "faces_a": [1]}]}, "face ids must be"),
])
def test_bad_files_name_the_file_and_the_entry(tmp_path, doc, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(RecordError, match=match) as info:
        CannotLink.load(path)
    assert str(path) in str(info.value)


def test_malformed_json_and_missing_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(RecordError, match="malformed JSON"):
        CannotLink.load(bad)
    with pytest.raises(FileNotFoundError, match="no such cannot-link file"):
        CannotLink.load(tmp_path / "missing.json")


@pytest.mark.parametrize("a, b, match", [("A", "A", "from itself"), ("", "B", "`a` must be"),
                                         ("A", None, "`b` must be")])
def test_bad_pairs_are_refused(a, b, match):
    with pytest.raises(ValueError, match=match):
        CannotLink().add(a, b)
