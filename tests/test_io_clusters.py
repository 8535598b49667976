"""Tests for toolkit.io._clusters: read_clusters over every FigureCluster shape."""

import gzip
import os
import tempfile
from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit import RecordError, read_clusters
from toolkit.io._clusters import CLUSTER_COLUMNS


def cluster(object_id="Cluster-a1", **fields):
    return {"ObjectId": object_id, "ObjectType": "figure-cluster", **fields}


FULL = cluster(
    "Cluster-7f3e", OwnerId="1000", ProjectName="proj", DatasetName="photos", Name="aunt",
    CustomId="u-17", CustomLabels={"checked": "yes"}, FaceCount=12, ImageCount=10, VideoCount=1,
    Gender="female", AverageAge=52.5, MinAge=48, MaxAge=57.0,
    Cover={"URI": "oss://bkt/x/cover.jpg", "Figures": [{"FigureId": "f-1"}]},
    CreateTime="2024-11-02T18:30:05.123456789+08:00", UpdateTime="2025-02-01T00:00:00Z",
    MetaLockVersion=4)


def write_jsonl(path, docs):
    Path(path).write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    return path


def assert_balanced(frame, rejected=None):
    c = frame.attrs["counts"]
    assert c["read"] == c["accepted"] + c["duplicates"] + c["rejected"]
    assert c["accepted"] == len(frame)
    if rejected is not None:
        assert c["rejected"] == len(rejected)


def test_full_cluster_becomes_one_typed_row():
    frame = read_clusters({"FigureCluster": FULL, "RequestId": "r-1"})
    assert list(frame.columns) == list(CLUSTER_COLUMNS)
    assert frame.dtypes.astype(str).to_dict() == CLUSTER_COLUMNS
    row = frame.iloc[0]
    assert (row["cluster_id"], row["project"], row["dataset"], row["name"], row["custom_id"]) \
        == ("Cluster-7f3e", "proj", "photos", "aunt", "u-17")
    assert row["custom_labels"] == {"checked": "yes"}
    assert (row["face_count"], row["image_count"], row["video_count"]) == (12, 10, 1)
    assert (row["gender"], row["average_age"], row["min_age"], row["max_age"]) == \
        ("female", 52.5, 48.0, 57.0)
    assert row["cover_uri"] == "oss://bkt/x/cover.jpg"
    # 18:30:05.123456789 at +08:00 is 10:30:05.123456789 UTC, nanoseconds kept.
    assert row["create_time"] == pd.Timestamp("2024-11-02T10:30:05.123456789Z")
    assert row["create_time"].nanosecond == 789
    assert row["update_time"] == pd.Timestamp("2025-02-01T00:00:00Z")
    assert row["meta_lock_version"] == 4
    assert row["source"] == "object FigureCluster"
    assert frame.attrs["counts"] == {"read": 1, "accepted": 1, "duplicates": 0, "rejected": 0}


def test_missing_fields_are_missing_values():
    frame = read_clusters(cluster("Cluster-x"))
    row = frame.iloc[0]
    assert row["custom_labels"] == {}
    assert pd.isna(row["face_count"]) and pd.isna(row["average_age"])
    assert pd.isna(row["create_time"]) and pd.isna(row["name"])


@pytest.mark.parametrize("labels, expected", [
    ({"a": "1"}, {"a": "1"}), ('{"a": "1"}', {"a": "1"}), ("", {}), (None, {})])
def test_custom_labels_map_or_json_text(labels, expected):
    frame = read_clusters(cluster(CustomLabels=labels))
    assert frame["custom_labels"][0] == expected


@pytest.mark.parametrize("layout", ["get", "batch", "query_page", "bare", "array", "jsonl",
                                    "json", "gz", "directory", "list", "paths"])
