"""Tests of the task plots: timeline, state counts, durations, failure codes, history."""

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.colors import to_hex

from toolkit.errors import RecordError
from toolkit.plots import (STATE_COLORS, STATE_ORDER, plot_durations, plot_failure_codes,
                           plot_state_counts, plot_task_history, plot_task_timeline)
from toolkit.plots._tasks import _observations_from_history, _observations_from_tasks, _state_steps


def _t(hhmm):
    return pd.Timestamp(f"2025-03-02T{hhmm}:00Z")


def _num(hhmm):
    return mdates.date2num(np.datetime64(f"2025-03-02T{hhmm}:00"))


# Seven tasks; t4 was only created (no times). The latest time seen is 08:12 (t7's end).
TASKS = pd.DataFrame({
    "task_id": ["t1", "t2", "t3", "t4", "t5", "t6", "t7"],
    "task_type": ["FaceClustering", "FigureClustersMerging", "FaceClustering",
                  "FigureClustersMerging", "FaceClustering", "vias", "FigureClustersMerging"],
    "state": ["succeeded", "failed", "running", "pending", "failed", "stopped", "failed"],
    "start_time": [_t("08:00"), _t("08:02"), _t("08:05"), pd.NaT, _t("08:01"), _t("08:06"),
                   _t("08:07")],
    "end_time": [_t("08:10"), _t("08:03"), pd.NaT, pd.NaT, _t("08:04"), _t("08:08"),
                 _t("08:12")],
    "code": ["", "ResourceNotFound", None, None, "InvalidArgument", "", "ResourceNotFound"],
    "source": [f"tasks.jsonl:{i}" for i in range(1, 8)],
})
TASKS["duration"] = TASKS["end_time"] - TASKS["start_time"]


# ---- plot_task_timeline --------------------------------------------------------------

def _bars(ax):
    """(left, width, y, facecolour, hatch) per bar, sorted by y."""
    out = [(p.get_x(), p.get_width(), p.get_y() + p.get_height() / 2,
            to_hex(p.get_facecolor()), p.get_hatch()) for p in ax.patches]
    return sorted(out, key=lambda b: b[2])


