"""recluster(): ids, methods, inputs, quality vs scikit-learn (toolkit.reclustering._recluster)."""

import numpy as np
import pandas as pd
import pytest

from toolkit import FaceSet
from toolkit.clustering import ClusterState
from toolkit.quality import compare_to_truth
from toolkit.reclustering import METHODS, recluster
from toolkit.reclustering._recluster import cluster_names
from toolkit.sampledata import generate_faces


@pytest.fixture(scope="module")
def faces():
    frame, x = generate_faces(1200, 50, dim=64, seed=4)
    return FaceSet(frame, x)


def test_cluster_names_number_clusters_by_first_face():
    # Label 7 appears first (row 0), then 3 (row 1); label 5 has one face.
    names = cluster_names(np.array([7, 3, 7, 5, 3, -1]), prefix="r-", min_size=2)
    assert names.tolist() == ["r-0001", "r-0002", "r-0001", "figure-cluster-id-independent",
                              "r-0002", "figure-cluster-id-independent"]


def test_ids_are_deterministic_and_min_cluster_size_dissolves_small_clusters(faces):
    a = recluster(faces, threshold=0.3)
    b = recluster(faces, threshold=0.3)
    assert a.state.equals(b.state)
    first = a.state.face_cluster_ids()[0]
    assert first == "recluster-0001"
    big = recluster(faces, threshold=0.3, min_cluster_size=3)
    assert (big.state.counts >= 3).all()
    lone = big.state.labels < 0
    assert lone.sum() == a.state.counts[a.state.counts < 3].sum()
    assert (big.state.to_faceset().faces["cluster_id"][lone]
            == "figure-cluster-id-independent").all()


def test_state_input_keeps_its_faces_and_result_reports_the_settings(faces):
    state = ClusterState(faces)
    res = recluster(state)
    assert res.state.faceset is state.faceset
    assert res.params == {"n_neighbors": 15, "min_cluster_size": 1, "cohesion_ratio": 0.6,
                          "id_prefix": "recluster-", "threshold_source": "estimated"}
    assert res.estimate.threshold == res.threshold
    assert "estimated" in repr(res)
    given = recluster(state, threshold=0.25, id_prefix="new-")
    assert given.params["threshold_source"] == "given" and given.estimate is None
    assert given.state.cluster_ids[0].startswith("new-")


@pytest.mark.parametrize("method, threshold", [
    ("graph", 0.3), ("agglomerative-average", 0.3), ("agglomerative-complete", 0.0),
    # HDBSCAN's cut is single linkage of mutual reachability: it needs a higher threshold.
    ("hdbscan", 0.6)])
def test_every_method_runs_and_reports_its_threshold(faces, method, threshold):
    res = recluster(faces, threshold=threshold, method=method)
    assert res.method == method and res.threshold == threshold
    assert res.state.n_faces == len(faces)
    assert compare_to_truth(res.state).pairwise_f > 0.5


def test_methods_cover_the_documented_list():
    assert METHODS == ("graph", "agglomerative-average", "agglomerative-complete", "hdbscan")


def test_best_pairwise_f_matches_or_beats_scikit_learn(faces):
    grid = np.linspace(0.05, 0.6, 12)

    def best(method):
        return max(compare_to_truth(recluster(faces, threshold=t, method=method).state).pairwise_f
                   for t in grid)
    ours = best("graph")
    assert ours >= best("agglomerative-average") - 0.01
    assert ours >= best("hdbscan") - 0.01


def test_progress_bars_can_be_forced(faces, capsys):
    recluster(faces, progress=True)
    assert "recluster" in capsys.readouterr().err


def test_tiny_inputs(faces):
    one = faces.subset([0])
    assert recluster(one, threshold=0.5).state.n_clusters == 1
    with pytest.raises(ValueError, match="too few to derive"):
        recluster(faces.subset([0, 1]))
    with pytest.raises(ValueError, match="empty"):
        recluster(faces.subset(np.zeros(len(faces), dtype=bool)), threshold=0.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "kmeans"}, "`method` must be one of"),
    ({"threshold": 1.5}, "`threshold` must be a cosine similarity"),
    ({"threshold": True}, "`threshold` must be a cosine similarity"),
    ({"n_neighbors": 0}, "`n_neighbors` must be an integer >= 1"),
    ({"min_cluster_size": 0}, "`min_cluster_size` must be an integer >= 1"),
    ({"cohesion_ratio": 2.0}, "`cohesion_ratio` must be a number between 0 and 1"),
    ({"id_prefix": 3}, "`id_prefix` must be a string"),
])
def test_bad_options_are_refused(faces, kwargs, match):
    with pytest.raises(ValueError, match=match):
        recluster(faces, **kwargs)


def test_bad_faces_are_refused():
    with pytest.raises(TypeError, match="FaceSet, a ClusterState or an embedding array"):
        recluster(pd.DataFrame({"a": [1]}))
    with pytest.raises(ValueError, match="2-D"):
        recluster(np.ones(3))


@pytest.mark.parametrize("threshold", [None, 0.3])
def test_one_neighbour_search_serves_the_threshold_and_the_merging(faces, monkeypatch, threshold):
    from toolkit.reclustering import _graph

    calls = []
    real = _graph.exact_neighbors

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(_graph, "exact_neighbors", counted)
    recluster(faces, threshold=threshold)
    assert calls == [15]


def test_calibration_searches_the_neighbours_once(faces, monkeypatch):
    from toolkit.reclustering import _graph
    from toolkit.reclustering._threshold import calibrate_threshold, estimate_threshold

    calls = []
    real = _graph.exact_neighbors

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(_graph, "exact_neighbors", counted)
    cal = calibrate_threshold(faces, thresholds=None)
    assert calls == [15]
    # The grid still runs from the floor to the ceiling estimate_threshold reports.
    est = estimate_threshold(faces)
    assert cal.scores["threshold"].iloc[0] == est.floor
    assert cal.scores["threshold"].iloc[-1] == pytest.approx(est.ceiling)