def test_every_container_shape(tmp_path, layout):
    a, b = cluster("Cluster-a", FaceCount=3), cluster("Cluster-b", FaceCount=5)
    if layout == "get":
        source = [{"FigureCluster": a, "RequestId": "1"}, {"FigureCluster": b}]
    elif layout == "batch":
        source = {"FigureClusters": [a, b], "RequestId": "2"}
    elif layout == "query_page":
        source = {"FigureClusters": [a, b], "NextToken": "tok", "TotalCount": 9}
    elif layout == "bare":
        source = [a, b]
    elif layout == "array":
        source = tmp_path / "c.json"
        source.write_bytes(orjson.dumps([{"FigureCluster": a}, b]))
    elif layout == "jsonl":
        source = write_jsonl(tmp_path / "c.jsonl", [{"FigureClusters": [a]}, b])
    elif layout == "json":
        source = tmp_path / "c.json"
        source.write_bytes(orjson.dumps({"FigureClusters": [a, b], "NextToken": ""}))
    elif layout == "gz":
        source = tmp_path / "c.jsonl.gz"
        source.write_bytes(gzip.compress(orjson.dumps(a) + b"\n" + orjson.dumps(b) + b"\n"))
    elif layout == "directory":
        (tmp_path / "d" / "z").mkdir(parents=True)
        write_jsonl(tmp_path / "d" / "z" / "2.jsonl", [b])
        write_jsonl(tmp_path / "d" / "1.jsonl", [a])
        source = tmp_path / "d"
    elif layout == "paths":
        source = [write_jsonl(tmp_path / "z.jsonl", [a]), str(write_jsonl(tmp_path / "a.json",
                                                                            [b]))]
    else:
        source = [{"FigureClusters": [a]}, {"FigureClusters": [b]}]
    frame = read_clusters(source)
    assert frame["cluster_id"].tolist() == ["Cluster-a", "Cluster-b"]
    assert frame["face_count"].tolist() == [3, 5]


def test_sources_name_file_line_and_position(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"FigureClusters": [cluster("A"), cluster("B")]},
                                               {"FigureCluster": cluster("C")}, cluster("D")])
    frame = read_clusters(path)
    assert frame["source"].tolist() == [f"{path}:1 FigureClusters[0]",
                                        f"{path}:1 FigureClusters[1]",
                                        f"{path}:2 FigureCluster", f"{path}:3"]


def _sdk_models():
    if os.environ.get("TOOLKIT_REQUIRE_SDK"):
        import alibabacloud_imm20200930.models as models
        return models
    return pytest.importorskip("alibabacloud_imm20200930.models")


def test_sdk_objects():
    m = _sdk_models()
    one = m.FigureCluster(object_id="Cluster-s1", face_count=4, meta_lock_version=0,
                          cover=m.File(uri="oss://b/c.jpg"), custom_labels={"k": "v"},
                          update_time="2025-01-01T08:00:00+08:00")
    get = m.GetFigureClusterResponse(headers={}, status_code=200,
                                     body=m.GetFigureClusterResponseBody(figure_cluster=one))
    page = m.QueryFigureClustersResponseBody(
        figure_clusters=[m.FigureCluster(object_id="Cluster-s2", name="n")], next_token="",
        total_count=1)
    frame = read_clusters([get, page])
    assert frame["cluster_id"].tolist() == ["Cluster-s1", "Cluster-s2"]
    assert frame["cover_uri"].tolist()[0] == "oss://b/c.jpg"
    assert frame["update_time"][0] == pd.Timestamp("2025-01-01T00:00:00Z")
    assert frame["source"].tolist() == ["object[0] FigureCluster", "object[1] FigureClusters[0]"]
    assert read_clusters(m.BatchGetFigureClusterResponseBody(
        figure_clusters=[one]))["face_count"].tolist() == [4]


