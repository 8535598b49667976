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
int, float, bool, None, list or dict, which is what the checks assume. The
checks take their columns as Python sequences (one value per record) or,
from ``_tasks_arrow``, as Arrow arrays already typed by Arrow's JSON parser.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ._tasks_columns import NAT, int_array, object_array, str_array
from ._tasks_records import (BadRecord, json_object, merge_parameters, request_str,
                             user_data_value)
from ._time import parse_utc

__all__ = ["bulk_imm_tasks", "imm_task_columns", "imm_fields", "loads_each", "BULK_KEYS"]

_STR = pa.large_string()
_STATUSES = pa.array(["Running", "Succeeded", "Failed"], type=_STR)
_STATES = pa.array(["running", "succeeded", "failed"], type=_STR)
_JSON_STARTS = pa.array(["{", "["], type=_STR)


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _is_arrow(values: Any) -> bool:
    return isinstance(values, (pa.Array, pa.ChunkedArray))


_IMMUTABLE = frozenset((str, int, float, bool, type(None)))


def _constant(value: Any) -> Any:
    return value


def _fresh_copy(value: Any, text: str | bytes) -> Any:
    """A function giving a fresh copy of ``value`` (parsed from ``text``), at the least cost."""
    kind = type(value)
    if kind is dict:
        flat = _IMMUTABLE.issuperset(map(type, value.values()))
    elif kind is list:
        flat = _IMMUTABLE.issuperset(map(type, value))
    else:
        return partial(_constant, value)  # a scalar: immutable, may be shared
    # A flat container is copied shallowly: its items are immutable; others are parsed again.
    return value.copy if flat else partial(orjson.loads, text)


def loads_each(texts: Sequence[str | bytes]) -> tuple[list[Any], list[int]]:
    """``orjson.loads`` of every text, each result a distinct object.

    The same text often comes back record after record (one UserData for a whole job, a
    handful of Tags): then each distinct text is parsed once and copied for every record.

    Returns
    -------
    values : list
        What each text parses to (None for a text that is not JSON).
    not_json : list of int
        Positions of the texts that are not JSON.
    """
    loads, error = orjson.loads, orjson.JSONDecodeError
    distinct = set(texts)
    if len(distinct) * 2 <= len(texts):
        fresh = {}
        for text in distinct:
            try:
                fresh[text] = _fresh_copy(loads(text), text)
            except error:
                fresh[text] = None
        if None in fresh.values():
            bad = [i for i, text in enumerate(texts) if fresh[text] is None]
            fresh = {text: (make or partial(_constant, None)) for text, make in fresh.items()}
            return [fresh[text]() for text in texts], bad
        return [fresh[text]() for text in texts], []
    try:
        return [loads(text) for text in texts], []
    except error:
        pass
    values: list[Any] = []
    bad = []
    for i, text in enumerate(texts):
        try:
            values.append(loads(text))
        except error:
            values.append(None)
            bad.append(i)
    return values, bad


BULK_KEYS = ("TaskId", "Status", "TaskType", "Progress", "Code", "Message", "ProjectName",
             "DatasetName", "EventId", "RequestId", "StartTime", "EndTime", "Tags", "UserData",
             "TaskRequestDefinition")


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

    def __init__(self, columns: Mapping[str, Any], n: int, deferred: np.ndarray | None) -> None:
        self.columns = columns
        self.n = n
        self.deferred = (np.zeros(n, dtype=bool) if deferred is None
                         else np.array(deferred, dtype=bool))

    def column(self, key: str) -> Any:
        return self.columns[key]

    def strings(self, key: str, *, required: bool = False) -> pa.Array | pa.ChunkedArray:
        """A string field; "" is missing; anything but str/None defers its record."""
        values = self.column(key)
        try:
            arr = values.cast(_STR) if _is_arrow(values) else str_array(values)
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

    def progress(self) -> pa.Array | pa.ChunkedArray:
        values = self.column("Progress")
        try:
            arr = values.cast(pa.int64()) if _is_arrow(values) else int_array(values)
        except (pa.ArrowTypeError, pa.ArrowInvalid, OverflowError):
            wrong = np.fromiter((not (v is None or (type(v) is int and 0 <= v <= 100))
                                 for v in values), dtype=bool, count=self.n)
            self.deferred |= wrong
            arr = int_array([None if w else v for v, w in zip(values, wrong)])
        self.deferred |= _mask(pc.or_(pc.less(arr, 0), pc.greater(arr, 100)))
        return arr

    def tags(self, *, checked: bool) -> list[Any]:
        values = self.column("Tags")
        if not checked:
            wrong = [i for i, v in enumerate(values) if not (v is None or type(v) is dict)]
            self.deferred[wrong] = True
        return values

    def user_data(self) -> list[Any]:
        """UserData as :func:`~toolkit.io._tasks_records.user_data_value` reads it."""
        values = self.column("UserData")
        if _is_arrow(values):
            repeated = _user_data_repeated(values)
            if repeated is not None:
                return repeated
            # JSON-looking texts found by Arrow; the rest (rare) looked at one by one below.
            first = pc.utf8_slice_codeunits(values, 0, 1)
            json_like = _mask(pc.is_in(first, value_set=_JSON_STARTS))
            rest = np.flatnonzero(~json_like & _mask(values.is_valid()))
            out = values.to_pylist()
            texts = np.flatnonzero(json_like).tolist()
        else:
            out = list(values)
            rest = range(len(out))
            texts = []
        for i in rest:
            value = out[i]
            if type(value) is str:
                if not value:
                    out[i] = None
                elif value[0] in "{[":
                    texts.append(i)
                elif value[0].isspace():
                    out[i] = user_data_value(value, "UserData")
            elif not (value is None or type(value) is dict or type(value) is list):
                self.deferred[i] = True
        if texts:
            values, not_json = loads_each([out[i] for i in texts])
            for j in not_json:  # not JSON after all: the string stays
                values[j] = out[texts[j]]
            for i, value in zip(texts, values):
                out[i] = value
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


