"""``read_tasks``: IMM and Huawei VIAS task records to one frame, one row per task."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._source import Collector, ReadCounts
from ._tasks_columns import (INT_KEYS, NAT, OBJECT_KEYS, concat_batches, take_batch,
                             take_column, to_numpy)
from ._tasks_records import TASK_KINDS
from ._tasks_scan import Rejections, gc_paused, scan_tasks
from ._tasks_states import STATE_RANK, STATES

__all__ = ["read_tasks", "TASK_COLUMNS"]

TASK_COLUMNS = (
    "provider", "task_id", "task_type", "status", "state", "start_time", "end_time", "duration",
    "progress", "code", "message", "user_data", "tags", "request", "merge_to", "merge_from",
    "merge_froms", "merge_sources", "batch_id", "total_count", "succeed_count", "failed_count",
    "project", "dataset", "event_id", "request_id", "source",
)
# Fields that describe a state, not the task: filled only from a record in the winner's state,
# so a succeeded task never shows the 40 % of an older running snapshot.
_STATE_FIELDS = frozenset(("progress", "code", "message"))
# Fields that come from the winning record alone; all others are filled from the others.
_WINNER_FIELDS = frozenset(("provider", "task_id", "status", "state", "source", "seen",
                            "is_batch", "seq"))
_STATES = pa.array(STATES, type=pa.large_string())
_RANKS = np.array([STATE_RANK[s] for s in STATES])
_INT_MAX = np.iinfo(np.int64).max


def _codes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Integer codes of an Arrow string column (equal strings, equal codes)."""
    encoded = values.dictionary_encode()
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if not chunks:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks])