@pytest.mark.parametrize("snapshots, winner", [
    # Highest MetaLockVersion wins, whatever the order.
    ([dict(MetaLockVersion=2, Name="v2"), dict(MetaLockVersion=5, Name="v5"),
      dict(MetaLockVersion=3, Name="v3")], "v5"),
    # Same version: the latest UpdateTime (compared in UTC: 09:00+08:00 is 01:00Z).
    ([dict(MetaLockVersion=1, UpdateTime="2025-01-01T02:00:00Z", Name="late"),
      dict(MetaLockVersion=1, UpdateTime="2025-01-01T09:00:00+08:00", Name="early")], "late"),
    # A missing version or time loses to a present one.
    ([dict(Name="none"), dict(MetaLockVersion=0, Name="zero")], "zero"),
    ([dict(MetaLockVersion=0, Name="no time"),
      dict(MetaLockVersion=0, UpdateTime="2020-01-01T00:00:00Z", Name="timed")], "timed"),
    # Full tie: the first seen.
    ([dict(MetaLockVersion=1, Name="first"), dict(MetaLockVersion=1, Name="second")], "first"),
])
def test_same_cluster_twice_gives_one_row(snapshots, winner):
    records = [cluster("Cluster-d", **s) for s in snapshots]
    frame = read_clusters({"FigureClusters": [cluster("Cluster-other"), *records]})
    assert frame["cluster_id"].tolist() == ["Cluster-other", "Cluster-d"]
    assert frame.loc[1, "name"] == winner
    assert frame.attrs["counts"] == {"read": len(records) + 1, "accepted": 2,
                                     "duplicates": len(records) - 1, "rejected": 0}


def test_rows_keep_the_order_of_first_appearance():
    page = {"FigureClusters": [cluster("B", MetaLockVersion=0), cluster("A"),
                               cluster("B", MetaLockVersion=1), cluster("C")]}
    frame = read_clusters(page)
    assert frame["cluster_id"].tolist() == ["B", "A", "C"]
    assert frame["source"].tolist()[0] == "object FigureClusters[2]"


@pytest.mark.parametrize("record, match", [
    (cluster(None), r"missing required field; field 'ObjectId'"),
    (cluster(""), r"missing required field; field 'ObjectId'"),
    (cluster(17), r"wrong type; field 'ObjectId'; expected a string, got 17"),
    (cluster(FaceCount="12"), r"wrong type; field 'FaceCount'; expected an integer, got '12'"),
    (cluster(FaceCount=1.5), r"wrong type; field 'FaceCount'"),
    (cluster(MetaLockVersion=True), r"wrong type; field 'MetaLockVersion'"),
    (cluster(AverageAge="old"), r"wrong type; field 'AverageAge'; expected a number"),
    (cluster(Name=["x"]), r"wrong type; field 'Name'; expected a string"),
    (cluster(CustomLabels=["x"]), r"wrong type; field 'CustomLabels'"),
    (cluster(CustomLabels="{bad"), r"wrong type; field 'CustomLabels'"),
    (cluster(Cover="oss://x"), r"wrong type; field 'Cover'; expected an object"),
    (cluster(Cover={"URI": 3}), r"wrong type; field 'Cover.URI'"),
    (cluster(UpdateTime="yesterday"), r"the time does not parse; field 'UpdateTime'"),
    (cluster(CreateTime="2025-13-01T00:00:00Z"), r"the time does not parse; field 'CreateTime'"),
    (cluster(CreateTime={"t": 1}), r"wrong type; field 'CreateTime'"),
    (cluster(ObjectType="file"), r"unknown record shape: not a figure cluster"),
    ("just text", r"wrong type; field 'FigureCluster'"),
])
def test_bad_cluster_in_a_page_is_rejected(tmp_path, record, match):
    path = write_jsonl(tmp_path / "c.jsonl",
                       [{"FigureClusters": [cluster("Cluster-ok"), record]}])
    with pytest.raises(RecordError, match=rf"c\.jsonl:1 FigureClusters\[1\]: {match}"):
        read_clusters(path)
    frame, rejected = read_clusters(path, errors="collect")
    assert frame["cluster_id"].tolist() == ["Cluster-ok"]
    assert rejected["source"].tolist() == [f"{path}:1 FigureClusters[1]"]
    assert rejected["raw"][0] == record
    assert_balanced(frame, rejected)


