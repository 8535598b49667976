"""Tests of toolkit.plots.plot_silhouette."""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from sklearn.metrics import silhouette_samples as sk_silhouette_samples

from toolkit.errors import RecordError
from toolkit.plots import _style, plot_silhouette

# Hand-worked: three clusters with arbitrary ids, two faces in no cluster.
#   "Cluster-b": 0.2, -0.1, 0.5 -> mean 0.6 / 3 = 0.2
#   "z-7":       0.9, 0.7       -> mean 1.6 / 2 = 0.8
#   "Cluster-a": 0.4            -> mean 0.4
# Top to bottom by mean: z-7, Cluster-a, Cluster-b.
# Mean over the 6 clustered faces: (0.6 + 1.6 + 0.4) / 6 = 2.6 / 6 = 0.4333...
VALUES = np.array([0.2, 0.9, -0.1, 0.3, 0.4, 0.5, 0.7, 0.1])
LABELS = ["Cluster-b", "z-7", "Cluster-b", None, "Cluster-a", "Cluster-b", "z-7",
          "figure-cluster-id-independent"]


def _band_x(band):
    return np.unique(np.round(band.get_paths()[0].vertices[:, 0], 12))


def _band_height(band):
    y = band.get_paths()[0].vertices[:, 1]
    return y.max() - y.min()