def test_timeline_one_bar_per_placed_task_by_start_time():
    ax = plot_task_timeline(TASKS)
    assert len(ax.patches) == 6
    # By start: t1 08:00, t5 08:01, t2 08:02, t3 08:05, t6 08:06, t7 08:07, first at the top.
    assert [t.get_text() for t in ax.get_yticklabels()] == ["t1", "t5", "t2", "t3", "t6", "t7"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # y inverted: row 0 on top
    bars = _bars(ax)
    assert [b[0] for b in bars] == pytest.approx(
        [_num(h) for h in ["08:00", "08:01", "08:02", "08:05", "08:06", "08:07"]])
    # t1 ran 10 minutes: 10 / 1440 of a day.
    assert bars[0][1] == pytest.approx(10 / 1440)
    assert ax.get_title() == "Timeline of 6 tasks\n1 task(s) without a start time not shown"
    assert ax.get_xlabel() == "time (UTC)"


def test_timeline_colours_by_state_and_hatches_running_tasks_to_latest_time():
    ax = plot_task_timeline(TASKS)
    bars = _bars(ax)
    states = ["succeeded", "failed", "failed", "running", "stopped", "failed"]
    assert [b[3] for b in bars] == [to_hex(STATE_COLORS[s]) for s in states]
    t3 = bars[3]
    assert t3[4] == "//"
    assert t3[0] + t3[1] == pytest.approx(_num("08:12"))  # runs on to the latest time seen
    assert [b[4] for b in bars if b is not t3] == [None] * 5
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["running", "succeeded", "failed", "stopped",
                      "no end yet: drawn to the latest time seen"]


def test_timeline_plots_offset_times_in_utc():
    tasks = TASKS.iloc[:1].copy()
    tasks["start_time"] = pd.to_datetime(["2025-03-02T16:00:00+08:00"], utc=True)
    ax = plot_task_timeline(tasks)
    assert ax.patches[0].get_x() == pytest.approx(_num("08:00"))


def test_timeline_without_labels_past_max_labels():
    ax = plot_task_timeline(TASKS, max_labels=3)
    assert len(ax.get_yticklabels()) == 0
    assert ax.get_ylabel() == "6 tasks, by start time"


def test_timeline_leaves_out_tasks_ending_before_start_and_says_which():
    tasks = TASKS.copy()
    tasks.loc[0, "end_time"] = _t("07:00")
    ax = plot_task_timeline(tasks)
    assert len(ax.patches) == 5
    assert ax.get_title().endswith("1 task(s) ending before their start not shown "
                                   "(first: tasks.jsonl:1)")


def test_timeline_with_no_start_times_says_so():
    ax = plot_task_timeline(TASKS.iloc[[3]])
    assert len(ax.patches) == 0
    assert [t.get_text() for t in ax.texts] == ["No task to place in time"]


# ---- plot_state_counts ---------------------------------------------------------------

# Counts from TASKS (running from start, final state from end; t3 still running, t4 unplaced):
#         running succeeded failed stopped
# 08:00     1        0        0      0
# 08:01     2        0        0      0
# 08:02     3        0        0      0
# 08:03     2        0        1      0     t2 fails
# 08:04     1        0        2      0     t5 fails
# 08:05     2        0        2      0
# 08:06     3        0        2      0
# 08:07     4        0        2      0
# 08:08     3        0        2      1     t6 stops
# 08:10     2        1        2      1     t1 succeeds
# 08:12     1        1        3      1     t7 fails
TASK_COUNTS = [[1, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0], [2, 0, 1, 0], [1, 0, 2, 0],
               [2, 0, 2, 0], [3, 0, 2, 0], [4, 0, 2, 0], [3, 0, 2, 1], [2, 1, 2, 1],
               [1, 1, 3, 1]]


def _columns(counts, names):
    return counts[:, [STATE_ORDER.index(n) for n in names]].tolist()


def test_state_steps_from_tasks():
    obs, skipped = _observations_from_tasks(TASKS)
    assert skipped == 1  # t4
    times, counts = _state_steps(obs)
    assert [str(t)[11:16] for t in times] == ["08:00", "08:01", "08:02", "08:03", "08:04",
                                              "08:05", "08:06", "08:07", "08:08", "08:10",
                                              "08:12"]
    assert _columns(counts, ["running", "succeeded", "failed", "stopped"]) == TASK_COUNTS
    assert counts[:, STATE_ORDER.index("pending")].tolist() == [0] * 11


HISTORY = pd.DataFrame({
    "task_id": ["t1", "t1", "t1", "t1", "t2", "t2"],
    "observed_at": [_t("08:00"), _t("08:01"), _t("08:03"), _t("08:09"), _t("08:01"),
                    _t("08:03")],
    "status": ["", "Running", "Running", "Succeeded", "Running", "Failed"],
    "state": ["pending", "running", "running", "succeeded", "running", "failed"],
    "progress": pd.array([None, 10, 40, 100, None, None], dtype="Int64"),
    "source": [f"h.jsonl:{i}" for i in range(1, 7)],
})


def test_state_steps_from_history():
    obs, skipped = _observations_from_history(HISTORY)
    assert skipped == 0
    times, counts = _state_steps(obs)
    # 08:00 t1 pending; 08:01 t1 running, t2 running; 08:03 t2 fails (t1 stays running);
    # 08:09 t1 succeeds.
    assert [str(t)[11:16] for t in times] == ["08:00", "08:01", "08:03", "08:09"]
    assert _columns(counts, ["pending", "running", "succeeded", "failed"]) == [
        [1, 0, 0, 0], [0, 2, 0, 0], [0, 1, 0, 1], [0, 0, 1, 1]]


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 20),
                          st.sampled_from(STATE_ORDER)), min_size=1, max_size=40))
