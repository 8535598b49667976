"""What the task dashboard shows, as plain functions of a tasks frame.

Input checks, filters, labels, escaped HTML and figures. No widget is
imported here; :class:`~toolkit.widgets.TaskDashboard` calls these.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import plots
from ..errors import RecordError
from ._html import cell_text, field_table, html_table, note
from ._render import new_figure

__all__ = ["MISSING", "FILTER_COLUMNS", "check_tasks", "check_history", "filter_options",
           "filter_tasks", "task_label", "tasks_table_html", "task_record_html", "task_figures",
           "history_of", "history_figure", "tasks_summary_html"]

#: Filter option standing for a missing value (a task without a task type).
MISSING = "(missing)"
#: The columns the task dashboard filters on, with the trait holding each filter.
FILTER_COLUMNS = {"providers": "provider", "task_types": "task_type", "states": "state"}

_TASK_COLUMNS = ("provider", "task_id", "task_type", "state")
_HISTORY_COLUMNS = ("task_id", "observed_at", "state")
_TABLE_COLUMNS = ["provider", "task_id", "task_type", "status", "state", "start_time",
                  "end_time", "duration", "progress", "code", "message", "user_data", "batch_id"]


def _require(frame: Any, columns: Sequence[str], arg: str, expected: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise RecordError("object", f"`{arg}` is not a DataFrame", field=arg,
                          expected=expected, got=type(frame).__name__)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RecordError("object", f"`{arg}` has no column {missing[0]!r}", field=missing[0],
                          expected=f"{expected} with columns {list(columns)}",
                          got=[str(c) for c in frame.columns])
    return frame


def check_tasks(tasks: Any, *, arg: str = "tasks") -> pd.DataFrame:
    """``tasks`` if it is a tasks frame (:func:`toolkit.read_tasks`), else a RecordError."""
    return _require(tasks, _TASK_COLUMNS, arg, "a tasks frame (read_tasks)")


def check_history(history: Any) -> pd.DataFrame:
    """``history`` if it is a task history frame, else a RecordError."""
    return _require(history, _HISTORY_COLUMNS, "history",
                    "a task history frame (read_task_history)")


def _values(tasks: pd.DataFrame, column: str) -> pd.Series:
    values = tasks[column].astype(object)
    return values.where(values.notna(), MISSING).astype(str)


def filter_options(tasks: pd.DataFrame, column: str) -> tuple[str, ...]:
    """The distinct values of ``column``; states in :data:`toolkit.plots.STATE_ORDER`,
    others sorted, :data:`MISSING` last."""
    present = set(_values(tasks, column))
    first = [s for s in plots.STATE_ORDER if s in present] if column == "state" else []
    rest = sorted(present - set(first) - {MISSING})
    return tuple(first + rest + ([MISSING] if MISSING in present else []))


def filter_tasks(tasks: pd.DataFrame, *, providers: Sequence[str], task_types: Sequence[str],
                 states: Sequence[str]) -> pd.DataFrame:
    """The tasks whose provider, task type and state are each among the values given.

    A missing value passes when its filter holds :data:`MISSING`. The frame's
    order and index are kept.
    """
    keep = np.ones(len(tasks), dtype=bool)
    for column, chosen in (("provider", providers), ("task_type", task_types),
                           ("state", states)):
        keep &= _values(tasks, column).isin(list(chosen)).to_numpy(dtype=bool)
    return tasks[keep]


def task_label(row: pd.Series) -> str:
    """One line naming a task in the selection list: provider, state, type, id."""
    kind = row["task_type"] if isinstance(row["task_type"], str) else MISSING
    return f"{row['provider']:<5} {row['state']:<10} {kind:<22} {row['task_id']}"


def tasks_table_html(tasks: pd.DataFrame, selected: Any = None, *, max_rows: int = 200) -> str:
    """The tasks as an escaped HTML table, each row tinted by its state."""
    if tasks.empty:
        return note("No task matches the filters.")
    colors = [plots.STATE_COLORS.get(s) for s in tasks["state"].astype(object)]
    bold = (tasks.index == selected).tolist() if selected is not None else None
    return html_table(tasks, _TABLE_COLUMNS, row_colors=colors, bold_rows=bold,
                      max_rows=max_rows, max_height="320px")


def task_record_html(row: pd.Series) -> str:
    """Every known field of one task, escaped; empty fields are left out."""
    fields = [(name, value) for name, value in row.items() if cell_text(value) not in ("", "{}")]
    return field_table(fields)


def history_of(history: pd.DataFrame | None, row: pd.Series) -> pd.DataFrame | None:
    """The observations of the task in ``row``, or None when there are none.

    Ids are matched within the task's provider when the history says which
    provider observed it (a Huawei task may share an id with an IMM one).
    """
    if history is None or history.empty:
        return None
    mine = history["task_id"].astype(object) == row["task_id"]
    if "provider" in history.columns:
        provider = history["provider"].astype(object)
        mine &= provider.isna() | (provider == row["provider"])
    mine = mine.to_numpy(dtype=bool)
    return history[mine] if mine.any() else None


def history_figure(history: pd.DataFrame, task_id: str):
    """The status history plot of one task, on a Figure of its own."""
    fig, ax = new_figure(7.0, 3.2)
    plots.plot_task_history(history, task_id, ax=ax)
    return fig


def task_figures(tasks: pd.DataFrame, history: pd.DataFrame | None = None
                 ) -> list[tuple[Any, str]]:
    """The figures of a set of tasks, as ``(Figure, description)`` pairs.

    A timeline (one bar per task), then side by side: task counts per state
    over time, durations per task type, and the error codes of failed tasks.
    The counts come from ``history`` when it observed every one of these
    tasks (observed statuses are exact), else from the tasks' start and end
    times, so that no task is left out of the count.
    """
    if tasks.empty:
        return []
    height = max(3.0, min(8.0, 0.15 * len(tasks) + 1.0))
    fig, ax = new_figure(10.0, height)
    plots.plot_task_timeline(tasks, ax=ax)
    out = [(fig, "task timeline")]
    counts_from = tasks
    if history is not None and len(history):
        ids = tasks["task_id"].astype(object)
        observed = history[history["task_id"].astype(object).isin(ids.tolist())]
        if ids.isin(observed["task_id"].astype(object).tolist()).all():
            counts_from = observed
    fig, axes = new_figure(15.0, 4.0, ncols=3)
    plots.plot_state_counts(counts_from, ax=axes[0])
    plots.plot_durations(tasks, ax=axes[1])
    plots.plot_failure_codes(tasks, ax=axes[2])
    for ax in axes:
        ax.title.set_fontsize(9)
    out.append((fig, "task states over time, durations, failure codes"))
    return out


def tasks_summary_html(tasks: pd.DataFrame, shown: pd.DataFrame) -> str:
    """One escaped line: how many tasks pass the filters, by provider and state."""
    by_state = ", ".join(f"{n} {s}" for s, n in shown["state"].astype(str).value_counts()
                         .sort_index().items())
    by_provider = ", ".join(f"{n} {p}" for p, n in shown["provider"].astype(str).value_counts()
                            .sort_index().items())
    text = f"{len(shown):,} of {len(tasks):,} tasks"
    if len(shown):
        text += f" ({by_provider}; {by_state})"
    return note(text + ".")
