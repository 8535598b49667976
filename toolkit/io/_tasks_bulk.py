"""IMM task records in bulk: column by column instead of record by record.

A large task file is mostly GetTask bodies (or ListTasks entries), one per
line. Reading them one at a time costs microseconds of Python per record;
here each field is pulled out as one column and checked and converted as a
whole, with Arrow doing the work. Any record that fails any check is handed
back and parsed one at a time by the record parser, which either accepts it
(a ``"RUNNING"`` status, Tags sent as JSON text, a digit-string Progress...)
or says exactly what is wrong. So both routes give the same rows and the
same errors; only their speed differs.

Only records parsed from JSON text come here: their values can only be str,
int, float, bool, None, list or dict, which is what the checks assume.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ._tasks_columns import NAT, int_array, object_array, str_array
from ._tasks_records import (BadRecord, json_object, merge_parameters, request_str,
                             user_data_value)
from ._time import parse_utc

__all__ = ["bulk_imm_tasks", "imm_fields", "BULK_KEYS"]

_STR = pa.large_string()
_STATUSES = pa.array(["Running", "Succeeded", "Failed"], type=_STR)
_STATES = pa.array(["running", "succeeded", "failed"], type=_STR)


def _mask(values: pa.Array) -> np.ndarray:
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


BULK_KEYS = ("TaskId", "Status", "TaskType", "Progress", "Code", "Message", "ProjectName",
             "DatasetName", "EventId", "RequestId", "StartTime", "EndTime", "Tags", "UserData",
             "TaskRequestDefinition")
_COLUMN = {key: i for i, key in enumerate(BULK_KEYS)}


def imm_fields(d: dict) -> tuple:
    """The values of :data:`BULK_KEYS` in one record.

    Taken record by record while the freshly parsed dict is still in the CPU cache:
    pulling each column out of a list of dicts afterwards revisits every dict once per
    field and costs several times more.
    """
    get = d.get
    return (get("TaskId"), get("Status"), get("TaskType"), get("Progress"), get("Code"),
            get("Message"), get("ProjectName"), get("DatasetName"), get("EventId"),
            get("RequestId"), get("StartTime"), get("EndTime"), get("Tags"), get("UserData"),
            get("TaskRequestDefinition"))


class _Checker:
    """Checks and converts columns, marking the records that need a closer look."""

    def __init__(self, fields: Sequence[tuple]) -> None:
        self.columns = list(zip(*fields)) if fields else [()] * len(BULK_KEYS)
        self.n = len(fields)
        self.deferred = np.zeros(self.n, dtype=bool)

    def column(self, key: str) -> Sequence[Any]:
        return self.columns[_COLUMN[key]]

    def strings(self, key: str, *, required: bool = False) -> pa.Array:
        """A string field; "" is missing; anything but str/None defers its record."""
        values = self.column(key)
        try:
            arr = str_array(values)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            wrong = np.fromiter((not (v is None or type(v) is str) for v in values), dtype=bool,
                                count=self.n)
            self.deferred |= wrong
            arr = str_array([None if w else v for v, w in zip(values, wrong)])
        empty = pc.equal(pc.binary_length(arr), 0)
        if required:
            if arr.null_count or pc.any(empty).as_py():
                self.deferred |= ~_mask(pc.invert(empty))  # missing or ""
        elif pc.any(empty).as_py():
            arr = pc.if_else(empty, pa.scalar(None, type=_STR), arr)
        return arr

    def progress(self) -> pa.Array:
        values = self.column("Progress")
        try:
            arr = int_array(values)
        except (pa.ArrowTypeError, pa.ArrowInvalid, OverflowError):
            wrong = np.fromiter((not (v is None or (type(v) is int and 0 <= v <= 100))
                                 for v in values), dtype=bool, count=self.n)
            self.deferred |= wrong
            arr = int_array([None if w else v for v, w in zip(values, wrong)])
        self.deferred |= _mask(pc.or_(pc.less(arr, 0), pc.greater(arr, 100)))
        return arr

    def tags(self) -> list[Any]:
        values = self.column("Tags")
        wrong = [i for i, v in enumerate(values) if not (v is None or type(v) is dict)]
        self.deferred[wrong] = True
        return values

    def user_data(self) -> list[Any]:
        """UserData as :func:`~toolkit.io._tasks_records.user_data_value` reads it, in one loop."""
        out = list(self.column("UserData"))
        loads = orjson.loads
        for i, value in enumerate(out):
            if type(value) is str:
                if not value:
                    out[i] = None
                elif value[0] in "{[":
                    try:
                        out[i] = loads(value)
                    except orjson.JSONDecodeError:
                        pass  # not JSON after all: the string stays
                elif value[0].isspace():
                    out[i] = user_data_value(value, "UserData")
            elif not (value is None or type(value) is dict or type(value) is list):
                self.deferred[i] = True
        return out

    def requests(self) -> tuple[list[Any], ...]:
        """Parsed TaskRequestDefinition and the merge parameters it holds."""
        n = self.n
        request: list[Any] = [None] * n
        merge_to: list[Any] = [None] * n
        merge_from: list[Any] = [None] * n
        merge_froms: list[Any] = [None] * n
        merge_sources: list[Any] = [None] * n
        for i, value in enumerate(self.column("TaskRequestDefinition")):
            if value is None:
                continue
            try:
                parsed = json_object(value, "TaskRequestDefinition", "JSON text of the request")
                merge = (merge_parameters(parsed, "TaskRequestDefinition.", required=False)
                         if parsed else None)
            except BadRecord:
                self.deferred[i] = True
                continue
            request[i] = parsed
            if merge:
                merge_to[i], merge_from[i], merge_froms[i], merge_sources[i] = merge
        return request, merge_to, merge_from, merge_froms, merge_sources

    def times(self, key: str) -> np.ndarray:
        ns, bad = parse_utc(self.column(key))
        self.deferred |= bad
        return ns


def bulk_imm_tasks(fields: Sequence[tuple], sources: Sequence[str], projects: Sequence[Any],
                   seqs: Sequence[int]) -> tuple[dict, np.ndarray]:
    """Columns of the IMM task records that pass every check, and the positions of the others.

    Parameters
    ----------
    fields : sequence of tuple
        :func:`imm_fields` of GetTask bodies or ListTasks entries parsed from JSON text.
    sources, projects, seqs : sequences of the same length
        Source label, page ``ProjectName`` (or None) and read position of each.

    Returns
    -------
    batch : dict
        A column batch (see ``toolkit.io._tasks_columns``) of the accepted records.
    deferred : ndarray of int
        Positions of the records to parse one by one.
    """
    check = _Checker(fields)
    n = check.n
    task_id = check.strings("TaskId", required=True)
    status = check.strings("Status", required=True)
    # Exact spelling only; other spellings ("RUNNING") and unknown values go the slow way.
    index = pc.index_in(status, value_set=_STATUSES)
    check.deferred |= _mask(index.is_null())
    state = _STATES.take(index)
    columns = {
        "task_id": task_id, "status": status, "state": state,
        "task_type": check.strings("TaskType"), "progress": check.progress(),
        "code": check.strings("Code"), "message": check.strings("Message"),
        "dataset": check.strings("DatasetName"), "event_id": check.strings("EventId"),
        "request_id": check.strings("RequestId"),
        "start_time": check.times("StartTime"), "end_time": check.times("EndTime"),
    }
    project = check.strings("ProjectName")
    if any(p is not None for p in projects):
        project = pc.coalesce(project, str_array(projects))
    tags = check.tags()
    user_data = check.user_data()
    request, merge_to, merge_from, merge_froms, merge_sources = check.requests()
    # GetTask bodies carry no DatasetName: the request that created the task does.
    with_request = [i for i, r in enumerate(request) if r]
    if with_request:
        from_request = {"ProjectName": [None] * n, "DatasetName": [None] * n}
        for key, values in from_request.items():
            for i in with_request:
                values[i] = request_str(request[i], key)
        project = pc.coalesce(project, str_array(from_request["ProjectName"]))
        columns["dataset"] = pc.coalesce(columns["dataset"],
                                         str_array(from_request["DatasetName"]))
    batch = {
        "provider": pa.repeat(pa.scalar("imm", type=_STR), n), **columns,
        "merge_to": str_array(merge_to), "merge_from": str_array(merge_from),
        "batch_id": pa.nulls(n, type=_STR), "project": project,
        "source": str_array(sources),
        "total_count": pa.nulls(n, type=pa.int64()), "succeed_count": pa.nulls(n, pa.int64()),
        "failed_count": pa.nulls(n, type=pa.int64()),
        "seen": np.full(n, NAT, dtype=np.int64),
        "user_data": object_array(user_data), "tags": object_array(tags),
        "request": object_array(request), "merge_froms": object_array(merge_froms),
        "merge_sources": object_array(merge_sources),
        "is_batch": np.zeros(n, dtype=bool), "seq": np.asarray(seqs, dtype=np.int64),
    }
    deferred = check.deferred
    if deferred.any():
        keep = ~deferred
        arrow_keep = pa.array(keep)
        batch = {key: (value.filter(arrow_keep) if isinstance(value, pa.Array) else value[keep])
                 for key, value in batch.items()}
    return batch, np.flatnonzero(deferred)