def _present(values: Any) -> np.ndarray:
    """True where a column holds a value (not null, None or NaT)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return to_numpy(values.is_valid())
    if values.dtype == object:
        return np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    return values != NAT


def _fold(batch: dict) -> tuple[dict, int]:
    """One row per task: fold the records of the same task into the most advanced one.

    Records of one task share provider, task id and batch-or-not. Within each
    task they are put in order: most advanced state first, then latest time
    (observed, else ended, else started), then read last. The first is the
    winner; every other field takes the first value present in that order
    (progress, code and message only from records in the winner's state).
    Returns the folded batch and how many records were folded into another.
    """
    n = len(batch["seq"])
    if n < 2:
        return batch, 0
    # Only records sharing a task id can be one task: fold those, leave the rest alone.
    id_codes = _codes(batch["task_id"])
    candidates = np.flatnonzero(np.bincount(id_codes)[id_codes] > 1)
    if not len(candidates):
        return batch, 0
    records = take_batch(batch, candidates)
    providers = _codes(records["provider"])
    task = (id_codes[candidates] * (providers.max() + 1) + providers) * 2 + records["is_batch"]
    state_codes = to_numpy(pc.fill_null(pc.index_in(records["state"], value_set=_STATES), 0))
    rank = _RANKS[state_codes]
    seen, end, start = records["seen"], records["end_time"], records["start_time"]
    when = np.where(seen != NAT, seen, np.where(end != NAT, end, start))
    # Descending on (task, rank, when, seq): each task's records together, winner first.
    order = np.lexsort((records["seq"], when, rank, task))[::-1]
    records = take_batch(records, order)
    task, state_codes = task[order], state_codes[order]
    firsts = np.flatnonzero(np.r_[True, task[1:] != task[:-1]])
    sizes = np.diff(np.r_[firsts, len(task)])
    in_winner_state = state_codes == np.repeat(state_codes[firsts], sizes)
    positions = np.arange(len(task))
    merged = {}
    for key, values in records.items():
        if key in _WINNER_FIELDS:
            pick = firsts
        else:
            present = _present(values)
            if key in _STATE_FIELDS:
                present &= in_winner_state
            first = np.minimum.reduceat(np.where(present, positions, len(task)), firsts)
            pick = np.where(first == len(task), firsts, first)  # none present: the winner's
        merged[key] = take_column(values, pick)
    alone = np.ones(n, dtype=bool)
    alone[candidates] = False
    return (concat_batches([take_batch(batch, np.flatnonzero(alone)), merged]),
            len(candidates) - len(firsts))


def _sort(batch: dict) -> dict:
    """Stable order: provider, then start time (unknown last), then task id, then read order."""
    if len(batch["seq"]) < 2:
        return batch
    start = batch["start_time"]
    keys = pa.table({"provider": batch["provider"],
                     "start": np.where(start == NAT, _INT_MAX, start),
                     "task_id": batch["task_id"], "seq": batch["seq"]})
    # Arrow compares strings by UTF-8 bytes, which is Python's code-point order.
    order = pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in keys.column_names])
    return take_batch(batch, order.to_numpy())


def _utc(ns: np.ndarray) -> pd.arrays.DatetimeArray:
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC").array


def _frame(batch: dict) -> pd.DataFrame:
    start, end = batch["start_time"], batch["end_time"]
    data: dict[str, Any] = {}
    for key in TASK_COLUMNS:
        if key in ("start_time", "end_time"):
            data[key] = _utc(batch[key])
        elif key == "duration":
            both = (start != NAT) & (end != NAT)
            data[key] = pd.array(np.where(both, end - start, NAT).view("timedelta64[ns]"))
        elif key in INT_KEYS:
            values = batch[key]
            data[key] = pd.arrays.IntegerArray(
                to_numpy(pc.fill_null(values, 0)).astype(np.int64), to_numpy(values.is_null()))
        elif key in OBJECT_KEYS:
            data[key] = pd.array(batch[key], dtype=object)
        else:
            data[key] = pd.array(batch[key], dtype="str")
    return pd.DataFrame(data)


def read_tasks(source: Any, *, errors: str = "raise") -> pd.DataFrame | tuple[pd.DataFrame,
                                                                                pd.DataFrame]:
    """Read asynchronous task records of IMM and Huawei VIAS into one frame.

    One row per IMM task, per Huawei task and per Huawei batch, however many
    records mention it (a ListTasks page, GetTask snapshots, a notification,
    a merge-log line).

    Parameters
    ----------
    source : path, dict, list of dicts, or SDK model object(s)
        A ``.json`` / ``.jsonl`` / ``.ndjson`` file (optionally ``.gz``), a
        directory searched recursively for them (in sorted order), parsed
        JSON, or official SDK objects (anything with ``to_map()``; a
        ``{headers, statusCode, body}`` response is unwrapped to its body).
        Records it may hold:

        - IMM GetTask bodies and ListTasks pages (each ``Tasks[]`` entry is a
          record; the page's ``ProjectName`` goes to its tasks);
        - IMM Create*Task responses ``{RequestId, TaskId, EventId}``: a task
          known to exist, with no status and state ``"pending"`` until
          another record says otherwise;
        - IMM asynchronous messages: an envelope (``id``, ``type``,
          ``time``...) whose ``content`` is the task message as JSON text;
          ``id`` is taken as the task's ``event_id``, and a missing TaskType
          comes from ``type`` (``imm:Task:FigureClustering`` is TaskType
          ``FaceClustering``);
        - GetTask snapshots ``{"ObservedAt": <time>, "Response": <body>}``
          (see :func:`read_task_history`);
        - merge-request log lines (below);
        - Huawei ListBatchTasks pages (``batch_task_list[]``), task lists
          (``tasks[]``; a page-level ``batch_id`` key, the query parameter the
          page was fetched with, is given to every task of the page since the
          entries do not carry it), ShowTaskInfo bodies, and BatchTaskResDto
          ``{id, total_count, succeed_count, failed_count, error_list}``
          (a batch known to exist: state ``"pending"`` until a
          ListBatchTasks entry says otherwise).

        A JSON array is a sequence of such records.
    errors : {"raise", "collect"}, default="raise"
        ``"raise"``: the first bad record raises
        :class:`~toolkit.errors.RecordError` naming its source (``file:line``,
        ``page.json Tasks[3]`` or ``object[i]``), the field, what was expected
        and what came. ``"collect"``: bad records are set aside and returned.

    Returns
    -------
    tasks : DataFrame
        Columns, in order:

        - ``provider`` (``"imm"`` / ``"vias"``), ``task_id``, ``task_type``
          (IMM TaskType, any string; ``"task"`` or ``"batch"`` for Huawei);
        - ``status``: the raw value, exact case (for a Huawei batch, which
          has no status, its non-zero member counts such as
          ``"running=2, start_failed=1"``; empty for Create*Task responses);
        - ``state``: ``pending``, ``running``, ``succeeded``, ``failed``,
          ``stopped`` or ``other`` (mapping in ``toolkit.io._tasks_states``);
        - ``start_time``, ``end_time`` (``datetime64[ns, UTC]``; Huawei
          ``created_at`` is the start; Huawei gives no end), ``duration``
          (``end_time - start_time``, NaT when either is missing);
        - ``progress`` (Int64, 0-100, only meaningful while running);
        - ``code``, ``message`` (empty strings read as missing; Huawei
          ``error.code`` / ``error.message``, else the ShowTaskInfo status
          text; a BatchTaskResDto's ``error_list`` joined by ``"; "``);
        - ``user_data``: UserData parsed when it is JSON object or array
          text, else the string; ``tags`` (dict);
        - ``request`` (dict): the parsed ``TaskRequestDefinition``, the
          merge-log ``Request``, or for Huawei the record's remaining fields
          (name, service, input/output configuration...);
        - ``merge_to``, ``merge_from``, ``merge_froms`` (list),
          ``merge_sources`` (list: the Froms, or ``[From]``) for merges;
        - ``batch_id`` (a Huawei batch's own id on its row, the batch of
          each member task on theirs), ``total_count``, ``succeed_count``,
          ``failed_count`` (Int64; for a ListBatchTasks entry ``num_task``
          and the member counts in succeeded and in any failed state, for a
          BatchTaskResDto the counts of the operation);
        - ``project``, ``dataset``: the record's own, else (project) its
          ListTasks page's, else the request definition's (GetTask bodies
          carry no DatasetName; the request that created the task does);
        - ``event_id``, ``request_id``: of the winning record (for a GetTask
          body, the RequestId of that GetTask call);
        - ``source``: where the winning record came from.

        Rows are sorted by provider, then start time (unknown last), then
        task id. ``tasks.attrs["counts"]`` holds ``read``, ``accepted``,
        ``duplicates`` and ``rejected``, with
        ``read == accepted + duplicates + rejected``.
    rejected : DataFrame
        Only with ``errors="collect"``: one row per rejected record, columns
        ``source``, ``reason``, ``raw`` (the record as read).

    Raises
    ------
    RecordError
        With ``errors="raise"``, for the first bad record: malformed JSON,
        an empty file, a truncated gzip stream, a record of unknown shape,
        a missing ``TaskId`` / ``Status`` / ``id`` / ``state``, a value of
        the wrong type (``Progress`` ``"abc"``, ``Tags`` a list), an IMM
        ``Status`` outside Running / Succeeded / Failed (any case), a time
        that does not parse, an error response of either cloud.
    FileNotFoundError
        The path does not exist.
    ValueError
        The directory holds no JSON files, or ``errors`` is not valid.

    Warns
    -----
    UserWarning
        Once per call when Huawei ``state`` values (or batch status keys)
        are outside the documented vocabulary; their rows get state
        ``"other"``.

    Notes
    -----
    **Merge parameters.** IMM returns ``TaskRequestDefinition`` only for some
    task types and its notifications carry no ``From`` / ``To``, so a merge's
    parameters come from whichever is present: the task's
    ``TaskRequestDefinition`` (JSON text), or a *merge request log*: JSON
    lines ``{"Request": {CreateFigureClustersMergingTask parameters},
    "Response": {"RequestId", "TaskId", "EventId"}}`` that a caller keeps when
    it creates merges, joined on ``TaskId``. ``Froms`` may be a list or its
    JSON text; exactly one of ``From`` / ``Froms`` must be set, and ``To``.
    A log line is a record of its own: it makes a row (TaskType
    ``FigureClustersMerging``, state ``"pending"``) when its task is seen
    nowhere else, and is folded in as a duplicate when it is.

    **One row per task.** Records of the same task (same provider and id;
    Huawei batches and tasks apart) are folded: the record with the most
    advanced state wins (pending < other < running < succeeded, failed,
    stopped), ties going to the latest time (when the record was observed:
    ``ObservedAt``, the notification ``time``, Huawei ``updated_at``; else
    its end time, else its start time), then to the record read last. Fields
    the winner lacks are filled from the other records in that order, except
    ``progress``, ``code`` and ``message``, which are filled only from
    records in the winner's state. Each folded record counts as a duplicate.

    **IMM task types.** Any TaskType string is accepted. A merge is
    recognised by TaskType ``FigureClustersMerging`` or a notification of
    type ``imm:Task:FigureClustersMerging``.

    **Large files.** A ``.jsonl`` / ``.ndjson`` file (optionally ``.gz``)
    whose lines are all GetTask bodies is parsed whole by Arrow's JSON reader,
    on all cores. A file holding anything else, or any bad record, is read line
    by line instead; both give the same frame, rejections and counts.

    **Huawei states** are compared case-insensitively; a batch's state is
    derived from its member counts (``batch_task_status_info``): any
    running -> running, else any pending-like -> pending, else no member at
    all -> pending, else any failed -> failed, else any stopped -> stopped,
    else any undocumented -> other, else succeeded.

    Examples
    --------
    >>> import toolkit as tk
    >>> tasks = tk.read_tasks({"TaskId": "t-1", "TaskType": "FaceClustering",
    ...                        "Status": "Succeeded", "StartTime": "2025-03-02T08:15:04.118233911Z",
    ...                        "EndTime": "2025-03-02T16:16:40.902+08:00"})
    >>> tasks.loc[0, ["task_id", "state", "duration"]].tolist()
    ['t-1', 'succeeded', Timedelta('0 days 00:01:36.783766089')]
    >>> tasks.attrs["counts"]
    {'read': 1, 'accepted': 1, 'duplicates': 0, 'rejected': 0}
    """
    collector = Collector(errors)
    counts = ReadCounts()
    rejections = Rejections(collector, counts)
    with gc_paused():
        scan = scan_tasks(source, collector, counts, rejections, kinds=TASK_KINDS)
        batch, counts.duplicates = _fold(scan.batch)
        counts.accepted = len(batch["seq"])
        frame = _frame(_sort(batch))
    frame.attrs["counts"] = counts.as_dict()
    if scan.unknown_states:
        warnings.warn(f"Huawei state values outside the documented vocabulary were read as "
                      f"state 'other': {sorted(scan.unknown_states)}", UserWarning, stacklevel=2)
    if collector.collecting:
        return frame, rejections.frame()
    return frame
