"""``read_task_history``: every observed status of a task; ``task_transitions``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._source import Collector, ReadCounts
from ._tasks_records import OBSERVATION_KINDS
from ._tasks_scan import Rejections, gc_paused, scan_tasks

__all__ = ["read_task_history", "task_transitions", "HISTORY_COLUMNS", "TRANSITION_COLUMNS"]

HISTORY_COLUMNS = ("task_id", "observed_at", "status", "state", "progress", "source", "provider",
                   "task_type")
TRANSITION_COLUMNS = ("task_id", "from_state", "to_state", "at")


def read_task_history(source: Any, *, errors: str = "raise") -> pd.DataFrame | tuple[
        pd.DataFrame, pd.DataFrame]:
    """Read every observed status of IMM tasks: one row per observation.

    An observation is a record that says what state a task was in at a
    known time. Two shapes are observations:

    - GetTask snapshots kept as JSON lines ``{"ObservedAt": <time>,
      "Response": <GetTask body or full response>}``: observed at
      ``ObservedAt``;
    - IMM asynchronous notification messages: observed at their ``time``
      (epoch milliseconds), or at the message's ``EndTime`` when the envelope
      has no ``time``.

    The local task engine produces the same frame directly. File modification
    times are never used.

    Other task records (plain GetTask bodies and ListTasks pages, which say
    nothing of when they were fetched; Create*Task responses; merge-log
    lines; Huawei records) are not observations: they are *skipped*, counted
    in ``attrs["counts"]["skipped"]`` and not in ``read``, so the same
    directory can be given to :func:`read_tasks` and to this function.
    Records of unknown shape are read and rejected.

    Parameters
    ----------
    source : path, dict, list of dicts, or SDK model object(s)
        As for :func:`read_tasks`.
    errors : {"raise", "collect"}, default="raise"
        ``"raise"``: the first bad observation raises
        :class:`~toolkit.errors.RecordError` (naming source, field, what was
        expected and what came). ``"collect"``: bad records are returned.

    Returns
    -------
    history : DataFrame
        Columns ``task_id``, ``observed_at`` (``datetime64[ns, UTC]``),
        ``status`` (raw, exact case; empty for indexing messages, which carry
        ``Success`` instead), ``state`` (pending, running, succeeded, failed,
        stopped, other), ``progress`` (Int64, 0-100), ``source``
        (``file:line``), ``provider`` and ``task_type`` (where known).
        Sorted by task id, then observation time, then read order. Exact
        duplicates (same provider, task, time, status and progress, e.g. the
        same snapshot in two files) are dropped, the first read kept; they
        count as duplicates. ``history.attrs["counts"]`` holds ``read``,
        ``accepted``, ``duplicates``, ``rejected`` (``read == accepted +
        duplicates + rejected``) and ``skipped``.
    rejected : DataFrame
        Only with ``errors="collect"``: ``source``, ``reason``, ``raw``.

    Raises
    ------
    RecordError
        With ``errors="raise"``, for the first bad record (see
        :func:`read_tasks`), including a snapshot without ``ObservedAt`` and
        a notification with neither ``time`` nor ``EndTime``.
    FileNotFoundError, ValueError
        As for :func:`read_tasks`.

    See Also
    --------
    task_transitions : the changes of state derived from this frame.

    Examples
    --------
    >>> import toolkit as tk
    >>> body = {"TaskId": "t-1", "TaskType": "FaceClustering", "Status": "Running", "Progress": 40}
    >>> history = tk.read_task_history([
    ...     {"ObservedAt": "2025-03-02T08:15:10Z", "Response": body},
    ...     {"ObservedAt": "2025-03-02T08:17:10Z", "Response": {**body, "Status": "Succeeded"}},
    ... ])
    >>> history[["task_id", "state", "progress"]].values.tolist()
    [['t-1', 'running', 40], ['t-1', 'succeeded', 40]]
    """
    collector = Collector(errors)
    counts = ReadCounts()
    rejections = Rejections(collector, counts)
    with gc_paused():
        scan = scan_tasks(source, collector, counts, rejections, kinds=OBSERVATION_KINDS,
                          observations=True)
        batch = scan.batch
        observed = batch["seen"]
        frame = pd.DataFrame({
            "task_id": pd.array(batch["task_id"], dtype="str"),
            "observed_at": pd.DatetimeIndex(observed.view("datetime64[ns]")).tz_localize("UTC"),
            "status": pd.array(batch["status"], dtype="str"),
            "state": pd.array(batch["state"], dtype="str"),
            "progress": pd.array(batch["progress"].to_pylist(), dtype="Int64"),
            "source": pd.array(batch["source"], dtype="str"),
            "provider": pd.array(batch["provider"], dtype="str"),
            "task_type": pd.array(batch["task_type"], dtype="str"),
            "_seq": batch["seq"],
        })
        frame = frame.sort_values(["task_id", "observed_at", "_seq"], kind="stable",
                                  ignore_index=True).drop(columns="_seq")
        duplicated = frame.duplicated(["provider", "task_id", "observed_at", "status",
                                       "progress"])
        frame = frame.loc[~duplicated].reset_index(drop=True)
    counts.duplicates = int(duplicated.sum())
    counts.accepted = len(frame)
    frame.attrs["counts"] = {**counts.as_dict(), "skipped": scan.skipped}
    if collector.collecting:
        return frame, rejections.frame()
    return frame


def task_transitions(history: pd.DataFrame, *, initial: bool = False) -> pd.DataFrame:
    """Changes of state between consecutive observations of each task.

    Parameters
    ----------
    history : DataFrame
        A task history frame (:func:`read_task_history` or the local task
        engine): at least ``task_id``, ``observed_at``, ``state``. It need not
        be sorted.
    initial : bool, default=False
        Also report each task's first observed state, as a transition from
        a missing ``from_state``.

    Returns
    -------
    DataFrame
        Columns ``task_id``, ``from_state``, ``to_state``, ``at`` (the first
        observation in the new state), sorted by task id then ``at``.
        Consecutive observations in the same state make no row.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.io import task_transitions
    >>> history = pd.DataFrame({"task_id": ["t", "t", "t"],
    ...                         "observed_at": pd.to_datetime([1, 2, 3], unit="s", utc=True),
    ...                         "state": ["running", "running", "succeeded"]})
    >>> task_transitions(history).values.tolist()
    [['t', 'running', 'succeeded', Timestamp('1970-01-01 00:00:03+0000', tz='UTC')]]
    """
    if not isinstance(history, pd.DataFrame):
        raise TypeError(f"`history` must be a DataFrame, but {type(history).__name__!r} was "
                        "passed.")
    missing = [c for c in ("task_id", "observed_at", "state") if c not in history.columns]
    if missing:
        raise ValueError(f"`history` lacks the columns {missing}; expected a task history frame "
                         "with task_id, observed_at and state (see read_task_history).")
    ordered = history.sort_values(["task_id", "observed_at"], kind="stable", ignore_index=True)
    task = ordered["task_id"]
    state = ordered["state"]
    same_task = task.eq(task.shift()).to_numpy(dtype=bool, na_value=False)
    changed = state.ne(state.shift()).to_numpy(dtype=bool, na_value=True)
    keep = same_task & changed
    if initial:
        keep |= ~same_task
    previous = state.shift().where(same_task)
    out = pd.DataFrame({"task_id": task, "from_state": previous, "to_state": state,
                        "at": ordered["observed_at"]})
    return out.loc[keep].reset_index(drop=True)
