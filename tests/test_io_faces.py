"""Tests for toolkit.io._faces: read_faces from Parquet, NPZ and IMM File records."""

import gzip
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import normalize

from toolkit import FaceSet, RecordError, read_faces

# --------------------------------------------------------------------------- helpers


def write_parquet(path, face_ids, vectors, *, value_type=pa.float32(), list_kind="list",
                  **columns):
    """A Parquet file with a list column `embedding` of the given Arrow types."""
    if list_kind == "fixed":
        dim = len(vectors[0])
        emb = pa.array(vectors, type=pa.list_(value_type, dim))
    elif list_kind == "large":
        emb = pa.array(vectors, type=pa.large_list(value_type))
    else:
        emb = pa.array(vectors, type=pa.list_(value_type))
    table = pa.table({"face_id": pa.array(face_ids), **{k: pa.array(v) for k, v in
                                                        columns.items()}, "embedding": emb})
    pq.write_table(table, path)
    return path


def write_jsonl(path, docs):
    Path(path).write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    return path


def figure(face_id, cluster="Cluster-1", **fields):
    return {"FigureId": face_id, "FigureClusterId": cluster, "FigureType": "face", **fields}


def imm_file(uri, figures, **fields):
    return {"URI": uri, "ObjectType": "file", "Figures": figures, **fields}


def assert_balanced(fs, rejected=None):
    c = fs.counts
    assert c["read"] == c["accepted"] + c["duplicates"] + c["rejected"]
    assert c["accepted"] == len(fs)
    if rejected is not None:
        assert c["rejected"] == len(rejected)


# --------------------------------------------------------------------------- Parquet


@pytest.mark.parametrize("value_type", [pa.float16(), pa.float32(), pa.float64()])
@pytest.mark.parametrize("list_kind", ["list", "large", "fixed"])
def test_parquet_normalises_and_keeps_norms(tmp_path, value_type, list_kind):
    path = write_parquet(tmp_path / "f.parquet", ["a", "b"], [[3.0, 4.0], [0.0, 2.0]],
                         value_type=value_type, list_kind=list_kind, cluster_id=["c1", "c1"])
    fs = read_faces(path)
    # |(3, 4)| = 5 -> (0.6, 0.8); |(0, 2)| = 2 -> (0, 1). All exact in float16 too.
    assert fs.faces["norm"].tolist() == [5.0, 2.0]
    assert fs.embeddings.dtype == np.float32
    assert fs.embeddings == pytest.approx(np.array([[0.6, 0.8], [0.0, 1.0]]))
    assert fs.faces["face_id"].tolist() == ["a", "b"]
    assert fs.counts == {"read": 2, "accepted": 2, "duplicates": 0, "rejected": 0}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parquet_matches_sklearn_normalize(tmp_path, dtype):
    x = np.random.default_rng(7).standard_normal((300, 24)).astype(dtype) * 5
    ids = [f"f{i}" for i in range(300)]
    path = write_parquet(tmp_path / "f.parquet", ids, list(x),
                         value_type=pa.from_numpy_dtype(dtype))
    fs = read_faces(path)
    expected = normalize(x.astype(np.float64))
    np.testing.assert_allclose(fs.embeddings, expected, rtol=0, atol=4 * np.finfo(np.float32).eps)
    np.testing.assert_allclose(fs.faces["norm"], np.linalg.norm(x.astype(np.float64), axis=1),
                               rtol=1e-12)
    assert np.linalg.norm(fs.embeddings, axis=1) == pytest.approx(np.ones(300), abs=1e-6)


def test_parquet_keeps_attributes_identity_and_column_order(tmp_path):
    path = write_parquet(tmp_path / "f.parquet", ["a", "b"], [[1.0, 0.0], [0.0, 1.0]],
                         dataset=["ds", "ds"], cluster_id=["c1", "figure-cluster-id-unavailable"],
                         identity=["p1", "p2"], age=[30, 41])
    fs = read_faces(path)
    assert list(fs.faces.columns) == ["face_id", "dataset", "cluster_id", "identity", "age",
                                      "norm"]
    assert fs.faces["identity"].tolist() == ["p1", "p2"]
    assert fs.faces["age"].tolist() == [30, 41]
    # The reserved id is kept as it came, and means "in no cluster".
    assert fs.faces["cluster_id"].tolist() == ["c1", "figure-cluster-id-unavailable"]
    assert fs.clustered.tolist() == [True, False]
    assert fs.has_truth


def test_parquet_without_cluster_id_puts_every_face_in_no_cluster(tmp_path):
    fs = read_faces(write_parquet(tmp_path / "f.parquet", ["a", "b"], [[1.0], [2.0]]))
    assert list(fs.faces.columns) == ["face_id", "cluster_id", "norm"]
    assert fs.faces["cluster_id"].isna().all()
    assert not fs.clustered.any()


