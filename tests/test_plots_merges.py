"""Tests of toolkit.plots.plot_quality_over_merges and plot_merge_impact."""

from dataclasses import dataclass
from typing import NamedTuple

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from toolkit.errors import RecordError
from toolkit.plots import VERDICT_COLORS, plot_merge_impact, plot_quality_over_merges

TIMELINE = pd.DataFrame({
    "step": [0, 1, 2, 3],
    "task_id": [None, "t1", "t2", "t3"],
    "silhouette": [0.31, 0.35, 0.22, 0.25],
    "n_clusters": [10, 9, 8, 7],
    "verdict": [None, "likely-correct", "likely-wrong", "suspicious"],
})
MERGES = pd.DataFrame({
    "task_id": ["t1", "t2", "tx", "t3", "ty"],
    "step": pd.array([1, 2, None, 3, None], dtype="Int64"),
    "outcome": ["applied", "applied", "failed", "applied", "vanished"],
    "verdict": ["likely-wrong", "likely-wrong", None, "likely-correct", None],
})


def _markers(ax):
    """Verdict -> (offsets, colour) of each verdict scatter."""
    return {c.get_label(): (np.asarray(c.get_offsets()), to_hex(c.get_facecolor()[0]))
            for c in ax.collections}


def test_silhouette_line_over_steps_with_verdict_markers():
    ax = plot_quality_over_merges(TIMELINE)
    assert len(ax.lines) == 1
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [0, 1, 2, 3])
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [0.31, 0.35, 0.22, 0.25])
    markers = _markers(ax)
    assert list(markers) == ["likely-correct", "suspicious", "likely-wrong"]  # table order
    assert markers["likely-wrong"][0].tolist() == [[2.0, 0.22]]
    for verdict, (_, colour) in markers.items():
        assert colour == to_hex(VERDICT_COLORS[verdict])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "global silhouette", "likely-correct", "suspicious", "likely-wrong"]
    assert ax.get_title() == "Cluster quality over 3 merges"
    assert ax.get_xlabel() == "merge step (0 = before any merge)"


def test_truth_figures_are_drawn_when_present():
    timeline = TIMELINE.assign(pairwise_f=[0.5, 0.6, 0.4, 0.45], bcubed_f=[0.55, 0.6, 0.5, 0.5])
    ax = plot_quality_over_merges(timeline)
    assert [line.get_label() for line in ax.lines] == [
        "global silhouette", "pairwise F (vs truth)", "BCubed F (vs truth)"]
    np.testing.assert_array_equal(ax.lines[2].get_ydata(), [0.55, 0.6, 0.5, 0.5])
    assert len({line.get_linestyle() for line in ax.lines}) == 3


def test_rows_are_drawn_in_step_order():
    ax = plot_quality_over_merges(TIMELINE.iloc[[2, 0, 3, 1]])
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [0.31, 0.35, 0.22, 0.25])


def test_verdicts_from_merges_frame_win_and_unapplied_merges_are_counted():
    ax = plot_quality_over_merges(TIMELINE, MERGES)
    markers = _markers(ax)
    assert list(markers) == ["likely-correct", "likely-wrong"]
    assert markers["likely-wrong"][0].tolist() == [[1.0, 0.35], [2.0, 0.22]]
    assert markers["likely-correct"][0].tolist() == [[3.0, 0.25]]
    assert ax.get_title() == ("Cluster quality over 3 merges\n"
                              "2 merge task(s) not applied: 1 failed, 1 vanished")


def test_an_audit_result_brings_timeline_and_merges():
    @dataclass
    class Result:
        timeline: pd.DataFrame
        merges: pd.DataFrame

    ax = plot_quality_over_merges(Result(TIMELINE, MERGES))
    assert list(_markers(ax)) == ["likely-correct", "likely-wrong"]


def test_without_verdicts_there_are_no_markers():
    ax = plot_quality_over_merges(TIMELINE.drop(columns="verdict"))
    assert len(ax.collections) == 0
    assert ax.get_title() == "Cluster quality over 3 merges"


def test_draws_on_current_axes_without_touching_global_style():
    before = dict(mpl.rcParams)
    fig, (a1, a2) = plt.subplots(1, 2)
    plt.sca(a2)
    assert plot_quality_over_merges(TIMELINE) is a2
    assert plot_merge_impact({"x_before": 1.0, "x_after": 2.0}, ax=a1) is a1
    assert dict(mpl.rcParams) == before


