"""The recluster and suggest commands (toolkit._cli_recluster)."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toolkit.cli import main
from toolkit.reclustering import CannotLink
from toolkit.sampledata import generate_faces


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    frame, x = generate_faces(600, 30, dim=32, seed=3)
    table = pa.Table.from_pandas(frame.drop(columns=["norm"]), preserve_index=False)
    offsets = pa.array(np.arange(0, x.size + 1, x.shape[1], dtype=np.int32))
    table = table.append_column("embedding",
                                pa.ListArray.from_arrays(offsets, pa.array(x.ravel())))
    out = tmp_path_factory.mktemp("faces")
    pq.write_table(table, out / "faces.parquet")
    return out


def test_recluster_prints_the_threshold_and_writes_the_clusters(data_dir, tmp_path, capsys):
    out = tmp_path / "clusters.csv"
    assert main(["recluster", str(data_dir), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "threshold:" in text and "(estimated)" in text
    assert "recluster vs identity: pairwise F" in text
    written = pd.read_csv(out)
    assert list(written.columns) == ["face_id", "cluster_id"] and len(written) == 600
    assert written["cluster_id"].str.startswith("recluster-").all()


def test_recluster_with_a_given_threshold_and_method(data_dir, capsys):
    assert main(["recluster", str(data_dir), "--threshold", "0.3",
                 "--method", "agglomerative-average"]) == 0
    assert "threshold: 0.3000 (given)" in capsys.readouterr().out


def test_recluster_calibrated(data_dir, capsys):
    assert main(["recluster", str(data_dir / "faces.parquet"), "--calibrate"]) == 0
    assert "calibrated on 600 labelled faces" in capsys.readouterr().out


def test_suggest_prints_and_writes_suggestions(data_dir, tmp_path, capsys):
    merges_out, splits_out = tmp_path / "merges.csv", tmp_path / "splits.parquet"
    assert main(["suggest", str(data_dir), "--top", "5", "--out-merges", str(merges_out),
                 "--out-splits", str(splits_out)]) == 0
    text = capsys.readouterr().out
    assert "merge suggestions" in text and "split suggestions" in text
    merges = pd.read_csv(merges_out)
    assert len(merges) == 5
    splits = pd.read_parquet(splits_out)
    assert splits["faces_a"].str.contains(";").any()
    # The best pair rejected in a cannot-link file does not come back.
    best = (merges.loc[0, "merge_to"], merges.loc[0, "merge_from"])
    path = CannotLink([best]).save(tmp_path / "cannot.json")
    assert main(["suggest", str(data_dir), "--top", "5", "--cannot-link", str(path),
                 "--out-merges", str(merges_out)]) == 0
    again = pd.read_csv(merges_out)
    assert best not in set(zip(again["merge_to"], again["merge_from"]))
    assert "1 vetoed (cannot-link)" in capsys.readouterr().out


def test_a_missing_faces_file_is_an_error(tmp_path, capsys):
    assert main(["recluster", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such file" in capsys.readouterr().err
    assert main(["suggest", str(tmp_path)]) == 2
    assert "faces.parquet: no such file" in capsys.readouterr().err