def test_state_steps_agree_with_a_direct_count(observations):
    history = pd.DataFrame({
        "task_id": [o[0] for o in observations],
        "observed_at": [_t("08:00") + pd.Timedelta(minutes=o[1]) for o in observations],
        "state": [o[2] for o in observations],
    })
    times, counts = _state_steps(_observations_from_history(history)[0])
    assert (counts >= 0).all()
    # At each change time, count directly: each task seen by then is in the state of its
    # latest observation (ties at one time: the last row, as a stable sort keeps them).
    for at, row in zip(times, counts):
        seen = history[history["observed_at"] <= pd.Timestamp(at, tz="UTC")]
        latest = seen.sort_values(["task_id", "observed_at"], kind="stable") \
            .groupby("task_id")["state"].last()
        expected = [int((latest == s).sum()) for s in STATE_ORDER]
        assert row.tolist() == expected


def test_state_counts_stacks_one_area_per_state_present():
    ax = plot_state_counts(TASKS)
    assert len(ax.collections) == 4
    assert [to_hex(c.get_facecolor()[0]) for c in ax.collections] == [
        to_hex(STATE_COLORS[s]) for s in ["running", "succeeded", "failed", "stopped"]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "running", "succeeded", "failed", "stopped"]
    assert ax.get_title() == ("Tasks by state over time (6 tasks, from start and end times)\n"
                              "1 task(s) without usable start or end time not counted")
    # The top of the stack reaches the 6 tasks placed by 08:12.
    top = ax.collections[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(6)


def test_state_counts_from_history_says_so():
    ax = plot_state_counts(HISTORY)
    assert ax.get_title() == "Tasks by state over time (2 tasks, from observed status)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "pending", "running", "succeeded", "failed"]


def test_state_counts_per_bin_counts_at_the_end_of_each_bin():
    ax = plot_state_counts(TASKS, freq="5min")
    # Bins [08:00, 08:05), [08:05, 08:10), [08:10, 08:15): counts after the last change in
    # each, i.e. the rows for 08:04, 08:08 and 08:12 above.
    heights = {c.get_label(): [b.get_height() for b in c] for c in ax.containers}
    assert heights == {"running": [1, 3, 1], "succeeded": [0, 0, 1], "failed": [2, 2, 3],
                       "stopped": [0, 1, 1]}
    lefts = [b.get_x() for b in ax.containers[0]]
    assert lefts == pytest.approx([_num("08:00"), _num("08:05"), _num("08:10")])
    bottoms = [b.get_y() for b in ax.containers[2]]  # failed sits on running + succeeded
    assert bottoms == [1, 3, 2]
    assert ax.get_title().endswith("counted at the end of each 5min bin")


@pytest.mark.parametrize("freq, n_bins", [("h", 1), ("D", 1), ("W", 1), ("MS", 1)])
def test_state_counts_calendar_frequencies(freq, n_bins):
    ax = plot_state_counts(TASKS, freq=freq)
    assert all(len(c) == n_bins for c in ax.containers)
    assert [b.get_height() for b in ax.containers[0]] == [1]  # running at the end: t3


def test_state_counts_bad_freq():
    with pytest.raises(ValueError, match=r"The value for `freq` must be a pandas frequency such "
                                         r"as '1h', 'D', 'W' or 'MS', or None, but "
                                         r"'fortnightly' was passed\."):
        plot_state_counts(TASKS, freq="fortnightly")


def test_state_counts_refuses_too_many_bins():
    # 08:00 to 08:12 in 10-second bins is 12 * 6 + 1 = 73 bins: drawn. In 1 ms bins it is
    # 12 * 60 * 1000 + 1 = 720,001 bins: refused.
    ax = plot_state_counts(TASKS, freq="10s")
    assert len(ax.containers[0]) == 73
    with pytest.raises(ValueError, match=r"The value for `freq` gives 720,001 bins .* at most "
                                         r"5,000 can be drawn\. Choose a coarser `freq`\."):
        plot_state_counts(TASKS, freq="1ms", ax=plt.figure().gca())


def test_state_counts_needs_history_or_tasks_columns():
    with pytest.raises(RecordError, match="`tasks` has no column 'start_time'"):
        plot_state_counts(pd.DataFrame({"task_id": ["a"], "state": ["running"]}))
    bad = HISTORY.copy()
    bad.loc[2, "observed_at"] = pd.NaT
    with pytest.raises(RecordError, match=r"h.jsonl:3: `history` has an observation without a "
                                          r"time; field 'observed_at'"):
        plot_state_counts(bad)


# ---- plot_durations ------------------------------------------------------------------

def test_durations_box_per_type_and_points_by_state():
    ax = plot_durations(TASKS)
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "FaceClustering", "FigureClustersMerging", "vias"]
    # Median of 3 finished durations 10, 1, 3, 2, 5 min is 3 min = 180 s: unit minutes.
    assert ax.get_ylabel() == "duration (min)"
    medians = [line for line in ax.lines if to_hex(line.get_color()) == "#000000"]
    # FaceClustering 10 and 3 -> 6.5; FigureClustersMerging 1 and 5 -> 3; vias 2.
    assert [line.get_ydata()[0] for line in medians] == pytest.approx([6.5, 3.0, 2.0])
    points = {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections}
    assert sorted(points) == ["failed", "stopped", "succeeded"]
    assert sorted(points["failed"][:, 1]) == pytest.approx([1.0, 3.0, 5.0])
    assert np.abs(points["succeeded"][:, 0] - 0).max() < 0.2  # jitter stays near its box
    assert ax.get_title() == "Durations of 5 finished tasks\n2 task(s) without a duration not shown"


