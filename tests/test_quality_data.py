"""Tests of toolkit.quality._data: label encoding and input checks."""

import numpy as np
import pandas as pd
import pytest

from toolkit.errors import RecordError
from toolkit.quality._data import encode_labels, labelled, unit_rows


@pytest.mark.parametrize("labels, codes, ids", [
    (["b", "a", "b"], [1, 0, 1], ["a", "b"]),
    ([3, 1, 3], [1, 0, 1], [1, 3]),
    (np.array([2.0, np.nan, 2.0]), [0, -1, 0], [2.0]),
    ([5, -1, -2, 5], [0, -1, -1, 0], [5]),
    (pd.Series(["x", None, "figure-cluster-id-unavailable", ""]), [0, -1, -1, -1], ["x"]),
    (pd.Series([1, None, 2], dtype="Int64"), [0, -1, 1], [1, 2]),
    ([("t", 1), ("t", 1), "s"], [1, 1, 0], ["s", ("t", 1)]),   # by type name: str < tuple
    ([None, None], [-1, -1], []),
])
def test_codes_and_sorted_ids(labels, codes, ids):
    got_codes, got_ids = encode_labels(labels, len(codes))
    assert got_codes.tolist() == codes
    assert got_ids.tolist() == ids


def test_labels_of_the_wrong_shape_name_the_field():
    with pytest.raises(RecordError, match="differ in length.*field 'labels'.*expected 3"):
        encode_labels(["a"], 3)
    with pytest.raises(RecordError, match="one-dimensional"):
        encode_labels(np.zeros((3, 2)), 3)


def test_unit_rows_are_float64_and_zero_rows_stay_zero():
    X = np.array([[3.0, 4.0], [0.0, 0.0], [1e-300, 0.0]], dtype=np.float64)
    rows, sq = unit_rows(X.astype(np.float32), np.array([0, 1]))
    assert rows.dtype == np.float64
    assert rows.tolist() == [[0.6, 0.8], [0.0, 0.0]]
    assert sq == pytest.approx([1.0, 0.0])
    # Shorter than 10 eps: no usable direction, like sklearn's normalize.
    assert unit_rows(X, np.array([2]))[0].tolist() == [[0.0, 0.0]]


def test_integer_embeddings_are_promoted_and_float32_kept():
    data = labelled(np.array([[1, 0], [0, 1]]), ["a", "b"], chunk_bytes=1024, caller="t")
    assert data.X.dtype == np.float64
    X32 = np.eye(2, dtype=np.float32)
    assert labelled(X32, ["a", "b"], chunk_bytes=1024, caller="t").X is X32


def test_a_faceset_is_pointed_to_cluster_state():
    from toolkit import FaceSet

    fs = FaceSet(pd.DataFrame({"face_id": ["f0", "f1"], "cluster_id": ["c", "d"]}),
                 np.eye(2, dtype=np.float32))
    with pytest.raises(TypeError, match=r"FaceSet was passed.*ClusterState.from_faces"):
        labelled(fs, None, chunk_bytes=1024, caller="silhouette_score")