def test_parquet_integer_ids_become_decimal_strings(tmp_path):
    path = write_parquet(tmp_path / "f.parquet", [10, 11], [[1.0], [2.0]], cluster_id=[7, 7])
    fs = read_faces(path)
    assert fs.faces["face_id"].tolist() == ["10", "11"]
    assert fs.faces["cluster_id"].tolist() == ["7", "7"]


def test_parquet_written_by_pandas_with_face_id_index(tmp_path):
    df = pd.DataFrame({"face_id": ["a", "b"], "age": [3, 4],
                       "embedding": [[1.0, 0.0], [0.0, 1.0]]}).set_index("face_id")
    df.to_parquet(tmp_path / "f.parquet")
    fs = read_faces(tmp_path / "f.parquet")
    assert fs.faces["face_id"].tolist() == ["a", "b"]
    assert fs.faces["age"].tolist() == [3, 4]


def test_same_face_with_same_vector_folds_as_duplicate(tmp_path):
    path = write_parquet(tmp_path / "f.parquet", ["a", "b", "a"], [[1.0, 2.0], [0.0, 1.0],
                                                                   [1.0, 2.0]],
                         cluster_id=["c1", "c2", "c9"])
    fs = read_faces(path)
    # Three rows read: two faces, one duplicate; the first row's attributes stand.
    assert fs.counts == {"read": 3, "accepted": 2, "duplicates": 1, "rejected": 0}
    assert fs.faces["cluster_id"].tolist() == ["c1", "c2"]


def test_same_face_with_different_vectors_rejects_every_row(tmp_path):
    path = write_parquet(tmp_path / "f.parquet", ["a", "b", "a"],
                         [[1.0, 2.0], [0.0, 1.0], [1.0, 3.0]])
    fs, rejected = read_faces(path, errors="collect")
    assert fs.faces["face_id"].tolist() == ["b"]
    assert rejected["source"].tolist() == [f"{path} row 0", f"{path} row 2"]
    assert rejected["reason"].str.contains("face 'a' occurs 2 times with different").all()
    assert_balanced(fs, rejected)
    with pytest.raises(RecordError, match=r"f\.parquet row 0: face 'a' occurs 2 times"):
        read_faces(path)


BAD_ROWS = [
    ("nan", [1.0, float("nan")], "face 'x': embedding holds NaN"),
    ("inf", [float("inf"), 1.0], "face 'x': embedding holds NaN, inf"),
    ("null value", [1.0, None], "face 'x': embedding holds NaN, inf or missing"),
    ("zero", [0.0, 0.0], "face 'x': zero-norm embedding"),
    ("missing", None, "face 'x': missing embedding"),
    ("short", [1.0], "face 'x': embedding dimension mismatch.*expected 2 values.*got 1"),
    ("empty", [], "face 'x': embedding dimension mismatch"),
]