@pytest.mark.parametrize("unit, factor", [("s", 60.0), ("min", 1.0), ("h", 1 / 60)])
def test_durations_unit(unit, factor):
    ax = plot_durations(TASKS, unit=unit)
    points = {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections}
    assert points["stopped"][0, 1] == pytest.approx(2.0 * factor)
    assert ax.get_ylabel() == f"duration ({unit})"


def test_durations_log_scale_and_negative_durations():
    tasks = TASKS.copy()
    tasks.loc[1, "duration"] = pd.Timedelta(seconds=-5)
    ax = plot_durations(tasks, log=True)
    assert ax.get_yscale() == "log"
    assert ax.get_title().endswith("1 task(s) with a negative duration not shown "
                                   "(first: tasks.jsonl:2)")


def test_durations_bad_input():
    with pytest.raises(ValueError, match=r"The value for `unit` must be one of \['s', 'min', "
                                         r"'h'\], but 'days' was passed\."):
        plot_durations(TASKS, unit="days")
    with pytest.raises(RecordError, match=r"tasks.jsonl:1: `tasks` column 'duration' does not "
                                          r"hold time spans; field 'duration'"):
        plot_durations(TASKS.assign(duration=[60.0] * 7))


# ---- plot_failure_codes --------------------------------------------------------------

def test_failure_codes_counted_most_frequent_on_top():
    ax = plot_failure_codes(TASKS)
    assert [p.get_width() for p in sorted(ax.patches, key=lambda p: p.get_y())] == [2, 1]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ResourceNotFound", "InvalidArgument"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]
    assert {to_hex(p.get_facecolor()) for p in ax.patches} == {to_hex(STATE_COLORS["failed"])}
    assert [t.get_text() for t in ax.texts] == ["2", "1"]
    assert ax.get_title() == "Error codes of 3 failed tasks"


