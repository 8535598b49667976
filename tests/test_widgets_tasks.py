"""The task history dashboard, driven from Python: set widget values and traits, read what it
shows."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from traitlets import TraitError

import toolkit as tk
from toolkit.widgets import TaskHistoryDashboard
from toolkit.widgets._task_view import (MISSING, filter_tasks, in_time_range, task_figures,
                                        task_request_html, time_grid, time_labels)

from widget_cases import SCRIPT, SNAPSHOTS, TASKS, _task

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
UTC = "2025-03-02T{}Z"


def _at(hhmm):
    return pd.Timestamp(UTC.format(hhmm))


def _kinds(output):
    return [o["output_type"] for o in output.outputs]


def _alts(output):
    return [o["data"]["text/plain"] for o in output.outputs if o["output_type"] == "display_data"]


def _row(tasks, task_id):
    return int(np.flatnonzero(tasks["task_id"].eq(task_id))[0])


@pytest.fixture(scope="module")
def history():
    return tk.read_task_history(SNAPSHOTS)


@pytest.fixture(scope="module")
def mixed_tasks():
    # The five IMM merges of widget_cases (08:01 to 08:06, t-pending running since 08:05) plus a
    # Huawei batch and its failed task, both created at 08:00 (1740902400000 ms) with no end
    # time; t-right's task type is missing. cam-1's input and error message hold a script.
    vias = [{"batch_task_list": [{"id": "batch-1", "name": "b", "created_at": 1740902400000,
                                  "num_task": 1, "batch_task_status_info": {"failed": 1}}]},
            {"batch_id": "batch-1", "tasks": [{"id": "cam-1", "name": "cam", "state": "FAILED",
                                               "created_at": "1740902400000",
                                               "input": {"video_source_name": SCRIPT},
                                               "error": {"code": "VIAS.1", "message": SCRIPT}}]}]
    frame = tk.read_tasks(TASKS + vias)
    return frame.assign(task_type=frame["task_type"].mask(frame["task_id"].eq("t-right")))


@pytest.fixture(scope="module")
def shared_board(mixed_tasks, history):
    return TaskHistoryDashboard(mixed_tasks, history)


@pytest.fixture
def board(shared_board):
    """One dashboard for the module, every filter open again and row 0 selected before each
    test."""
    b = shared_board
    b.providers, b.task_types, b.states = (b.provider_filter.options, b.task_type_filter.options,
                                           b.state_filter.options)
    b.time_range = None
    b.selected = 0
    return b


@pytest.fixture(scope="module")
def windowed_tasks():
    """Tasks around the window 08:10-08:20 (2025-03-02, UTC); 'timeless' has no time at all."""
    frame = tk.read_tasks([
        _task("early", "a", ["b"], start=UTC.format("08:00"), end=UTC.format("08:05")),
        _task("edge", "a", ["b"], start=UTC.format("08:05"), end=UTC.format("08:10")),
        _task("spans", "a", ["b"], start=UTC.format("08:05"), end=UTC.format("08:25")),
        _task("inside", "a", ["b"], start=UTC.format("08:12"), end=UTC.format("08:14")),
        _task("running", "a", ["b"], status="Running", start=UTC.format("08:15")),
        _task("running-late", "a", ["b"], status="Running", start=UTC.format("08:30")),
        _task("late", "a", ["b"], start=UTC.format("08:21"), end=UTC.format("08:30")),
        _task("timeless", "a", ["b"], end=UTC.format("08:40")),
    ])
    timeless = frame["task_id"].eq("timeless")
    return frame.assign(start_time=frame["start_time"].mask(timeless),
                        end_time=frame["end_time"].mask(timeless))


# ------------------------------------------------------------------ filters, one control each
@pytest.mark.parametrize("control, trait, value, expected", [
    ("provider_filter", "providers", ("vias",), {"batch-1", "cam-1"}),
    ("task_type_filter", "task_types", (MISSING,), {"t-right"}),
    # batch-1 is failed too: its one member task failed.
    ("state_filter", "states", ("failed",), {"t-failed", "cam-1", "batch-1"}),
    # Slider positions 3 and 4 of the instants 08:00, 08:01, ..., 08:06 = window 08:03-08:04.
    # t-wrong ends at 08:03 (ends included), t-failed runs 08:04-08:04: in. batch-1 and cam-1
    # failed, started at 08:00 with no end: the instant 08:00, out. t-right ended 08:01,
    # t-pending starts 08:05: out.
    ("time_filter", "index", (3, 4), {"t-wrong", "t-failed"}),
])
def test_each_control_filters_list_table_and_plots(board, mixed_tasks, control, trait, value,
                                                   expected):
    assert len(board.task_list.options) == len(mixed_tasks) == 7
    assert _alts(board.plots_output)[0] == "<task timeline: 7 tasks>"
    widget = getattr(board, control)
    if trait == "index":
        widget.index = value
        assert board.time_range == (_at("08:03"), _at("08:04"))
    else:
        widget.value = value
        assert getattr(board, trait) == value            # widget value -> trait
    assert set(board.filtered["task_id"]) == expected
    listed = [mixed_tasks["task_id"].iloc[i] for _, i in board.task_list.options]
    assert set(listed) == expected
    for task_id in set(mixed_tasks["task_id"]):
        assert (f">{task_id}<" in board.table.value) == (task_id in expected)
    plural = "s" if len(expected) > 1 else ""
    assert _alts(board.plots_output)[0] == f"<task timeline: {len(expected)} task{plural}>"
    assert f"{len(expected)} of 7 tasks" in board.summary.value
    assert mixed_tasks["task_id"].iloc[board.selected] in expected


def test_trait_moves_the_controls(board):
    board.states = ("failed",)
    assert board.state_filter.value == ("failed",)
    # 08:02:30 lies between slider instants 08:02 (position 2) and 08:03 (position 3); the
    # slider shows the smallest span of its instants holding the window: 08:02-08:05.
    board.time_range = (_at("08:02:30"), _at("08:04:30"))
    assert board.time_filter.index == (2, 5)
    assert board.time_filter.label == ("2025-03-02 08:02:00Z", "2025-03-02 08:05:00Z")
    board.time_range = None
    assert board.time_filter.index == (0, 6)


def test_emptying_the_filters_shows_no_task(board):
    board.providers = ("vias",)
    board.task_types = (MISSING,)      # t-right is the only typeless task, and it is IMM
    assert board.filtered.empty and board.selected is None
    assert "No task matches the filters." in board.table.value
    assert _kinds(board.plots_output) == ["stream"]
    assert "No task passes the filters." in board.record.value
    assert board.transitions.value == "" and board.history_output.outputs == ()


def test_controls_carry_css_classes(board):
    assert "tk-provider-filter" in board.provider_filter._dom_classes
    assert "tk-type-filter" in board.task_type_filter._dom_classes
    assert "tk-state-filter" in board.state_filter._dom_classes
    assert "tk-time-filter" in board.time_filter._dom_classes
    assert "tk-task-list" in board.task_list._dom_classes
    records = [w for w in board.children[6].children if "tk-task-record" in w._dom_classes]
    assert len(records) == 1 and board.record in records[0].children[1].children[0].children


# ------------------------------------------------------------------------- the time window
def test_time_window_keeps_overlapping_tasks(windowed_tasks):
    # Window 08:10-08:20, both ends included:
    #   early 08:00-08:05 ends 5 min before the window           -> out
    #   edge 08:05-08:10 ends exactly at its start               -> in
    #   spans 08:05-08:25 covers it                              -> in
    #   inside 08:12-08:14                                       -> in
    #   running since 08:15, no end (open)                       -> in
    #   running-late since 08:30 starts 10 min after its end     -> out
    #   late 08:21-08:30 starts 1 min after its end              -> out
    #   timeless has no time: only the full range lets it pass   -> out
    keep = in_time_range(windowed_tasks, (_at("08:10"), _at("08:20")))
    assert windowed_tasks["task_id"][keep].tolist() == ["edge", "spans", "inside", "running"]
    assert in_time_range(windowed_tasks, None).all()
    # A window of one instant: 08:14 is inside 'spans' (08:05-08:25), the end of 'inside',
    # and after the start of 'running' (08:15 > 08:14, out).
    one = in_time_range(windowed_tasks, (_at("08:14"), _at("08:14")))
    assert windowed_tasks["task_id"][one].tolist() == ["spans", "inside"]


def test_time_window_through_the_dashboard(windowed_tasks):
    board = TaskHistoryDashboard(windowed_tasks)
    # Distinct start and end times: 08:00 08:05 08:10 08:12 08:14 08:15 08:21 08:25 08:30.
    assert time_labels(board.time_grid) == [f"2025-03-02 {t}:00Z" for t in (
        "08:00", "08:05", "08:10", "08:12", "08:14", "08:15", "08:21", "08:25", "08:30")]
    assert len(board.filtered) == 8                      # full range: 'timeless' passes too
    board.time_range = ("2025-03-02T08:10Z", "2025-03-02T16:20+08:00")   # = 08:10-08:20 UTC
    assert board.time_range == (_at("08:10"), _at("08:20"))
    assert board.filtered["task_id"].tolist() == ["edge", "spans", "inside", "running"]
    # 08:10 is position 2; 08:20 is no instant, the next one is 08:21 at position 6.
    assert board.time_filter.index == (2, 6)
    assert "4 of 8 tasks" in board.summary.value and "08:10:00+00:00" in board.summary.value
    board.time_filter.index = (6, 8)                     # drag to 08:21-08:30
    # spans (to 08:25), running (open), running-late (from 08:30), late (08:21-08:30)
    # Rows in start order.
    assert board.filtered["task_id"].tolist() == ["spans", "running", "late", "running-late"]
    board.time_filter.index = (0, 8)                     # both ends: the full range again
    assert board.time_range is None and len(board.filtered) == 8
    board.time_range = (_at("07:00"), _at("09:00"))      # holds every task time: full range
    assert board.time_range is None
    assert board.error == ""


def test_time_labels_show_digits_only_where_needed():
    grid = pd.DatetimeIndex([_at("08:00:00"), _at("08:00:00.001"), _at("08:01")])
    # Seconds would read 08:00:00 twice; milliseconds tell them apart.
    assert time_labels(grid) == ["2025-03-02 08:00:00.000Z", "2025-03-02 08:00:00.001Z",
                                 "2025-03-02 08:01:00.000Z"]


def test_time_grid_is_thinned_evenly(windowed_tasks):
    grid = time_grid(windowed_tasks, max_steps=3)
    # Nine instants, ranks 0, 4, 8 kept: 08:00, 08:14, 08:30.
    assert grid.tolist() == [_at("08:00"), _at("08:14"), _at("08:30")]


def test_tasks_without_times_disable_the_slider(windowed_tasks):
    timeless = windowed_tasks.assign(start_time=pd.NaT, end_time=pd.NaT)
    board = TaskHistoryDashboard(timeless)
    assert board.time_filter.disabled and len(board.time_grid) == 0
    board.time_range = (_at("08:10"), _at("08:20"))      # nothing to narrow: the full range
    assert board.time_range is None and len(board.filtered) == 8


def test_timeline_draws_the_window(windowed_tasks):
    full = task_figures(windowed_tasks)[0][0].axes[0]
    drawn = task_figures(windowed_tasks, time_range=(_at("08:10"), _at("09:50")))
    ax = drawn[0][0].axes[0]
    assert drawn[0][1] == "task timeline: 8 tasks"
    assert [line.get_linestyle() for line in ax.lines] == ["--", "--"]
    # The 09:50 edge lies past every task: it does not widen the axis.
    assert ax.get_xlim() == pytest.approx(full.get_xlim())


@pytest.mark.parametrize("value, match", [
    (("2025-03-02T08:00", "2025-03-02T09:00Z"), "start '2025-03-02T08:00' has no time zone"),
    ((_at("09:00"), _at("08:00")), "is after its end"),
    ("2025-03-02T08:00Z", r"must be None or a pair \(start, end\)"),
    ((_at("08:00"),), r"must be None or a pair \(start, end\)"),
    (("yesterday", _at("08:00")), "start 'yesterday' is not a time"),
    ((_at("08:00"), None), "Its end is missing"),
    (42, "must be None or a pair"),
])
def test_bad_time_ranges_are_refused(board, value, match):
    board.time_range = (_at("08:01"), _at("08:02"))
    with pytest.raises(TraitError, match=match):
        board.time_range = value
    assert board.time_range == (_at("08:01"), _at("08:02"))     # unchanged


@pytest.mark.parametrize("trait, value, match", [
    ("states", ("exploded",), "must hold values among"),
    ("providers", ("aws",), r"`providers` must hold values among \['imm', 'vias'\]"),
    ("selected", 99, "row number from 0 to 6"),
])
def test_bad_filter_values_are_refused(board, trait, value, match):
    with pytest.raises(TraitError, match=match):
        setattr(board, trait, value)


# ---------------------------------------------------------------------------- drilling in
def test_drill_in_shows_request_and_error_escaped(board, mixed_tasks):
    board.task_list.value = _row(mixed_tasks, "cam-1")          # a click in the list
    assert board.task_list.value == board.selected == _row(mixed_tasks, "cam-1")
    for view in (board.error_view, board.request_view, board.record, board.table):
        assert SCRIPT not in view.value and "&lt;script&gt;" in view.value
    assert "video_source_name" in board.request_view.value
    assert "VIAS.1" in board.error_view.value and "cam-1 failed" in board.error_view.value
    board.selected = _row(mixed_tasks, "t-failed")
    error = board.error_view.value
    assert tk.plots.STATE_COLORS["failed"] in error             # highlighted in the failed colour
    assert "InternalError" in error
    assert "&lt;b&gt;boom&lt;/b&gt;" in error and "<b>boom" not in error
    # The TaskRequestDefinition, indented, keys sorted.
    assert board.request_view.value.index("&quot;DatasetName&quot;: &quot;ds1&quot;") < \
        board.request_view.value.index("&quot;To&quot;: &quot;c&quot;")
    board.selected = _row(mixed_tasks, "t-right")
    assert board.error_view.value.count("No error (state: succeeded).") == 1
    assert tk.plots.STATE_COLORS["failed"] not in board.error_view.value


@pytest.mark.parametrize("request_value, shown", [
    (None, "No request recorded for task t."),
    ({}, "No request recorded for task t."),
    (float("nan"), "No request recorded for task t."),
    # A request kept as text (not JSON) is shown as it is, escaped.
    ("<To>a</To>", "&lt;To&gt;a&lt;/To&gt;</pre>"),
    ({"b": [1, 2], "a": "<x>"}, '{\n  &quot;a&quot;: &quot;&lt;x&gt;&quot;,\n  &quot;b&quot;: [\n'),
])
def test_request_view_of_any_request(request_value, shown):
    assert shown in task_request_html(pd.Series({"task_id": "t", "request": request_value}))


def test_drill_in_shows_status_history(board, mixed_tasks):
    board.selected = _row(mixed_tasks, "t-wrong")
    assert _alts(board.history_output) == ["<task status history>"]
    table = board.transitions.value
    # Observed running at 08:02:30, succeeded at 08:03:05: first state plus one change.
    assert "2 observations, 1 state change." in table
    assert table.index("(first observation)") < table.index("08:02:30") < \
        table.index("08:03:05")
    board.selected = _row(mixed_tasks, "t-right")
    assert _kinds(board.history_output) == ["stream"]
    assert "the history has no observation of it" in board.history_output.outputs[0]["text"]
    assert board.transitions.value == ""


# -------------------------------------------------------------------------------- errors
def test_a_plotting_error_is_shown_and_kept(mixed_tasks):
    broken = mixed_tasks.assign(state=mixed_tasks["state"].where(
        ~mixed_tasks["task_id"].eq("t-right"), "exploded"))
    board = TaskHistoryDashboard(broken)          # building does not raise: the error is shown
    assert _kinds(board.plots_output) == ["error"]
    assert board.plots_output.outputs[0]["ename"] == "RecordError"
    assert "exploded" in board.error
    board.states = tuple(s for s in board.states if s != "exploded")   # the next action clears it
    assert board.error == "" and _kinds(board.plots_output) == ["display_data"] * 2


def test_a_history_plotting_error_is_shown_and_kept(mixed_tasks, history):
    bad = history.assign(state=history["state"].where(history["state"].ne("running"), "lost"))
    board = TaskHistoryDashboard(mixed_tasks, bad)
    board.selected = _row(mixed_tasks, "t-wrong")
    assert _kinds(board.history_output) == ["error"]
    assert "lost" in board.error and board.error.startswith("RecordError: ")
    assert board.transitions.value == ""              # no table under the error
    assert "t-wrong" in board.record.value            # the rest of the drill-in is shown
    board.selected = _row(mixed_tasks, "t-right")
    assert board.error == ""


@pytest.mark.parametrize("kwargs, error, match", [
    ({"tasks": pd.DataFrame({"task_id": ["t"]})}, tk.RecordError, "has no column 'provider'"),
    ({"tasks": [1, 2]}, tk.RecordError, "`tasks` is not a DataFrame"),
    ({"history": pd.DataFrame({"task_id": ["t"]})}, tk.RecordError,
     "`history` has no column 'observed_at'"),
    ({"max_rows": 0}, ValueError, "`max_rows` must be an integer of at least 1"),
])
def test_arguments_are_checked(mixed_tasks, kwargs, error, match):
    args = {"tasks": mixed_tasks, **kwargs}
    with pytest.raises(error, match=match):
        TaskHistoryDashboard(args.pop("tasks"), **args)


def test_time_columns_must_hold_datetimes(mixed_tasks):
    text_times = mixed_tasks.assign(end_time=mixed_tasks["end_time"].astype(str))
    with pytest.raises(tk.RecordError, match=r"object\[0\]: `tasks` column 'end_time' does not "
                                             "hold datetimes"):
        TaskHistoryDashboard(text_times)


def test_filter_tasks_missing_values_pass_with_missing(mixed_tasks):
    out = filter_tasks(mixed_tasks, providers=("imm",), task_types=(MISSING,),
                       states=tuple(tk.plots.STATE_ORDER))
    assert out["task_id"].tolist() == ["t-right"]


# ---------------------------------------------------------------------------- sample data
def test_sample_data(tmp_path):
    tasks = tk.read_tasks([SAMPLE / "tasks", SAMPLE / "huawei"])
    history = tk.read_task_history(SAMPLE / "tasks")
    board = TaskHistoryDashboard(tasks, history)
    assert board.error == "" and len(board.filtered) == len(tasks)
    board.state_filter.value = ("failed",)
    failed = tasks[tasks["state"].eq("failed")]
    assert board.filtered["task_id"].tolist() == failed["task_id"].tolist()
    assert set(failed["provider"]) == {"imm", "vias"}
    # Drill into the first failed IMM merge: its code highlighted, its history tabled.
    first = int(failed.index[failed["provider"].eq("imm")][0])
    board.selected = first
    assert tasks.at[first, "code"] in board.error_view.value
    assert tk.plots.STATE_COLORS["failed"] in board.error_view.value
    assert "&quot;Froms&quot;" in board.request_view.value
    assert "state change" in board.transitions.value
    # A window over the IMM tasks' busiest hours, checked with plain pandas: a task passes
    # when it starts by the window's end and ends from its start; an unknown end is open for a
    # pending or running task and the start for one that ended.
    board.states = board.state_filter.options
    lo, hi = pd.Timestamp("2025-03-01T08:00Z"), pd.Timestamp("2025-03-01T09:00Z")
    board.time_range = (lo, hi)
    start = tasks["start_time"]
    ended = ~tasks["state"].isin(["pending", "running"])
    end = tasks["end_time"].mask(tasks["end_time"].isna() & ended, start)
    expected = ((start.isna() | (start <= hi)) & (end.isna() | (end >= lo))
                & ~(start.isna() & end.isna()))
    assert board.filtered["task_id"].tolist() == tasks.loc[expected, "task_id"].tolist()
    assert 0 < len(board.filtered) < len(tasks)
    assert board.error == ""
