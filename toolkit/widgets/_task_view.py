"""What the task history dashboard shows, as plain functions of a tasks frame.

Input checks, filters (provider, type, state and a time window), labels,
escaped HTML and figures. No widget is imported here;
:class:`~toolkit.widgets.TaskHistoryDashboard` calls these.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import plots
from ..errors import RecordError
from ..io import task_transitions
from ..plots._inputs import require_frame
from ._html import alert, cell_text, field_table, html_table, json_block, note
from ._render import new_figure

__all__ = ["MISSING", "FILTER_COLUMNS", "MAX_TIME_STEPS", "check_tasks", "check_history",
           "filter_options", "filter_tasks", "task_times", "time_grid", "time_labels",
           "check_time_range", "covers", "in_time_range", "task_label", "tasks_table_html",
           "task_record_html", "task_request_html", "task_error_html", "history_of",
           "history_figure", "transitions_html", "task_figures", "tasks_summary_html"]

#: Filter option standing for a missing value (a task without a task type).
MISSING = "(missing)"
#: The columns the task dashboard filters on, with the trait holding each filter.
FILTER_COLUMNS = {"providers": "provider", "task_types": "task_type", "states": "state"}

_TASK_COLUMNS = ("provider", "task_id", "task_type", "state", "start_time", "end_time")
#: Most positions of the time slider: past this many distinct task times, evenly spaced ones.
MAX_TIME_STEPS = 500
_HISTORY_COLUMNS = ("task_id", "observed_at", "state")
_TABLE_COLUMNS = ["provider", "task_id", "task_type", "status", "state", "start_time",
                  "end_time", "duration", "progress", "code", "message", "user_data", "batch_id"]


def check_tasks(tasks: Any, *, arg: str = "tasks") -> pd.DataFrame:
    """``tasks`` if it is a tasks frame (:func:`toolkit.read_tasks`), else a RecordError."""
    return require_frame(tasks, _TASK_COLUMNS, arg=arg, expected="a tasks frame (read_tasks)")


def check_history(history: Any) -> pd.DataFrame:
    """``history`` if it is a task history frame, else a RecordError."""
    return require_frame(history, _HISTORY_COLUMNS, arg="history",
                         expected="a task history frame (read_task_history)")


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


def filter_tasks(tasks: pd.DataFrame, *, providers: Sequence[str] | None = None,
                 task_types: Sequence[str] | None = None, states: Sequence[str] | None = None,
                 time_range: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> pd.DataFrame:
    """The tasks whose provider, task type and state are each among the values given
    and whose time overlaps ``time_range``.

    A filter left at None lets every task through. A missing value passes when
    its filter holds :data:`MISSING`. See :func:`in_time_range` for the time
    window. The frame's order and index are kept.
    """
    keep = in_time_range(tasks, time_range)
    for column, chosen in (("provider", providers), ("task_type", task_types),
                           ("state", states)):
        if chosen is not None:
            keep &= _values(tasks, column).isin(list(chosen)).to_numpy(dtype=bool)
    return tasks[keep]


def _row_source(tasks: pd.DataFrame, pos: int) -> str:
    if "source" in tasks.columns:
        value = tasks["source"].iloc[pos]
        if isinstance(value, str) and value:
            return value
    return f"object[{pos}]"


def _utc_naive(tasks: pd.DataFrame, column: str) -> np.ndarray:
    values = tasks[column]
    if values.isna().all():
        return np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        pos = int(np.flatnonzero(values.notna().to_numpy(dtype=bool))[0])
        raise RecordError(_row_source(tasks, pos), f"`tasks` column {column!r} does not hold "
                          "datetimes", field=column,
                          expected="timezone-aware UTC datetimes (as read_tasks gives)",
                          got=values.iloc[pos])
    if values.dt.tz is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.to_numpy().astype("datetime64[ns]")


def task_times(tasks: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each task's ``start_time`` and ``end_time`` as naive UTC ``datetime64[ns]`` arrays.

    ``NaT`` where a time is missing. A naive column is taken as UTC already (as
    :mod:`toolkit.plots` does); a column of anything but datetimes is a
    :class:`~toolkit.errors.RecordError` naming the first such row.
    """
    return _utc_naive(tasks, "start_time"), _utc_naive(tasks, "end_time")