@pytest.mark.parametrize("name, vector, match", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_bad_parquet_row_is_rejected_naming_row_and_face(tmp_path, name, vector, match):
    path = write_parquet(tmp_path / "f.parquet", ["a", "x", "b"],
                         [[1.0, 0.0], vector, [0.0, 1.0]])
    fs, rejected = read_faces(path, errors="collect")
    assert fs.faces["face_id"].tolist() == ["a", "b"]
    assert rejected["source"].tolist() == [f"{path} row 1"]
    assert rejected["reason"].str.contains(match).all()
    assert rejected["raw"][0]["face_id"] == "x"
    assert_balanced(fs, rejected)
    with pytest.raises(RecordError, match=rf"f\.parquet row 1: {match}"):
        read_faces(path)


@pytest.mark.parametrize("face_id", [None, ""])
def test_row_without_face_id_is_rejected(tmp_path, face_id):
    path = write_parquet(tmp_path / "f.parquet", ["a", face_id], [[1.0], [2.0]])
    with pytest.raises(RecordError, match=r"row 1: missing required field; field 'face_id'"):
        read_faces(path)


def test_dimension_is_the_most_common_length(tmp_path):
    # Lengths 3, 2, 2, 3, 2: dimension 2, the two rows of length 3 are rejected.
    vectors = [[1.0, 1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 2.0, 3.0], [1.0, 1.0]]
    path = write_parquet(tmp_path / "f.parquet", list("abcde"), vectors)
    fs, rejected = read_faces(path, errors="collect")
    assert fs.dim == 2
    assert fs.faces["face_id"].tolist() == ["b", "c", "e"]
    assert rejected["source"].tolist() == [f"{path} row 0", f"{path} row 3"]


def test_raise_mode_stops_at_the_first_bad_row_in_file_order(tmp_path):
    path = write_parquet(tmp_path / "f.parquet", ["a", "b", "c"],
                         [[1.0, 0.0], [0.0, 0.0], [1.0]])
    with pytest.raises(RecordError, match=r"row 1: face 'b': zero-norm"):
        read_faces(path)


def test_parquet_file_level_problems(tmp_path):
    cases = {
        "no_emb.parquet": (pa.table({"face_id": ["a"], "vec": [[1.0]]}),
                           r"missing required column; field 'embedding'.*'vec'"),
        "no_id.parquet": (pa.table({"id": ["a"], "embedding": [[1.0]]}),
                          r"missing required column; field 'face_id'"),
        "str_emb.parquet": (pa.table({"face_id": ["a"], "embedding": ["1,2"]}),
                            r"wrong type; field 'embedding'.*expected a list of float16"),
        "int_emb.parquet": (pa.table({"face_id": ["a"], "embedding": [[1, 2]]}),
                            r"wrong type; field 'embedding'.*list<"),
        "float_id.parquet": (pa.table({"face_id": [1.5], "embedding": [[1.0]]}),
                             r"wrong type; field 'face_id'.*got 'double'"),
        "norm.parquet": (pa.table({"face_id": ["a"], "norm": [1.0], "embedding": [[1.0]]}),
                         r"the column 'norm' is reserved"),
    }
    for name, (table, match) in cases.items():
        pq.write_table(table, tmp_path / name)
        with pytest.raises(RecordError, match=rf"{name}: {match}"):
            read_faces(tmp_path / name)
        fs, rejected = read_faces(tmp_path / name, errors="collect")
        assert len(fs) == 0 and isinstance(fs, FaceSet)
        assert fs.counts == {"read": 1, "accepted": 0, "duplicates": 0, "rejected": 1}
        assert rejected["source"].tolist() == [str(tmp_path / name)]


@pytest.mark.parametrize("suffix", [".parquet", ".npz", ".jsonl"])
def test_empty_file_is_one_rejected_record(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    kwargs = {"embeddings": write_parquet(tmp_path / "e.parquet", ["a"], [[1.0]])} \
        if suffix == ".jsonl" else {}
    with pytest.raises(RecordError, match="the file is empty"):
        read_faces(path, **kwargs)
    fs, rejected = read_faces(path, errors="collect", **kwargs)
    assert rejected["reason"].str.contains("the file is empty").any()
    assert_balanced(fs, rejected)


@pytest.mark.parametrize("suffix", [".parquet", ".npz"])
def test_truncated_binary_file_is_one_rejected_record(tmp_path, suffix):
    path = tmp_path / f"f{suffix}"
    if suffix == ".parquet":
        write_parquet(path, ["a", "b"], [[1.0, 2.0], [3.0, 4.0]])
    else:
        np.savez(path, embeddings=np.ones((2, 2)), face_ids=np.array(["a", "b"]))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(RecordError, match=rf"f\{suffix}: not a readable"):
        read_faces(path)
    fs, rejected = read_faces(path, errors="collect")
    assert fs.counts == {"read": 1, "accepted": 0, "duplicates": 0, "rejected": 1}


# --------------------------------------------------------------------------- NPZ


def test_npz_reads_ids_clusters_identities_and_extra_arrays(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, embeddings=np.array([[3.0, 4.0], [0.0, 2.0]], np.float32),
             face_ids=np.array(["a", "b"]), cluster_ids=np.array(["c1", ""]),
             identities=np.array([1, 2]), quality=np.array([0.5, 0.9]))
    fs = read_faces(path)
    assert list(fs.faces.columns) == ["face_id", "cluster_id", "identity", "quality", "norm"]
    assert fs.faces["cluster_id"].tolist()[0] == "c1"
    assert pd.isna(fs.faces["cluster_id"][1])
    assert fs.faces["identity"].tolist() == ["1", "2"]
    assert fs.faces["quality"].tolist() == [0.5, 0.9]
    assert fs.faces["norm"].tolist() == [5.0, 2.0]


def test_npz_object_array_is_refused(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, embeddings=np.ones((2, 2)), face_ids=np.array(["a", "b"], dtype=object))
    with pytest.raises(RecordError, match=r"holds Python objects.*field 'face_ids'"):
        read_faces(path)
    fs, rejected = read_faces(path, errors="collect")
    assert len(fs) == 0 and len(rejected) == 1


@pytest.mark.parametrize("arrays, match", [
    ({"embeddings": np.ones(3), "face_ids": np.array(["a", "b", "c"])},
     r"field 'embeddings'.*shape \(3,\)"),
    ({"embeddings": np.ones((3, 2)), "face_ids": np.array(["a", "b"])},
     r"wrong shape; field 'face_ids'.*shape \(3,\)"),
    ({"embeddings": np.ones((2, 2), dtype=np.int64), "face_ids": np.array(["a", "b"])},
     r"wrong type; field 'embeddings'.*int64"),
    ({"vectors": np.ones((2, 2)), "face_ids": np.array(["a", "b"])},
     r"missing required array; field 'embeddings'"),
    ({"embeddings": np.ones((2, 2)), "face_ids": np.array([b"a", b"b"])},
     r"wrong type; field 'face_ids'"),
    ({"embeddings": np.ones((2, 2)), "face_ids": np.array(["a", "b"]), "norm": np.ones(2)},
     r"'norm' is reserved"),
])
def test_npz_wrong_arrays(tmp_path, arrays, match):
    np.savez(tmp_path / "f.npz", **arrays)
    with pytest.raises(RecordError, match=match):
        read_faces(tmp_path / "f.npz")


def test_npz_bad_rows_are_named_by_index(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, embeddings=np.array([[1.0, 0.0], [0.0, 0.0], [np.nan, 1.0]]),
             face_ids=np.array(["a", "b", "c"]))
    fs, rejected = read_faces(path, errors="collect")
    assert rejected["source"].tolist() == [f"{path} index 1", f"{path} index 2"]
    assert rejected["raw"][0] == {"face_ids": "b", "embeddings": [0.0, 0.0]}
    assert_balanced(fs, rejected)


# --------------------------------------------------------------------------- IMM File records


@pytest.fixture
def records(tmp_path):
    """Two Files, three Figures (one reserved cluster id), embeddings with identities."""
    files = [
        imm_file("oss://b/1.jpg", [figure(
            "fa", FaceQuality=0.91, FigureConfidence=0.99, Sharpness=0.5,
            Boundary={"Left": 10, "Top": 20, "Width": 100, "Height": 120, "Polygon": []},
            HeadPose={"Pitch": -4.5, "Roll": 1, "Yaw": 12.0}, Age=31, Gender="female",
            Emotion="happiness", Glasses="none", GlassesConfidence=0.8, Unknown={"Deep": 2})],
            ObjectId="obj-1", DatasetName="family"),
        imm_file("oss://b/2.jpg", [figure("fb", "figure-cluster-id-independent", Age=40),
                                   figure("fc", "Cluster-2")], DatasetName="family"),
    ]
    write_jsonl(tmp_path / "files.jsonl", files)
    write_parquet(tmp_path / "emb.parquet", ["fc", "fa", "fb"],
                  [[0.0, 2.0], [3.0, 4.0], [1.0, 0.0]], identity=["p2", "p1", "p1"],
                  cluster_id=["ignored"] * 3)
    return tmp_path


def test_records_join_embeddings_by_figure_id(records):
    fs = read_faces(records / "files.jsonl", embeddings=records / "emb.parquet")
    f = fs.faces
    assert f["face_id"].tolist() == ["fa", "fb", "fc"]
    assert list(f.columns[:6]) == ["face_id", "cluster_id", "file_id", "uri", "dataset",
                                   "identity"]
    assert f["cluster_id"].tolist() == ["Cluster-1", "figure-cluster-id-independent",
                                        "Cluster-2"]
    # file_id is the ObjectId when present, else the URI.
    assert f["file_id"].tolist() == ["obj-1", "oss://b/2.jpg", "oss://b/2.jpg"]
    assert f["identity"].tolist() == ["p1", "p1", "p2"]
    assert f["norm"].tolist() == [5.0, 1.0, 2.0]
    assert fs.embeddings == pytest.approx(np.array([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]]))
    row = f.iloc[0]
    assert (row["boundary_left"], row["boundary_height"], row["head_pose_roll"]) == (10, 120, 1.0)
    assert (row["face_quality"], row["age"], row["gender"]) == (0.91, 31, "female")
    assert row["unknown_deep"] == 2
    assert "boundary_polygon" not in f.columns  # an empty Polygon is no polygon
    assert f["age"].dtype == "Int64" and f["boundary_left"].dtype == "Int64"
    assert f["face_quality"].dtype == "float64" and f["gender"].dtype == "str"
    assert fs.counts == {"read": 3, "accepted": 3, "duplicates": 0, "rejected": 0}
    assert fs.clustered.tolist() == [True, False, True]


def test_records_without_identity_in_embeddings(records):
    np.savez(records / "emb.npz", embeddings=np.eye(3), face_ids=np.array(["fa", "fb", "fc"]))
    fs = read_faces(records / "files.jsonl", embeddings=records / "emb.npz")
    assert not fs.has_truth
    assert fs.embeddings.tolist() == np.eye(3).tolist()


def test_polygon_boundary_is_kept_as_json_text(tmp_path):
    poly = [{"X": 1, "Y": 2}, {"X": 3, "Y": 4}, {"X": 0, "Y": 9}]
    write_jsonl(tmp_path / "f.jsonl", [imm_file("u", [figure("a", Boundary={"Polygon": poly})])])
    fs = read_faces(tmp_path / "f.jsonl",
                    embeddings=write_parquet(tmp_path / "e.parquet", ["a"], [[1.0]]))
    assert orjson.loads(fs.faces["boundary_polygon"][0]) == poly


def _sdk_models():
    if os.environ.get("TOOLKIT_REQUIRE_SDK"):
        import alibabacloud_imm20200930.models as models
        return models
    return pytest.importorskip("alibabacloud_imm20200930.models")


def test_records_from_sdk_objects(tmp_path):
    m = _sdk_models()
    body = m.SimpleQueryResponseBody(files=[m.File(uri="oss://b/1.jpg", dataset_name="ds", figures=[
        m.Figure(figure_id="fa", figure_cluster_id="Cluster-1", face_quality=0.7,
                 boundary=m.Boundary(left=1, top=2, width=3, height=4),
                 head_pose=m.HeadPose(pitch=1.0, roll=2.0, yaw=3.0))])], next_token="")
    response = m.SimpleQueryResponse(headers={}, status_code=200, body=body)
    emb = write_parquet(tmp_path / "e.parquet", ["fa"], [[1.0, 1.0]])
    fs = read_faces(response, embeddings=emb)
    assert fs.faces["face_id"].tolist() == ["fa"]
    assert fs.faces[["boundary_width", "head_pose_yaw", "face_quality"]].iloc[0].tolist() == \
        [3, 3.0, 0.7]
    assert fs.faces["dataset"].tolist() == ["ds"]


@pytest.mark.parametrize("layout", ["page", "file_wrapper", "array", "gz", "directory",
                                    "in_memory"])
def test_record_containers(tmp_path, layout):
    files = [imm_file("u1", [figure("a")]), imm_file("u2", [figure("b")])]
    emb = write_parquet(tmp_path / "e.parquet", ["a", "b"], [[1.0, 0.0], [0.0, 1.0]])
    if layout == "page":
        source = tmp_path / "page.json"
        source.write_bytes(orjson.dumps({"Files": files, "NextToken": "t", "TotalHits": 2}))
    elif layout == "file_wrapper":
        source = write_jsonl(tmp_path / "meta.jsonl", [{"File": f} for f in files])
    elif layout == "array":
        source = tmp_path / "files.json"
        source.write_bytes(orjson.dumps(files))
    elif layout == "gz":
        source = tmp_path / "files.jsonl.gz"
        source.write_bytes(gzip.compress(b"\n".join(orjson.dumps(f) for f in files)))
    elif layout == "directory":
        (tmp_path / "d" / "sub").mkdir(parents=True)
        write_jsonl(tmp_path / "d" / "sub" / "2.jsonl", files[1:])
        write_jsonl(tmp_path / "d" / "1.jsonl", files[:1])
        source = tmp_path / "d"
    else:
        source = files
    fs = read_faces(source, embeddings=emb)
    assert fs.faces["face_id"].tolist() == ["a", "b"]
    assert fs.faces["uri"].tolist() == ["u1", "u2"]


def test_record_sources_name_file_line_and_figure(tmp_path):
    page = tmp_path / "page.json"
    page.write_bytes(orjson.dumps({"Files": [imm_file("u", [figure("a"), figure(None)])]}))
    _, rejected = read_faces(page, embeddings=write_parquet(tmp_path / "e.parquet", ["a"],
                                                            [[1.0]]), errors="collect")
    assert rejected["source"].tolist() == [f"{page} Files[0] Figures[1]"]


def test_malformed_json_line_names_file_and_line(records):
    path = records / "files.jsonl"
    lines = path.read_bytes().splitlines()
    path.write_bytes(lines[0] + b"\n{not json\n" + lines[1] + b"\n")
    with pytest.raises(RecordError, match=r"files\.jsonl:2: malformed JSON line"):
        read_faces(path, embeddings=records / "emb.parquet")
    fs, rejected = read_faces(path, embeddings=records / "emb.parquet", errors="collect")
    assert rejected["source"].tolist() == [f"{path}:2"]
    assert len(fs) == 3
    assert_balanced(fs, rejected)


@pytest.mark.parametrize("doc", [{"Foo": 1}, {"FigureCluster": {"ObjectId": "C"}},
                                 {"ObjectId": "C", "ObjectType": "figure-cluster",
                                  "Figures": []}, "text", 5])
def test_record_of_unknown_shape(tmp_path, doc):
    path = write_jsonl(tmp_path / "f.jsonl", [imm_file("u", [figure("a")]), doc])
    emb = write_parquet(tmp_path / "e.parquet", ["a"], [[1.0]])
    with pytest.raises(RecordError, match=r"f\.jsonl:2: unknown record shape"):
        read_faces(path, embeddings=emb)
    fs, rejected = read_faces(path, embeddings=emb, errors="collect")
    assert fs.counts == {"read": 2, "accepted": 1, "duplicates": 0, "rejected": 1}


@pytest.mark.parametrize("fig, match", [
    ({"FigureClusterId": "C"}, r"missing required field; field 'FigureId'"),
    ({"FigureId": ""}, r"missing required field; field 'FigureId'"),
    ({"FigureId": 7}, r"wrong type; field 'FigureId'; expected a string, got 7"),
    ({"FigureId": "a", "FigureClusterId": 5}, r"wrong type; field 'FigureClusterId'; expected a string"),
    ({"FigureId": "a", "FaceQuality": "high"}, r"wrong type; field 'FaceQuality'; expected a num"),
    ({"FigureId": "a", "FaceQuality": True}, r"wrong type; field 'FaceQuality'; expected a number"),
    ({"FigureId": "a", "Age": 3.5}, r"wrong type; field 'Age'; expected an integer, got 3.5"),
    ({"FigureId": "a", "Boundary": "x"}, r"wrong type; field 'Boundary'; expected an object"),
    ({"FigureId": "a", "Boundary": {"Left": "1"}}, r"wrong type; field 'Boundary.Left'; expected an int"),
    ({"FigureId": "a", "HeadPose": {"Yaw": None, "Pitch": "up"}}, r"wrong type; field 'HeadPose.Pitch'"),
    ({"FigureId": "a", "Gender": 1}, r"wrong type; field 'Gender'; expected a string"),
    ("not an object", r"wrong type; field 'Figures\[\]'"),
])
def test_bad_figure_is_rejected(tmp_path, fig, match):
    path = write_jsonl(tmp_path / "f.jsonl", [imm_file("u", [figure("ok"), fig])])
    emb = write_parquet(tmp_path / "e.parquet", ["ok", "a"], [[1.0], [2.0]])
    with pytest.raises(RecordError, match=rf"f\.jsonl:1 Figures\[1\]: {match}"):
        read_faces(path, embeddings=emb)
    fs, rejected = read_faces(path, embeddings=emb, errors="collect")
    assert "ok" in fs.faces["face_id"].tolist()
    assert rejected["source"].str.endswith("Figures[1]").any()
    assert rejected["raw"].iloc[0] == fig
    assert_balanced(fs, rejected)


@pytest.mark.parametrize("fields, match", [
    ({"URI": 5}, r"field 'URI'; expected a string"),
    ({"DatasetName": ["x"]}, r"field 'DatasetName'"),
    ({"Figures": {"FigureId": "a"}}, r"field 'Figures'; expected a list"),
])
def test_bad_file_rejects_the_file_as_one_record(tmp_path, fields, match):
    path = write_jsonl(tmp_path / "f.jsonl", [{**imm_file("u", [figure("a"), figure("b")]),
                                               **fields}])
    emb = write_parquet(tmp_path / "e.parquet", ["a", "b"], [[1.0], [2.0]])
    with pytest.raises(RecordError, match=rf"f\.jsonl:1: wrong type; {match}"):
        read_faces(path, embeddings=emb)
    fs, rejected = read_faces(path, embeddings=emb, errors="collect")
    # One File record rejected; its two embeddings now belong to no face.
    assert fs.counts == {"read": 3, "accepted": 0, "duplicates": 0, "rejected": 3}


def test_each_side_of_a_missing_join_is_reported(records):
    write_parquet(records / "emb.parquet", ["fa", "fb", "zz"], [[1.0], [2.0], [3.0]])
    fs, rejected = read_faces(records / "files.jsonl", embeddings=records / "emb.parquet",
                              errors="collect")
    assert fs.faces["face_id"].tolist() == ["fa", "fb"]
    assert rejected["source"].tolist() == [f"{records / 'files.jsonl'}:2 Figures[1]",
                                           f"{records / 'emb.parquet'} row 2"]
    assert "face 'fc' has no embedding" in rejected["reason"][0]
    assert "embedding without a face: no Figure has FigureId 'zz'" in rejected["reason"][1]
    # 3 figures + the orphan row = 4 records: 2 faces, 2 rejected.
    assert fs.counts == {"read": 4, "accepted": 2, "duplicates": 0, "rejected": 2}
    with pytest.raises(RecordError, match="face 'fc' has no embedding"):
        read_faces(records / "files.jsonl", embeddings=records / "emb.parquet")


def test_figure_whose_embedding_was_rejected_points_to_the_row(records):
    write_parquet(records / "emb.parquet", ["fa", "fb", "fc"], [[1.0], [float("nan")], [3.0]])
    fs, rejected = read_faces(records / "files.jsonl", embeddings=records / "emb.parquet",
                              errors="collect")
    assert fs.faces["face_id"].tolist() == ["fa", "fc"]
    assert rejected["source"].tolist() == [f"{records / 'emb.parquet'} row 1",
                                           f"{records / 'files.jsonl'}:2 Figures[0]"]
    assert f"its row was rejected ({records / 'emb.parquet'} row 1)" in rejected["reason"][1]
    assert fs.counts == {"read": 4, "accepted": 2, "duplicates": 0, "rejected": 2}


def test_embedding_shards_of_another_dimension_are_rejected(records):
    write_parquet(records / "a.parquet", ["fa", "fb"], [[1.0, 0.0], [0.0, 1.0]])
    np.savez(records / "b.npz", embeddings=np.ones((1, 3)), face_ids=np.array(["fc"]))
    shards = [records / "a.parquet", records / "b.npz"]
    with pytest.raises(RecordError, match=r"b\.npz index 0: face 'fc': embedding dimension "
                                          r"mismatch.*expected 2 values"):
        read_faces(records / "files.jsonl", embeddings=shards)
    fs, rejected = read_faces(records / "files.jsonl", embeddings=shards, errors="collect")
    assert fs.faces["face_id"].tolist() == ["fa", "fb"]
    assert fs.dim == 2
    assert len(rejected) == 2  # the 3-d row, and the Figure that lost its embedding


def test_repeated_figures_and_embedding_rows_fold(records):
    path = records / "files.jsonl"
    path.write_bytes(path.read_bytes() * 2)
    write_parquet(records / "emb.parquet", ["fa", "fb", "fc", "fa"],
                  [[1.0], [2.0], [3.0], [1.0]])
    fs = read_faces(path, embeddings=records / "emb.parquet")
    # 6 figures (3 repeated) + 1 repeated embedding row: 3 faces, 4 duplicates.
    assert fs.counts == {"read": 7, "accepted": 3, "duplicates": 4, "rejected": 0}


def test_file_image_size_becomes_nullable_int_columns(tmp_path):
    files = [imm_file("oss://b/1.jpg", [figure("a"), figure("b")], DatasetName="d",
                      ImageWidth=4032, ImageHeight=3024.0),
             imm_file("oss://b/2.jpg", [figure("c")], DatasetName="d")]
    emb = write_parquet(tmp_path / "e.parquet", ["a", "b", "c"], [[1.0], [2.0], [3.0]])
    fs = read_faces(write_jsonl(tmp_path / "f.jsonl", files), embeddings=emb)
    f = fs.faces
    # The photo's size sits with the file context, after dataset; a File without it gives NA.
    assert list(f.columns[:7]) == ["face_id", "cluster_id", "file_id", "uri", "dataset",
                                   "image_width", "image_height"]
    assert f["image_width"].dtype == "Int64" and f["image_height"].dtype == "Int64"
    assert f["image_width"].tolist()[:2] == [4032, 4032] and f["image_height"][1] == 3024
    assert f["image_width"].isna().tolist() == [False, False, True]


@pytest.mark.parametrize("fields, match", [
    ({"ImageWidth": 0}, r"bad value; field 'ImageWidth'; expected a positive number of pixels"),
    ({"ImageHeight": -5}, r"bad value; field 'ImageHeight'; expected a positive number of pixels"),
    ({"ImageWidth": 10.5}, r"wrong type; field 'ImageWidth'; expected an integer"),
    ({"ImageHeight": "1080"}, r"wrong type; field 'ImageHeight'; expected an integer"),
])
def test_bad_image_size_rejects_the_file(tmp_path, fields, match):
    path = write_jsonl(tmp_path / "f.jsonl", [imm_file("u", [figure("a")], **fields),
                                              imm_file("v", [figure("b")], ImageWidth=10)])
    emb = write_parquet(tmp_path / "e.parquet", ["a", "b"], [[1.0], [2.0]])
    with pytest.raises(RecordError, match=rf"f\.jsonl:1: {match}"):
        read_faces(path, embeddings=emb)
    fs, rejected = read_faces(path, embeddings=emb, errors="collect")
    assert fs.faces["face_id"].tolist() == ["b"] and fs.faces["image_width"].tolist() == [10]
    assert_balanced(fs, rejected)


def test_parquet_image_size_columns_pass_through(tmp_path):
    path = write_parquet(tmp_path / "f.parquet", ["a", "b"], [[1.0, 0.0], [0.0, 1.0]],
                         image_width=pa.array([640, None], pa.int64()),
                         image_height=pa.array([480, None], pa.int64()))
    f = read_faces(path).faces
    assert f["image_width"].tolist()[0] == 640 and pd.isna(f["image_width"][1])
    assert f["image_height"].tolist()[0] == 480


def test_truncated_gzip_keeps_whole_lines_before_the_cut(tmp_path):
    lines = [orjson.dumps(imm_file(f"u{i}", [figure(f"f{i}")])) for i in range(200)]
    data = gzip.compress(b"\n".join(lines) + b"\n")
    path = tmp_path / "files.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    emb = write_parquet(tmp_path / "e.parquet", [f"f{i}" for i in range(200)],
                        [[float(i + 1)] for i in range(200)])
    with pytest.raises(RecordError, match="truncated gzip stream"):
        read_faces(path, embeddings=emb)
    fs, rejected = read_faces(path, embeddings=emb, errors="collect")
    assert 0 < len(fs) < 200
    assert rejected["reason"].str.contains("truncated gzip").sum() == 1
    # Every Figure lost in the cut leaves its embedding without a face.
    assert rejected["reason"].str.contains("embedding without a face").sum() == 200 - len(fs)
    assert_balanced(fs, rejected)