@pytest.mark.parametrize("timeline, merges, match", [
    (TIMELINE.drop(columns="silhouette"), None, "`timeline` has no column 'silhouette'"),
    (TIMELINE.assign(step=[0, 1, 1, 2]), None,
     r"object\[2\]: `timeline` has a step twice; field 'step'; expected one row per step, got 1"),
    (TIMELINE.assign(step=[0, 1, 2.5, 3]), None, "`timeline` has a step that is not an integer"),
    (TIMELINE.assign(verdict=[None, "ok", None, None], source=["a", "b", "c", "d"]), None,
     r"b: `timeline` has an unknown verdict; field 'verdict'; expected one of "
     r"\['likely-correct', 'suspicious', 'likely-wrong'\], got 'ok'"),
    (TIMELINE.assign(silhouette=["x", 0.1, 0.2, 0.3]), None,
     r"object\[0\]: `timeline` has a silhouette that is not a number"),
    (TIMELINE, MERGES.drop(columns="verdict"), "`merges` has no column 'verdict'"),
    (TIMELINE, MERGES.assign(step=pd.array([1, 2, None, 9, None], dtype="Int64")),
     r"`merges` has a step the timeline lacks; field 'step'; expected a step of the timeline "
     r"\(0..3\), got 9"),
])
def test_bad_timeline_or_merges_get_a_clear_error(timeline, merges, match):
    with pytest.raises(RecordError, match=match):
        plot_quality_over_merges(timeline, merges)


# ---- plot_merge_impact ---------------------------------------------------------------

IMPACT = {"merge_to": "Cluster-b", "silhouette_before": 0.42, "silhouette_after": 0.18,
          "cohesion_before": 0.61, "cohesion_after": 0.44, "drift": 0.07}


class ImpactTuple(NamedTuple):
    silhouette_before: float
    silhouette_after: float
    cohesion_before: float
    cohesion_after: float


@dataclass
class ImpactRecord:
    silhouette_before: float
    silhouette_after: float
    cohesion_before: float
    cohesion_after: float


def _heights(ax):
    return [[b.get_height() for b in container] for container in ax.containers]