def time_grid(tasks: pd.DataFrame, *, max_steps: int = MAX_TIME_STEPS) -> pd.DatetimeIndex:
    """The instants a time slider steps through: the tasks' distinct start and end times.

    Whether a task overlaps a window changes only when an edge of the window
    crosses one of these instants, so with the edges on them every filtering
    the data allows is one slider position away. Past ``max_steps`` instants,
    ``max_steps`` of them evenly spaced by rank (the first and the last kept).

    Returns
    -------
    DatetimeIndex
        Sorted, distinct, UTC; empty when no task has a time.
    """
    start, end = task_times(tasks)
    times = np.concatenate([start, end])
    grid = np.unique(times[~np.isnat(times)])
    if len(grid) > max_steps:
        grid = grid[np.unique(np.linspace(0, len(grid) - 1, max_steps).round().astype(np.intp))]
    return pd.DatetimeIndex(grid).tz_localize("UTC")


def time_labels(grid: pd.DatetimeIndex) -> list[str]:
    """A UTC label per instant of ``grid`` (``"2025-03-02 08:10:00Z"``), all distinct.

    Seconds are enough for most task records; finer digits (milli-, micro-,
    nanoseconds) appear only when two instants would otherwise read the same.
    """
    naive = grid.tz_convert("UTC").tz_localize(None)
    for spec in ("seconds", "milliseconds", "microseconds", "nanoseconds"):
        labels = [t.isoformat(sep=" ", timespec=spec) + "Z" for t in naive]
        if len(set(labels)) == len(labels):
            return labels
    return labels  # unreachable: the grid's instants are distinct


def check_time_range(value: Any, *, arg: str = "time_range"
                     ) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """``value`` as a pair of UTC Timestamps (nanoseconds), or None; a ValueError otherwise.

    Each end may be anything :class:`pandas.Timestamp` takes (a Timestamp, a
    ``datetime``, an ISO 8601 string) as long as it names its time zone: a
    naive time could be any of 24 instants. Aware times in other zones are
    converted to UTC.
    """
    if value is None:
        return None
    expected = (f"The value for `{arg}` must be None or a pair (start, end) of timezone-aware "
                f"times, e.g. (pd.Timestamp('2025-03-02 08:00', tz='UTC'), "
                f"pd.Timestamp('2025-03-02 09:00', tz='UTC')), but {value!r} was passed.")
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise ValueError(expected)
    value = list(value)
    if len(value) != 2:
        raise ValueError(expected)
    ends = []
    for name, v in zip(("start", "end"), value):
        try:
            ts = pd.Timestamp(v)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{expected} Its {name} {v!r} is not a time ({exc}).") from None
        if ts is pd.NaT:
            raise ValueError(f"{expected} Its {name} is missing.")
        if ts.tz is None:
            raise ValueError(f"{expected} Its {name} {v!r} has no time zone; say which, e.g. "
                             f"pd.Timestamp({str(ts)!r}, tz='UTC').")
        ends.append(ts.tz_convert("UTC").as_unit("ns"))
    if ends[0] > ends[1]:
        raise ValueError(f"{expected} Its start {ends[0]} is after its end {ends[1]}.")
    return ends[0], ends[1]


#: States of a task that has not ended: with no end time, its interval is open.
OPEN_STATES = ("pending", "running")


def covers(time_range: tuple[pd.Timestamp, pd.Timestamp] | None,
           grid: pd.DatetimeIndex) -> bool:
    """Whether the window holds every instant of ``grid`` (None and an empty grid: True)."""
    if time_range is None or len(grid) == 0:
        return True
    return bool(time_range[0] <= grid[0] and time_range[1] >= grid[-1])


def in_time_range(tasks: pd.DataFrame,
                  time_range: tuple[pd.Timestamp, pd.Timestamp] | None) -> np.ndarray:
    """Which tasks overlap the closed window ``time_range``, as a boolean array.

    A task is the interval from its ``start_time`` to its ``end_time``, ends
    included. A pending or running task with no end is open: it may still be
    going on in any window after its start. A task that has ended but whose
    record gives no end (Huawei tasks carry none) is taken as the instant of
    its start: its end is unknown, and an open end would show a task that ended
    days ago in every later window. A missing start is open. A task passes
    when it starts at or before the window's end and ends at or after the
    window's start. A task with neither time cannot be placed: it passes only
    when ``time_range`` is None.

    Examples
    --------
    Window 08:10-08:20. A task 08:00-08:05 ends before it: out. A task
    08:05-08:25 spans it: in. A task running since 08:15: in. A task running
    since 08:00: in. A failed task started at 08:00 with no end: out. A task
    08:30-08:40 starts after it: out.
    """
    if time_range is None:
        return np.ones(len(tasks), dtype=bool)
    start, end = task_times(tasks)
    lo, hi = (np.datetime64(t.tz_convert("UTC").tz_localize(None).as_unit("ns"))
              for t in time_range)
    ended = ~tasks["state"].isin(OPEN_STATES).to_numpy()
    end = np.where(np.isnat(end) & ended, start, end)
    no_start, no_end = np.isnat(start), np.isnat(end)
    # NaT compares False, so the open ends are said explicitly.
    starts_in_time = no_start | (start <= hi)
    ends_in_time = no_end | (end >= lo)
    return ~(no_start & no_end) & starts_in_time & ends_in_time


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