def test_failure_codes_missing_code_and_max_codes():
    tasks = pd.DataFrame({"state": ["failed"] * 6,
                          "code": ["A", "B", "B", None, "", "C"]})
    # B 2, (no code) 2 (None and ""), A 1, C 1: ties by code text.
    ax = plot_failure_codes(tasks, max_codes=2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["(no code)", "B"]
    assert ax.get_title() == "Error codes of 6 failed tasks\n2 more code(s) not shown (2 tasks)"


def test_failure_codes_other_states_and_none_found():
    ax = plot_failure_codes(TASKS, states=["stopped"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["(no code)"]
    assert {to_hex(p.get_facecolor()) for p in ax.patches} == {to_hex(STATE_COLORS["stopped"])}
    ax = plot_failure_codes(TASKS[TASKS["state"] != "failed"], ax=plt.figure().gca())
    assert len(ax.patches) == 0
    assert [t.get_text() for t in ax.texts] == ["No failed task"]


@pytest.mark.parametrize("kwargs, match", [
    ({"max_codes": 0}, "The value for `max_codes` must be an integer of at least 1"),
    ({"states": ["broken"]}, r"The value for `states` must be one of \['pending', 'running'"),
])
def test_failure_codes_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_failure_codes(TASKS, **kwargs)


# ---- plot_task_history ---------------------------------------------------------------

def test_task_history_markers_by_state_and_progress_axis():
    ax = plot_task_history(HISTORY, "t1")
    assert ax.get_title() == "t1: 4 observations, 2 state changes"
    points = {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections}
    assert list(points) == ["pending", "running", "succeeded"]
    assert points["running"].tolist() == [[_num("08:01"), 1.0], [_num("08:03"), 1.0]]
    assert points["succeeded"][:, 1].tolist() == [2.0]
    for coll in ax.collections:
        assert to_hex(coll.get_facecolor()[0]) == to_hex(STATE_COLORS[coll.get_label()])
    assert [t.get_text() for t in ax.get_yticklabels()] == list(STATE_ORDER)
    step = ax.lines[0]
    assert step.get_drawstyle() == "steps-post"
    assert step.get_ydata().tolist() == [0, 1, 1, 2]
    twin = [a for a in ax.figure.axes if a is not ax]
    assert len(twin) == 1
    assert twin[0].lines[0].get_ydata().tolist() == [10, 40, 100]
    assert twin[0].get_ylabel() == "progress (%)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "pending", "running", "succeeded", "progress (%)"]
    assert ax.get_xlabel() == "observed at (UTC)"


def test_task_history_without_progress_has_no_second_axis():
    ax = plot_task_history(HISTORY, "t2")
    assert len(ax.figure.axes) == 1
    assert ax.get_title() == "t2: 2 observations, 1 state change"


def test_task_history_unknown_task():
    with pytest.raises(ValueError, match=r"Task 'zz' is not in `history` \(2 tasks, e.g. "
                                         r"\['t1', 't2'\]\)\."):
        plot_task_history(HISTORY, "zz")


# ---- shared behaviour ----------------------------------------------------------------

PLOTS = [
    (plot_task_timeline, TASKS), (plot_state_counts, TASKS), (plot_state_counts, HISTORY),
    (plot_durations, TASKS), (plot_failure_codes, TASKS),
    (lambda data, **kw: plot_task_history(data, "t1", **kw), HISTORY),
]


@pytest.mark.parametrize("plot, data", PLOTS)
def test_draws_on_current_or_given_axes_and_leaves_global_style(plot, data):
    before = dict(mpl.rcParams)
    fig, (a1, a2) = plt.subplots(1, 2)
    plt.sca(a1)
    assert plot(data) is a1
    assert plot(data, ax=a2) is a2
    assert dict(mpl.rcParams) == before


@pytest.mark.parametrize("plot, data", PLOTS)
def test_unknown_state_names_the_record(plot, data):
    bad = data.copy()
    bad["state"] = bad["state"].astype(object)
    bad.loc[0, "state"] = "Cancelled"
    source = bad["source"].iloc[0]
    with pytest.raises(RecordError, match=rf"{source}: `(tasks|history)` has an unknown state; "
                                          r"field 'state'; expected one of \['pending'"):
        plot(bad)


@pytest.mark.parametrize("plot", [plot_task_timeline, plot_durations, plot_failure_codes])
def test_non_frame_input_is_refused(plot):
    with pytest.raises(RecordError, match="`tasks` is not a DataFrame"):
        plot([{"task_id": "t1"}])


def test_text_times_are_refused():
    with pytest.raises(RecordError, match=r"tasks.jsonl:1: `tasks` column 'start_time' does not "
                                          r"hold datetimes"):
        plot_task_timeline(TASKS.assign(start_time=TASKS["start_time"].astype(str)))


def test_feeds_on_read_tasks():
    import toolkit as tk

    records = [
        {"TaskId": "t1", "TaskType": "FaceClustering", "Status": "Succeeded",
         "StartTime": "2025-03-02T08:00:00Z", "EndTime": "2025-03-02T16:10:00+08:00",
         "Code": "", "Message": ""},
        {"TaskId": "t2", "TaskType": "FigureClustersMerging", "Status": "Failed",
         "StartTime": "2025-03-02T08:01:00Z", "EndTime": "2025-03-02T08:02:00Z",
         "Code": "ResourceNotFound", "Message": "no such cluster"},
        {"TaskId": "t3", "TaskType": "FaceClustering", "Status": "Running",
         "StartTime": "2025-03-02T08:03:00Z"},
        {"RequestId": "r-1", "TaskId": "t4", "EventId": "e-1"},
    ]
    tasks = tk.read_tasks(records)
    ax = plot_task_timeline(tasks)
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["t1", "t2", "t3"]
    t1, t2, t3 = _bars(ax)
    # 16:10 at +08:00 is 08:10 UTC; t3 still runs, drawn to the latest time seen, t1's end.
    assert t1[0] + t1[1] == pytest.approx(_num("08:10"))
    assert t3[0] + t3[1] == pytest.approx(_num("08:10"))
    assert t3[4] == "//"
    assert t2[1] == pytest.approx(1 / 1440)
    assert [t.get_text() for t in plot_failure_codes(tasks, ax=plt.figure().gca())
            .get_yticklabels()] == ["ResourceNotFound"]
    assert plot_durations(tasks, ax=plt.figure().gca()).get_ylabel() == "duration (min)"
    assert len(plot_state_counts(tasks, ax=plt.figure().gca()).collections) == 3


def test_feeds_on_read_task_history():
    import toolkit as tk

    def snapshot(at, status, progress=None, end=None):
        body = {"TaskId": "t1", "TaskType": "FaceClustering", "Status": status,
                "StartTime": "2025-03-02T08:00:00Z"}
        if progress is not None:
            body["Progress"] = progress
        if end:
            body["EndTime"] = end
        return {"ObservedAt": at, "Response": body}

    history = tk.read_task_history([
        snapshot("2025-03-02T08:01:00Z", "Running", 10),
        snapshot("2025-03-02T08:05:00Z", "Running", 70),
        snapshot("2025-03-02T08:11:00Z", "Succeeded", end="2025-03-02T08:10:00Z"),
    ])
    ax = plot_task_history(history, "t1")
    assert ax.get_title() == "t1: 3 observations, 1 state change"
    assert [c.get_label() for c in ax.collections] == ["running", "succeeded"]
    twin = [a for a in ax.figure.axes if a is not ax][0]
    assert twin.lines[0].get_ydata().tolist() == [10, 70]
    ax = plot_state_counts(history, ax=plt.figure().gca())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["running", "succeeded"]


def test_task_history_of_one_instant_spans_minutes_not_years():
    import matplotlib.dates as mdates
    from toolkit.plots import plot_task_history

    history = pd.DataFrame({"task_id": ["t1"], "state": ["succeeded"],
                            "observed_at": pd.to_datetime(["2025-03-02T08:00Z"])})
    ax = plot_task_history(history, "t1")
    lo, hi = ax.get_xlim()
    assert 0 < (hi - lo) * 24 * 60 <= 3      # about two minutes
    assert mdates.num2date(lo).year == 2025


def test_task_history_of_a_few_seconds_is_not_padded_to_minutes():
    from toolkit.plots import plot_task_history

    history = pd.DataFrame({"task_id": ["t1", "t1"], "state": ["running", "succeeded"],
                            "observed_at": pd.to_datetime(["2025-03-02T08:00:00Z",
                                                           "2025-03-02T08:00:04Z"])})
    ax = plot_task_history(history, "t1")
    lo, hi = ax.get_xlim()
    assert (hi - lo) * 24 * 3600 < 10      # seconds, not minutes