@pytest.mark.parametrize("impact", [
    IMPACT, pd.Series(IMPACT), pd.DataFrame([IMPACT]),
    ImpactTuple(0.42, 0.18, 0.61, 0.44), ImpactRecord(0.42, 0.18, 0.61, 0.44),
])
def test_before_and_after_bars_for_each_pair(impact):
    ax = plot_merge_impact(impact)
    assert [c.get_label() for c in ax.containers] == ["before", "after"]
    assert _heights(ax) == [[0.42, 0.61], [0.18, 0.44]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["silhouette", "cohesion"]


def test_after_bars_show_value_and_change():
    ax = plot_merge_impact(IMPACT)
    # 0.18 - 0.42 = -0.24; 0.44 - 0.61 = -0.17.
    assert [t.get_text() for t in ax.texts] == ["0.42", "0.61", "0.18 (-0.24)", "0.44 (-0.17)"]
    assert ax.get_title() == "Merge into Cluster-b"


def test_missing_values_say_n_a():
    ax = plot_merge_impact({"silhouette_before": 0.42, "silhouette_after": None,
                            "delta_before": np.nan, "delta_after": 0.1})
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("n/a") == 2
    assert "0.1" in texts
    assert ax.get_title() == "Merge impact"


def test_metrics_choose_and_order_the_pairs():
    ax = plot_merge_impact(IMPACT, metrics=["cohesion"])
    assert _heights(ax) == [[0.61], [0.44]]
    with pytest.raises(ValueError, match=r"The value for `metrics` must name figures with both a "
                                         r"_before and an _after value, one of \['silhouette', "
                                         r"'cohesion'\], but 'drift' was passed\."):
        plot_merge_impact(IMPACT, metrics=["drift"])


@pytest.mark.parametrize("impact, error, match", [
    ({"drift": 0.1}, RecordError, r"object: `impact` has no before/after pair; field "
                                  r"'\*_before/\*_after'; expected keys such as "
                                  r"silhouette_before and silhouette_after, got \['drift'\]"),
    ({"x_before": "high", "x_after": 0.1}, RecordError,
     "merge impact figure is not a number; field 'x_before'; expected a number, got 'high'"),
    (pd.DataFrame([IMPACT, IMPACT]), ValueError, "must describe one merge, but a frame of 2 rows"),
    ([0.1, 0.2], TypeError, "`impact` must be a dict, Series, one-row DataFrame or dataclass"),
])
def test_bad_impact_gets_a_clear_error(impact, error, match):
    with pytest.raises(error, match=match):
        plot_merge_impact(impact)


def test_default_draws_scores_and_names_what_it_leaves_out():
    impact = {"to": "Cluster-a", "silhouette_before": 0.5, "silhouette_after": 0.6,
              "cohesion_before": {"Cluster-a": 0.8, "Cluster-c": np.nan}, "cohesion_after": 0.47,
              "pairwise_f_before": None, "pairwise_f_after": None,
              "nearer_to_feature_before": 0, "nearer_to_feature_after": 3,
              "size_before": 2.0, "size_after": 5.0}
    ax = plot_merge_impact(impact)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["silhouette"]
    first, rest = ax.get_title().split("\n", 1)
    assert first == "Merge into Cluster-a"
    assert " ".join(rest.split()) == (  # the second line wraps
        "not drawn: cohesion (not one number), pairwise_f (no value), "
        "nearer_to_feature (a count), size (beyond -1..1)")


def test_counts_alone_are_drawn():
    ax = plot_merge_impact({"faces_before": 12, "faces_after": 30})
    assert _heights(ax) == [[12], [30]]
    assert ax.get_title() == "Merge impact"


def test_metrics_draw_counts_but_refuse_per_cluster_values():
    impact = {"silhouette_before": 0.5, "silhouette_after": 0.6, "n_before": 4, "n_after": 9,
              "cohesion_before": {"a": 0.8}, "cohesion_after": 0.47}
    ax = plot_merge_impact(impact, metrics="n")
    assert _heights(ax) == [[4], [9]]
    with pytest.raises(RecordError, match="field 'cohesion_before'; expected a number"):
        plot_merge_impact(impact, metrics=["cohesion"], ax=plt.figure().gca())


def test_no_pair_of_numbers_is_an_error():
    with pytest.raises(RecordError, match=r"`impact` has no before/after pair of numbers.*"
                                          r"got 'cohesion \(not one number\)'"):
        plot_merge_impact({"cohesion_before": {"a": 0.8}, "cohesion_after": 0.4})


def test_feeds_on_toolkit_quality_merge_impact():
    from toolkit.clustering import ClusterState
    from toolkit.quality import merge_impact

    X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8], [0.6, -0.8]])
    state = ClusterState.from_arrays(X, ["a", "a", "b", "b", "c"])
    impact = merge_impact(state, "a", ["c"])
    ax = plot_merge_impact(impact)
    assert ax.get_title().startswith("Merge into a")
    drawn = [t.get_text().replace(" ", "_") for t in ax.get_xticklabels()]
    assert "silhouette" in drawn
    assert _heights(ax)[0][drawn.index("silhouette")] == pytest.approx(impact.silhouette_before)
    assert _heights(ax)[1][drawn.index("silhouette")] == pytest.approx(impact.silhouette_after)


def test_feeds_on_an_audit_result():
    import json

    import toolkit as tk
    from toolkit.audit import audit_merges

    rng = np.random.default_rng(4)
    people = rng.normal(size=(3, 16))
    layout = [("a1", 0, 6), ("a2", 0, 5), ("b", 1, 6), ("c", 2, 6)]
    X = np.vstack([people[p] + 0.3 * rng.normal(size=(n, 16)) for _, p, n in layout])
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    faces = pd.DataFrame({
        "face_id": [f"{c}-{i}" for c, _, n in layout for i in range(n)],
        "cluster_id": [c for c, _, n in layout for _ in range(n)],
        "dataset": "ds", "norm": 1.0})

    def task(task_id, to, source, end):
        request = {"ProjectName": "p", "DatasetName": "ds", "To": to, "From": source}
        return {"TaskId": task_id, "TaskType": "FigureClustersMerging", "Status": "Succeeded",
                "StartTime": end, "EndTime": end, "Code": "", "Message": "",
                "TaskRequestDefinition": json.dumps(request)}

    tasks = tk.read_tasks([task("t1", "a1", "a2", "2025-03-02T08:01:00Z"),
                           task("t2", "b", "c", "2025-03-02T08:02:00Z")])
    result = audit_merges(tk.FaceSet(faces, X), tasks)
    ax = plot_quality_over_merges(result)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), result.timeline["silhouette"])
    assert ax.get_title() == "Cluster quality over 2 merges"
    shown = {c.get_label(): c.get_offsets()[:, 0].tolist() for c in ax.collections}
    for step, verdict in zip(result.merges["step"], result.merges["verdict"]):
        assert step in shown[verdict]
    first = result.merges.iloc[[0]]
    ax = plot_merge_impact(first, ax=plt.figure().gca())
    assert ax.containers[0][0].get_height() == pytest.approx(first["silhouette_before"].iloc[0])
