"""compare_labelings (toolkit.reclustering._compare)."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from toolkit.clustering import ClusterState
from toolkit.reclustering import compare_labelings


def test_hand_worked_changes():
    # a: x = {0, 1}, y = {2, 3}; b: p = {0, 1, 2}, q = {3}.
    # x went whole into the larger p (joined); y's face 2 went to p (moved), face 3 alone
    # makes q, a part of y (split).
    cmp = compare_labelings(["x", "x", "y", "y"], ["p", "p", "p", "q"])
    rows = cmp.changes[["cluster_a", "cluster_b", "faces", "size_a", "size_b", "change"]]
    assert rows.values.tolist() == [["x", "p", 2, 2, 3, "joined"], ["y", "p", 1, 2, 3, "moved"],
                                    ["y", "q", 1, 2, 1, "split"]]
    # Pairs of b together: 01 02 12 -> a agrees on 01 only: precision 1/3; a's pairs 01 23,
    # b keeps 01: recall 1/2.
    assert cmp.scores["pairwise_precision"] == pytest.approx(1 / 3)
    assert cmp.scores["pairwise_recall"] == pytest.approx(1 / 2)
    assert cmp.summary == {"clusters_a": 2, "clusters_b": 2, "unchanged": 0, "split": 1,
                           "joined": 1, "faces_moved": 1}


def test_scores_equal_scikit_learn():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 60).astype(str)
    b = rng.integers(0, 4, 60).astype(str)
    cmp = compare_labelings(a, b)
    assert cmp.scores["ari"] == pytest.approx(adjusted_rand_score(a, b))
    assert cmp.scores["nmi"] == pytest.approx(normalized_mutual_info_score(a, b))


def test_identical_clusterings_are_unchanged():
    cmp = compare_labelings(["a", "a", "b"], ["a", "a", "b"])
    assert set(cmp.changes["change"]) == {"unchanged"}
    assert cmp.scores["pairwise_f"] == 1.0 and cmp.scores["ari"] == 1.0
    assert cmp.summary["faces_moved"] == 0


def test_faces_leaving_and_entering_clusters():
    cmp = compare_labelings(["a", "a", None, "figure-cluster-id-independent"],
                            ["a", "figure-cluster-id-unavailable", "b", "b"])
    ch = cmp.changes[["cluster_a", "cluster_b", "change"]].fillna("-")
    kinds = dict(zip(zip(ch["cluster_a"], ch["cluster_b"]), ch["change"]))
    assert kinds == {("a", "a"): "split", ("a", "-"): "left", ("-", "b"): "entered"}
    assert cmp.summary["faces_moved"] == 3


def test_states_are_matched_by_face_id():
    x = np.eye(4)
    a = ClusterState.from_arrays(x, ["A", "A", "B", "B"], face_ids=["f0", "f1", "f2", "f3"])
    b = ClusterState.from_arrays(x[::-1], ["B", "B", "A", "A"], face_ids=["f3", "f2", "f1", "f0"])
    cmp = compare_labelings(a, b)
    assert set(cmp.changes["change"]) == {"unchanged"}
    other = ClusterState.from_arrays(x, ["A"] * 4, face_ids=["f0", "f1", "f2", "g"])
    with pytest.raises(ValueError, match="different faces"):
        compare_labelings(a, other)


def test_length_mismatch_and_empty_input_are_refused():
    with pytest.raises(ValueError, match="`a` has 2 faces but `b` has 3"):
        compare_labelings(["a", "a"], ["a", "a", "b"])
    with pytest.raises(ValueError, match="no faces"):
        compare_labelings([], [])
    with pytest.raises(ValueError, match="one cluster id per face"):
        compare_labelings(np.zeros((2, 2)), ["a", "b"])