def _user_data_repeated(values: pa.Array | pa.ChunkedArray) -> list[Any] | None:
    """UserData strings read once per distinct value, when values repeat (else None)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary.to_pylist()
    if len(distinct) * 2 > len(values):
        return None
    makers = [_fresh_copy(user_data_value(text, "UserData"), text) for text in distinct]
    makers.append(partial(_constant, None))  # for null
    codes = pc.fill_null(encoded.indices, len(distinct)).to_numpy(zero_copy_only=False)
    return [makers[code]() for code in codes.tolist()]


def _fill_from_requests(values: pa.Array | pa.ChunkedArray, request: list,
                        with_request: np.ndarray, key: str) -> pa.Array | pa.ChunkedArray:
    """``values``, missing ones taken from the request definition's ``key``."""
    missing = np.flatnonzero(with_request & _mask(values.is_null())).tolist()
    if not missing:
        return values
    filled: list[Any] = [None] * len(with_request)
    for i in missing:
        filled[i] = request_str(request[i], key)
    return pc.coalesce(values, str_array(filled))


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
    columns = dict(zip(BULK_KEYS, zip(*fields))) if fields else dict.fromkeys(BULK_KEYS, ())
    return imm_task_columns(columns, len(fields), str_array(sources), projects, seqs)


def imm_task_columns(columns: Mapping[str, Any], n: int, sources: pa.Array | pa.ChunkedArray,
                     projects: Sequence[Any] | None, seqs: Sequence[int] | np.ndarray, *,
                     deferred: np.ndarray | None = None,
                     tags_checked: bool = False) -> tuple[dict, np.ndarray]:
    """:func:`bulk_imm_tasks` on records given column by column.

    Parameters
    ----------
    columns : mapping of each of :data:`BULK_KEYS` to its values
        One value per record (None where the record lacks the key): a Python
        sequence, or an Arrow array (strings for the string fields and
        ``UserData``, int64 for ``Progress``). ``Tags`` and
        ``TaskRequestDefinition`` are Python sequences.
    n : int
        Number of records.
    sources : Arrow string array
        Source label of each record.
    projects : sequence or None
        Page ``ProjectName`` of each record (None: no record comes from a page).
    seqs : sequence of int
        Read position of each record.
    deferred : ndarray of bool, optional
        Records already known to need the record parser.
    tags_checked : bool, default=False
        Whether every ``Tags`` value is already known to be a dict or None.

    Returns
    -------
    batch, deferred
        As for :func:`bulk_imm_tasks`.
    """
    check = _Checker(columns, n, deferred)
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
    if projects is not None and any(p is not None for p in projects):
        project = pc.coalesce(project, str_array(projects))
    tags = check.tags(checked=tags_checked)
    user_data = check.user_data()
    request, merge_to, merge_from, merge_froms, merge_sources = check.requests()
    # GetTask bodies carry no DatasetName: the request that created the task does.
    with_request = np.fromiter(map(bool, request), dtype=bool, count=n)
    if with_request.any():
        project = _fill_from_requests(project, request, with_request, "ProjectName")
        columns["dataset"] = _fill_from_requests(columns["dataset"], request, with_request,
                                                 "DatasetName")
    batch = {
        "provider": pa.repeat(pa.scalar("imm", type=_STR), n), **columns,
        "merge_to": str_array(merge_to), "merge_from": str_array(merge_from),
        "batch_id": pa.nulls(n, type=_STR), "project": project,
        "source": sources.cast(_STR),
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
        batch = {key: (value.filter(arrow_keep) if _is_arrow(value) else value[keep])
                 for key, value in batch.items()}
    return batch, np.flatnonzero(deferred)

