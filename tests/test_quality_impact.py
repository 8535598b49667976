"""Tests of toolkit.quality.merge_impact: every figure equals merging and recomputing."""

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import normalize

from toolkit.clustering import ClusterState
from toolkit.errors import MergeError
from toolkit.quality import (MergeImpact, cluster_quality, compare_to_truth, merge_impact,
                             merge_impact_frame, silhouette_samples, silhouette_score)
from toolkit.quality import _impact, _silhouette

# Hand-worked: x1 = (1, 0), x2 = (0.8, 0.6) in "a"; x3 = (0, 1), x4 = (-0.6, 0.8) in "b";
# x5 = (0.6, -0.8) alone in "c". Merge c into a:
#   merged cohesion: pairs x1·x2 = 0.8, x1·x5 = 0.6, x2·x5 = 0.48 - 0.48 = 0 -> 1.4 / 3.
#   c -> a cross-similarities: x5·x1 = 0.6, x5·x2 = 0 -> mean 0.3, median 0.3;
#   the one source face's mean similarity to a is 0.3: the weakest link.
#   Feature drift: S_a = (1.8, 0.6), S_M = (2.4, -0.2);
#   cos = (4.32 - 0.12) / (√3.6 · √5.8) = 4.2 / √20.88 = 0.919145...
HAND_X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8], [0.6, -0.8]])
HAND_IDS = ["a", "a", "b", "b", "c"]


def _hand_state(**columns):
    faces = pd.DataFrame(columns) if columns else None
    return ClusterState.from_arrays(HAND_X, HAND_IDS, faces=faces)


def test_hand_worked_figures():
    imp = merge_impact(_hand_state(), "a", "c")
    assert isinstance(imp, MergeImpact)
    assert (imp.to, imp.froms, imp.sizes, imp.merged_size) == ("a", ("c",), {"a": 2, "c": 1}, 3)
    assert imp.cohesion_after == pytest.approx(1.4 / 3, abs=1e-7)
    assert imp.cohesion_before["a"] == pytest.approx(0.8, abs=1e-7)
    assert np.isnan(imp.cohesion_before["c"])
    assert imp.cross_similarity_mean == {"c": pytest.approx(0.3, abs=1e-7)}
    assert imp.cross_similarity_median == {"c": pytest.approx(0.3, abs=1e-7)}
    assert (imp.weakest_link, imp.weakest_link_face) == (pytest.approx(0.3, abs=1e-7), "face-4")
    assert imp.feature_drift == pytest.approx(4.2 / np.sqrt(20.88), abs=1e-7)
    assert imp.co_occurrence_files is None and imp.pairwise_f_before is None


def test_hand_worked_co_occurrence_and_truth():
    # x1 (cluster a) and x5 (cluster c) are in photo p1: merging c into a puts one
    # person twice in p1. x3 and x4 share p2 but b is not merged.
    state = _hand_state(file_id=["p1", None, "p2", "p2", "p1"],
                        identity=["ann", "ann", "bob", "bob", "ann"])
    imp = merge_impact(state, "a", ["c"])
    assert (imp.co_occurrence_files, imp.co_occurrence_file_ids) == (1, ("p1",))
    # Truth: before, clusters {1,2} {3,4} {5}; ann = {1,2,5}, bob = {3,4}.
    #   Pairwise: cluster pairs (1,2) (3,4), both true -> P = 1; ann has 3 pairs, bob 1 -> R = 2/4;
    #   F = 2 (1)(1/2) / (3/2) = 2/3.  After: {1,2,5} {3,4}: P = R = F = 1.
    #   BCubed before: P = 1; R per face 2/3, 2/3, 1, 1, 1/3 -> 11/3 / 5 = 11/15;
    #   F = 2 (11/15) / (26/15) = 22/26.  After: 1.
    assert imp.pairwise_f_before == pytest.approx(2 / 3)
    assert imp.pairwise_f_after == pytest.approx(1.0)
    assert imp.bcubed_f_before == pytest.approx(22 / 26)
    assert imp.bcubed_f_after == pytest.approx(1.0)


def _make_state(seed, dtype, *, n=300, k=18, d=6):
    rng = np.random.default_rng(seed)
    centres = normalize(rng.standard_normal((k, d)))
    codes = rng.integers(0, k, n)
    X = (centres[codes] + 0.6 * rng.standard_normal((n, d))).astype(dtype)
    ids = np.array([f"c{c:02d}" for c in codes], dtype=object)
    ids[rng.random(n) < 0.1] = "figure-cluster-id-independent"
    ids[0], ids[1] = "solo-1", "solo-2"   # singletons
    faces = pd.DataFrame({
        "file_id": rng.integers(0, 120, n).astype(str),
        "identity": np.where(rng.random(n) < 0.05, None,
                             np.array([f"p{c % 12}" for c in codes], dtype=object)),
    })
    return ClusterState.from_arrays(X, ids, faces=faces)