@pytest.mark.parametrize("doc, match", [
    ({"Foo": 1}, r"unknown record shape"),
    ({"URI": "oss://x", "ObjectId": "f", "Figures": []}, r"unknown record shape"),
    (7, r"unknown record shape"),
    ({"FigureClusters": {"ObjectId": "A"}}, r"wrong type; field 'FigureClusters'"),
])
def test_document_of_unknown_shape(tmp_path, doc, match):
    path = write_jsonl(tmp_path / "c.jsonl", [cluster("A"), doc])
    with pytest.raises(RecordError, match=rf"c\.jsonl:2: {match}"):
        read_clusters(path)
    frame, rejected = read_clusters(path, errors="collect")
    assert frame.attrs["counts"] == {"read": 2, "accepted": 1, "duplicates": 0, "rejected": 1}


def test_malformed_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(orjson.dumps(cluster("A")) + b"\n{\"ObjectId\": \n" +
                     orjson.dumps(cluster("B")) + b"\n")
    with pytest.raises(RecordError, match=r"c\.jsonl:2: malformed JSON line"):
        read_clusters(path)
    frame, rejected = read_clusters(path, errors="collect")
    assert frame["cluster_id"].tolist() == ["A", "B"]
    assert_balanced(frame, rejected)


def test_empty_file_and_truncated_gzip(tmp_path):
    (tmp_path / "empty.json").write_bytes(b"")
    with pytest.raises(RecordError, match="empty.json: the file is empty"):
        read_clusters(tmp_path / "empty.json")
    data = gzip.compress(b"".join(orjson.dumps(cluster(f"C-{i}")) + b"\n" for i in range(300)))
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordError, match="truncated gzip stream"):
        read_clusters(tmp_path / "cut.jsonl.gz")
    frame, rejected = read_clusters(tmp_path / "cut.jsonl.gz", errors="collect")
    assert 0 < len(frame) < 300
    assert_balanced(frame, rejected)


def test_empty_input_gives_an_empty_typed_frame():
    frame = read_clusters({"FigureClusters": [], "NextToken": ""})
    assert len(frame) == 0
    assert frame.dtypes.astype(str).to_dict() == CLUSTER_COLUMNS
    assert frame.attrs["counts"] == {"read": 0, "accepted": 0, "duplicates": 0, "rejected": 0}


def test_bad_arguments(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="missing.json: no such file"):
        read_clusters(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="holds no .json"):
        read_clusters(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"`errors` must be one of \['raise', 'collect'\]"):
        read_clusters([], errors="warn")
    with pytest.raises(TypeError, match="Cannot read 'int'"):
        read_clusters(5)


# One page of clusters mixing good, broken and repeated ones.
records = st.lists(st.tuples(st.sampled_from(["A", "B", "C", None]),
                             st.sampled_from(["ok", "ok", "bad_count", "bad_time", "junk"]),
                             st.integers(0, 3)), max_size=15)


@settings(deadline=None, max_examples=80)
@given(records, st.booleans())
def test_clusters_are_conserved(spec, as_file):
    items = []
    for object_id, kind, version in spec:
        if kind == "junk":
            items.append(["not", "a", "cluster"])
            continue
        fields = {"MetaLockVersion": version}
        if kind == "bad_count":
            fields["FaceCount"] = "many"
        if kind == "bad_time":
            fields["UpdateTime"] = "not a time"
        items.append(cluster(object_id, **fields))
    page = {"FigureClusters": items}
    with tempfile.TemporaryDirectory() as tmp:
        source = page
        if as_file:
            source = write_jsonl(Path(tmp) / "c.jsonl", [page, {"Foo": 1}])
        frame, rejected = read_clusters(source, errors="collect")
    assert_balanced(frame, rejected)
    good = [(oid, v) for oid, kind, v in spec if kind == "ok" and oid is not None]
    assert frame["cluster_id"].tolist() == list(dict.fromkeys(oid for oid, _ in good))
    for oid, version in frame[["cluster_id", "meta_lock_version"]].itertuples(index=False):
        assert version == max(v for o, v in good if o == oid)
