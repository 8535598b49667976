"""Tests of toolkit.plots.plot_projection and plot_merge_projection."""

import sys
import types

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from sklearn.decomposition import PCA

from toolkit import FaceSet
from toolkit.clustering import ClusterState
from toolkit.errors import RecordError
from toolkit.plots import _style, plot_merge_projection, plot_projection

# Cluster sizes a=5, b=4, c=3, d=2, and 2 faces in no cluster: 16 faces.
LABELS = np.array(["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + [None, "figure-cluster-id-"
                                                                   "independent"], dtype=object)
X = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)


def _points(ax):
    """Legend label -> the scatter's offsets, for every scatter collection."""
    return {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections}


def _colour(ax, label):
    coll = next(c for c in ax.collections if c.get_label() == label)
    return to_hex(coll.get_facecolor()[0])


def test_top_n_largest_clusters_get_colours_the_rest_grey():
    ax = plot_projection(X, LABELS, top_n=2)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "in no cluster (2 faces)", "2 other clusters", "a (5 faces)", "b (4 faces)"]
    assert _colour(ax, "a (5 faces)") == to_hex(_style.CLUSTER_COLORS[0])
    assert _colour(ax, "b (4 faces)") == to_hex(_style.CLUSTER_COLORS[1])
    assert _colour(ax, "2 other clusters") == to_hex(_style.REST_COLOR)
    assert _colour(ax, "in no cluster (2 faces)") == to_hex(_style.NO_CLUSTER_COLOR)
    sizes = {k: len(v) for k, v in _points(ax).items()}
    assert sizes == {"in no cluster (2 faces)": 2, "2 other clusters": 5, "a (5 faces)": 5,
                     "b (4 faces)": 4}


