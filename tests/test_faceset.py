"""Tests for toolkit.faceset: the FaceSet contract and its Parquet round trip."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toolkit import NO_CLUSTER_IDS, FaceSet, is_clustered, read_faces
from toolkit.faceset import PARQUET_METADATA_KEY


def _unit(n, dim, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _faces(n, **extra):
    data = {"face_id": pd.Series([f"f{i}" for i in range(n)], dtype="str"),
            "cluster_id": pd.Series([f"c{i % 2}" for i in range(n)], dtype="str")}
    data.update(extra)
    data["norm"] = np.arange(1.0, n + 1.0)
    return pd.DataFrame(data)


def test_reserved_ids_are_the_two_imm_values():
    assert NO_CLUSTER_IDS == {"figure-cluster-id-independent", "figure-cluster-id-unavailable"}


@pytest.mark.parametrize("container", [list, np.array, pd.Series])
def test_is_clustered_treats_reserved_missing_and_empty_as_no_cluster(container):
    ids = ["c1", None, "figure-cluster-id-independent", "figure-cluster-id-unavailable", "", "c2"]
    mask = is_clustered(container(ids) if container is not np.array else np.array(ids, object))
    assert mask.tolist() == [True, False, False, False, False, True]


@pytest.mark.parametrize("embeddings, faces, match", [
    (np.zeros(3, np.float32), _faces(3), "2-D array"),
    (np.zeros((3, 2), np.float64), _faces(3), "must be float32"),
    (np.zeros((2, 2), np.float32), _faces(3), "3 face rows but 2 embedding rows"),
    (np.zeros((3, 2), np.float32), _faces(3).drop(columns="cluster_id"), "'cluster_id' column"),
    (np.zeros((3, 2), np.float32), _faces(3).assign(face_id=["a", "b", "a"]),
     "face_id 'a' occurs more than once"),
])
def test_faceset_checks_its_contract(embeddings, faces, match):
    with pytest.raises(ValueError, match=match):
        FaceSet(faces, embeddings)


def test_repr_and_properties():
    faces = _faces(4).assign(cluster_id=["c1", "c1", "figure-cluster-id-unavailable", None])
    fs = FaceSet(faces, _unit(4, 3))
    # Clusters: {c1}; in no cluster: the reserved id and the missing one.
    assert repr(fs) == "FaceSet(4 faces, dim=3, 1 clusters, 2 in no cluster)"
    assert (len(fs), fs.dim, fs.has_truth) == (4, 3, False)
    assert FaceSet(faces.assign(identity="p"), _unit(4, 3)).has_truth


@pytest.mark.parametrize("selector", [np.array([False, True, False, True]), [1, 3]])
def test_subset_keeps_rows_aligned(selector):
    emb = _unit(4, 3)
    fs = FaceSet(_faces(4), emb, {"read": 4})
    sub = fs.subset(selector)
    assert sub.faces["face_id"].tolist() == ["f1", "f3"]
    np.testing.assert_array_equal(sub.embeddings, emb[[1, 3]])
    assert sub.counts == {"read": 4}


@pytest.mark.parametrize("n, dim", [(5, 3), (1, 128), (0, 16)])
def test_to_parquet_reads_back_equal(tmp_path, n, dim):
    faces = _faces(n, identity=pd.Series([f"p{i % 3}" for i in range(n)], dtype="str"),
                   age=pd.array([30 + i if i % 2 else None for i in range(n)], dtype="Int64"),
                   face_quality=np.linspace(0, 1, n))
    fs = FaceSet(faces, _unit(n, dim, seed=n), {"read": n})
    fs.to_parquet(tmp_path / "fs.parquet")
    back = read_faces(tmp_path / "fs.parquet")
    assert back.equals(fs)
    assert back.faces.dtypes.to_dict() == fs.faces.dtypes.to_dict()
    assert back.counts == {"read": n, "accepted": n, "duplicates": 0, "rejected": 0}


def test_round_trip_does_not_normalise_again(tmp_path):
    # Rows 1e-5 off unit length (within the reader's tolerance of 1e-3): a second
    # normalisation would change them; a faithful round trip keeps every bit, and keeps
    # the stored norms (1..3) instead of measuring ~1.0 again.
    emb = (_unit(3, 8) * np.float32(1 + 1e-5)).astype(np.float32)
    fs = FaceSet(_faces(3), emb)
    fs.to_parquet(tmp_path / "fs.parquet")
    back = read_faces(tmp_path / "fs.parquet")
    np.testing.assert_array_equal(back.embeddings, emb)
    assert back.faces["norm"].tolist() == [1.0, 2.0, 3.0]


def test_to_parquet_writes_fixed_size_float32_lists_and_a_marker(tmp_path):
    FaceSet(_faces(2), _unit(2, 4)).to_parquet(tmp_path / "fs.parquet")
    schema = pq.read_schema(tmp_path / "fs.parquet")
    emb_type = schema.field("embedding").type
    assert pa.types.is_fixed_size_list(emb_type)
    assert (emb_type.list_size, emb_type.value_type) == (4, pa.float32())
    marker = json.loads(schema.metadata[PARQUET_METADATA_KEY])
    assert marker == {"version": 1, "normalized": True, "dim": 4}


def test_to_parquet_refuses_an_embedding_column(tmp_path):
    fs = FaceSet(_faces(2).assign(embedding=[1, 2]), _unit(2, 4))
    with pytest.raises(ValueError, match="column 'embedding'"):
        fs.to_parquet(tmp_path / "fs.parquet")


@pytest.mark.parametrize("change", ["bit", "dtype", "order", "value", "shape"])
def test_equals_notices_each_difference(change):
    emb = _unit(3, 4)
    fs = FaceSet(_faces(3), emb)
    faces, other = _faces(3), emb.copy()
    if change == "bit":
        other[1, 2] = np.nextafter(other[1, 2], np.float32(2))
    elif change == "dtype":
        faces["cluster_id"] = faces["cluster_id"].astype(object)
    elif change == "order":
        faces = faces[["cluster_id", "face_id", "norm"]]
    elif change == "value":
        faces.loc[0, "norm"] = 9.0
    else:
        other = _unit(3, 5)
    assert fs.equals(FaceSet(_faces(3), emb.copy()))
    assert not fs.equals(FaceSet(faces, other))
    assert not fs.equals("not a FaceSet")