def test_bad_arguments(tmp_path):
    emb = write_parquet(tmp_path / "e.parquet", ["a"], [[1.0]])
    write_jsonl(tmp_path / "f.jsonl", [imm_file("u", [figure("a")])])
    (tmp_path / "empty").mkdir()
    (tmp_path / "f.csv").write_text("a,b\n")
    with pytest.raises(FileNotFoundError, match="nope.parquet: no such file"):
        read_faces(tmp_path / "nope.parquet")
    with pytest.raises(FileNotFoundError, match="nope.npz: no such file"):
        read_faces(tmp_path / "f.jsonl", embeddings=tmp_path / "nope.npz")
    with pytest.raises(ValueError, match="holds no .json"):
        read_faces(tmp_path / "empty", embeddings=emb)
    with pytest.raises(ValueError, match="carry no embeddings: pass `embeddings=`"):
        read_faces(tmp_path / "f.jsonl")
    with pytest.raises(ValueError, match="`embeddings=` is only for IMM File records"):
        read_faces(emb, embeddings=emb)
    with pytest.raises(ValueError, match="`embeddings=` names no file"):
        read_faces(tmp_path / "f.jsonl", embeddings=[])
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_faces(tmp_path / "f.csv")
    with pytest.raises(ValueError, match="embeddings come from Parquet or NPZ files"):
        read_faces(tmp_path / "f.jsonl", embeddings=tmp_path / "f.jsonl")
    with pytest.raises(ValueError, match=r"`errors` must be one of \['raise', 'collect'\], "
                                         r"but 'ignore' was passed"):
        read_faces(emb, errors="ignore")