def _is_empty(value: Any) -> bool:
    if isinstance(value, (dict, list, tuple, str)):
        return len(value) == 0
    return cell_text(value) == ""


def task_request_html(row: pd.Series) -> str:
    """The task's request as indented JSON, escaped.

    The ``request`` column of the tasks frame: for IMM, the parsed
    TaskRequestDefinition (or the merge log's request); for Huawei VIAS, the
    task's input fields that have no column of their own.
    """
    request = row.get("request")
    if _is_empty(request):
        return note(f"No request recorded for task {row['task_id']}.")
    return json_block(request)


def task_error_html(row: pd.Series) -> str:
    """The task's error: its code and message in a highlighted box when it failed.

    Otherwise one line "No error" with the state; a code or message the record
    still carries (a Huawei status text) is listed under it, not highlighted.
    """
    code, message = (cell_text(row.get(c)) for c in ("code", "message"))
    if row["state"] == "failed":
        return alert(f"Task {row['task_id']} failed",
                     [("code", code or "(no code)"), ("message", message or "(no message)")],
                     color=plots.STATE_COLORS["failed"])
    text = note(f"No error (state: {row['state']}).")
    carried = [(k, v) for k, v in (("code", code), ("message", message)) if v]
    return text + field_table(carried) if carried else text


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


def transitions_html(observed: pd.DataFrame) -> str:
    """One task's observations as an escaped table of its state changes.

    The first row is the first state observed (from ``"(first observation)"``); each further
    row a change, at the first observation in the new state
    (:func:`toolkit.io.task_transitions`), tinted by the new state.
    """
    changes = task_transitions(observed, initial=True)
    changes["from_state"] = changes["from_state"].astype(object).where(
        changes["from_state"].notna(), "(first observation)")
    n = len(observed)
    text = note(f"{n} observation{'s' if n != 1 else ''}, {len(changes) - 1} state "
                f"change{'s' if len(changes) != 2 else ''}.")
    colors = [plots.STATE_COLORS.get(s) for s in changes["to_state"].astype(object)]
    return text + html_table(changes, ["from_state", "to_state", "at"], row_colors=colors)


def _draw_window(ax: Any, time_range: tuple[pd.Timestamp, pd.Timestamp]) -> None:
    import matplotlib.dates as mdates

    # The window's edges as dashed lines, without widening the axis to reach
    # an edge that lies past every task.
    xlim = ax.get_xlim()
    for edge in time_range:
        ax.axvline(mdates.date2num(edge.tz_convert("UTC").tz_localize(None).to_datetime64()),
                   color="black", linestyle="--", linewidth=1.0)
    ax.set_xlim(xlim)
    ax.set_xlabel(f"{ax.get_xlabel()}; dashed lines: the time window")


def task_figures(tasks: pd.DataFrame, history: pd.DataFrame | None = None, *,
                 time_range: tuple[pd.Timestamp, pd.Timestamp] | None = None
                 ) -> list[tuple[Any, str]]:
    """The figures of a set of tasks, as ``(Figure, description)`` pairs.

    A timeline (one bar per task; the edges of ``time_range``, when given, as
    dashed lines), then side by side: task counts per state over time,
    durations per task type, and the error codes of failed tasks. The counts
    come from ``history`` when it observed every one of these tasks (observed
    statuses are exact), else from the tasks' start and end times, so that no
    task is left out of the count.
    """
    if tasks.empty:
        return []
    height = max(3.0, min(8.0, 0.15 * len(tasks) + 1.0))
    fig, ax = new_figure(10.0, height)
    plots.plot_task_timeline(tasks, ax=ax)
    if time_range is not None:
        _draw_window(ax, time_range)
    out = [(fig, f"task timeline: {len(tasks):,} task{'s' if len(tasks) != 1 else ''}")]
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


def tasks_summary_html(tasks: pd.DataFrame, shown: pd.DataFrame,
                       time_range: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> str:
    """One escaped line: how many tasks pass the filters, by provider and state, and when."""
    by_state = ", ".join(f"{n} {s}" for s, n in shown["state"].astype(str).value_counts()
                         .sort_index().items())
    by_provider = ", ".join(f"{n} {p}" for p, n in shown["provider"].astype(str).value_counts()
                            .sort_index().items())
    text = f"{len(shown):,} of {len(tasks):,} tasks"
    if len(shown):
        text += f" ({by_provider}; {by_state})"
    if time_range is not None:
        text += f" in {cell_text(time_range[0])} to {cell_text(time_range[1])}"
    return note(text + ".")
