"""Recognising task records and turning each one into a row.

Shared by :func:`~toolkit.io.read_tasks` and :func:`~toolkit.io.read_task_history`.
A JSON document is split into *records* by :func:`iter_records`; each record
has a *kind* (which cloud shape it is) and is parsed by :func:`parse_record`
into a :class:`Row` (fields :data:`ROW_KEYS`). Times stay raw in the rows
and are parsed for many rows at once by :func:`row_times`: parsing them one
by one would cost more than everything else together. (Large files of IMM
task records take a faster, column-wise route, ``_tasks_bulk``, which hands
any record it doubts back to :func:`parse_record`.)

Shapes, recognised by their keys:

=====================  ==========================================================
kind                   shape
=====================  ==========================================================
``imm-task``           IMM GetTask body, or one ``Tasks[]`` entry of a ListTasks
                       page (the page's ``ProjectName`` is applied to its tasks)
``imm-created``        IMM Create*Task response ``{RequestId, TaskId, EventId}``
``imm-notification``   IMM asynchronous message: an envelope (``id``, ``type``,
                       ``time``, ...) whose ``content`` is JSON text
``imm-snapshot``       ``{"ObservedAt": <time>, "Response": <GetTask body>}``
``imm-merge-log``      ``{"Request": <CreateFigureClustersMergingTask params>,
                       "Response": {RequestId, TaskId, EventId}}``
``vias-batch``         one ``batch_task_list[]`` entry of a ListBatchTasks page
``vias-batch-result``  BatchTaskResDto ``{id, total_count, succeed_count,
                       failed_count, error_list}``
``vias-task``          one ``tasks[]`` entry of a Huawei ListTasks page, or a
                       ShowTaskInfo body
=====================  ==========================================================

A JSON array is a sequence of records. Anything else is a record of unknown
shape (rejected); so are error responses of either cloud.
"""

from __future__ import annotations

from collections import namedtuple
from functools import partial
from typing import Any, Iterator

import numpy as np
import orjson

from ._source import to_plain
from ._tasks_states import FAILED_GROUP, batch_state, imm_state, vias_state
from ._time import TIME_EXPECTED, parse_utc

__all__ = ["BadRecord", "Row", "ROW_KEYS", "MERGE_TASK_TYPE", "iter_records", "parse_record",
           "imm_task_row", "json_object", "user_data_value", "merge_parameters", "request_str",
           "row_times", "TASK_KINDS", "OBSERVATION_KINDS", "IMM_TASK", "BAD"]

IMM_TASK = "imm-task"
IMM_CREATED = "imm-created"
IMM_NOTIFICATION = "imm-notification"
IMM_SNAPSHOT = "imm-snapshot"
IMM_MERGE_LOG = "imm-merge-log"
VIAS_BATCH = "vias-batch"
VIAS_BATCH_RESULT = "vias-batch-result"
VIAS_TASK = "vias-task"
BAD = "bad"

TASK_KINDS = (IMM_TASK, IMM_CREATED, IMM_NOTIFICATION, IMM_SNAPSHOT, IMM_MERGE_LOG, VIAS_BATCH,
              VIAS_BATCH_RESULT, VIAS_TASK)
OBSERVATION_KINDS = (IMM_SNAPSHOT, IMM_NOTIFICATION)

# The TaskType IMM is expected to give merges: the "Task types" page does not list
# merges, but the EventBridge event is imm:Task:FigureClustersMerging.
MERGE_TASK_TYPE = "FigureClustersMerging"
# Notification types name clustering "FigureClustering" where TaskType says "FaceClustering".
_NOTIFICATION_KINDS = {"FigureClustering": "FaceClustering"}