def _recomputed(state, to, froms):
    """Every figure by applying the merge and recomputing from scratch."""
    new, _ = state.merge(to, froms=list(froms))
    Xn = normalize(state.embeddings.astype(np.float64))
    old_ids, new_ids = state.face_cluster_ids(), new.face_cluster_ids()
    out = {"silhouette_before": silhouette_score(state),
           "silhouette_after": silhouette_score(new)}
    old_s, new_s = silhouette_samples(state), silhouette_samples(new)
    out["cluster_silhouette_before"] = {c: old_s[state.members(c)].mean() for c in [to, *froms]}
    out["merged_silhouette_after"] = new_s[new.members(to)].mean()
    q = cluster_quality(new).set_index("cluster_id")
    q_old = cluster_quality(state).set_index("cluster_id")
    out["cohesion_after"] = q.loc[to, "cohesion"]
    out["cohesion_before"] = {c: q_old.loc[c, "cohesion"] for c in [to, *froms]}
    T = Xn[state.members(to)]
    means, medians, worst = {}, {}, np.inf
    for f in froms:
        G = Xn[state.members(f)] @ T.T
        means[f], medians[f] = G.mean(), np.median(G)
        worst = min(worst, G.mean(axis=1).min())
    out.update(cross_similarity_mean=means, cross_similarity_median=medians, weakest_link=worst)
    s_old, s_new = T.sum(0), Xn[new.members(to)].sum(0)
    out["feature_drift"] = s_old @ s_new / np.linalg.norm(s_old) / np.linalg.norm(s_new)
    merged = {to, *froms}
    feature = {c: normalize(Xn[state.members(c)].sum(0)[None])[0] for c in state.cluster_ids}
    f_new = s_new / np.linalg.norm(s_new)
    outside = [i for i, c in enumerate(old_ids) if c is not None and c not in merged]
    own = np.array([Xn[i] @ feature[old_ids[i]] for i in outside])
    out["nearer_to_feature_before"] = int(np.sum(Xn[outside] @ feature[to] > own))
    out["nearer_to_feature_after"] = int(np.sum(Xn[outside] @ f_new > own))
    faces = state.faceset.faces.assign(c=old_ids)
    per_file = faces[faces["c"].isin(merged)].groupby("file_id")["c"].nunique()
    out["co_occurrence_files"] = int((per_file >= 2).sum())
    before, after = compare_to_truth(state), compare_to_truth(new)
    out.update(pairwise_f_before=before.pairwise_f, pairwise_f_after=after.pairwise_f,
               bcubed_f_before=before.bcubed_f, bcubed_f_after=after.bcubed_f)
    old_means = pd.Series(old_s).groupby(old_ids).mean()
    new_means = pd.Series(new_s).groupby(new_ids).mean()
    changed = {c for c in new_means.index
               if c != to and abs(new_means[c] - old_means[c]) > 1e-13}
    out["_neighbours"] = (old_means, new_means, changed)
    return out


def _assert_matches(imp, expected):
    old_means, new_means, changed = expected.pop("_neighbours")
    for key, value in expected.items():
        got = getattr(imp, key)
        if isinstance(value, dict):
            assert got == pytest.approx(value, abs=1e-12, nan_ok=True), key
        else:
            assert got == pytest.approx(value, abs=1e-12, nan_ok=True), key
    # Every cluster whose mean silhouette moved is reported, with both values.
    assert changed <= set(imp.neighbour_silhouette)
    for c, (before, after) in imp.neighbour_silhouette.items():
        assert (before, after) == (pytest.approx(old_means[c], abs=1e-12),
                                   pytest.approx(new_means[c], abs=1e-12))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_figure_equals_merging_and_recomputing(dtype, seed):
    state = _make_state(seed, dtype)
    ids = [c for c in state.cluster_ids if not c.startswith("solo")]
    rng = np.random.default_rng(seed)
    candidates = [("solo-1", [ids[0]]), (ids[1], ["solo-2"]),
                  (ids[2], [ids[3]]), (ids[4], list(rng.choice(ids[5:], 3, replace=False)))]
    for to, froms in candidates:
        _assert_matches(merge_impact(state, to, froms), _recomputed(state, to, froms))


