"""Merge and split suggestions (toolkit.reclustering._suggest)."""

import numpy as np
import pandas as pd
import pytest

from toolkit import FaceSet
from toolkit.clustering import ClusterState
from toolkit.reclustering import (MERGE_COLUMNS, SPLIT_COLUMNS, CannotLink, suggest_merges,
                               suggest_splits)
from toolkit.sampledata import generate_faces


def _unit(rows):
    x = np.asarray(rows, dtype=np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _fragments(file_ids=None):
    # Person P split into P1 and P2 (close), person Q apart, person R apart.
    rng = np.random.default_rng(0)
    base = {"P1": [1, 0.3, 0, 0, 0], "P2": [1, -0.3, 0, 0, 0], "Q": [0, 0, 1, 0, 0],
            "R": [0, 0, 0, 1, 0]}
    rows, ids = [], []
    for cid, v in base.items():
        for _ in range(4):
            rows.append(np.asarray(v) + 0.05 * rng.standard_normal(5))
            ids.append(cid)
    frame = pd.DataFrame({"face_id": [f"f{i}" for i in range(16)], "cluster_id": ids})
    if file_ids is not None:
        frame["file_id"] = file_ids
    return ClusterState(FaceSet(frame, _unit(rows)))


def test_fragments_of_one_person_come_first():
    merges = suggest_merges(_fragments(), top=3)
    assert list(merges.columns) == list(MERGE_COLUMNS)
    assert {merges.loc[0, "merge_to"], merges.loc[0, "merge_from"]} == {"P1", "P2"}
    assert merges["rank"].tolist() == list(range(1, len(merges) + 1))
    assert merges["score"].is_monotonic_decreasing
    # Mean similarity straight from the sums: S_P1 . S_P2 / (4 * 4).
    st = _fragments()
    s = st.sums[st.cluster_index("P1")] @ st.sums[st.cluster_index("P2")] / 16
    assert merges.loc[0, "mean_similarity"] == pytest.approx(s)
    assert merges.loc[0, "weakest_link"] <= merges.loc[0, "median_link"]
    assert np.isfinite(merges.loc[0, "silhouette_after"])


def test_a_shared_photo_vetoes_the_pair():
    files = [f"photo{i}" for i in range(16)]
    files[4] = files[0]  # a face of P1 and a face of P2 in one photo
    merges = suggest_merges(_fragments(files), top=10)
    pairs = {frozenset(p) for p in zip(merges["merge_to"], merges["merge_from"])}
    assert frozenset({"P1", "P2"}) not in pairs
    assert merges.attrs["n_vetoed_co_occurrence"] == 1


def test_cannot_link_keeps_a_rejected_pair_away_even_after_ids_change(tmp_path):
    st = _fragments()
    rules = CannotLink().add("P1", "P2", state=st, note="different glasses, different person")
    path = rules.save(tmp_path / "cannot_link.json")
    first = suggest_merges(st, top=10, cannot_link=path)
    assert frozenset({"P1", "P2"}) not in {frozenset(p) for p in
                                            zip(first["merge_to"], first["merge_from"])}
    assert first.attrs["n_vetoed_cannot_link"] == 1
    # Rename P2's faces into a new id (as a merge or recluster would): still blocked by faces.
    renamed = st.with_cluster_ids(np.where(st.face_cluster_ids() == "P2", "P2-new",
                                           st.face_cluster_ids()))
    again = suggest_merges(renamed, top=10, cannot_link=CannotLink.load(path))
    assert frozenset({"P1", "P2-new"}) not in {frozenset(p) for p in
                                                zip(again["merge_to"], again["merge_from"])}


def test_generated_sample_merges_are_mostly_true_fragment_pairs():
    frame, x = generate_faces(3000, 120, seed=0)
    st = ClusterState(FaceSet(frame, x))
    df = pd.DataFrame({"c": st.face_cluster_ids(), "i": frame["identity"]}).dropna()
    majority = df.groupby("c")["i"].agg(lambda s: s.value_counts().index[0])
    t = int(sum(v * (v - 1) // 2 for v in majority.value_counts()))
    merges = suggest_merges(st, top=t, impact=False)
    true_pair = majority[merges["merge_to"]].to_numpy() == majority[merges["merge_from"]].to_numpy()
    assert true_pair.mean() >= 0.9
    purity = df.groupby("c")["i"].agg(lambda s: s.value_counts().iloc[0] / len(s))
    impure = set(purity[purity < 1].index)
    splits = suggest_splits(st)
    assert impure and impure <= set(splits["cluster_id"].head(2 * len(impure)))


def test_scores_do_not_depend_on_the_similarity_scale():
    st = _fragments()
    x = st.embeddings.astype(np.float64)
    # dot products become 0.85 + 0.15 * s: a dlib-like scale of the same faces.
    squeezed = np.hstack([np.sqrt(0.15) * x, np.full((len(x), 1), np.sqrt(0.85))])
    st2 = ClusterState.from_arrays(squeezed, st.face_cluster_ids(), face_ids=st.face_ids)
    a, b = suggest_merges(st, impact=False), suggest_merges(st2, impact=False)
    assert a["score"].to_numpy() == pytest.approx(b["score"].to_numpy(), abs=1e-5)
    assert a["merge_from"].tolist() == b["merge_from"].tolist()
    sa, sb = suggest_splits(st, min_size=4, min_part_size=2), \
        suggest_splits(st2, min_size=4, min_part_size=2)
    assert sa["score"].to_numpy() == pytest.approx(sb["score"].to_numpy(), abs=1e-5)


def test_a_cluster_of_two_people_is_split_between_them():
    # Eight faces: five of person P, three of person Q, all in cluster "X"; and cluster "Y".
    rng = np.random.default_rng(1)
    p = np.array([1, 0.2, 0, 0]) + 0.05 * rng.standard_normal((5, 4))
    q = np.array([0.2, 1, 0, 0]) + 0.05 * rng.standard_normal((3, 4))
    y = np.array([0, 0, 1, 0]) + 0.05 * rng.standard_normal((8, 4))
    st = ClusterState.from_arrays(np.vstack([p, q, y]), ["X"] * 8 + ["Y"] * 8,
                                  face_ids=[f"f{i}" for i in range(16)])
    splits = suggest_splits(st)
    assert list(splits.columns) == list(SPLIT_COLUMNS)
    assert splits.loc[0, "cluster_id"] == "X"
    parts = {splits.loc[0, "faces_a"], splits.loc[0, "faces_b"]}
    assert parts == {tuple(f"f{i}" for i in range(5)), ("f5", "f6", "f7")}
    assert splits["score"].is_monotonic_decreasing
    assert -1 <= splits.loc[0, "silhouette"] <= 1


def _with_strangers(rows, ids, seed=0, dim=8):
    """``rows`` (cluster "X") among four clusters of eight faces of other people,
    so the data has a strangers' level (the floor) to measure against."""
    rng = np.random.default_rng(seed)
    rows, ids = [np.asarray(rows)], list(ids)
    for c in range(4):
        rows.append(np.eye(dim)[2 + c] + 0.05 * rng.standard_normal((8, dim)))
        ids += [f"B{c}"] * 8
    x = np.vstack(rows)
    return ClusterState.from_arrays(x, ids, face_ids=[f"f{i}" for i in range(len(x))])


def test_a_lone_outlier_is_set_aside_not_called_a_person():
    rng = np.random.default_rng(2)
    e = np.eye(8)
    # One person and an odd face: whatever X's proposed split, it scores as one
    # person, no higher than the background clusters of one person each.
    one = np.vstack([e[0] + 0.05 * rng.standard_normal((9, 8)), e[7]])
    splits = suggest_splits(_with_strangers(one, ["X"] * 10)).set_index("cluster_id")
    assert splits.loc["X", "score"] <= splits.drop(index="X")["score"].max()
    # Two people and an odd face: the people are split (the odd face goes with
    # one of them), and X comes first, far above the one-person clusters.
    two = np.vstack([e[0] + 0.05 * rng.standard_normal((6, 8)),
                     e[1] + 0.05 * rng.standard_normal((4, 8)), e[7]])
    splits = suggest_splits(_with_strangers(two, ["X"] * 11))
    row = splits.iloc[0]
    assert row["cluster_id"] == "X"
    p, q = {f"f{i}" for i in range(6)}, {f"f{i}" for i in range(6, 10)}
    parts = [set(row["faces_a"]), set(row["faces_b"])]
    assert (p <= parts[0] and q <= parts[1]) or (q <= parts[0] and p <= parts[1])
    assert row["score"] > 5 * splits["score"].iloc[1]


def test_intruders_peeled_off_one_by_one_are_proposed_together():
    # Ten faces of P and three intruders of Q, the intruders far less alike to each
    # other (each has its own odd direction) than P's faces are: 2-means takes them
    # one or two at a time as odd faces; past a fifth of the cluster they are
    # proposed together as the second part.
    rng = np.random.default_rng(4)
    e = np.eye(8)
    host = e[0] + 0.05 * rng.standard_normal((10, 8))
    # Intruders: cos 0.62 to the host, 0.48 to each other.
    intruders = 0.6 * e[0] + 0.3 * e[1] + 0.7 * e[5:8] + 0.05 * rng.standard_normal((3, 8))
    splits = suggest_splits(_with_strangers(np.vstack([host, intruders]), ["X"] * 13))
    row = splits.iloc[0]
    assert row["cluster_id"] == "X"
    assert row["faces_b"] == ("f10", "f11", "f12") and row["n_outliers"] == 0
    # The intruders are less alike to each other than to the host...
    assert row["cohesion_b"] < row["cross_similarity"]
    # ...yet, measured against their own cohesions, the parts are not one person.
    assert row["score"] > 5 * splits["score"].iloc[1]


@pytest.mark.parametrize("n_faces, n_identities", [(3000, 120), (800, 40)])
def test_held_out_anisotropic_look_alikes_come_first(n_faces, n_identities):
    # Faces that vary along shared nuisance directions: pure clusters cut along
    # them look like two people in plain cosine; the impure clusters must still
    # be among the top 2m -- also with few clusters, where one impure cluster's
    # own spread weighs on the whitening.
    frame, x = generate_faces(n_faces, n_identities, seed=0, model="anisotropic")
    st = ClusterState(FaceSet(frame, x))
    df = pd.DataFrame({"c": st.face_cluster_ids(), "i": frame["identity"]}).dropna()
    purity = df.groupby("c")["i"].agg(lambda s: s.value_counts().iloc[0] / len(s))
    impure = set(purity[purity < 1].index)
    splits = suggest_splits(st)
    assert impure and impure <= set(splits["cluster_id"].head(2 * len(impure)))
    assert splits.attrs["spread_ratio"] > 2


@pytest.mark.parametrize("func, kwargs, match", [
    (suggest_merges, {"top": 0}, "`top` must be an integer >= 1"),
    (suggest_merges, {"n_neighbors": -1}, "`n_neighbors` must be an integer >= 1"),
    (suggest_splits, {"min_part_size": 0}, "`min_part_size` must be an integer >= 1"),
    (suggest_splits, {"min_size": 3}, "`min_size` must be an integer >= 6"),
])
def test_bad_options_are_refused(func, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(_fragments(), **kwargs)


def test_needs_a_state_and_handles_a_single_cluster():
    with pytest.raises(TypeError, match="ClusterState"):
        suggest_merges(np.eye(3))
    one = ClusterState.from_arrays(np.eye(3), ["A", "A", "A"])
    assert len(suggest_merges(one)) == 0
    assert len(suggest_splits(one)) == 0
