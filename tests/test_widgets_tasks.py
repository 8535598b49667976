"""The task history dashboard, driven from Python: assign traits, read what it shows."""

import numpy as np
import pandas as pd
import pytest
from traitlets import TraitError

import toolkit as tk
from toolkit.widgets import TaskDashboard
from toolkit.widgets._task_view import MISSING, filter_tasks

from widget_cases import SCRIPT, SNAPSHOTS, TASKS


@pytest.fixture(scope="module")
def history():
    return tk.read_task_history(SNAPSHOTS)


def _kinds(output):
    return [o["output_type"] for o in output.outputs]


def _alts(output):
    return [o["data"]["text/plain"] for o in output.outputs if o["output_type"] == "display_data"]


# ------------------------------------------------------------------- task dashboard
@pytest.fixture(scope="module")
def mixed_tasks():
    # IMM tasks plus a Huawei batch and one of its tasks, with a task type missing.
    vias = [{"batch_task_list": [{"id": "batch-1", "name": "b", "created_at": 1740902400000,
                                  "num_task": 1, "batch_task_status_info": {"failed": 1}}]},
            {"batch_id": "batch-1", "tasks": [{"id": "cam-1", "name": "cam", "state": "FAILED",
                                               "created_at": "1740902400000",
                                               "error": {"code": "VIAS.1", "message": SCRIPT}}]}]
    frame = tk.read_tasks(TASKS + vias)
    return frame.assign(task_type=frame["task_type"].mask(frame["task_id"].eq("t-right")))


@pytest.fixture(scope="module")
def shared_task_board(mixed_tasks, history):
    return TaskDashboard(mixed_tasks, history)


@pytest.fixture
def task_board(shared_task_board):
    """One task dashboard for the module, with every filter open again before each test."""
    b = shared_task_board
    b.providers, b.task_types, b.states = (b.provider_filter.options, b.task_type_filter.options,
                                           b.state_filter.options)
    b.selected = 0
    return b


def test_task_dashboard_filters_and_tables(task_board, mixed_tasks):
    board = task_board
    assert board.providers == ("imm", "vias")
    assert board.states == tuple(s for s in tk.plots.STATE_ORDER
                                 if s in set(mixed_tasks["state"]))
    assert MISSING in board.task_types
    assert len(board.task_list.options) == len(mixed_tasks) == 7
    assert _kinds(board.plots_output) == ["display_data", "display_data"]
    board.providers = ("vias",)
    assert sorted(board.filtered["task_id"]) == ["batch-1", "cam-1"]
    assert "2 of 7 tasks" in board.summary.value
    board.task_types = (MISSING,)
    assert board.filtered.empty and board.selected is None
    assert "No task matches the filters." in board.table.value
    assert _kinds(board.plots_output) == ["stream"]


def test_task_dashboard_escapes_records(task_board, mixed_tasks):
    board = task_board
    board.selected = int(np.flatnonzero(mixed_tasks["task_id"].eq("cam-1"))[0])
    for value in (board.record.value, board.table.value):
        assert SCRIPT not in value and "&lt;script&gt;" in value
    board.selected = int(np.flatnonzero(mixed_tasks["task_id"].eq("t-failed"))[0])
    assert "&lt;b&gt;boom&lt;/b&gt;" in board.record.value and "<b>boom" not in board.record.value


def test_task_dashboard_shows_history_of_the_selected_task(task_board, mixed_tasks):
    board = task_board
    wrong = int(np.flatnonzero(mixed_tasks["task_id"].eq("t-wrong"))[0])
    board.task_list.value = wrong
    assert board.selected == wrong
    assert _alts(board.history_output) == ["<task status history>"]
    board.selected = int(np.flatnonzero(mixed_tasks["task_id"].eq("t-right"))[0])
    assert _kinds(board.history_output) == ["stream"]
    assert "the history has no observation of it" in board.history_output.outputs[0]["text"]


def test_task_dashboard_shows_a_plotting_error(mixed_tasks):
    broken = mixed_tasks.assign(state=mixed_tasks["state"].where(
        ~mixed_tasks["task_id"].eq("t-right"), "exploded"))
    board = TaskDashboard(broken)          # building does not raise: the error is shown
    assert _kinds(board.plots_output) == ["error"]
    assert board.plots_output.outputs[0]["ename"] == "RecordError"
    assert "exploded" in board.error


@pytest.mark.parametrize("kwargs, error, match", [
    ({"tasks": pd.DataFrame({"task_id": ["t"]})}, tk.RecordError, "has no column 'provider'"),
    ({"max_rows": 0}, ValueError, "`max_rows` must be an integer of at least 1"),
])
def test_task_dashboard_checks_its_arguments(mixed_tasks, kwargs, error, match):
    args = {"tasks": mixed_tasks, **kwargs}
    with pytest.raises(error, match=match):
        TaskDashboard(args.pop("tasks"), **args)


@pytest.mark.parametrize("trait, value, match", [
    ("states", ("exploded",), "must hold values among"),
    ("selected", 99, "row number from 0 to 6"),
])
def test_task_dashboard_refuses_invalid_traits(task_board, trait, value, match):
    with pytest.raises(TraitError, match=match):
        setattr(task_board, trait, value)


def test_filter_tasks_missing_values_pass_with_missing(mixed_tasks):
    out = filter_tasks(mixed_tasks, providers=("imm",), task_types=(MISSING,),
                       states=tuple(tk.plots.STATE_ORDER))
    assert out["task_id"].tolist() == ["t-right"]