def test_full_scan_path_when_nearest_and_runner_up_are_both_merged(monkeypatch):
    # Merging 9 of 11 clusters: for most faces both their nearest and their
    # runner-up cluster are in the merge, so the cached ranks do not suffice.
    state = _make_state(5, np.float64, n=200, k=9, d=4)
    scans = []
    real = _impact._full_scan
    monkeypatch.setattr(_impact, "_full_scan",
                        lambda *a, **kw: scans.append(len(a[1])) or real(*a, **kw))
    to, *froms = [c for c in state.cluster_ids][:9]
    imp = merge_impact(state, to, froms, chunk_bytes=2048)
    assert sum(scans) > 0
    _assert_matches(imp, _recomputed(state, to, froms))


def test_merging_down_to_one_cluster_leaves_silhouette_undefined():
    state = _hand_state()
    imp = merge_impact(state, "b", ["a", "c"])
    assert imp.silhouette_before == pytest.approx(silhouette_score(state))
    assert np.isnan(imp.silhouette_after) and np.isnan(imp.merged_silhouette_after)
    assert imp.merged_size == 5


def test_chunk_size_does_not_change_the_result():
    state = _make_state(3, np.float32)
    to, a, b = state.cluster_ids[3:6]
    base = merge_impact(state, to, [a, b]).to_dict()
    small = merge_impact(state, to, [a, b], chunk_bytes=512).to_dict()
    for key, value in base.items():
        if isinstance(value, (float, dict)) and key != "neighbour_silhouette":
            assert small[key] == pytest.approx(value, abs=1e-12, nan_ok=True), key
        elif key == "neighbour_silhouette":
            assert small[key].keys() == value.keys()
            for cluster, pair in value.items():
                assert small[key][cluster] == pytest.approx(pair, abs=1e-12)
        else:
            assert small[key] == value, key


def test_context_is_computed_once_per_state(monkeypatch):
    state = _make_state(4, np.float64)
    calls = []
    real = _silhouette.build_context
    monkeypatch.setattr(_silhouette, "build_context",
                        lambda *a, **kw: calls.append(1) or real(*a, **kw))
    ids = state.cluster_ids
    for i in range(3, 8):
        merge_impact(state, ids[i], [ids[i + 1]])
    silhouette_score(state)
    assert len(calls) == 1
    # The merged state is a new state: its own context.
    new, _ = state.merge(ids[3], from_=ids[4])
    silhouette_score(new)
    assert len(calls) == 2


def test_frame_of_candidates_equals_single_calls():
    state = _make_state(6, np.float64)
    ids = state.cluster_ids
    merges = [(ids[3], [ids[4]]), (ids[5], ids[6]), (ids[7], (ids[8], ids[9]))]
    frame = merge_impact_frame(state, merges)
    assert list(frame.columns) == list(MergeImpact.__dataclass_fields__)
    assert frame["to"].tolist() == [ids[3], ids[5], ids[7]]
    single = merge_impact(state, ids[7], [ids[8], ids[9]]).to_dict()
    assert frame.iloc[2]["silhouette_after"] == single["silhouette_after"]
    assert frame.iloc[2]["cross_similarity_mean"] == single["cross_similarity_mean"]
    tasks = pd.DataFrame({"merge_to": [ids[3]], "merge_sources": [[ids[4]]]})
    from_tasks = merge_impact_frame(state, tasks)
    assert from_tasks.iloc[0]["silhouette_after"] == frame.iloc[0]["silhouette_after"]


def test_bad_requests_raise_merge_errors():
    state = _hand_state()
    with pytest.raises(MergeError, match="ResourceNotFound.*'nope'"):
        merge_impact(state, "a", ["nope"])
    with pytest.raises(MergeError, match="To must not be one of the source clusters"):
        merge_impact(state, "a", ["a"])
    with pytest.raises(MergeError, match="Froms ids must be distinct"):
        merge_impact(state, "a", ["b", "b"])
    with pytest.raises(TypeError, match="needs a ClusterState"):
        merge_impact(HAND_X, "a", ["b"])
    with pytest.raises(ValueError, match=r"merges\[0\] must be a \(to, froms\) pair"):
        merge_impact_frame(state, ["a"])
    with pytest.raises(ValueError, match="needs columns 'merge_to' and 'merge_sources'"):
        merge_impact_frame(state, pd.DataFrame({"to": ["a"]}))
