"""Data-derived and calibrated thresholds (toolkit.reclustering._threshold)."""

import numpy as np
import pandas as pd
import pytest

from toolkit import FaceSet
from toolkit.quality import compare_to_truth
from toolkit.reclustering import calibrate_threshold, estimate_threshold, recluster
from toolkit.reclustering._threshold import mean_pair_similarity
from toolkit.sampledata import generate_faces


@pytest.fixture(scope="module")
def faces():
    frame, x = generate_faces(1200, 50, dim=64, seed=11)
    return FaceSet(frame, x)


def _compress(x, alpha):
    # [sqrt(1-a) x, sqrt(a) e] is a unit row whose dot products are a + (1-a) x.y exactly:
    # the same faces on a dlib-like scale.
    extra = np.full((x.shape[0], 1), np.sqrt(alpha))
    return np.hstack([np.sqrt(1 - alpha) * x.astype(np.float64), extra])


def test_floor_is_the_mean_similarity_of_all_pairs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    g = x @ x.T
    expected = (g.sum() - np.trace(g)) / (30 * 29)
    assert mean_pair_similarity(x) == pytest.approx(expected, abs=1e-12)


def test_estimate_is_a_quarter_of_the_way_from_floor_to_ceiling(faces):
    est = estimate_threshold(faces)
    x = faces.embeddings.astype(np.float64)
    g = x @ x.T
    np.fill_diagonal(g, -np.inf)
    assert est.ceiling == pytest.approx(np.median(g.max(axis=1)), abs=1e-6)
    assert est.floor == pytest.approx(mean_pair_similarity(x), abs=1e-9)
    assert est.threshold == pytest.approx(est.floor + 0.25 * (est.ceiling - est.floor))
    assert est.rule == "quarter-way"


@pytest.mark.parametrize("alpha", [0.5, 0.85])
def test_threshold_and_clusters_follow_an_affine_change_of_scale(faces, alpha):
    x = faces.embeddings
    base = recluster(x)
    squeezed = recluster(_compress(x, alpha))
    # s' = alpha + (1 - alpha) s for every pair, so every level moves the same way.
    assert squeezed.threshold == pytest.approx(alpha + (1 - alpha) * base.threshold, abs=1e-5)
    assert squeezed.estimate.floor == pytest.approx(alpha + (1 - alpha) * base.estimate.floor,
                                                    abs=1e-5)
    assert np.array_equal(base.state.labels, squeezed.state.labels)


@pytest.mark.parametrize("scale", ["standard", "compressed"])
def test_default_threshold_is_close_to_the_best_on_both_scales(scale):
    frame, x = generate_faces(1500, 60, dim=128, seed=21, similarity_scale=scale)
    fs = FaceSet(frame, x)
    cal = calibrate_threshold(fs)
    default = compare_to_truth(recluster(fs).state).pairwise_f
    assert default >= cal.best["pairwise_f"] - 0.03


def test_calibration_reports_every_grid_point_and_picks_the_best(faces):
    grid = [0.05, 0.2, 0.35, 0.5, 0.65]
    cal = calibrate_threshold(faces, thresholds=grid)
    assert cal.scores["threshold"].tolist() == pytest.approx(grid)
    assert cal.threshold == pytest.approx(grid[int(np.argmax(cal.scores["pairwise_f"]))])
    assert cal.best["pairwise_f"] == pytest.approx(cal.scores["pairwise_f"].max())
    # Each row is what recluster gives at that threshold.
    res = recluster(faces, threshold=cal.threshold)
    assert compare_to_truth(res.state).pairwise_f == pytest.approx(cal.best["pairwise_f"])


def test_calibration_uses_only_labelled_faces(faces):
    frame = faces.faces.copy()
    identity = frame["identity"].astype(object)
    identity[::3] = None
    frame["identity"] = identity
    cal = calibrate_threshold(FaceSet(frame, faces.embeddings), thresholds=[0.2, 0.4])
    assert cal.n_faces == len(frame) - len(frame[::3])


def test_calibration_errors(faces):
    with pytest.raises(ValueError, match="no 'person' column"):
        calibrate_threshold(faces, "person")
    with pytest.raises(ValueError, match="finite"):
        calibrate_threshold(faces, thresholds=[np.nan])
    with pytest.raises(ValueError, match="method"):
        calibrate_threshold(faces, method="kmeans")
    frame = faces.faces.copy()
    frame["identity"] = pd.array([None] * len(frame), dtype="str")
    with pytest.raises(ValueError, match="at least 3 faces with a known"):
        calibrate_threshold(FaceSet(frame, faces.embeddings))
    with pytest.raises(TypeError, match="FaceSet or a ClusterState"):
        calibrate_threshold(faces.embeddings)


def test_estimate_needs_three_faces():
    with pytest.raises(ValueError, match="at least 3 faces"):
        estimate_threshold(np.eye(2))


def test_identical_faces_give_the_degenerate_rule():
    est = estimate_threshold(np.ones((4, 3)))
    assert est.rule == "degenerate"
    assert est.threshold == pytest.approx(1.0)
