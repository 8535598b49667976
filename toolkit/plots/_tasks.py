"""Plots of asynchronous tasks: Gantt timeline, state counts over time, durations,
failure codes and one task's status history.

They read the tasks frame (``read_tasks``) and the task history frame
(``read_task_history``). Times are drawn in UTC, without a timezone, and the
axes say so.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import RecordError
from . import _style
from ._inputs import (check_choice, check_values, date_numbers, get_ax, require_frame,
                      row_source, short_label, utc_naive)

__all__ = ["plot_task_timeline", "plot_state_counts", "plot_durations", "plot_failure_codes",
           "plot_task_history"]

_TASKS = "a tasks frame (read_tasks)"
_HISTORY = "a task history frame (read_task_history)"
_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}
_MAX_BINS = 5000


_ONE_MINUTE = 1.0 / (24 * 60)   # in matplotlib date units (days)
_ONE_SECOND = _ONE_MINUTE / 60


def _date_axis(ax, label: str = "time (UTC)") -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(label)


def _note(ax, text: str) -> None:
    """Say what was left out on a second title line, where no legend can hide it."""
    ax.set_title(f"{ax.get_title()}\n{text}")


def _state_legend(ax, present: Sequence[str], extra: Sequence[Any] = (), **kws) -> None:
    ax.legend(handles=[*_style.legend_handles("state", present), *extra], fontsize="small", **kws)


def plot_task_timeline(tasks: pd.DataFrame, *, ax: Any = None, max_labels: int = 40):
    """Draw a Gantt bar per task from its start to its end, coloured by its state.

    Tasks are stacked by start time, the first at the top. A task with no end
    time yet (still running, or its end not recorded) is drawn hatched up to the
    latest time seen anywhere in the frame. Tasks without a start time, or
    ending before they start, cannot be placed: they are counted in the title.

    Parameters
    ----------
    tasks : DataFrame
        A tasks frame: ``task_id``, ``state`` (pending, running, succeeded,
        failed, stopped, other), ``start_time``, ``end_time`` (UTC datetimes).
    ax : matplotlib Axes, default=None
        Where to draw; the current Axes when None.
    max_labels : int, default=40
        Up to this many bars carry their task id as a tick label; more bars
        carry none.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on: one bar (Rectangle in ``ax.patches``) per placed
        task, a legend of the states present and of the hatching.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.plots import plot_task_timeline
    >>> t = pd.to_datetime(["2025-03-02T08:00Z", "2025-03-02T08:05Z", "2025-03-02T08:09Z"])
    >>> tasks = pd.DataFrame({"task_id": ["t1", "t2"], "state": ["succeeded", "running"],
    ...                       "start_time": t[:2], "end_time": [t[2], pd.NaT]})
    >>> ax = plot_task_timeline(tasks)
    >>> len(ax.patches)
    2
    """
    from matplotlib.patches import Patch

    frame = require_frame(tasks, ["task_id", "state", "start_time", "end_time"], arg="tasks",
                          expected=_TASKS)
    states = check_values(frame, "state", _style.STATE_ORDER, arg="tasks")
    start = date_numbers(utc_naive(frame, "start_time", arg="tasks"))
    end = date_numbers(utc_naive(frame, "end_time", arg="tasks"))
    # Records the reader accepted can still end before they start (clock skew,
    # mixed offsets); such a bar has no honest length, so it is left out and counted.
    backwards = end < start
    ax = get_ax(ax)
    placed = ~np.isnan(start) & ~backwards
    n_placed = int(placed.sum())
    ax.set_title(f"Timeline of {n_placed:,} task{'s' if n_placed != 1 else ''}")
    if np.isnan(start).any():
        _note(ax, f"{int(np.isnan(start).sum()):,} task(s) without a start time not shown")
    if backwards.any():
        first = row_source(frame, int(np.flatnonzero(backwards)[0]))
        _note(ax, f"{int(backwards.sum()):,} task(s) ending before their start not shown "
                  f"(first: {first})")
    if not placed.any():
        ax.text(0.5, 0.5, "No task to place in time", transform=ax.transAxes,
                ha="center", va="center")
        return ax

    latest = np.nanmax(np.concatenate([start, end]))
    unfinished = placed & np.isnan(end)
    stop = np.where(unfinished, latest, end)
    ids = frame["task_id"].astype("object").to_numpy()
    rows = np.flatnonzero(placed)
    rows = rows[np.lexsort((ids[rows].astype(str), start[rows]))]  # by start, ties by id
    y = np.empty(len(frame))
    y[rows] = np.arange(len(rows))

    for state in _style.STATE_ORDER:
        color = _style.STATE_COLORS[state]
        for open_ended in (False, True):
            mask = placed & (states == state) & (unfinished == open_ended)
            if not mask.any():
                continue
            # Hatch lines take the edge colour: white lines keep the state's colour
            # itself on unfinished bars. A coloured edge keeps zero-length tasks visible.
            style = ({"edgecolor": "white", "linewidth": 0.0, "hatch": _style.UNFINISHED_HATCH}
                     if open_ended else {"edgecolor": color, "linewidth": 0.8})
            ax.barh(y[mask], stop[mask] - start[mask], left=start[mask], height=0.8,
                    facecolor=color, **style)
    extra = []
    if unfinished.any():
        extra.append(Patch(facecolor="#777777", edgecolor="white", hatch=_style.UNFINISHED_HATCH,
                           label="no end yet: drawn to the latest time seen"))
    # Bars fill the whole Axes, so the legend goes beside it.
    _state_legend(ax, set(states[placed]), extra, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0)
    if len(rows) <= max_labels:
        ax.set_yticks(np.arange(len(rows)), [short_label(v) for v in ids[rows]],
                      fontsize="x-small" if len(rows) > 20 else "small")
        ax.set_ylabel("task")
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{len(rows):,} tasks, by start time")
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first task at the top
    _date_axis(ax)
    return ax


def _observations_from_history(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    require_frame(frame, ["task_id", "observed_at", "state"], arg="history", expected=_HISTORY)
    states = check_values(frame, "state", _style.STATE_ORDER, arg="history")
    at = utc_naive(frame, "observed_at", arg="history")
    if np.isnat(at).any():
        pos = int(np.flatnonzero(np.isnat(at))[0])
        raise RecordError(row_source(frame, pos), "`history` has an observation without a time",
                          field="observed_at", expected="a UTC datetime", got=None)
    obs = pd.DataFrame({"task": frame["task_id"].astype("object").to_numpy(), "at": at,
                        "state": states})
    return obs, 0


def _observations_from_tasks(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """What a tasks frame says about states over time, as observations.

    A task with a start time was running from then on (or, if its final state
    is pending or other, in that state); at its end time it entered its final
    state. A task with neither time, or ending before it starts, cannot be
    placed and is counted as skipped.
    """
    require_frame(frame, ["task_id", "state", "start_time", "end_time"], arg="tasks",
                  expected=_TASKS)
    states = check_values(frame, "state", _style.STATE_ORDER, arg="tasks")
    start = utc_naive(frame, "start_time", arg="tasks")
    end = utc_naive(frame, "end_time", arg="tasks")
    ids = frame["task_id"].astype("object").to_numpy()
    has_start, has_end = ~np.isnat(start), ~np.isnat(end)
    backwards = has_start & has_end & (end < start)
    usable = (has_start | has_end) & ~backwards
    first = np.where(np.isin(states, ["pending", "other"]), states, "running")
    at_start = has_start & usable
    # An end time of a task still marked running adds nothing to its start.
    at_end = has_end & usable & ((states != "running") | ~has_start)
    obs = pd.DataFrame({
        "task": np.concatenate([ids[at_start], ids[at_end]]),
        "at": np.concatenate([start[at_start], end[at_end]]),
        "state": np.concatenate([first[at_start], states[at_end]]).astype(object),
    })
    return obs, int((~usable).sum())


def _state_steps(obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Times at which any count changes, and the counts per state from each on.

    A task counts in the state of its latest observation; before its first
    observation it is not counted.

    Returns
    -------
    times : ndarray of shape (n_times,), datetime64[ns]
    counts : ndarray of shape (n_times, 6), int64
        Columns in :data:`STATE_ORDER`.
    """
    code = {s: i for i, s in enumerate(_style.STATE_ORDER)}
    obs = obs.sort_values(["task", "at"], kind="stable").reset_index(drop=True)
    now = obs["state"].map(code).to_numpy(dtype=np.int64)
    same_task = obs["task"].to_numpy(dtype=object)[1:] == obs["task"].to_numpy(dtype=object)[:-1]
    before = np.concatenate([[-1], np.where(same_task, now[:-1], -1)])
    changed = now != before
    at = obs["at"].to_numpy(dtype="datetime64[ns]")
    enter_t, enter_c = at[changed], now[changed]
    leave = changed & (before >= 0)
    times = np.concatenate([enter_t, at[leave]])
    cols = np.concatenate([enter_c, before[leave]])
    delta = np.concatenate([np.ones(len(enter_c), np.int64), -np.ones(int(leave.sum()), np.int64)])
    uniq, inv = np.unique(times, return_inverse=True)
    table = np.zeros((len(uniq), len(code)), dtype=np.int64)
    np.add.at(table, (inv, cols), delta)
    return uniq, np.cumsum(table, axis=0)