def test_pca_coordinates_are_scikit_learns():
    ax = plot_projection(X, LABELS, top_n=4)
    coords = PCA(n_components=2, random_state=0).fit_transform(X)
    pts = _points(ax)
    np.testing.assert_allclose(pts["a (5 faces)"], coords[LABELS == "a"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pts["d (2 faces)"], coords[LABELS == "d"], rtol=1e-5, atol=1e-6)
    ratio = PCA(n_components=2).fit(X).explained_variance_ratio_
    assert ax.get_xlabel() == f"PC 1 ({ratio[0]:.1%} of variance)"
    assert ax.get_ylabel() == f"PC 2 ({ratio[1]:.1%} of variance)"
    assert ax.get_title() == "PCA of 16 faces in 4 clusters"


def test_highlight_replaces_top_n_and_keeps_its_order():
    ax = plot_projection(X, LABELS, highlight=["d", "b"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "in no cluster (2 faces)", "2 other clusters", "d (2 faces)", "b (4 faces)"]
    assert _colour(ax, "d (2 faces)") == to_hex(_style.CLUSTER_COLORS[0])


def test_top_n_zero_greys_every_cluster():
    ax = plot_projection(X, LABELS, top_n=0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "in no cluster (2 faces)", "4 other clusters"]


def test_more_than_eight_clusters_change_marker():
    labels = np.repeat([f"k{i}" for i in range(10)], 3)
    Xb = np.random.default_rng(1).normal(size=(30, 4))
    ax = plot_projection(Xb, labels, top_n=10)
    colls = ax.collections
    assert len(colls) == 10
    styles = {(to_hex(c.get_facecolor()[0]), c.get_paths()[0].vertices.tobytes())
              for c in colls}
    assert len(styles) == 10  # colour and marker together tell all ten apart


@pytest.mark.parametrize("make", ["state", "faceset", "array"])
def test_state_faceset_and_array_give_the_same_picture(make):
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    if make == "state":
        data, labels = ClusterState.from_arrays(X, LABELS), None
    elif make == "faceset":
        faces = pd.DataFrame({"face_id": [f"f{i}" for i in range(16)], "cluster_id": LABELS})
        data, labels = FaceSet(faces, unit.astype(np.float32)), None
    else:
        data, labels = unit.astype(np.float32), LABELS
    ax = plot_projection(data, labels, top_n=4)
    coords = PCA(n_components=2, random_state=0).fit_transform(unit.astype(np.float32))
    np.testing.assert_allclose(_points(ax)["c (3 faces)"], coords[LABELS == "c"], atol=1e-5)
    assert ax.get_title() == "PCA of 16 faces in 4 clusters"


def test_large_input_is_sampled_keeping_the_highlighted_cluster():
    rng = np.random.default_rng(2)
    labels = np.array(["big"] * 40 + [f"s{i:02d}" for i in range(26) for _ in range(10)])
    Xl = rng.normal(size=(300, 5))
    ax = plot_projection(Xl, labels, top_n=1, max_points=100)
    pts = _points(ax)
    assert len(pts["big (40 faces)"]) == 40
    assert sum(len(v) for v in pts.values()) == 100
    assert ax.get_title() == ("PCA of 300 faces in 27 clusters\n"
                              "100 faces shown (random sample, seed 0)")
    again = plot_projection(Xl, labels, top_n=1, max_points=100, ax=plt.figure().gca())
    np.testing.assert_array_equal(_points(again)["26 other clusters"], pts["26 other clusters"])


def test_tsne_is_deterministic_and_labelled():
    kws = {"max_iter": 250, "method": "exact"}  # the least work scikit-learn allows
    ax1 = plot_projection(X, LABELS, method="tsne", top_n=1, method_kws=kws)
    ax2 = plot_projection(X, LABELS, method="tsne", top_n=1, method_kws=kws,
                          ax=plt.figure().gca())
    assert ax1.get_xlabel() == "t-SNE 1"
    assert ax1.get_title() == "t-SNE of 16 faces in 4 clusters"
    np.testing.assert_array_equal(_points(ax1)["a (5 faces)"], _points(ax2)["a (5 faces)"])


def test_umap_used_when_installed(monkeypatch):
    seen = {}

    class UMAP:
        def __init__(self, **kwargs):
            seen.update(kwargs)

        def fit_transform(self, data):
            return np.asarray(data)[:, :2] * 2.0

    fake = types.ModuleType("umap")
    fake.UMAP = UMAP
    monkeypatch.setitem(sys.modules, "umap", fake)
    ax = plot_projection(X, LABELS, method="umap", top_n=1, method_kws={"n_neighbors": 5})
    assert seen == {"n_components": 2, "random_state": 0, "n_neighbors": 5}
    np.testing.assert_allclose(_points(ax)["a (5 faces)"], X[LABELS == "a", :2] * 2.0)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("UMAP 1", "UMAP 2")


def test_umap_missing_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # makes `import umap` fail
    with pytest.raises(ImportError, match=r"method='umap' needs the optional package umap-learn"):
        plot_projection(X, LABELS, method="umap")


def test_kwargs_reach_the_scatters_and_no_global_style_changes():
    before = dict(mpl.rcParams)
    ax = plot_projection(X, LABELS, top_n=1, alpha=0.5)
    assert all(c.get_alpha() == pytest.approx(0.5) for c in ax.collections)
    assert dict(mpl.rcParams) == before


@pytest.mark.parametrize("kwargs, error, match", [
    ({"method": "mds"}, ValueError, r"The value for `method` must be one of \['pca', 'tsne', "
                                    r"'umap'\], but 'mds' was passed\."),
    ({"top_n": -1}, ValueError, "The value for `top_n` must be an integer of at least 0"),
    ({"max_points": 2}, ValueError, "The value for `max_points` must be an integer of at least 3"),
    ({"highlight": ["zz"]}, ValueError, r"Cluster 'zz' in `highlight` is not a cluster of the data "
                                        r"\(4 clusters"),
    ({"labels": LABELS[:3]}, RecordError, "embeddings and labels differ in length"),
    ({"labels": None}, TypeError, "`labels` is required"),
    ({"data": X[0]}, RecordError, r"`data` is not a 2-D embedding matrix.*shape \(6,\)"),
    ({"data": X[:2], "labels": LABELS[:2]}, RecordError, "too small to project"),
    ({"data": np.where(np.arange(6) == 2, np.nan, X), "labels": LABELS}, RecordError,
     r"object\[0\]: embedding holds NaN or infinity"),
])
def test_bad_input_gets_a_clear_error(kwargs, error, match):
    args = {"data": X, "labels": LABELS, **kwargs}
    with pytest.raises(error, match=match):
        plot_projection(args.pop("data"), args.pop("labels"), **args)


def test_labels_are_refused_with_a_state():
    with pytest.raises(TypeError, match="Pass `labels` only with an embedding array"):
        plot_projection(ClusterState.from_arrays(X, LABELS), LABELS)


# ---- plot_merge_projection -------------------------------------------------------------

@pytest.fixture
def merge():
    state = ClusterState.from_arrays(X, LABELS)
    after, _ = state.merge("b", froms=["c", "d"])
    return state, after


def test_merge_projection_returns_a_figure_of_two_panels(merge):
    before, after = merge
    fig = plot_merge_projection(before, after, "b", ["c", "d"])
    assert isinstance(fig, mpl.figure.Figure)
    ax_b, ax_a = fig.axes
    assert ax_b.get_title() == "Before: 2 source clusters and b"
    assert ax_a.get_title() == "After: b (9 faces)"
    assert [t.get_text() for t in ax_b.get_legend().get_texts()] == [
        "in no cluster (2 faces)", "1 other cluster", "b (4 faces)", "c (3 faces)",
        "d (2 faces)"]
    assert [t.get_text() for t in ax_a.get_legend().get_texts()] == [
        "in no cluster (2 faces)", "1 other cluster", "b (9 faces)"]
    assert fig._suptitle.get_text() == "Merge into b (PCA of 16 faces)"


def test_merge_projection_fits_once_and_keeps_colours(merge):
    before, after = merge
    fig = plot_merge_projection(before, after, "b", ["c", "d"])
    ax_b, ax_a = fig.axes
    pb, pa = _points(ax_b), _points(ax_a)
    # Same projection: the merged cluster's points are the three clusters' points.
    merged_before = np.vstack([pb["b (4 faces)"], pb["c (3 faces)"], pb["d (2 faces)"]])
    assert sorted(map(tuple, pa["b (9 faces)"])) == sorted(map(tuple, merged_before))
    np.testing.assert_array_equal(pa["1 other cluster"], pb["1 other cluster"])
    assert _colour(ax_b, "b (4 faces)") == _colour(ax_a, "b (9 faces)")
    coords = PCA(n_components=2, random_state=0).fit_transform(before.embeddings)
    np.testing.assert_allclose(pb["c (3 faces)"], coords[LABELS == "c"], atol=1e-6)


def test_merge_projection_draws_on_given_axes_and_refuses_ax(merge):
    before, after = merge
    fig, axes = plt.subplots(2, 2)
    assert plot_merge_projection(before, after, "b", ["c", "d"], axes=axes[1]) is fig
    assert len(axes[1][0].collections) == 5 and len(axes[0][0].collections) == 0
    with pytest.raises(TypeError, match="figure-level.*takes no `ax=`"):
        plot_merge_projection(before, after, "b", ["c", "d"], ax=axes[0][0])


@pytest.mark.parametrize("to, sources, match", [
    ("zz", ["c"], r"Cluster 'zz' in `to/sources` is not a cluster of the data"),
    ("b", ["zz"], r"Cluster 'zz' in `to/sources`"),
    ("b", ["b"], "`to` 'b' is also among `sources`"),
    ("b", [], "`sources` must name at least one source cluster"),
])
def test_merge_projection_bad_clusters(merge, to, sources, match):
    before, after = merge
    with pytest.raises(ValueError, match=match):
        plot_merge_projection(before, after, to, sources)


def test_merge_projection_single_source_as_a_string(merge):
    before, _ = merge
    after, _ = before.merge("a", from_="d")
    fig = plot_merge_projection(before, after, "a", "d")
    assert [ax.get_title() for ax in fig.axes] == ["Before: 1 source cluster and a",
                                                   "After: a (7 faces)"]


def test_merge_projection_needs_to_in_the_after_state(merge):
    before, _ = merge
    after, _ = before.merge("a", from_="b")
    with pytest.raises(ValueError, match="`to` 'b' is not a cluster of `state_after`"):
        plot_merge_projection(before, after, "b", ["c"])


def test_merge_projection_refuses_states_of_other_faces(merge):
    before, _ = merge
    other = ClusterState.from_arrays(X[::-1], LABELS)
    with pytest.raises(ValueError, match="must hold the same faces and embeddings"):
        plot_merge_projection(before, other, "b", ["c"])
    with pytest.raises(TypeError, match="`state_after` must be a ClusterState"):
        plot_merge_projection(before, X, "b", ["c"])
    with pytest.raises(ValueError, match="The value for `axes` must|`axes` must hold two Axes"):
        plot_merge_projection(before, before, "b", ["c"], axes=[plt.gca()])


def test_merge_projection_reuses_a_precomputed_projection():
    import numpy as np
    from toolkit.clustering import ClusterState
    from toolkit.plots import plot_merge_projection, project

    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 6))
    state = ClusterState.from_arrays(X, ["a"] * 10 + ["b"] * 10 + ["c"] * 10)
    after, _ = state.merge("a", from_="b")
    coords, labels = project(state)
    fresh = plot_merge_projection(state, after, "a", ["b"])
    reused = plot_merge_projection(state, after, "a", ["b"], projection=(coords, labels))
    # Same points in the same places, whether fitted inside or passed in.
    got = np.concatenate([c.get_offsets() for c in reused.axes[0].collections])
    want = np.concatenate([c.get_offsets() for c in fresh.axes[0].collections])
    assert np.allclose(np.sort(got, axis=0), np.sort(want, axis=0))
    with pytest.raises(ValueError, match="shape"):
        plot_merge_projection(state, after, "a", ["b"], projection=(coords[:5], labels))