# --------------------------------------------------------------------------- conservation

# Each item: (face id, figure kind, embedding kind, variant). Ids collide on purpose.
FIGURE_KINDS = ["ok", "ok", "none", "no_id", "bad_type", "malformed"]
EMBEDDING_KINDS = ["ok", "ok", "ok", "none", "nan", "zero", "short"]
items = st.lists(st.tuples(st.sampled_from("abcdef"), st.sampled_from(FIGURE_KINDS),
                           st.sampled_from(EMBEDDING_KINDS), st.integers(0, 1)),
                 min_size=0, max_size=14)


def _vector(face_id, variant, kind, dim=3):
    base = [float("abcdef".index(face_id) + 1), 1.0, float(variant)]
    return {"ok": base, "nan": [float("nan"), 1.0, 0.0], "zero": [0.0] * dim,
            "short": base[:2]}[kind]


def _oracle(spec):
    """Face ids that must be accepted, worked out directly from the spec."""
    rows = [(fid, _vector(fid, var, kind)) for fid, _, kind, var in spec if kind != "none"]
    lengths = Counter(len(v) for _, v in rows)
    dim = max(lengths, key=lambda n: (lengths[n], -[len(v) for _, v in rows].index(n))) \
        if rows else 0
    good = {}
    for fid, vec in rows:
        if len(vec) == dim and all(np.isfinite(vec)) and any(vec):
            good.setdefault(fid, []).append(vec)
    usable = {fid for fid, vecs in good.items() if all(v == vecs[0] for v in vecs)}
    with_figure = {fid for fid, kind, _, _ in spec if kind == "ok"}
    return usable & with_figure