def test_one_band_per_cluster_best_on_top():
    ax = plot_silhouette(VALUES, LABELS)
    assert [c.get_gid() for c in ax.collections] == ["z-7", "Cluster-a", "Cluster-b"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["z-7", "Cluster-a", "Cluster-b"]
    ticks = ax.get_yticks()
    assert ticks[0] > ticks[1] > ticks[2]  # first band highest


def test_band_holds_the_cluster_values():
    ax = plot_silhouette(VALUES, LABELS)
    bands = {c.get_gid(): c for c in ax.collections}
    # Each band's polygon runs from 0 out to each member's value.
    assert _band_x(bands["Cluster-b"]).tolist() == [-0.1, 0.0, 0.2, 0.5]
    assert _band_x(bands["z-7"]).tolist() == [0.0, 0.7, 0.9]
    assert _band_x(bands["Cluster-a"]).tolist() == [0.0, 0.4]


def test_band_height_size_follows_cluster_size_and_equal_does_not():
    ax = plot_silhouette(VALUES, LABELS)
    heights = [_band_height(c) for c in ax.collections]
    assert heights == pytest.approx([2.0, 1.0, 3.0])  # z-7, Cluster-a (a singleton), Cluster-b
    ax = plot_silhouette(VALUES, LABELS, band_height="equal", ax=plt.figure().gca())
    heights = [_band_height(c) for c in ax.collections]
    assert heights == pytest.approx([1.0, 1.0, 1.0])


def test_mean_line_is_the_mean_over_clustered_faces():
    ax = plot_silhouette(VALUES, LABELS)
    mean_line = ax.lines[-1]
    assert mean_line.get_xdata()[0] == pytest.approx(2.6 / 6)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["mean 0.433"]


def test_faces_in_no_cluster_are_excluded_and_said_in_title():
    ax = plot_silhouette(VALUES, LABELS)
    assert ax.get_title() == "Silhouette of 6 faces in 3 clusters; 2 in no cluster excluded"


def test_faces_without_a_value_are_excluded_and_counted():
    values = np.array([0.5, np.nan, 0.1, 0.2])
    ax = plot_silhouette(values, ["a", "a", "b", ""])
    assert ax.get_title() == ("Silhouette of 2 faces in 2 clusters; 1 in no cluster excluded; "
                              "1 without a value excluded")


def test_integer_labels_treat_minus_one_as_no_cluster():
    ax = plot_silhouette([0.1, 0.2, 0.3, 0.4], np.array([5, -1, 5, 9]))
    assert [c.get_gid() for c in ax.collections] == ["9", "5"]  # means 0.4 and 0.2
    assert "1 in no cluster excluded" in ax.get_title()


def test_frame_input_equals_array_input():
    frame = pd.DataFrame({"cluster_id": LABELS, "silhouette": VALUES})
    ax1 = plot_silhouette(frame)
    ax2 = plot_silhouette(VALUES, pd.Series(LABELS), ax=plt.figure().gca())
    for b1, b2 in zip(ax1.collections, ax2.collections, strict=True):
        np.testing.assert_array_equal(b1.get_paths()[0].vertices, b2.get_paths()[0].vertices)
    assert ax1.get_title() == ax2.get_title()


def test_ties_in_mean_are_broken_by_id():
    ax = plot_silhouette([0.5, 0.5, 0.5], ["c", "a", "b"])
    assert [c.get_gid() for c in ax.collections] == ["a", "b", "c"]


@pytest.mark.parametrize("max_clusters, n_best, n_worst", [(10, 5, 5), (5, 3, 2)])
def test_large_clusterings_show_best_and_worst_and_say_what_was_left_out(max_clusters, n_best,
                                                                         n_worst):
    # 50 clusters c00..c49 of two faces each; cluster i has mean (i - 25) / 50.
    means = (np.arange(50) - 25) / 50
    values = np.repeat(means, 2) + np.tile([-0.01, 0.01], 50)
    labels = np.repeat([f"c{i:02d}" for i in range(50)], 2)
    ax = plot_silhouette(values, labels, max_clusters=max_clusters)
    best = [f"c{i:02d}" for i in range(49, 49 - n_best, -1)]
    worst = [f"c{i:02d}" for i in range(n_worst - 1, -1, -1)]
    assert [c.get_gid() for c in ax.collections] == best + worst
    left = 50 - max_clusters
    assert [t.get_text() for t in ax.texts] == [
        f"\u2026 {left} clusters ({2 * left} faces) with mid-range means not shown \u2026"]
    # The mean line still counts every face: mean of (i - 25) / 50 over i = 0..49 is -0.01.
    assert ax.lines[-1].get_xdata()[0] == pytest.approx(-0.01)


def test_no_text_when_all_clusters_fit():
    ax = plot_silhouette(VALUES, LABELS, max_clusters=3)
    assert len(ax.texts) == 0
    assert len(ax.collections) == 3


def test_band_colours_cycle_the_palette():
    ax = plot_silhouette(VALUES, LABELS)
    colors = [to_hex(c.get_facecolor()[0]) for c in ax.collections]
    assert colors == [to_hex(c) for c in _style.CLUSTER_COLORS[:3]]
    ax = plot_silhouette(VALUES, LABELS, palette="red", ax=plt.figure().gca())
    assert {to_hex(c.get_facecolor()[0]) for c in ax.collections} == {"#ff0000"}
    ax = plot_silhouette(VALUES, LABELS, palette=["red", "blue"], ax=plt.figure().gca())
    assert [to_hex(c.get_facecolor()[0]) for c in ax.collections] == \
        ["#ff0000", "#0000ff", "#ff0000"]


def test_kwargs_reach_the_bands():
    ax = plot_silhouette(VALUES, LABELS, alpha=0.3)
    assert all(c.get_alpha() == pytest.approx(0.3) for c in ax.collections)


def test_no_clustered_face_draws_a_message():
    ax = plot_silhouette([0.1, 0.2], [None, "figure-cluster-id-unavailable"])
    assert len(ax.collections) == 0
    assert [t.get_text() for t in ax.texts] == ["No face in a cluster: nothing to plot"]


def test_draws_on_the_current_axes_without_touching_global_style():
    before = dict(mpl.rcParams)
    fig, (ax1, ax2) = plt.subplots(1, 2)
    plt.sca(ax1)
    assert plot_silhouette(VALUES, LABELS) is ax1
    assert plot_silhouette(VALUES, LABELS, ax=ax2) is ax2
    assert dict(mpl.rcParams) == before


def test_agrees_with_scikit_learn_values():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    labels = np.array(["p", "q", "r"])[rng.integers(0, 3, 60)]
    values = sk_silhouette_samples(X, labels, metric="cosine")
    ax = plot_silhouette(values, labels)
    bands = {c.get_gid(): c for c in ax.collections}
    for cid in "pqr":
        v = values[labels == cid]
        xs = bands[cid].get_paths()[0].vertices[:, 0]
        assert xs.max() == pytest.approx(max(v.max(), 0.0))
        assert xs.min() == pytest.approx(min(v.min(), 0.0))
    assert ax.lines[-1].get_xdata()[0] == pytest.approx(values.mean())


def test_feeds_on_toolkit_quality_output():
    from toolkit.clustering import ClusterState
    from toolkit.quality import silhouette_samples, silhouette_score

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 6))
    ids = np.array(["Cluster-x", "Cluster-y", None], dtype=object)[rng.integers(0, 3, 40)]
    state = ClusterState.from_arrays(X, ids)
    ax = plot_silhouette(silhouette_samples(state), state.face_cluster_ids())
    assert sorted(c.get_gid() for c in ax.collections) == ["Cluster-x", "Cluster-y"]
    assert ax.lines[-1].get_xdata()[0] == pytest.approx(silhouette_score(state))
    assert f"{int((state.labels < 0).sum())} in no cluster excluded" in ax.get_title()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"values": [0.1, 0.2], "labels": ["a"]}, RecordError,
     "values and labels differ in length; field 'labels'; expected 2 labels"),
    ({"values": [0.1, 1.5], "labels": ["a", "b"]}, RecordError,
     r"object\[1\]: silhouette value out of range; field 'silhouette'; expected a value in "
     r"\[-1, 1\] or NaN, got 1.5"),
    ({"values": [0.1, np.inf], "labels": ["a", "b"]}, RecordError, "out of range"),
    ({"values": ["x", "y"], "labels": ["a", "b"]}, RecordError, "values are not numbers"),
    ({"values": [[0.1, 0.2]], "labels": ["a"]}, RecordError, "not a 1-D array"),
    ({"values": [0.1]}, TypeError, "`labels` is required"),
    ({"values": pd.DataFrame({"cluster_id": ["a"], "silhouette": [0.1]}), "labels": ["a"]},
     TypeError, "Pass `labels` only with an array"),
    ({"values": pd.DataFrame({"cluster": ["a"], "silhouette": [0.1]})}, RecordError,
     "`values` has no column 'cluster_id'"),
    ({"values": pd.DataFrame({"cluster_id": ["a", "b"], "size": [3, 4],
                              "silhouette": [0.1, 0.2]})}, ValueError,
     r"one row per cluster \(cluster_quality\)"),
    ({"values": [0.1], "labels": ["a"], "max_clusters": 1}, ValueError,
     "The value for `max_clusters` must be an integer of at least 2, but 1 was passed."),
    ({"values": [0.1], "labels": ["a"], "band_height": "tall"}, ValueError,
     r"The value for `band_height` must be one of \['size', 'equal'\], but 'tall'"),
    ({"values": [0.1], "labels": ["a"], "palette": ["nocolour"]}, ValueError,
     "The value for `palette` must be None, a colour or a list of colours"),
])
def test_bad_input_gets_a_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        plot_silhouette(**kwargs)


def test_big_bands_are_drawn_through_quantiles_keeping_the_extremes():
    rng = np.random.default_rng(3)
    values = rng.uniform(-0.5, 0.9, 5000)
    ax = plot_silhouette(values, ["big"] * 4000 + ["small"] * 1000)
    bands = {c.get_gid(): c.get_paths()[0].vertices for c in ax.collections}
    big = bands["big"]
    # 1,000 steps for 4,000 faces: as many vertices as the 1,000-face band, drawn in full.
    assert len(big) == len(bands["small"]) < 4 * 4000
    assert big[:, 0].min() == pytest.approx(values[:4000].min())
    assert big[:, 0].max() == pytest.approx(values[:4000].max())
    # The band keeps its full height: one unit per face.
    assert big[:, 1].max() - big[:, 1].min() == pytest.approx(4000)