ROW_KEYS = (
    "provider", "task_id", "task_type", "status", "state", "start_time", "end_time", "progress",
    "code", "message", "user_data", "tags", "request", "merge_to", "merge_from", "merge_froms",
    "merge_sources", "batch_id", "total_count", "succeed_count", "failed_count", "project",
    "dataset", "event_id", "request_id", "source",
    # Not columns: the time the record was observed (raw), the names of the three time
    # fields for error messages, and whether the row is a Huawei batch.
    "seen", "time_fields", "is_batch",
)
# Rows are tuples, not dicts: a large file of snapshots or notifications makes hundreds of
# thousands of them, and a tuple is several times cheaper to build and to transpose.
Row = namedtuple("Row", ROW_KEYS, defaults=(None,) * len(ROW_KEYS))
_new_row = partial(tuple.__new__, Row)

_IMM_CREATED_KEYS = frozenset(("RequestId", "TaskId", "EventId"))
_IMM_TASK_KEYS = frozenset(("TaskId", "TaskType", "Status", "StartTime", "EndTime", "Progress",
                            "UserData", "Tags", "TaskRequestDefinition"))
_VIAS_RESULT_KEYS = frozenset(("total_count", "succeed_count", "failed_count", "error_list"))
_VIAS_BATCH_KEYS = frozenset(("batch_task_status_info", "batch_task_name", "num_task"))
_VIAS_TASK_KEYS = frozenset(("state", "name", "service_id", "created_at", "algorithm_publish_id",
                             "video_source_name", "project_id", "task_config", "schedule_status"))
# Huawei task fields that become columns; the rest of the record is kept as `request`.
_VIAS_TASK_MAPPED = frozenset(("id", "state", "created_at", "updated_at", "project_id", "error",
                               "status", "batch_id"))
_VIAS_BATCH_MAPPED = frozenset(("id", "batch_task_status_info", "num_task", "created_at"))


class BadRecord(Exception):
    """A record that cannot become a row (internal; readers turn it into a rejection)."""

    def __init__(self, reason: str, *, field: str | None = None, expected: str | None = None,
                 got: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.expected = expected
        self.got = got


# --------------------------------------------------------------------------------------
# Splitting documents into records
# --------------------------------------------------------------------------------------

def _keys(d: dict) -> str:
    keys = sorted(map(str, d))
    return "{" + ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "") + "}"


def iter_records(value: Any, source: str) -> Iterator[tuple[str, str, Any, Any]]:
    """Yield ``(kind, source, raw, context)`` for every record of one document.

    ``context`` holds what a page contributes to its entries (IMM page
    ``ProjectName``, Huawei page ``batch_id``); for kind ``"bad"`` it is the
    :class:`BadRecord` explaining why the record has no usable shape.
    """
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from iter_records(to_plain(item), f"{source} [{i}]")
        return
    if not isinstance(value, dict):
        yield BAD, source, value, BadRecord(
            "unknown record shape", expected="a JSON object (task, page, notification or log "
            "line)", got=value)
        return
    if "TaskId" in value:
        kind = IMM_CREATED if value.keys() <= _IMM_CREATED_KEYS else IMM_TASK
        yield kind, source, value, None
    elif "Tasks" in value:
        project = value.get("ProjectName")
        if project is not None and type(project) is not str:
            yield BAD, source, value, BadRecord("wrong type", field="ProjectName",
                                                expected="a string", got=project)
        else:
            yield from _page_entries(value, "Tasks", source, IMM_TASK, project or None)
    elif "batch_task_list" in value:
        yield from _page_entries(value, "batch_task_list", source, VIAS_BATCH, None)
    elif "tasks" in value:
        yield from _page_entries(value, "tasks", source, VIAS_TASK, value.get("batch_id"))
    elif "Response" in value and "ObservedAt" in value:
        yield IMM_SNAPSHOT, source, value, None
    elif "Response" in value and "Request" in value:
        yield IMM_MERGE_LOG, source, value, None
    elif "content" in value and ("type" in value or "source" in value or "id" in value):
        yield IMM_NOTIFICATION, source, value, None
    elif "error_code" in value and "error_msg" in value:
        yield BAD, source, value, BadRecord(
            "a Huawei VIAS error response, not a task record", field="error_code",
            expected="a task or batch record", got=value.get("error_code"))
    elif "Code" in value and "RequestId" in value and ("HostId" in value or "Recommend" in value):
        yield BAD, source, value, BadRecord(
            "an IMM error response, not a task record", field="Code",
            expected="a task record", got=value.get("Code"))
    elif value.keys() & _IMM_TASK_KEYS:
        yield IMM_TASK, source, value, None  # parse_record reports the missing TaskId
    elif "id" in value or value.keys() & (_VIAS_RESULT_KEYS | _VIAS_BATCH_KEYS | _VIAS_TASK_KEYS):
        if value.keys() & _VIAS_RESULT_KEYS:
            yield VIAS_BATCH_RESULT, source, value, None
        elif value.keys() & _VIAS_BATCH_KEYS:
            yield VIAS_BATCH, source, value, None
        elif value.keys() & _VIAS_TASK_KEYS:
            yield VIAS_TASK, source, value, None
        else:
            yield BAD, source, value, _unknown_shape(value)
    else:
        yield BAD, source, value, _unknown_shape(value)