def _write_spec(directory, spec):
    lines, ids, vectors = [], [], []
    for fid, fig_kind, emb_kind, variant in spec:
        if fig_kind == "malformed":
            lines.append(b'{"URI": "u", "Figures": [')
        elif fig_kind == "no_id":
            lines.append(orjson.dumps(imm_file("u", [{"FigureClusterId": "C"}])))
        elif fig_kind == "bad_type":
            lines.append(orjson.dumps(imm_file("u", [figure(fid, FaceQuality="x")])))
        elif fig_kind == "ok":
            lines.append(orjson.dumps(imm_file("u", [figure(fid)])))
        if emb_kind != "none":
            ids.append(fid)
            vectors.append(_vector(fid, variant, emb_kind))
    (directory / "files.jsonl").write_bytes(b"\n".join(lines) + b"\n" if lines else b"{}\n")
    if not ids:
        ids, vectors = ["orphan"], [[1.0, 2.0, 3.0]]
    write_parquet(directory / "emb.parquet", ids, vectors)


@settings(deadline=None, max_examples=60)
@given(items)
def test_records_are_conserved_over_mixed_good_and_broken_faces(spec):
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        _write_spec(directory, spec)
        fs, rejected = read_faces(directory / "files.jsonl",
                                  embeddings=directory / "emb.parquet", errors="collect")
    assert_balanced(fs, rejected)
    assert fs.faces["face_id"].is_unique
    assert set(fs.faces["face_id"]) == _oracle(spec) - {"orphan"}
    if len(fs):
        assert np.linalg.norm(fs.embeddings, axis=1) == pytest.approx(np.ones(len(fs)),
                                                                      abs=1e-6)


@settings(deadline=None, max_examples=60)
@given(items)
def test_parquet_rows_are_conserved(spec):
    rows = [(fid, _vector(fid, var, kind)) for fid, _, kind, var in spec if kind != "none"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.parquet"
        write_parquet(path, [r[0] for r in rows] or ["z"], [r[1] for r in rows] or [[1.0]])
        fs, rejected = read_faces(path, errors="collect")
    assert_balanced(fs, rejected)
    assert fs.counts["read"] == max(len(rows), 1)
    expected = _oracle([(fid, "ok", kind, var) for fid, _, kind, var in spec]) if rows \
        else {"z"}
    assert set(fs.faces["face_id"]) == expected