def _bin_edges(t0: np.datetime64, t1: np.datetime64, freq: Any) -> pd.DatetimeIndex:
    from pandas.tseries.frequencies import to_offset

    try:
        offset = to_offset(freq)
    except (ValueError, TypeError):
        raise ValueError(f"The value for `freq` must be a pandas frequency such as '1h', 'D', "
                         f"'W' or 'MS', or None, but {freq!r} was passed.") from None
    first, last = pd.Timestamp(t0), pd.Timestamp(t1)
    if isinstance(offset, pd.offsets.Tick):  # fixed lengths: count before building an index
        start = first.floor(offset)
        n_bins = (last - start) // pd.Timedelta(offset) + 1
    else:  # calendar offsets (weeks, months): from the anchor at or before the first time
        start = offset.rollback(first.normalize())
        n_bins = len(pd.date_range(start=start, end=last + offset, freq=offset)) - 1
    if n_bins > _MAX_BINS:
        raise ValueError(f"The value for `freq` gives {n_bins:,} bins between {first} and {last}; "
                         f"at most {_MAX_BINS:,} can be drawn. Choose a coarser `freq`.")
    return pd.date_range(start=start, periods=n_bins + 1, freq=offset)


def plot_state_counts(data: pd.DataFrame, *, freq: Any = None, ax: Any = None):
    """Draw how many tasks were in each state over time, stacked.

    From a task history frame, a task counts in the state of its latest
    observation from that observation on; from a tasks frame, a task counts as
    running from its start time and in its final state from its end time.
    Tasks count in their last state up to the end of the plot, so the height
    grows as tasks appear.

    Parameters
    ----------
    data : DataFrame
        A task history frame (``task_id``, ``observed_at``, ``state``) or a
        tasks frame (``task_id``, ``state``, ``start_time``, ``end_time``); a
        frame with ``observed_at`` is taken as history.
    freq : str or pandas offset, default=None
        None draws the exact counts as stacked steps at every change. A
        frequency (``"1h"``, ``"D"``, ``"W"``, ``"MS"``) draws one stacked bar
        per bin with the counts at the end of the bin.
    ax : matplotlib Axes, default=None
        Where to draw; the current Axes when None.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on: one filled area (``freq=None``) or one bar
        container (``freq`` given) per state present, stacked in the order
        pending, running, succeeded, failed, stopped, other.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.plots import plot_state_counts
    >>> history = pd.DataFrame({
    ...     "task_id": ["t1", "t1", "t2"],
    ...     "observed_at": pd.to_datetime(["2025-03-02T08:00Z", "2025-03-02T08:05Z",
    ...                                    "2025-03-02T08:01Z"]),
    ...     "state": ["running", "succeeded", "running"]})
    >>> ax = plot_state_counts(history)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['running', 'succeeded']
    """
    is_history = isinstance(data, pd.DataFrame) and "observed_at" in data.columns
    if is_history:
        obs, skipped = _observations_from_history(data)
    else:
        obs, skipped = _observations_from_tasks(data)
    if freq is not None:  # validate before drawing anything
        _bin_edges(np.datetime64("2000-01-01"), np.datetime64("2000-01-01"), freq)
    ax = get_ax(ax)
    n_tasks = obs["task"].nunique()
    what = "observed status" if is_history else "start and end times"
    ax.set_title(f"Tasks by state over time ({n_tasks:,} tasks, from {what})")
    ax.set_ylabel("tasks")
    if skipped:
        _note(ax, f"{skipped:,} task(s) without usable start or end time not counted")
    if obs.empty:
        ax.text(0.5, 0.5, "No timed task to count", transform=ax.transAxes,
                ha="center", va="center")
        return ax

    times, counts = _state_steps(obs)
    present = [i for i, s in enumerate(_style.STATE_ORDER) if counts[:, i].any()]
    names = [_style.STATE_ORDER[i] for i in present]
    colors = [_style.STATE_COLORS[s] for s in names]
    if freq is None:
        x = date_numbers(times)
        # Carry the last counts a little past the last change, else they have no width.
        span = x[-1] - x[0]
        x = np.append(x, x[-1] + (0.03 * span if span > 0 else 1.0 / 24))
        levels = np.vstack([counts, counts[-1:]])
        ax.stackplot(x, *(levels[:, i] for i in present), step="post", colors=colors,
                     labels=names, linewidth=0)
    else:
        edges = _bin_edges(times[0], times[-1], freq)
        right = edges[1:].to_numpy(dtype="datetime64[ns]")
        # Counts at the end of a bin: every change strictly before its right edge.
        last = np.searchsorted(times, right, side="left") - 1
        at_end = np.where((last >= 0)[:, None], counts[np.maximum(last, 0)], 0)
        left_x = date_numbers(edges[:-1].to_numpy(dtype="datetime64[ns]"))
        widths = date_numbers(right) - left_x
        bottom = np.zeros(len(right))
        for i, name, color in zip(present, names, colors):
            ax.bar(left_x, at_end[:, i], widths, bottom=bottom, align="edge", color=color,
                   edgecolor="white", linewidth=0.4, label=name)
            bottom = bottom + at_end[:, i]
        ax.set_title(ax.get_title() + f"\ncounted at the end of each {freq} bin")
    _state_legend(ax, names, loc="upper left")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _date_axis(ax)
    return ax