def _unknown_shape(value: dict) -> BadRecord:
    return BadRecord("unknown record shape", expected="an IMM task, ListTasks page, Create*Task "
                     "response, notification, {ObservedAt, Response} snapshot, merge-log line, "
                     "or a Huawei batch/task record or page", got=_keys(value))


def _page_entries(page: dict, key: str, source: str, kind: str,
                  context: Any) -> Iterator[tuple[str, str, Any, Any]]:
    entries = page[key]
    if entries is None:
        return
    if not isinstance(entries, list):
        yield BAD, source, page, BadRecord("wrong type", field=key, expected="a list of records",
                                           got=entries)
        return
    for i, entry in enumerate(entries):
        yield kind, f"{source} {key}[{i}]", to_plain(entry), context


# --------------------------------------------------------------------------------------
# Field checks
# --------------------------------------------------------------------------------------

def _opt_str(d: dict, key: str, prefix: str = "") -> str | None:
    """A string field; empty strings are missing (IMM sends "" for no Code/Message)."""
    value = d.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):  # str subclasses (numpy.str_) from in-memory records too
        return str(value)
    raise BadRecord("wrong type", field=prefix + key, expected="a string", got=value)


def _req_str(d: dict, key: str, prefix: str = "") -> str:
    value = d.get(key)
    if value is None or value == "":
        raise BadRecord("missing required field", field=prefix + key, expected="a non-empty "
                        "string", got=value)
    if not isinstance(value, str):
        raise BadRecord("wrong type", field=prefix + key, expected="a non-empty string",
                        got=value)
    return str(value)


def _count(d: dict, key: str, prefix: str = "") -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise BadRecord("wrong type", field=prefix + key, expected="a non-negative integer",
                    got=value)


