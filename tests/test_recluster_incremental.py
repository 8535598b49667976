"""Incremental assignment with IMM's rules (toolkit.reclustering._incremental)."""

import numpy as np
import pandas as pd
import pytest

from toolkit import FaceSet
from toolkit.clustering import ClusterState
from toolkit.quality import compare_to_truth
from toolkit.reclustering import assign_incremental, assignment_stability
from toolkit.reclustering._incremental import group_id
from toolkit.sampledata import generate_faces

INDEPENDENT = "figure-cluster-id-independent"


def _unit(rows):
    x = np.asarray(rows, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _angles(deg):
    r = np.radians(deg)
    return _unit(np.stack([np.cos(r), np.sin(r)], axis=1))


def _new(x, ids, **columns):
    frame = pd.DataFrame({"face_id": ids, "cluster_id": [None] * len(ids), **columns})
    return FaceSet(frame, x)


@pytest.fixture
def old():
    # Group A along axis 0, group B along axis 1 (4-D), two faces each.
    x = _unit([[1, 0.05, 0, 0], [1, -0.05, 0, 0], [0.05, 1, 0, 0], [-0.05, 1, 0, 0]])
    return ClusterState.from_arrays(x, ["A", "A", "B", "B"], face_ids=["a1", "a2", "b1", "b2"])


def test_join_new_group_and_independent(old):
    x = _unit([[1, 0, 0.1, 0],                                   # n1: joins A
               [0, 0, 1, 0.05], [0, 0.02, 1, 0], [0.02, 0, 1, 0],  # n2-n4: a new group
               [0, 0, 0.05, 1], [0.03, 0, 0, 1], [0, 0.03, 0, 1],  # n5-n7: low quality
               [0, 0, -1, -0.1]])                                  # n8: alone
    quality = [0.5, 0.9, 0.95, 0.85, 0.5, 0.6, 0.7, 0.99]
    new = _new(x, [f"n{i}" for i in range(1, 9)], face_quality=quality)
    res = assign_incremental(old, new, threshold=0.7)
    a = res.assignments
    assert a["outcome"].tolist() == ["joined", "new-group", "new-group", "new-group",
                                     "independent", "independent", "independent", "independent"]
    assert a["cluster_id"].tolist()[:4] == ["A"] + [group_id("n2")] * 3
    assert a["good"].tolist() == [q > 0.8 for q in quality]
    assert a.loc[0, "nearest_cluster"] == "A"
    # n1's mean similarity to A's two faces on arrival: x . S_A / 2.
    s_a = old.sums[old.cluster_index("A")]
    assert a.loc[0, "similarity"] == pytest.approx(float(x[0] @ s_a) / 2, abs=1e-6)
    assert res.gates == {"face_quality": "applied",
                         "face_box": "skipped: no column 'boundary_width', 'boundary_height'",
                         "head_pose": "skipped: no column 'head_pose_pitch', 'head_pose_roll', "
                                      "'head_pose_yaw'"}
    assert res.counts == {"joined": 1, "new-group": 3, "independent": 4}
    assert "gates skipped" in repr(res)
    # The new state: old faces keep their clusters, A grew by one, the new group exists.
    st = res.state
    assert st.n_faces == 12
    assert st.counts[st.cluster_index("A")] == 3
    assert st.counts[st.cluster_index(group_id("n2"))] == 3
    assert st.face_cluster_ids()[:4].tolist() == ["A", "A", "B", "B"]


def test_without_quality_columns_every_gate_is_skipped_and_faces_count_as_good(old):
    new = _new(_unit([[0, 0, 1, 0.05], [0, 0.02, 1, 0], [0.02, 0, 1, 0]]), ["p", "q", "r"])
    res = assign_incremental(old, new, threshold=0.7)
    assert all(v.startswith("skipped") for v in res.gates.values())
    assert res.assignments["outcome"].tolist() == ["new-group"] * 3


@pytest.mark.parametrize("column, values", [
    ("face_quality", [0.9, 0.9, np.nan]),           # unknown quality does not pass
    ("boundary_width", [80, 80, 70]),               # a box 70 px wide is too small
    ("head_pose_yaw", [0.0, 10.0, -31.0]),          # turned 31 degrees away
])
def test_each_gate_can_block_a_new_group(old, column, values):
    cols = {"face_quality": [0.9] * 3, "boundary_width": [80] * 3, "boundary_height": [80] * 3,
            "head_pose_pitch": [0.0] * 3, "head_pose_roll": [0.0] * 3, "head_pose_yaw": [0.0] * 3}
    cols[column] = values
    new = _new(_unit([[0, 0, 1, 0.05], [0, 0.02, 1, 0], [0.02, 0, 1, 0]]), ["p", "q", "r"], **cols)
    res = assign_incremental(old, new, threshold=0.7)
    assert set(res.gates.values()) == {"applied"}
    assert res.assignments["good"].tolist() == [True, True, False]
    assert res.assignments["outcome"].tolist() == ["independent"] * 3
    assert assign_incremental(old, new, threshold=0.7, min_faces=2).counts["new-group"] == 3


def test_arrival_order_matters_and_stability_reports_it():
    # A at 0 degrees, B at 90; p at 40, q at 48.
    # p first: p -> A (cos 40 = .766 > cos 50 = .643); A's feature moves to 20 degrees,
    #   then q is nearer A (cos 28 = .883 > cos 42 = .743): both in A.
    # q first: q -> B (cos 42 = .743 > cos 48 = .669); B's feature moves to 69 degrees,
    #   then p is nearer B (cos 29 = .875 > cos 40 = .766): both in B.
    old = ClusterState.from_arrays(_angles([0, 90]), ["A", "B"], face_ids=["a", "b"])
    new = _new(_angles([40, 48]), ["p", "q"])
    first_p = assign_incremental(old, new, threshold=0.5, order=[0, 1])
    first_q = assign_incremental(old, new, threshold=0.5, order=[1, 0])
    assert first_p.assignments["cluster_id"].tolist() == ["A", "A"]
    assert first_q.assignments["cluster_id"].tolist() == ["B", "B"]
    assert first_q.assignments["arrival"].tolist() == [1, 0]
    stab = assignment_stability(old, new, orders=20, seed=0, threshold=0.5)
    assert stab["assignment"].tolist() == ["A", "A"]
    assert ((stab["flip_rate"] > 0) & (stab["flip_rate"] < 1)).all()
    assert stab["n_assignments"].tolist() == [2, 2]
    assert stab.attrs["threshold"] == 0.5 and stab.attrs["orders"] == 20
    again = assignment_stability(old, new, orders=20, seed=0, threshold=0.5)
    assert again["flip_rate"].tolist() == stab["flip_rate"].tolist()


def test_unambiguous_faces_do_not_flip():
    old = ClusterState.from_arrays(_angles([0, 90]), ["A", "B"], face_ids=["a", "b"])
    new = _new(_angles([5, 85]), ["p", "q"])
    stab = assignment_stability(old, new, orders=5, threshold=0.5)
    assert stab["flip_rate"].tolist() == [0.0, 0.0]


def test_on_generated_faces_new_faces_mostly_join_their_own_person():
    frame, x = generate_faces(1500, 60, dim=64, seed=2)
    fs = FaceSet(frame, x)
    new_mask = (frame["cluster_id"] == "figure-cluster-id-unavailable").to_numpy()
    old = ClusterState(fs.subset(~new_mask))
    new = fs.subset(new_mask)
    res = assign_incremental(old, new)
    assert res.threshold_source == "estimated"
    joined = res.assignments[res.assignments["outcome"] == "joined"]
    majority = pd.DataFrame({"c": old.face_cluster_ids(), "i": old.faceset.faces["identity"]}
                            ).dropna().groupby("c")["i"].agg(lambda s: s.mode().iloc[0])
    truth = dict(zip(new.faces["face_id"], new.faces["identity"]))
    right = [majority[c] == truth[f] for f, c in zip(joined["face_id"], joined["cluster_id"])]
    assert len(right) > 0.5 * len(new) and np.mean(right) > 0.9
    assert compare_to_truth(res.state).pairwise_f >= compare_to_truth(old).pairwise_f - 0.01


def test_bad_inputs_are_refused(old):
    new = _new(_unit([[1, 0, 0, 0]]), ["a1"])
    with pytest.raises(ValueError, match="face_id 'a1' is already in the state"):
        assign_incremental(old, new, threshold=0.5)
    with pytest.raises(ValueError, match="dimension 2"):
        assign_incremental(old, _new(_angles([0]), ["z"]), threshold=0.5)
    ok = _new(_unit([[1, 0, 0, 0], [0, 1, 0, 0]]), ["y", "z"])
    with pytest.raises(ValueError, match="`order` must be a permutation"):
        assign_incremental(old, ok, threshold=0.5, order=[0, 0])
    with pytest.raises(TypeError, match="ClusterState"):
        assign_incremental(ok, ok)
    with pytest.raises(ValueError, match="`min_faces` must be an integer >= 1"):
        assign_incremental(old, ok, min_faces=0)
    with pytest.raises(ValueError, match="`min_quality` must be a finite number"):
        assign_incremental(old, ok, min_quality="high")
    with pytest.raises(ValueError, match="`orders` must be an integer >= 1"):
        assignment_stability(old, ok, orders=0)
