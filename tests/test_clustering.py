"""Tests for toolkit.clustering: ClusterState, the IMM merge rules, undo and the ledger."""

from __future__ import annotations

import dataclasses
import doctest
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import normalize

import toolkit
from toolkit import FaceSet, MergeError, RecordError
from toolkit.clustering import (MAX_FROMS, MAX_USER_DATA_BYTES, MERGE_RULES, ClusterState, Ledger,
                                LedgerEntry, LedgerError, UnknownClusterError,
                                validate_merge_request)
from toolkit.clustering import _entry, _ledger, _rules, _state, _stats

T0 = datetime(2025, 3, 2, 8, 16, 39, 500000, tzinfo=timezone.utc)


def random_state(n=60, d=8, k=7, *, seed=0, unclustered=0.1, dtype=np.float64):
    """Random unit vectors in k clusters with non-numeric, unordered ids."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(dtype)
    names = np.array([f"Cluster-{rng.integers(10**6):06d}-{i}" for i in range(k)], dtype=object)
    ids = names[rng.integers(0, k, n)]
    ids[rng.random(n) < unclustered] = "figure-cluster-id-independent"
    return ClusterState.from_arrays(x, ids)


def assert_same_state(a: ClusterState, b: ClusterState) -> None:
    """Bit-for-bit equality of everything a state holds."""
    assert a.faceset is b.faceset
    np.testing.assert_array_equal(a.cluster_ids, b.cluster_ids)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.sums.dtype == b.sums.dtype == np.float64
    assert np.array_equal(a.sums, b.sums)
    assert np.array_equal(a.features, b.features)
    assert a.equals(b)


# ---- construction ----------------------------------------------------------------------------

def test_from_arrays_hand_worked():
    # Rows (3,4), (0,2), (1,0) normalise to (.6,.8), (0,1), (1,0).
    # Cluster "b" = faces 0 and 1: S = (.6, 1.8), n = 2; cluster "a" = face 2: S = (1, 0).
    # Sorted ids: ["a", "b"], so labels = [1, 1, 0].
    state = ClusterState.from_arrays([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]], ["b", "b", "a"])
    assert state.cluster_ids.tolist() == ["a", "b"]
    assert state.labels.tolist() == [1, 1, 0]
    assert state.counts.tolist() == [1, 2]
    assert state.sums.dtype == np.float64
    assert state.sums[1] == pytest.approx([0.6, 1.8], abs=1e-7)
    assert state.sums[0].tolist() == [1.0, 0.0]
    # ||(.6, 1.8)|| = sqrt(.36 + 3.24) = sqrt(3.6) = 1.897366...
    assert state.features[1] == pytest.approx([0.6 / 3.6 ** 0.5, 1.8 / 3.6 ** 0.5], abs=1e-7)
    assert state.faceset.faces["norm"].tolist() == [5.0, 2.0, 1.0]
    assert state.embeddings.dtype == np.float32
    assert (state.n_faces, state.n_clusters, state.n_unclustered, state.dim) == (3, 2, 0, 2)


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA, "", "figure-cluster-id-independent",
                                     "figure-cluster-id-unavailable"])
def test_faces_in_no_cluster_are_kept_with_label_minus_one(missing):
    state = ClusterState.from_arrays(np.eye(3), ["x", missing, "x"])
    assert state.labels.tolist() == [0, -1, 0]
    assert state.n_unclustered == 1
    assert state.counts.tolist() == [2]
    assert state.sums.tolist() == [[1.0, 0.0, 1.0]]
    assert state.face_cluster_ids().tolist() == ["x", None, "x"]


def test_cluster_ids_are_arbitrary_strings_sorted_as_strings():
    ids = ["10", "9", "Cluster-ß", "Cluster-a", "人物", "9"]
    state = ClusterState.from_arrays(np.eye(6), ids)
    assert state.cluster_ids.tolist() == sorted(set(ids))  # "10" < "9": string order
    assert state.cluster_ids.tolist()[state.labels[0]] == "10"
    assert state.members("9").tolist() == [1, 5]
    assert all(type(c) is str for c in state.cluster_ids)


def test_sums_match_an_independent_groupby_and_features_match_sklearn():
    state = random_state(n=500, d=16, k=23, seed=1)
    x = state.embeddings.astype(np.float64)
    ids = state.face_cluster_ids()
    expected = pd.DataFrame(x).groupby(ids, dropna=True).sum().sort_index()
    assert expected.index.tolist() == state.cluster_ids.tolist()
    assert state.sums == pytest.approx(expected.to_numpy(), abs=1e-12)
    assert state.counts.tolist() == pd.Series(ids).value_counts().sort_index().tolist()
    assert state.features == pytest.approx(normalize(state.sums), abs=1e-15)


def test_chunked_sums_equal_one_block(monkeypatch):
    # Force a chunk of 64 rows so clusters straddle chunk boundaries.
    big = random_state(n=700, d=4, k=5, seed=2, unclustered=0.2)
    monkeypatch.setattr(_stats, "SUM_CHUNK_BYTES", 1)
    small = big.with_cluster_ids(big.face_cluster_ids())
    assert small.sums == pytest.approx(big.sums, abs=1e-12)
    np.testing.assert_array_equal(small.counts, big.counts)


def test_sums_are_deterministic_bit_for_bit():
    a = random_state(seed=3)
    b = a.with_cluster_ids(a.face_cluster_ids())
    assert np.array_equal(a.sums, b.sums)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_from_arrays_normalises_any_numeric_dtype(dtype):
    state = ClusterState.from_arrays(np.array([[0, 3], [4, 0]], dtype=dtype), ["a", "b"])
    assert state.embeddings.dtype == np.float32
    assert state.embeddings.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert state.faceset.faces["norm"].tolist() == [3.0, 4.0]


def test_float32_and_float64_inputs_give_the_same_state():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    ids = np.array(["p", "q", "r", None], dtype=object)[rng.integers(0, 4, 40)]
    a = ClusterState.from_arrays(x, ids)
    b = ClusterState.from_arrays(x.astype(np.float64), ids)
    assert np.array_equal(a.embeddings, b.embeddings)
    assert np.array_equal(a.sums, b.sums)


def test_from_arrays_face_ids_and_extra_columns():
    faces = pd.DataFrame({"identity": ["ann", "bob"], "norm": [7.0, 8.0]})
    state = ClusterState.from_arrays(np.eye(2), ["c1", "c1"], face_ids=["u", "v"], faces=faces)
    out = state.faceset.faces
    assert out["face_id"].tolist() == ["u", "v"]
    assert out["identity"].tolist() == ["ann", "bob"]
    assert out["norm"].tolist() == [7.0, 8.0]  # an existing norm column is kept
    assert state.face_ids.tolist() == ["u", "v"]
    default = ClusterState.from_arrays(np.eye(2), ["c1", "c1"])
    assert default.face_ids.tolist() == ["face-0", "face-1"]


def test_from_faces_uses_the_faceset_as_is():
    fs = FaceSet(pd.DataFrame({"face_id": ["a", "b", "c"],
                               "cluster_id": ["k", "figure-cluster-id-unavailable", "k"]}),
                 np.eye(3, dtype=np.float32))
    state = ClusterState.from_faces(fs)
    assert state.faceset is fs
    assert np.shares_memory(state.embeddings, fs.embeddings)
    assert state.labels.tolist() == [0, -1, 0]
    assert ClusterState(fs).equals(state)


def test_with_cluster_ids_shares_faces_and_reclusters():
    state = ClusterState.from_arrays(np.eye(3), ["a", "a", "a"])
    other = state.with_cluster_ids(pd.Series(["z", None, "y"], index=[10, 11, 12]))
    assert other.faceset is state.faceset
    assert np.shares_memory(other.embeddings, state.embeddings)
    assert other.cluster_ids.tolist() == ["y", "z"]
    assert other.labels.tolist() == [1, -1, 0]
    assert other.sums.tolist() == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]


@pytest.mark.parametrize("make, error, match", [
    (lambda: ClusterState.from_arrays(np.eye(2), ["a", 3]), RecordError,
     r"faces\[1\].*cluster ids must be strings.*cluster_id.*got 3"),
    (lambda: ClusterState.from_arrays(np.eye(2), ["a", 3.5]), RecordError, r"faces\[1\]"),
    (lambda: ClusterState.from_arrays([[1.0, 0], [0, 0]], ["a", "b"]), RecordError,
     r"embeddings\[1\].*all zeros"),
    (lambda: ClusterState.from_arrays([[1.0, np.nan], [0, 1]], ["a", "b"]), RecordError,
     r"embeddings\[0\].*NaN"),
    (lambda: ClusterState.from_arrays(np.eye(2), ["a"]), ValueError, "one entry per face"),
    (lambda: ClusterState.from_arrays(np.ones(3), ["a"]), ValueError, "2-D"),
    (lambda: ClusterState.from_arrays([["x", "y"]], ["a"]), ValueError, "numeric"),
    (lambda: ClusterState.from_arrays(np.eye(2), ["a", "b"], face_ids=["f"]), ValueError,
     "face_ids must have one entry per face"),
    (lambda: ClusterState.from_arrays(np.eye(2), ["a", "b"],
                                      faces=pd.DataFrame({"cluster_id": ["a", "c"]})),
     ValueError, r"differ \(first at row 1: 'c' vs 'b'\)"),
    (lambda: ClusterState.from_arrays(np.eye(2), ["a", "b"], face_ids=["u", "v"],
                                      faces=pd.DataFrame({"face_id": ["u", "w"]})),
     ValueError, "face_ids and faces"),
    (lambda: ClusterState.from_arrays(np.eye(2), ["a", "b"], faces=pd.DataFrame({"x": [1]})),
     ValueError, "faces has 1 rows but embeddings has 2"),
    (lambda: ClusterState(np.eye(2)), TypeError, "needs a toolkit.FaceSet"),
    (lambda: ClusterState.from_arrays(np.eye(2), ["a", "a"]).with_cluster_ids(["a"]),
     ValueError, r"one entry per face \(2\)"),
])
def test_bad_construction_inputs_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_non_unit_faceset_is_rejected_naming_the_face():
    fs = FaceSet(pd.DataFrame({"face_id": ["a", "b"], "cluster_id": ["k", "k"]}),
                 np.array([[1, 0], [3, 4]], dtype=np.float32))
    with pytest.raises(RecordError, match=r"faces\[1\] \(face_id 'b'\).*unit rows.*got 5.0"):
        ClusterState.from_faces(fs)


def test_non_string_face_ids_are_rejected():
    fs = FaceSet(pd.DataFrame({"face_id": [1, 2], "cluster_id": ["k", "k"]}),
                 np.eye(2, dtype=np.float32))
    with pytest.raises(RecordError, match=r"faces\[0\].*face ids must be strings"):
        ClusterState.from_faces(fs)


def test_no_clusters_and_no_faces():
    none = ClusterState.from_arrays(np.eye(2), [None, "figure-cluster-id-independent"])
    assert (none.n_clusters, none.n_unclustered, none.sums.shape) == (0, 2, (0, 2))
    assert none.features.shape == (0, 2)
    assert none.cluster_frame().empty
    empty = ClusterState.from_arrays(np.zeros((0, 3)), [])
    assert (empty.n_faces, empty.n_clusters, empty.sums.shape) == (0, 0, (0, 3))


# ---- immutability ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["embeddings", "face_ids", "cluster_ids", "labels", "counts",
                                  "sums", "features"])
def test_state_arrays_are_read_only(name):
    state = random_state()
    array = getattr(state, name)
    assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        array[0] = array[0]
    merged, _ = state.merge(state.cluster_ids[0], from_=state.cluster_ids[1])
    assert not getattr(merged, name).flags.writeable


def test_state_attributes_cannot_be_set_or_deleted():
    state = random_state()
    with pytest.raises(AttributeError, match="immutable"):
        state.labels = np.zeros(3)
    with pytest.raises(AttributeError, match="immutable"):
        del state.sums


def test_caller_arrays_stay_writeable():
    x = np.eye(2, dtype=np.float32)
    fs = FaceSet(pd.DataFrame({"face_id": ["a", "b"], "cluster_id": ["k", "k"]}), x)
    ClusterState.from_faces(fs)
    assert x.flags.writeable


def test_entry_is_frozen_with_read_only_arrays_and_tags():
    state = random_state()
    _, entry = state.merge(state.cluster_ids[0], from_=state.cluster_ids[1],
                           tags={"k": ["v", {"n": 1}]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.to = "other"
    for name in ("to_sum_before", "source_sums", "feature_before", "feature_after"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(entry, name)[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        entry.member_positions[0][0] = 0
    with pytest.raises(TypeError):
        entry.tags["k"] = "changed"
    assert entry.request()["Tags"] == {"k": ["v", {"n": 1}]}


# ---- helpers ---------------------------------------------------------------------------------

def test_cluster_index_and_members():
    state = ClusterState.from_arrays(np.eye(5), ["q", None, "p", "q", "q"])
    assert state.cluster_index("p") == 0
    assert state.cluster_index("q") == 1
    assert state.members("q").tolist() == [0, 3, 4]
    assert not state.members("q").flags.writeable


@pytest.mark.parametrize("bad, match", [
    ("nope", r"ResourceNotFound: cluster_id='nope': no live cluster has this id \(2 live"),
    ("figure-cluster-id-independent", "reserved IMM id"),
    (None, "means 'in no cluster'"),
    ("", "means 'in no cluster'"),
    (["x"], "no live cluster"),
    (7, "no live cluster"),
])
def test_unknown_cluster_ids_raise_a_keyerror_like_merge_error(bad, match):
    state = ClusterState.from_arrays(np.eye(2), ["p", "q"])
    for call in (state.cluster_index, state.members):
        with pytest.raises(UnknownClusterError, match=match) as info:
            call(bad)
        assert isinstance(info.value, KeyError) and isinstance(info.value, MergeError)
        assert info.value.code == "ResourceNotFound"


def test_cluster_frame_hand_worked():
    # "a": (1,0) and (0,1): ||S|| = sqrt(2), size 2, mean resultant length sqrt(2)/2.
    # "b": (1,0) alone: length 1.
    state = ClusterState.from_arrays([[1.0, 0], [0, 1.0], [1.0, 0], [0, 1.0]],
                                     ["a", "a", "b", None])
    frame = state.cluster_frame()
    assert frame.columns.tolist() == ["cluster_id", "size", "mean_resultant_length"]
    assert frame["cluster_id"].tolist() == ["a", "b"]
    assert frame["size"].tolist() == [2, 2 - 1]
    assert frame["mean_resultant_length"].tolist() == pytest.approx([2 ** 0.5 / 2, 1.0])


def test_to_faceset_holds_the_current_clustering():
    state = ClusterState.from_arrays(np.eye(4), ["a", "b", "figure-cluster-id-unavailable", None])
    merged, _ = state.merge("b", from_="a")
    fs = merged.to_faceset()
    col = fs.faces["cluster_id"]
    assert col.iloc[:3].tolist() == ["b", "b", "figure-cluster-id-unavailable"]
    assert pd.isna(col.iloc[3])
    assert fs.embeddings is state.faceset.embeddings
    assert ClusterState.from_faces(fs).labels.tolist() == merged.labels.tolist()
    assert state.faceset.faces["cluster_id"].tolist()[:2] == ["a", "b"]  # input untouched


def test_repr_mentions_the_sizes():
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", None])
    assert repr(state) == "ClusterState(3 faces, dim=3, 2 clusters, 1 in no cluster)"


# ---- the merge request rules -----------------------------------------------------------------

FROMS_100 = [f"s{i}" for i in range(100)]
EXISTING = {"to", "a", "b", *FROMS_100, "s100"}

# (kwargs, code, field, message pattern)
BAD_REQUESTS = [
    (dict(to=None, from_="a"), "MissingParameter", "To", "is required"),
    (dict(to=5, from_="a"), "InvalidArgument", "To", "int, not a string"),
    (dict(to="", from_="a"), "InvalidArgument", "To", "empty string"),
    (dict(to="figure-cluster-id-independent", from_="a"), "InvalidArgument", "To", "reserved"),
    (dict(to="to"), "MissingParameter", "From/Froms", "neither"),
    (dict(to="to", from_="a", froms=["b"]), "InvalidArgument", "From/Froms", "both"),
    (dict(to="to", from_=b"a"), "InvalidArgument", "From", "bytes, not a string"),
    (dict(to="to", from_="figure-cluster-id-unavailable"), "InvalidArgument", "From",
     "reserved"),
    (dict(to="to", froms="a"), "InvalidArgument", "Froms", "pass it as from_"),
    (dict(to="to", froms={"a", "b"}), "InvalidArgument", "Froms", "got a set"),
    (dict(to="to", froms=[]), "InvalidArgument", "Froms", "1 to 100 ids; got 0"),
    (dict(to="to", froms=FROMS_100 + ["s100"]), "InvalidArgument", "Froms",
     "1 to 100 ids; got 101"),
    (dict(to="to", froms=["a", 3]), "InvalidArgument", "Froms", r"Froms\[1\]: it is a int"),
    (dict(to="to", froms=["a", None]), "InvalidArgument", "Froms", r"Froms\[1\]"),
    (dict(to="to", froms=["a", "b", "a"]), "InvalidArgument", "Froms",
     r"distinct; Froms\[2\] repeats"),
    (dict(to="a", from_="a"), "InvalidArgument", "To", "also given in From"),
    (dict(to="a", froms=["b", "a"]), "InvalidArgument", "To", "also given in Froms"),
    (dict(to="to", from_="a", user_data=b"x"), "InvalidArgument", "UserData", "got a bytes"),
    (dict(to="to", from_="a", user_data="é" * 1024 + "a"), "InvalidArgument", "UserData",
     "at most 2048 bytes in UTF-8; this one is 2049 bytes"),
    (dict(to="to", from_="a", user_data="\ud800"), "InvalidArgument", "UserData",
     "cannot be encoded as UTF-8"),
    (dict(to="to", from_="a", tags=[("k", "v")]), "InvalidArgument", "Tags", "got a list"),
    (dict(to="to", from_="a", tags={1: "v"}), "InvalidArgument", "Tags",
     "key 1, a int; keys must be strings"),
    (dict(to="to", from_="a", tags={"k": {"n": {2: 0}}}), "InvalidArgument", "Tags",
     r"Tags\['k'\]\['n'\] has the key 2"),
    (dict(to="to", from_="a", tags={"k": float("nan")}), "InvalidArgument", "Tags",
     "nan, which JSON cannot hold"),
    (dict(to="to", from_="a", tags={"k": [1, {1, 2}]}), "InvalidArgument", "Tags",
     r"Tags\['k'\]\[1\] is a set"),
    (dict(to="to", from_="a", tags={"k": datetime(2025, 1, 1)}), "InvalidArgument", "Tags",
     "is a datetime"),
    (dict(to="to", from_="a", tags={"k": 2 ** 64}), "InvalidArgument", "Tags", "64-bit"),
    (dict(to="gone", from_="a"), "ResourceNotFound", "To", "existing cluster"),
    (dict(to="to", from_="gone"), "ResourceNotFound", "From/Froms", "From is not a live"),
    (dict(to="to", froms=["a", "gone"]), "ResourceNotFound", "From/Froms",
     r"Froms\[1\] is not a live"),
]


@pytest.mark.parametrize("kwargs, code, field, match", BAD_REQUESTS)
def test_bad_merge_requests_raise_merge_error(kwargs, code, field, match):
    with pytest.raises(MergeError, match=match) as info:
        validate_merge_request(**kwargs, existing=EXISTING)
    assert (info.value.code, info.value.field) == (code, field)
    assert info.value.rule  # the rule in words travels with the error
    if code == "ResourceNotFound":
        assert isinstance(info.value, UnknownClusterError)


def test_every_rule_is_exercised_by_a_bad_request():
    hit = set()
    for kwargs, *_ in BAD_REQUESTS:
        with pytest.raises(MergeError) as info:
            validate_merge_request(**kwargs, existing=EXISTING)
        hit.update(r.rule for r in MERGE_RULES if info.value.rule.startswith(r.rule)
                   and info.value.field == r.field and info.value.code == r.code)
    assert hit == {r.rule for r in MERGE_RULES}


@pytest.mark.parametrize("kwargs, sources", [
    (dict(to="to", from_="a"), ["a"]),
    (dict(to="to", froms=["b", "a"]), ["b", "a"]),
    (dict(to="to", froms=("a",)), ["a"]),
    (dict(to="to", froms=np.array(["b", "a"])), ["b", "a"]),
    (dict(to="to", froms=pd.Series(["b"])), ["b"]),
    (dict(to="to", froms=FROMS_100), FROMS_100),  # exactly 100 is allowed
    (dict(to="to", from_="a", user_data="é" * 1024), ["a"]),  # 2048 bytes in UTF-8
    (dict(to="to", from_="a", user_data="€" * 682 + "ab"), ["a"]),  # 3*682 + 2 = 2048
    (dict(to="to", from_="a", user_data="😀" * 512), ["a"]),  # 4*512 = 2048
    (dict(to="to", from_="a", user_data=""), ["a"]),
    (dict(to="to", from_="a", tags={}), ["a"]),
    (dict(to="to", from_="a", tags={"k": [1, 2.5, None, True, {"x": "y"}], "z": 2 ** 63}),
     ["a"]),
])
def test_valid_merge_requests_return_the_sources_in_order(kwargs, sources):
    assert validate_merge_request(**kwargs, existing=EXISTING) == sources
    assert validate_merge_request(**kwargs) == sources


@pytest.mark.parametrize("text, size", [("é" * 1024, 2048), ("é" * 1024 + "a", 2049),
                                        ("😀" * 512 + "a", 2049)])
def test_user_data_limit_counts_utf8_bytes_not_characters(text, size):
    assert len(text.encode("utf-8")) == size
    if size <= MAX_USER_DATA_BYTES:
        validate_merge_request("to", from_="a", user_data=text)
    else:
        with pytest.raises(MergeError, match=f"this one is {size} bytes"):
            validate_merge_request("to", from_="a", user_data=text)


def test_existence_is_only_checked_when_existing_is_given():
    assert validate_merge_request("x", froms=["y"]) == ["y"]
    with pytest.raises(MergeError, match="ResourceNotFound: To='x'"):
        validate_merge_request("x", froms=["y"], existing=["y"])


@pytest.mark.parametrize("user_data, tags, ok", [
    ("é" * 1024, {"k": "v"}, True),
    ("é" * 1024 + "a", None, False),
    (None, {1: "v"}, False),
])
def test_user_data_and_tags_rules_work_alone_for_other_create_calls(user_data, tags, ok):
    # The task engine checks CreateFigureClusteringTask's UserData/Tags with these rules.
    from types import SimpleNamespace
    request = SimpleNamespace(user_data=user_data, tags=tags, existing=None)
    rules = [r for r in MERGE_RULES if r.field in ("UserData", "Tags")]
    assert len(rules) == 4
    if ok:
        for rule in rules:
            rule.apply(request)
    else:
        with pytest.raises(MergeError, match="InvalidArgument"):
            for rule in rules:
                rule.apply(request)


def test_limits_are_the_documented_ones():
    assert (MAX_FROMS, MAX_USER_DATA_BYTES) == (100, 2048)
    assert [r.code for r in MERGE_RULES].count("MissingParameter") == 2


@pytest.mark.parametrize("kwargs, code", [
    (dict(to="a", froms=["a"]), "InvalidArgument"),
    (dict(to="nope", from_="a"), "ResourceNotFound"),
    (dict(to="a"), "MissingParameter"),
])
def test_state_merge_applies_the_rules_against_its_live_clusters(kwargs, code):
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", None])
    with pytest.raises(MergeError) as info:
        state.merge(**kwargs)
    assert info.value.code == code


def test_merging_a_cluster_that_was_merged_away_is_resource_not_found():
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", "c"])
    merged, _ = state.merge("a", from_="b")
    with pytest.raises(UnknownClusterError, match="From is not a live cluster"):
        merged.merge("c", from_="b")


# ---- merge semantics -------------------------------------------------------------------------

def test_merge_hand_worked():
    # a = {f0}, b = {f1, f4}, c = {f2}, f3 in no cluster; merge Froms [c, a] into b.
    # S_b = e1 + e4, then + S_c = e2, then + S_a = e0  ->  (1, 1, 1, 0, 1); n = 4.
    state = ClusterState.from_arrays(np.eye(5), ["a", "b", "c", None, "b"],
                                     face_ids=["f0", "f1", "f2", "f3", "f4"])
    merged, entry = state.merge("b", froms=["c", "a"], user_data="ticket-1",
                                tags={"purpose": "manual"}, at=T0, task_id="task-7")
    assert merged.cluster_ids.tolist() == ["b"]
    assert merged.labels.tolist() == [0, 0, 0, -1, 0]
    assert merged.counts.tolist() == [4]
    assert merged.sums.tolist() == [[1.0, 1.0, 1.0, 0.0, 1.0]]
    assert merged.features[0] == pytest.approx([0.5, 0.5, 0.5, 0.0, 0.5])
    assert (entry.to, entry.sources, entry.source_field) == ("b", ("c", "a"), "Froms")
    assert [p.tolist() for p in entry.member_positions] == [[2], [0]]
    assert entry.member_face_ids == (("f2",), ("f0",))
    assert (entry.to_count_before, entry.source_counts, entry.n_moved) == (2, (1, 1), 2)
    assert entry.to_count_after == 4
    assert entry.to_sum_before.tolist() == [0.0, 1.0, 0.0, 0.0, 1.0]
    assert entry.source_sums.tolist() == [[0, 0, 1, 0, 0], [1, 0, 0, 0, 0]]
    # Feature before: (e1 + e4)/sqrt(2); after: (1,1,1,0,1)/2; cosine = 2/(2*sqrt 2).
    assert entry.feature_similarity == pytest.approx(2 ** -0.5)
    assert (entry.at, entry.user_data, entry.task_id) == (T0, "ticket-1", "task-7")
    assert entry.request() == {"To": "b", "Froms": ["c", "a"], "UserData": "ticket-1",
                               "Tags": {"purpose": "manual"}}
    assert "task_id='task-7'" in repr(entry)


def test_numpy_string_ids_become_plain_strings():
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", "c"])
    ids = np.array(["a", "b", "c"])
    _, entry = state.merge(ids[0], froms=ids[1:], at=T0)
    assert type(entry.to) is str and all(type(s) is str for s in entry.sources)
    assert validate_merge_request(ids[0], from_=ids[1]) == ["b"]


def test_merge_with_from_records_the_from_field():
    state = ClusterState.from_arrays(np.eye(2), ["a", "b"])
    _, entry = state.merge("a", from_="b", at=T0)
    assert entry.source_field == "From"
    assert entry.request() == {"To": "a", "From": "b"}


def order_sensitive_state():
    """Face 0 = (1, 0) in "to"; faces 1-6 in "a", 7-12 in "b", each (1e-17, 1).

    In float64, 1 + 6e-17 rounds back to 1 (half an ulp of 1 is 1.1e-16), but
    1 + (6e-17 + 6e-17) = 1 + 1.2e-16 rounds up to 1 + 2.2e-16: the order of
    additions shows in the bits.
    """
    x = [[1.0, 0.0]] + [[1e-17, 1.0]] * 12
    return ClusterState.from_arrays(x, ["to"] + ["a"] * 6 + ["b"] * 6)


def test_destination_sum_is_added_left_to_right_in_request_order():
    state = order_sensitive_state()
    small = 6 * float(np.float32(1e-17))
    assert state.sums[state.cluster_index("a")][0] == pytest.approx(small, rel=1e-12)
    merged, entry = state.merge("to", froms=["a", "b"], at=T0)
    s = state.sums
    left_to_right = (s[2] + s[0]) + s[1]  # rows: a=0, b=1, to=2
    sources_first = s[2] + (s[0] + s[1])
    assert left_to_right[0] == 1.0 and sources_first[0] > 1.0
    assert np.array_equal(merged.sums[merged.cluster_index("to")], left_to_right)
    assert np.array_equal(entry.to_sum_after(), left_to_right)


def test_merge_leaves_other_clusters_and_unclustered_faces_alone():
    state = random_state(n=300, d=8, k=12, seed=6, unclustered=0.3)
    to, a, b = state.cluster_ids[[3, 5, 9]]
    merged, entry = state.merge(to, froms=[a, b], at=T0)
    others = [c for c in state.cluster_ids if c not in (to, a, b)]
    for c in others:
        before, after = state.cluster_index(c), merged.cluster_index(c)
        assert np.array_equal(merged.sums[after], state.sums[before])
        assert np.array_equal(merged.members(c), state.members(c))
    assert np.array_equal(merged.labels == -1, state.labels == -1)
    moved = np.concatenate(entry.member_positions)
    assert sorted(moved.tolist()) == sorted(np.concatenate([state.members(a),
                                                            state.members(b)]).tolist())
    assert merged.members(to).tolist() == sorted(state.members(to).tolist() + moved.tolist())
    assert merged.n_clusters == state.n_clusters - 2
    assert list(merged.cluster_ids) == sorted(merged.cluster_ids)


@pytest.mark.parametrize("warm", [True, False])
def test_entry_features_and_carried_features_equal_fresh_ones_bit_for_bit(warm):
    state = random_state(n=200, d=16, k=10, seed=7)
    if warm:
        state.features  # noqa: B018 - computes and caches, so merge carries features over
    to, src = state.cluster_ids[2], state.cluster_ids[6]
    merged, entry = state.merge(to, from_=src, at=T0)
    fresh = _stats.unit_rows(merged.sums)
    assert np.array_equal(merged.features, fresh)
    assert np.array_equal(entry.feature_before, state.features[2])
    assert np.array_equal(entry.feature_after, merged.features[merged.cluster_index(to)])


def test_zero_sum_cluster_has_a_zero_feature():
    state = ClusterState.from_arrays([[1.0, 0], [-1.0, 0], [0, 1.0]], ["a", "a", "b"])
    assert state.features.tolist() == [[0.0, 0.0], [0.0, 1.0]]
    assert state.cluster_frame()["mean_resultant_length"].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("at, expected", [
    (T0, T0),
    (pd.Timestamp("2025-03-02T16:16:39.5+08:00"), T0),
    (datetime(2025, 3, 2, 16, 16, 39, 500000, tzinfo=timezone(timedelta(hours=8))), T0),
])
def test_merge_time_is_normalised_to_utc(at, expected):
    state = ClusterState.from_arrays(np.eye(2), ["a", "b"])
    _, entry = state.merge("a", from_="b", at=at)
    assert entry.at == expected and entry.at.tzinfo == timezone.utc


def test_merge_time_defaults_to_now_utc():
    state = ClusterState.from_arrays(np.eye(2), ["a", "b"])
    before = datetime.now(timezone.utc)
    _, entry = state.merge("a", from_="b")
    assert before <= entry.at <= datetime.now(timezone.utc)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(at=datetime(2025, 1, 1)), ValueError, "timezone-aware"),
    (dict(at="2025-01-01T00:00:00Z"), TypeError, "must be a timezone-aware datetime"),
    (dict(task_id=""), ValueError, "`task_id` must be a non-empty string"),
    (dict(task_id=12), ValueError, "`task_id`"),
])
def test_merge_rejects_bad_time_and_task_id(kwargs, error, match):
    state = ClusterState.from_arrays(np.eye(2), ["a", "b"])
    with pytest.raises(error, match=match):
        state.merge("a", from_="b", **kwargs)


def test_merge_does_not_change_the_input_state():
    state = random_state(seed=8)
    copies = [a.copy() for a in (state.labels, state.counts, state.sums, state.cluster_ids)]
    state.merge(state.cluster_ids[0], froms=list(state.cluster_ids[1:4]))
    for before, now in zip(copies, (state.labels, state.counts, state.sums, state.cluster_ids)):
        assert np.array_equal(before, now)


# ---- undo ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_sources", [1, 3, 6])
def test_merge_then_undo_restores_the_state_bit_for_bit(n_sources):
    state = random_state(n=300, d=24, k=8, seed=9, unclustered=0.2)
    state.features  # noqa: B018 - exercise the carried-over features path too
    to = state.cluster_ids[-1]
    merged, entry = state.merge(to, froms=list(state.cluster_ids[:n_sources]), at=T0)
    assert_same_state(merged.undo(entry), state)


def test_undo_of_an_earlier_separable_merge():
    # Merges on disjoint clusters commute: undoing the first leaves only the second.
    state = ClusterState.from_arrays(np.eye(6), ["a", "b", "c", "d", "e", "e"])
    s1, e1 = state.merge("b", from_="a", at=T0)
    s2, e2 = s1.merge("d", from_="c", at=T0)
    only_second, _ = state.merge("d", from_="c", at=T0)
    assert s2.undo_problem(e1) is None
    assert_same_state(s2.undo(e1), only_second)
    assert_same_state(s2.undo(e1).undo(e2), state)


@pytest.mark.parametrize("later, match", [
    (dict(to="c", from_="b"), "destination 'b' is no longer a live cluster"),
    (dict(to="b", from_="c"), "'b' changed after this merge"),
])
def test_undo_refuses_a_merge_that_later_merges_depend_on(later, match):
    state = ClusterState.from_arrays(np.eye(4), ["a", "b", "c", "d"])
    s1, e1 = state.merge("b", from_="a", at=T0)
    s2, e2 = s1.merge(**later, at=T0)
    with pytest.raises(LedgerError, match=match):
        s2.undo(e1)
    assert_same_state(s2.undo(e2).undo(e1), state)  # in reverse order it works


def test_undo_twice_is_refused():
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", "c"])
    s1, e1 = state.merge("b", from_="a", at=T0)
    back = s1.undo(e1)
    with pytest.raises(LedgerError, match="source 'a' is a live cluster again"):
        back.undo(e1)


def test_undo_on_other_faces_is_refused():
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", "c"], face_ids=["x", "y", "z"])
    s1, e1 = state.merge("b", from_="a", at=T0)
    other = ClusterState.from_arrays(np.eye(3), ["b", "b", "c"], face_ids=["p", "q", "r"])
    with pytest.raises(LedgerError, match="not this state's faces"):
        other.undo(e1)
    with pytest.raises(LedgerError, match="dim=2"):
        ClusterState.from_arrays(np.eye(2), ["b", "c"]).undo(e1)
    with pytest.raises(LedgerError, match="expected a LedgerEntry"):
        s1.undo("not an entry")


def test_undo_refuses_when_moved_faces_left_the_destination():
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", "c"])
    s1, e1 = state.merge("b", from_="a", at=T0)
    reclustered = s1.with_cluster_ids(["c", "b", "c"])
    with pytest.raises(LedgerError, match="no longer in 'b'"):
        reclustered.undo(e1)


# ---- ledger ----------------------------------------------------------------------------------

def merge_sequence(state, steps, seed=0):
    """Apply `steps` random merges; return the states and entries."""
    rng = np.random.default_rng(seed)
    states, entries = [state], []
    for i in range(steps):
        s = states[-1]
        if s.n_clusters < 2:
            break
        pick = rng.permutation(s.n_clusters)[: rng.integers(2, min(5, s.n_clusters) + 1)]
        ids = s.cluster_ids[pick].tolist()
        kwargs = {"from_": ids[1]} if len(ids) == 2 and i % 2 else {"froms": ids[1:]}
        s, e = s.merge(ids[0], **kwargs, at=T0 + timedelta(minutes=i), task_id=f"task-{i}",
                       user_data=f"step {i} — é", tags={"i": i, "l": [i, "x"]})
        states.append(s)
        entries.append(e)
    return states, entries


def test_ledger_replay_reaches_the_same_states():
    states, entries = merge_sequence(random_state(n=400, d=16, k=30, seed=10), 8)
    ledger = Ledger(states[0], entries)
    assert len(ledger) == 8 and list(ledger) == entries and ledger[2] == entries[2]
    assert_same_state(ledger.final, states[-1])
    for i in (3, 0, 8, 5, 6, -1, -2, -9):
        assert_same_state(ledger.state_at(i), states[i])
    assert "8 merges; 30 -> " in repr(ledger)


@pytest.mark.parametrize("shift, replays", [(1e-15, True), (1e-9, False)])
def test_replay_allows_last_bit_feature_noise_but_not_more(shift, replays):
    # Features come from numpy reductions whose last bits may differ between
    # builds; sums are plain additions and must match exactly.
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", "c"])
    _, entry = state.merge("b", from_="a", at=T0)
    noisy = dataclasses.replace(entry, feature_after=entry.feature_after + shift)
    if replays:
        assert Ledger(state, [noisy]).final.equals(state.merge("b", from_="a", at=T0)[0])
    else:
        with pytest.raises(LedgerError, match="feature_after differ"):
            Ledger(state, [noisy])
    summed = dataclasses.replace(entry, to_sum_before=entry.to_sum_before + 1e-15)
    with pytest.raises(LedgerError, match="to_sum_before differ"):
        Ledger(state, [summed])


def test_ledger_merge_and_undo_last():
    state = random_state(seed=11)
    a, b, c = state.cluster_ids[:3]
    ledger = Ledger(state).merge(a, from_=b, at=T0).merge(a, froms=[c], at=T0)
    assert len(ledger) == 2
    one = ledger.undo_last()
    assert len(one) == 1
    assert_same_state(one.final, ledger.state_at(1))
    assert_same_state(one.undo_last().final, state)
    with pytest.raises(LedgerError, match="no merges to undo"):
        one.undo_last().undo_last()
    with pytest.raises(AttributeError, match="immutable"):
        ledger.final = state


@pytest.mark.parametrize("i", [4, -5, 1.0, True, "1"])
def test_state_at_out_of_range(i):
    state = ClusterState.from_arrays(np.eye(4), ["a", "b", "c", "d"])
    ledger = Ledger(state).merge("a", from_="b").merge("a", from_="c").merge("a", from_="d")
    assert ledger.state_at(-4).equals(state)  # 3 merges, 4 states
    with pytest.raises(IndexError, match="`i` must be an integer from -4 to 3"):
        ledger.state_at(i)


def test_ledger_refuses_entries_that_do_not_replay():
    state = ClusterState.from_arrays(np.eye(3), ["a", "b", "c"])
    _, entry = state.merge("b", from_="a", at=T0)
    shifted = state.with_cluster_ids(["a", "b", "b"])  # b has another member now
    with pytest.raises(LedgerError, match=r"entries\[0\].*to_count_before, to_sum_before"):
        Ledger(shifted, [entry])
    with pytest.raises(LedgerError, match=r"entries\[0\].*not a valid merge.*ResourceNotFound"
                       ) as info:
        Ledger(state.with_cluster_ids(["x", "b", "c"]), [entry])
    assert isinstance(info.value.__cause__, UnknownClusterError)
    with pytest.raises(TypeError, match=r"entries\[0\] must be a LedgerEntry"):
        Ledger(state, ["merge"])
    with pytest.raises(TypeError, match="needs a ClusterState"):
        Ledger(None)


def test_ledger_frame():
    state = ClusterState.from_arrays(np.eye(4), ["a", "b", "c", "d"])
    ledger = (Ledger(state).merge("a", from_="b", at=T0, task_id="t1")
              .merge("a", froms=["c", "d"], at=T0 + timedelta(hours=1), user_data="u",
                     tags={"k": 1}))
    frame = ledger.to_frame()
    assert frame["step"].tolist() == [1, 2]
    assert frame["n_moved"].tolist() == [1, 2]
    assert frame["to_size_before"].tolist() == [1, 2]
    assert frame["to_size_after"].tolist() == [2, 4]
    assert frame["sources"].tolist() == [["b"], ["c", "d"]]
    assert frame["source_field"].tolist() == ["From", "Froms"]
    assert frame["at"].dt.tz is not None and frame["at"].iloc[0] == pd.Timestamp(T0)
    # a -> a+b: cosine(e0, (e0+e1)/sqrt 2) = 1/sqrt 2; then (e0+e1)/sqrt2 -> (1,1,1,1)/2:
    # cosine = 2/(2 sqrt 2) = 1/sqrt 2.
    assert frame["feature_similarity"].tolist() == pytest.approx([2 ** -0.5, 2 ** -0.5])
    assert frame["tags"].tolist() == [None, {"k": 1}]
    assert Ledger(state).to_frame().columns.tolist() == frame.columns.tolist()


def test_ledger_json_round_trip_is_exact(tmp_path):
    states, entries = merge_sequence(random_state(n=300, d=12, k=25, seed=12), 7)
    ledger = Ledger(states[0], entries)
    path = tmp_path / "ledger.json"
    ledger.to_json(path)
    doc = json.loads(path.read_text(encoding="utf-8"))  # plain JSON any tool can read
    assert doc["format"] == "toolkit-merge-ledger" and doc["initial"]["sums"] is None
    assert len(doc["entries"]) == len(entries)
    loaded = Ledger.from_json(path, states[0].faceset)
    assert list(loaded.entries) == entries
    assert all(a.differences(b) == [] for a, b in zip(loaded.entries, entries))
    assert np.array_equal(loaded.initial.sums, ledger.initial.sums)
    assert np.array_equal(loaded.final.sums, ledger.final.sums)
    np.testing.assert_array_equal(loaded.final.labels, ledger.final.labels)
    assert loaded.entries[0].user_data == "step 0 — é"
    assert loaded.entries[0].at == T0


def test_ledger_json_keeps_a_merged_initial_state(tmp_path):
    state = order_sensitive_state()
    start, _ = state.merge("to", froms=["a", "b"], at=T0)
    fresh = start.with_cluster_ids(start.face_cluster_ids())
    # Merged: (1 + 6e-17) + 6e-17 = 1 exactly. A fresh reduction of the 13 rows
    # (numpy sums in several partial accumulators) adds small terms together first.
    assert start.sums[0, 0] == 1.0
    assert not np.array_equal(fresh.sums, start.sums)
    ledger = Ledger(start)
    path = tmp_path / "ledger.json"
    ledger.to_json(path)
    assert json.loads(path.read_text())["initial"]["sums"] is not None
    loaded = Ledger.from_json(path, state.faceset)
    assert np.array_equal(loaded.initial.sums, start.sums)
    assert loaded.final.equals(start)


def test_empty_ledger_round_trip(tmp_path):
    state = random_state(seed=14)
    Ledger(state).to_json(tmp_path / "l.json")
    loaded = Ledger.from_json(tmp_path / "l.json", state.faceset)
    assert len(loaded) == 0 and loaded.final.equals(state)


def test_ledger_json_refuses_other_faces(tmp_path):
    state = random_state(n=50, seed=15)
    ledger = Ledger(state).merge(state.cluster_ids[0], from_=state.cluster_ids[1], at=T0)
    path = tmp_path / "l.json"
    ledger.to_json(path)
    faces = state.faceset.faces
    moved = FaceSet(faces, state.faceset.embeddings[::-1].copy())
    with pytest.raises(LedgerError, match="embeddings are not the ones"):
        Ledger.from_json(path, moved)
    renamed = FaceSet(faces.assign(face_id=[f"g{i}" for i in range(50)]),
                      state.faceset.embeddings)
    with pytest.raises(LedgerError, match=r"face ids differ.*row 0: 'face-0' saved, 'g0'"):
        Ledger.from_json(path, renamed)
    fewer = state.faceset.subset(np.arange(49))
    with pytest.raises(LedgerError, match="saved for 50 faces of dim 8.*49 faces"):
        Ledger.from_json(path, fewer)


@pytest.mark.parametrize("edit, error, match", [
    (lambda d: d.update(format="other"), RecordError, "not a merge ledger file"),
    (lambda d: d.update(version=99), RecordError, "unsupported ledger version"),
    (lambda d: d.pop("entries"), RecordError, "field 'entries'"),
    (lambda d: d["entries"][0].pop("at"), RecordError, r"entries\[0\].*field 'at'"),
    (lambda d: d["entries"][0].update(at="yesterday"), RecordError, "ISO 8601"),
    (lambda d: d["entries"][0].update(source_sums=[[1.0]]), RecordError,
     r"entries\[0\].*source_sums"),
    (lambda d: d["entries"][0]["to_sum_before"].__setitem__(0, 0.5), LedgerError,
     r"entries\[0\].*to_sum_before"),
    (lambda d: d["initial"]["cluster_ids"].pop(), RecordError, "one cluster id"),
    (lambda d: d["initial"].update(sums_digest="sha256:0"), LedgerError, "digest mismatch"),
])
def test_malformed_ledger_files_name_the_problem(tmp_path, edit, error, match):
    state = random_state(n=40, seed=16)
    path = tmp_path / "l.json"
    Ledger(state).merge(state.cluster_ids[0], from_=state.cluster_ids[1], at=T0).to_json(path)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(error, match=match):
        Ledger.from_json(path, state.faceset)


def test_unreadable_ledger_files(tmp_path):
    state = random_state(n=10)
    with pytest.raises(FileNotFoundError, match="no such file"):
        Ledger.from_json(tmp_path / "missing.json", state.faceset)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RecordError, match="bad.json: malformed JSON"):
        Ledger.from_json(tmp_path / "bad.json", state.faceset)


def test_entry_validates_its_fields():
    state = ClusterState.from_arrays(np.eye(2), ["a", "b"])
    _, entry = state.merge("a", from_="b", at=T0)
    with pytest.raises(LedgerError, match="'source_field' must be 'From'"):
        dataclasses.replace(entry, source_field="Sources")
    with pytest.raises(LedgerError, match="'at' must be a timezone-aware"):
        dataclasses.replace(entry, at=datetime(2025, 1, 1))
    with pytest.raises(LedgerError, match="'source_counts'"):
        dataclasses.replace(entry, source_counts=(5,))
    assert dataclasses.replace(entry, task_id="t") != entry
    assert dataclasses.replace(entry) == entry


# ---- properties ------------------------------------------------------------------------------

@st.composite
def merge_plans(draw):
    n = draw(st.integers(2, 40))
    k = draw(st.integers(2, 8))
    names = draw(st.lists(st.text(min_size=1, max_size=6).filter(
        lambda s: s not in _rules.NO_CLUSTER_IDS), min_size=k, max_size=k, unique=True))
    ids = draw(st.lists(st.sampled_from(names + [None]), min_size=n, max_size=n))
    seed = draw(st.integers(0, 2 ** 16))
    steps = draw(st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 4)), max_size=8))
    return ids, seed, steps


@settings(deadline=None, max_examples=60)
@given(merge_plans())
def test_random_merges_then_undo_all_restore_the_original(plan):
    ids, seed, steps = plan
    x = np.random.default_rng(seed).standard_normal((len(ids), 5))
    state = ClusterState.from_arrays(x, ids)
    states, entries = [state], []
    for pick, n_src in steps:
        s = states[-1]
        if s.n_clusters < 2:
            break
        order = np.random.default_rng(pick).permutation(s.n_clusters)
        chosen = s.cluster_ids[order[: min(n_src, s.n_clusters - 1) + 1]].tolist()
        s, e = s.merge(chosen[0], froms=chosen[1:], at=T0)
        states.append(s)
        entries.append(e)
    assert_same_state(Ledger(state, entries).final, states[-1])
    back = states[-1]
    for entry, expected in zip(reversed(entries), reversed(states[:-1])):
        back = back.undo(entry)
        assert_same_state(back, expected)
    assert_same_state(back, state)


# ---- docs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("module", [_rules, _state, _ledger, _entry, toolkit.clustering])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_names_are_exported_from_the_package():
    for name in ("ClusterState", "Ledger", "LedgerEntry", "validate_merge_request"):
        assert getattr(toolkit, name) is getattr(toolkit.clustering, name)