def _progress(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        number = int(value)
    elif isinstance(value, str) and value.isdigit() and value.isascii():
        number = int(value)
    elif type(value) is float and value.is_integer():
        number = int(value)
    else:
        raise BadRecord("wrong type", field=field, expected="an integer percentage 0-100",
                        got=value)
    if not 0 <= number <= 100:
        raise BadRecord("value out of range", field=field, expected="an integer percentage "
                        "0-100", got=value)
    return number


def user_data_value(value: Any, field: str) -> Any:
    """UserData: parsed when it is JSON object or array text, else the string itself."""
    if value is None or value == "":
        return None
    if type(value) is not str:
        if isinstance(value, (dict, list)):
            return value
        raise BadRecord("wrong type", field=field, expected="a string (usually JSON text)",
                        got=value)
    # Only objects and arrays are decoded: an id such as "0042" or "7" stays the string it was.
    if value[:1] in "{[" or value.lstrip()[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def json_object(value: Any, field: str, what: str) -> dict | None:
    """A map that may travel as JSON text (IMM sends nested parameters as strings)."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise BadRecord("wrong type", field=field, expected=what, got=value)


def _string_list(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise BadRecord("wrong type", field=field, expected="a list of cluster ids (or its "
                            "JSON text)", got=value) from None
    if (not isinstance(value, list) or not value
            or not all(type(v) is str and v for v in value)):
        raise BadRecord("wrong type", field=field, expected="a non-empty list of cluster-id "
                        "strings (or its JSON text)", got=value)
    return value


def merge_parameters(request: dict, prefix: str, *,
                     required: bool) -> tuple[str, str | None, list | None, list] | None:
    """``(merge_to, merge_from, merge_froms, merge_sources)`` of a merge request.

    Exactly one of ``From`` / ``Froms`` must be set, and ``To``, as
    CreateFigureClustersMergingTask requires; ``merge_sources`` is the Froms,
    or ``[From]``. With ``required=False`` a request holding none of the three
    keys is not a merge request and gives ``None``.
    """
    get = request.get
    has_from = get("From") not in (None, "")
    has_froms = get("Froms") not in (None, "")
    if not (has_from or has_froms or required or get("To") not in (None, "")):
        return None
    to = _req_str(request, "To", prefix)
    if has_from and has_froms:
        raise BadRecord("both From and Froms are set; a merge takes exactly one of them",
                        field=prefix + "Froms", expected="From or Froms, not both",
                        got={"From": request["From"], "Froms": request["Froms"]})
    if not (has_from or has_froms):
        raise BadRecord("missing required field", field=prefix + "From/Froms",
                        expected="one source cluster id (From) or a list of them (Froms)",
                        got=None)
    if has_from:
        source = _req_str(request, "From", prefix)
        return to, source, None, [source]
    froms = _string_list(request["Froms"], prefix + "Froms")
    return to, None, froms, list(froms)


# --------------------------------------------------------------------------------------
# Records to rows
# --------------------------------------------------------------------------------------

_IMM_TIME_FIELDS = ("StartTime", "EndTime", None)


def imm_task_row(d: dict, source: str, prefix: str = "", project: Any = None,
              time_fields: tuple = _IMM_TIME_FIELDS, seen: Any = None) -> Row:
    """A GetTask body / ListTasks entry / notification message / snapshot response."""
    get = d.get
    task_id = get("TaskId")
    if type(task_id) is not str or not task_id:
        task_id = _req_str(d, "TaskId", prefix)
    status = get("Status")
    # Exact-case lookup first: the documented spelling is by far the most common.
    state = _IMM_EXACT.get(status) if type(status) is str else None
    if state is None:
        state = _imm_status(status, prefix)
    task_type = get("TaskType")
    if task_type is not None and type(task_type) is not str:
        task_type = _opt_str(d, "TaskType", prefix)
    progress = get("Progress")
    if progress is not None and (type(progress) is not int or not 0 <= progress <= 100):
        progress = _progress(progress, prefix + "Progress")
    code, message, project_name, dataset, event_id, request_id = (
        get("Code"), get("Message"), get("ProjectName"), get("DatasetName"), get("EventId"),
        get("RequestId"))
    if not {type(code), type(message), type(project_name), type(dataset), type(event_id),
            type(request_id)} <= _STR_OR_NONE:
        for key in ("Code", "Message", "ProjectName", "DatasetName", "EventId", "RequestId"):
            _opt_str(d, key, prefix)
    tags = get("Tags")
    if tags is not None and type(tags) is not dict:
        tags = json_object(tags, prefix + "Tags", "a map of tag names to values")
    user_data = get("UserData")
    if user_data is not None:
        user_data = user_data_value(user_data, prefix + "UserData")
    request = get("TaskRequestDefinition")
    merge = None
    if request is not None:
        request = json_object(request, prefix + "TaskRequestDefinition",
                               "JSON text of the request (an object)")
        if request:
            merge = merge_parameters(request, prefix + "TaskRequestDefinition.", required=False)
    merge_to, merge_from, merge_froms, merge_sources = merge or (None, None, None, None)
    # Positional, in ROW_KEYS order: keyword construction would double the cost of this
    # function, which runs once per record of every large file.
    return _new_row((
        "imm", task_id, task_type or None, status, state, get("StartTime"), get("EndTime"),
        # IMM sends "" for no Code/Message: empty strings are missing values.
        progress, code or None, message or None, user_data, tags, request,
        merge_to, merge_from, merge_froms, merge_sources,
        None, None, None, None,  # batch_id, total_count, succeed_count, failed_count
        project_name or project or request_str(request, "ProjectName"),
        dataset or request_str(request, "DatasetName"), event_id or None, request_id or None,
        source,
        seen, time_fields, False,
    ))


_STR_OR_NONE = frozenset((str, type(None)))


def request_str(request: dict | None, key: str) -> str | None:
    """A string parameter of a request definition, if it holds one (GetTask bodies carry no
    DatasetName: the request that created the task does)."""
    if not request:
        return None
    value = request.get(key)
    return value if type(value) is str and value else None
_IMM_EXACT = {"Running": "running", "Succeeded": "succeeded", "Failed": "failed"}


def _imm_status(status: Any, prefix: str) -> str:
    if status is None or status == "":
        raise BadRecord("missing required field", field=prefix + "Status",
                        expected="'Running', 'Succeeded' or 'Failed'", got=status)
    if not isinstance(status, str):
        raise BadRecord("wrong type", field=prefix + "Status", expected="a string", got=status)
    state = imm_state(str(status))
    if state is None:
        raise BadRecord("unknown status value", field=prefix + "Status",
                        expected="'Running', 'Succeeded' or 'Failed' (any case)", got=status)
    return state


def _imm_created(d: dict, source: str) -> Row:
    return Row(provider="imm", task_id=_req_str(d, "TaskId"), state="pending",
               event_id=_opt_str(d, "EventId"), request_id=_opt_str(d, "RequestId"),
               source=source, time_fields=_IMM_TIME_FIELDS, is_batch=False)


def _imm_notification(d: dict, source: str) -> Row:
    content = d.get("content")
    if isinstance(content, (str, bytes)):
        try:
            content = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise BadRecord("notification content is not JSON text", field="content",
                            expected="JSON text of the task message", got=d.get("content"),
                            ) from None
    if not isinstance(content, dict):
        raise BadRecord("wrong type", field="content", expected="JSON text of the task "
                        "message (an object)", got=d.get("content"))
    kind = d.get("type")
    if kind is not None and type(kind) is not str:
        raise BadRecord("wrong type", field="type", expected="'imm:Task:<Kind>'", got=kind)
    # Indexing messages carry Success (bool) instead of Status: their state comes from it
    # and their raw status stays empty.
    from_success = "Status" not in content and type(content.get("Success")) is bool
    if from_success:
        content = {**content, "Status": "Succeeded" if content["Success"] else "Failed"}
    # Observed at the envelope time, else when the task ended (a message is sent then).
    seen, seen_field = d.get("time"), "time"
    if seen is None or seen == "":
        seen, seen_field = content.get("EndTime"), "content.EndTime"
    row = imm_task_row(content, source, "content.",
                    time_fields=("content.StartTime", "content.EndTime", seen_field), seen=seen)
    event_id = d.get("id")
    if event_id is not None and type(event_id) is not str:
        raise BadRecord("wrong type", field="id", expected="a string", got=event_id)
    task_type = row.task_type
    if task_type is None and kind and kind.startswith("imm:Task:"):
        name = kind[len("imm:Task:"):]
        task_type = _NOTIFICATION_KINDS.get(name, name) or None
    return row._replace(status=None if from_success else row.status, task_type=task_type,
                        event_id=event_id or row.event_id,
                        project=row.project or _subject_project(d.get("subject")))


def _subject_project(subject: Any) -> str | None:
    # acs:imm:<region>:<account>:<project>/imm:Task:<Kind>
    if type(subject) is not str:
        return None
    parts = subject.split(":", 4)
    if len(parts) < 5:
        return None
    return parts[4].split("/", 1)[0] or None


def _imm_snapshot(d: dict, source: str) -> Row:
    response = to_plain(d.get("Response"))
    if not isinstance(response, dict):
        raise BadRecord("wrong type", field="Response", expected="a GetTask response body",
                        got=response)
    observed = d.get("ObservedAt")
    if observed is None or observed == "":
        raise BadRecord("missing required field", field="ObservedAt", expected="the time the "
                        "snapshot was taken", got=observed)
    return imm_task_row(response, source, "Response.",
                     time_fields=("Response.StartTime", "Response.EndTime", "ObservedAt"),
                     seen=observed)


def _imm_merge_log(d: dict, source: str) -> Row:
    response = to_plain(d.get("Response"))
    request = d.get("Request")
    if not isinstance(response, dict):
        raise BadRecord("wrong type", field="Response", expected="{RequestId, TaskId, EventId}",
                        got=response)
    if not isinstance(request, dict):
        raise BadRecord("wrong type", field="Request", expected="the CreateFigureClustersMerging"
                        "Task parameters (an object)", got=request)
    tags = request.get("Tags")
    if tags is not None:
        tags = json_object(tags, "Request.Tags", "a map of tag names to values")
    return Row(
        provider="imm", task_id=_req_str(response, "TaskId", "Response."),
        task_type=MERGE_TASK_TYPE, state="pending",
        user_data=user_data_value(request.get("UserData"), "Request.UserData"), tags=tags,
        request=request, **dict(zip(("merge_to", "merge_from", "merge_froms", "merge_sources"),
                                    merge_parameters(request, "Request.", required=True))),
        project=_opt_str(request, "ProjectName", "Request."),
        dataset=_opt_str(request, "DatasetName", "Request."),
        event_id=_opt_str(response, "EventId", "Response."),
        request_id=_opt_str(response, "RequestId", "Response."), source=source,
        time_fields=_IMM_TIME_FIELDS, is_batch=False)


def _vias_state(d: dict, unknown: set[str]) -> tuple[str, str]:
    raw = d.get("state")
    if raw is None or raw == "":
        raise BadRecord("missing required field", field="state", expected="a task state such as "
                        "'RUNNING'", got=raw)
    if type(raw) is not str:
        raise BadRecord("wrong type", field="state", expected="a string", got=raw)
    state = vias_state(raw)
    if state == "other":
        unknown.add(raw)
    return raw, state


def _vias_task(d: dict, source: str, batch_id: Any, unknown: set[str]) -> Row:
    task_id = _req_str(d, "id")
    status, state = _vias_state(d, unknown)
    error = d.get("error")
    if error is not None and not isinstance(error, dict):
        raise BadRecord("wrong type", field="error", expected="{code, message}", got=error)
    error = error or {}
    own_batch = _opt_str(d, "batch_id")
    if batch_id is not None and type(batch_id) is not str:
        raise BadRecord("wrong type", field="batch_id (page)", expected="a string",
                        got=batch_id)
    return Row(
        provider="vias", task_id=task_id, task_type="task", status=status, state=state,
        start_time=d.get("created_at"), code=_opt_str(error, "code", "error."),
        message=_opt_str(error, "message", "error.") or _opt_str(d, "status"),
        request={k: v for k, v in d.items() if k not in _VIAS_TASK_MAPPED} or None,
        batch_id=own_batch or batch_id or None, project=_opt_str(d, "project_id"),
        source=source, seen=d.get("updated_at"), time_fields=("created_at", None, "updated_at"),
        is_batch=False)


def _vias_batch(d: dict, source: str, unknown: set[str]) -> Row:
    batch_id = _req_str(d, "id")
    info = d.get("batch_task_status_info")
    if info is None:
        info = {}
    if not isinstance(info, dict):
        raise BadRecord("wrong type", field="batch_task_status_info", expected="a map of task "
                        "state to member count", got=info)
    counts: dict[str, int] = {}
    for key in info:
        if not isinstance(key, str):
            raise BadRecord("wrong type", field="batch_task_status_info", expected="task "
                            "states as keys", got=key)
        counts[key] = _count(info, key, "batch_task_status_info.") or 0  # null: none
        if vias_state(key) == "other":
            unknown.add(key)
    lower: dict[str, int] = {}
    for key, count in counts.items():
        lower[key.lower()] = lower.get(key.lower(), 0) + count
    num_task = _count(d, "num_task")
    return Row(
        provider="vias", task_id=batch_id, task_type="batch",
        # A batch has no status of its own: its raw status is the non-zero counts.
        status=", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v) or None,
        state=batch_state(counts), start_time=d.get("created_at"),
        request={k: v for k, v in d.items() if k not in _VIAS_BATCH_MAPPED} or None,
        batch_id=batch_id,
        total_count=num_task if num_task is not None else sum(lower.values()),
        succeed_count=lower.get("succeeded", 0),
        failed_count=sum(lower.get(k, 0) for k in FAILED_GROUP),
        source=source, time_fields=("created_at", None, None), is_batch=True)


def _vias_batch_result(d: dict, source: str) -> Row:
    batch_id = _req_str(d, "id")
    errors = d.get("error_list")
    if errors is not None and (not isinstance(errors, list)
                               or not all(isinstance(e, str) for e in errors)):
        raise BadRecord("wrong type", field="error_list", expected="a list of strings",
                        got=errors)
    return Row(
        provider="vias", task_id=batch_id, task_type="batch", state="pending",
        message="; ".join(errors) if errors else None, batch_id=batch_id,
        total_count=_count(d, "total_count"), succeed_count=_count(d, "succeed_count"),
        failed_count=_count(d, "failed_count"), source=source, time_fields=(None, None, None),
        is_batch=True)


def parse_record(kind: str, source: str, raw: Any, context: Any,
                 unknown_states: set[str]) -> Row:
    """One record of ``kind`` to a :class:`Row` (raises :class:`BadRecord`).

    ``unknown_states`` collects Huawei state values outside the documented
    vocabulary (their rows get state ``"other"``).
    """
    if kind == IMM_TASK:
        return imm_task_row(raw, source, project=context)
    if kind == BAD:
        raise context
    if not isinstance(raw, dict):
        raise BadRecord("unknown record shape", expected="a JSON object", got=raw)
    if kind == IMM_CREATED:
        return _imm_created(raw, source)
    if kind == IMM_NOTIFICATION:
        return _imm_notification(raw, source)
    if kind == IMM_SNAPSHOT:
        return _imm_snapshot(raw, source)
    if kind == IMM_MERGE_LOG:
        return _imm_merge_log(raw, source)
    if kind == VIAS_TASK:
        return _vias_task(raw, source, context, unknown_states)
    if kind == VIAS_BATCH:
        return _vias_batch(raw, source, unknown_states)
    if kind == VIAS_BATCH_RESULT:
        return _vias_batch_result(raw, source)
    raise AssertionError(f"unhandled record kind {kind!r}")


# --------------------------------------------------------------------------------------
# Times, for all rows at once
# --------------------------------------------------------------------------------------

_TIME_KEYS = ("start_time", "end_time", "seen")
_TIME_INDEX = tuple(ROW_KEYS.index(key) for key in _TIME_KEYS)


def row_times(rows: list[Row]) -> tuple[dict[str, np.ndarray], dict[int, BadRecord]]:
    """Parse the three raw time fields of every row, all rows at once.

    Returns, for each of ``start_time``, ``end_time``, ``seen``, an int64 ns
    array aligned with ``rows`` (NaT = int64 min), and the problem of each row
    holding a value that is not a time (by row position; the first bad field).
    """
    times = {}
    bad_fields: dict[int, BadRecord] = {}
    for j, (key, index) in enumerate(zip(_TIME_KEYS, _TIME_INDEX)):
        ns, bad = parse_utc([row[index] for row in rows])
        times[key] = ns
        for i in np.flatnonzero(bad).tolist():
            if i not in bad_fields:
                row = rows[i]
                bad_fields[i] = BadRecord("value is not a timestamp",
                                          field=row.time_fields[j] or key,
                                          expected=TIME_EXPECTED, got=row[index])
    return times, bad_fields