def _durations_seconds(frame: pd.DataFrame) -> np.ndarray:
    s = frame["duration"]
    if s.isna().all():
        return np.full(len(s), np.nan)
    if not pd.api.types.is_timedelta64_dtype(s.dtype):
        pos = int(np.flatnonzero(s.notna().to_numpy())[0])
        raise RecordError(row_source(frame, pos), "`tasks` column 'duration' does not hold "
                          "time spans", field="duration", expected="timedelta64 values",
                          got=s.iloc[pos])
    return s.dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)


def plot_durations(tasks: pd.DataFrame, *, ax: Any = None, unit: str | None = None,
                   log: bool = False):
    """Draw the durations of finished tasks per task type: a box and the tasks as points.

    The box spans the middle half of the durations with a line at the median,
    whiskers reach the furthest task within 1.5 box lengths; every task is
    also a point (spread sideways at random, fixed seed, so they do not hide
    each other) coloured by its state. Tasks without a duration (not finished)
    or with a negative one are counted in the title.

    Parameters
    ----------
    tasks : DataFrame
        A tasks frame: ``task_type``, ``duration`` (timedelta, NaT while
        running), ``state``.
    ax : matplotlib Axes, default=None
        Where to draw; the current Axes when None.
    unit : {"s", "min", "h"}, default=None
        Time unit of the axis; None picks it from the median duration.
    log : bool, default=False
        A logarithmic duration axis, for types that differ by orders of
        magnitude (zero durations then do not show).

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on: one box per task type (x tick labels), one scatter
        collection per state present.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.plots import plot_durations
    >>> tasks = pd.DataFrame({"task_type": ["FaceClustering", "FaceClustering",
    ...                                     "FigureClustersMerging"],
    ...                       "duration": pd.to_timedelta([95, 130, 2], unit="s"),
    ...                       "state": ["succeeded", "failed", "succeeded"]})
    >>> ax = plot_durations(tasks)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['FaceClustering', 'FigureClustersMerging']
    """
    if unit is not None:
        check_choice("unit", unit, list(_UNITS))
    frame = require_frame(tasks, ["task_type", "duration", "state"], arg="tasks",
                          expected=_TASKS)
    states = check_values(frame, "state", _style.STATE_ORDER, arg="tasks")
    seconds = _durations_seconds(frame)
    types = frame["task_type"].astype("object").where(frame["task_type"].notna(), "(unknown)")
    types = types.astype(str).to_numpy(dtype=object)
    ax = get_ax(ax)
    # A negative duration (an end before the start in the records) is left out and counted.
    negative = seconds < 0
    done = ~np.isnan(seconds) & ~negative
    n_done = int(done.sum())
    ax.set_title(f"Durations of {n_done:,} finished task{'s' if n_done != 1 else ''}")
    if np.isnan(seconds).any():
        _note(ax, f"{int(np.isnan(seconds).sum()):,} task(s) without a duration not shown")
    if negative.any():
        _note(ax, f"{int(negative.sum()):,} task(s) with a negative duration not shown "
                  f"(first: {row_source(frame, int(np.flatnonzero(negative)[0]))})")
    if not done.any():
        ax.text(0.5, 0.5, "No finished task", transform=ax.transAxes, ha="center", va="center")
        return ax
    if unit is None:
        median = float(np.median(seconds[done]))
        unit = "s" if median < 120 else "min" if median < 7200 else "h"
    values = seconds / _UNITS[unit]
    names = sorted(set(types[done]))
    position = {n: i for i, n in enumerate(names)}
    ax.boxplot([values[done & (types == n)] for n in names], positions=np.arange(len(names)),
               widths=0.5, showfliers=False, manage_ticks=False,
               medianprops={"color": "black"}, whiskerprops={"color": "#555555"},
               boxprops={"color": "#555555"}, capprops={"color": "#555555"})
    x = np.array([position[t] if d else -1 for t, d in zip(types, done)], dtype=float)
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, len(x))
    for state in _style.STATE_ORDER:
        mask = done & (states == state)
        if mask.any():
            ax.scatter(x[mask] + jitter[mask], values[mask], s=14, alpha=0.8, linewidths=0,
                       color=_style.STATE_COLORS[state], zorder=3, label=state)
    ax.set_xticks(np.arange(len(names)), [short_label(n, 28) for n in names],
                  rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xlabel("task type")
    ax.set_ylabel(f"duration ({unit})")
    if log:
        ax.set_yscale("log")
    _state_legend(ax, set(states[done]))
    return ax


def plot_failure_codes(tasks: pd.DataFrame, *, ax: Any = None, max_codes: int = 20,
                       states: Sequence[str] = ("failed",)):
    """Draw how many tasks ended with each error code, as horizontal bars.

    Codes are sorted by count, the most frequent at the top; tasks whose code
    is missing or empty count as "(no code)". Past ``max_codes`` codes, the
    rest are summed in the title.

    Parameters
    ----------
    tasks : DataFrame
        A tasks frame: ``state`` and ``code`` (IMM's Code, Huawei's error code).
    ax : matplotlib Axes, default=None
        Where to draw; the current Axes when None.
    max_codes : int, default=20
        Most bars to draw.
    states : sequence of str, default=("failed",)
        Which task states to count the codes of.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on: one bar per code (``ax.patches``), each labelled
        with its count.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.plots import plot_failure_codes
    >>> tasks = pd.DataFrame({"state": ["failed", "failed", "failed", "succeeded"],
    ...                       "code": ["ResourceNotFound", "InvalidArgument",
    ...                                "ResourceNotFound", ""]})
    >>> ax = plot_failure_codes(tasks)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['ResourceNotFound', 'InvalidArgument']
    """
    if isinstance(max_codes, bool) or not isinstance(max_codes, (int, np.integer)) or max_codes < 1:
        raise ValueError(f"The value for `max_codes` must be an integer of at least 1, "
                         f"but {max_codes!r} was passed.")
    states = [states] if isinstance(states, str) else list(states)
    for s in states:
        check_choice("states", s, _style.STATE_ORDER)
    frame = require_frame(tasks, ["state", "code"], arg="tasks", expected=_TASKS)
    task_states = check_values(frame, "state", _style.STATE_ORDER, arg="tasks")
    chosen = np.isin(task_states, states)
    codes = frame["code"].astype("object")[chosen]
    codes = codes.where(codes.notna() & (codes.astype(str) != ""), "(no code)").astype(str)
    counts = sorted(codes.value_counts().items(), key=lambda kv: (-kv[1], kv[0]))
    ax = get_ax(ax)
    which = "/".join(states)
    ax.set_title(f"Error codes of {len(codes):,} {which} task{'s' if len(codes) != 1 else ''}")
    ax.set_xlabel("tasks")
    if not counts:
        ax.text(0.5, 0.5, f"No {which} task", transform=ax.transAxes, ha="center", va="center")
        return ax
    shown, rest = counts[:max_codes], counts[max_codes:]
    y = np.arange(len(shown))
    color = _style.STATE_COLORS[states[0]] if len(states) == 1 else _style.STATE_COLORS["failed"]
    bars = ax.barh(y, [n for _, n in shown], color=color, height=0.7)
    ax.bar_label(bars, padding=2, fontsize="small")
    ax.set_yticks(y, [short_label(c, 32) for c, _ in shown])
    ax.set_ylim(len(shown) - 0.5, -0.5)  # most frequent at the top
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(x=0.12)  # room for the count labels
    if rest:
        _note(ax, f"{len(rest):,} more code(s) not shown ({sum(n for _, n in rest):,} tasks)")
    return ax


def plot_task_history(history: pd.DataFrame, task_id: str, *, ax: Any = None):
    """Draw one task's observed statuses and its state changes on a time axis.

    Each observation is a marker at its time, at the height of its state and in
    the state's colour; a grey step line joins them, so each rise or fall is a
    state change. When the observations carry a progress value (0-100 %), it
    is drawn as a dashed line on a second y-axis on the right.

    Parameters
    ----------
    history : DataFrame
        A task history frame: ``task_id``, ``observed_at`` (UTC), ``state``,
        optionally ``progress``.
    task_id : str
        The task to draw.
    ax : matplotlib Axes, default=None
        Where to draw; the current Axes when None.

    Returns
    -------
    ax : matplotlib Axes
        The Axes of the states (y ticks are the six states); one scatter
        collection per state observed. The progress axis, when drawn, is a twin
        of ``ax`` in ``ax.figure.axes``.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.plots import plot_task_history
    >>> history = pd.DataFrame({
    ...     "task_id": ["t1", "t1", "t1"],
    ...     "observed_at": pd.to_datetime(["2025-03-02T08:00Z", "2025-03-02T08:01Z",
    ...                                    "2025-03-02T08:03Z"]),
    ...     "state": ["running", "running", "succeeded"], "progress": [10, 60, 100]})
    >>> ax = plot_task_history(history, "t1")
    >>> ax.get_title()
    't1: 3 observations, 1 state change'
    """
    frame = require_frame(history, ["task_id", "observed_at", "state"], arg="history",
                          expected=_HISTORY)
    ids = frame["task_id"].astype("object")
    mine = (ids == task_id).to_numpy(dtype=bool)
    if not mine.any():
        known = list(pd.unique(ids.dropna()))
        raise ValueError(f"Task {task_id!r} is not in `history` ({len(known)} tasks, "
                         f"e.g. {[str(k) for k in known[:5]]}).")
    frame = frame[mine]
    states = check_values(frame, "state", _style.STATE_ORDER, arg="history")
    at = utc_naive(frame, "observed_at", arg="history")
    if np.isnat(at).any():
        pos = int(np.flatnonzero(np.isnat(at))[0])
        raise RecordError(row_source(frame, pos), "`history` has an observation without a time",
                          field="observed_at", expected="a UTC datetime", got=None)
    order = np.argsort(at, kind="stable")
    x = date_numbers(at[order])
    states = states[order]
    level = np.array([_style.STATE_ORDER.index(s) for s in states], dtype=float)
    ax = get_ax(ax)
    ax.plot(x, level, drawstyle="steps-post", color=_style.MISSING_COLOR, linewidth=1.2,
            zorder=1)
    for state in _style.STATE_ORDER:
        mask = states == state
        if mask.any():
            ax.scatter(x[mask], level[mask], s=50, color=_style.STATE_COLORS[state], zorder=3,
                       edgecolors="black", linewidths=0.5, label=state)
    handles, _ = ax.get_legend_handles_labels()
    if "progress" in frame.columns:
        progress = pd.to_numeric(frame["progress"].iloc[order], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)
        ok = ~np.isnan(progress)
        if ok.any():
            twin = ax.twinx()
            (line,) = twin.plot(x[ok], progress[ok], color="black", linestyle="--", marker=".",
                                linewidth=1, label="progress (%)")
            twin.set_ylim(0, 105)
            twin.set_ylabel("progress (%)")
            handles.append(line)
    changes = int((states[1:] != states[:-1]).sum())
    n_obs = len(states)
    ax.set_title(f"{short_label(task_id, 48)}: {n_obs} observation{'s' if n_obs != 1 else ''}, "
                 f"{changes} state change{'s' if changes != 1 else ''}")
    ax.set_yticks(np.arange(len(_style.STATE_ORDER)), list(_style.STATE_ORDER))
    ax.set_ylim(-0.5, len(_style.STATE_ORDER) - 0.5)
    if x[-1] - x[0] < _ONE_SECOND:
        # A single instant: matplotlib would pad it to years; show a minute either side.
        ax.set_xlim(x[0] - _ONE_MINUTE, x[-1] + _ONE_MINUTE)
    ax.legend(handles=handles, fontsize="small", loc="upper left")
    _date_axis(ax, "observed at (UTC)")
    return ax
