"""The IMM records the engine emits, and the checks of the IMM request parameters.

Every builder returns a plain dict in IMM's wire form (PascalCase keys, no
``None`` values), so ``Model().from_map(d).to_map() == d`` holds for the
official SDK models (GetTaskResponseBody, ListTasksResponseBody,
CreateFigureClustersMergingTaskResponseBody, ...).

Choices where IMM documents nothing (see docs/architecture.md):

- ids come from a seeded generator: ``TaskId`` a bare lower-case UUID,
  ``RequestId`` an upper-case UUID, ``EventId`` the ``3-hex-dash-22-base62``
  shape of the documented examples; the notification envelope's ``id`` is the
  task's ``EventId``;
- ``NextToken`` is opaque: it encodes the sort, the order and the sort key of
  the last task returned (keyset paging), so a page never repeats or skips a
  task that existed when the listing began;
- in ``Sort=StartTime``/``EndTime`` listings a task without that time (not
  yet started / still running) sorts as later than every time, ties by TaskId;
- ``StartTimeRange``/``EndTimeRange`` bounds are inclusive, either may be
  left out, and tasks without that time are not in any range;
- ``TagSelector`` is one ``key=value`` pair, matched against the tag's value
  as text.
"""

from __future__ import annotations

import base64
import random
import threading
import uuid
from datetime import datetime
from typing import Any, Mapping

import orjson

from ..errors import ImmError
from ._clock import as_utc_datetime, epoch_ms, iso_ms

__all__ = ["IdSource", "TASK_TYPES", "EVENT_KINDS", "STATUSES", "TaskQuery", "as_plain_tags",
           "check_name", "envelope", "invalid", "missing", "parse_json_param",
           "parse_notification", "task_fields"]

#: The task types the engine runs, and the notification kind of each (the
#: event name says FigureClustering where the TaskType says FaceClustering).
EVENT_KINDS = {"FigureClustersMerging": "FigureClustersMerging",
               "FaceClustering": "FigureClustering"}
TASK_TYPES = tuple(EVENT_KINDS)
STATUSES = ("Running", "Succeeded", "Failed")
SORTS = ("TaskId", "StartTime", "EndTime")
ORDERS = ("asc", "desc")
MAX_RESULTS = 100
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def invalid(parameter: str, expected: str, got: Any) -> ImmError:
    shown = repr(got)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return ImmError("InvalidArgument",
                    f"request (object): parameter {parameter}: expected {expected}, "
                    f"got {shown}.",
                    400)


def missing(parameter: str) -> ImmError:
    return ImmError("MissingParameter",
                    f"request (object): parameter {parameter} is required but was not given.",
                    400)


class IdSource:
    """Deterministic ids from one seeded generator, safe to share between threads."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def _bits(self, n: int) -> int:
        with self.lock:
            return self.rng.getrandbits(n)

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self._bits(128), version=4)

    def task_id(self) -> str:
        return str(self._uuid())

    def request_id(self) -> str:
        return str(self._uuid()).upper()

    def event_id(self) -> str:
        with self.lock:
            head = f"{self.rng.getrandbits(12):03X}"
            tail = "".join(self.rng.choice(_BASE62) for _ in range(22))
        return f"{head}-{tail}"


def parse_json_param(value: Any, parameter: str) -> Any:
    """A nested parameter as IMM sends it (JSON text) or as a Python value / SDK model."""
    if hasattr(value, "to_map"):
        return value.to_map()
    if isinstance(value, (str, bytes)):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise invalid(parameter, "JSON text", value) from None
    return value


def check_name(value: Any, parameter: str) -> str:
    """ProjectName / DatasetName: a non-empty string."""
    if value is None or value == "":
        raise missing(parameter)
    if not isinstance(value, str):
        raise invalid(parameter, "a string", value)
    return value


_NOTIFICATION_KEYS = {"MNS": ("TopicName",), "RocketMQ": ("InstanceId", "TopicName")}


def parse_notification(value: Any) -> dict | None:
    """The Notification parameter: ``{MNS: {TopicName}, RocketMQ: {InstanceId, TopicName},
    ExtendedMessageURI}``, as a dict, JSON text or an SDK ``Notification``."""
    if value is None:
        return None
    value = parse_json_param(value, "Notification")
    if not isinstance(value, dict):
        raise invalid("Notification", "an object {MNS, RocketMQ, ExtendedMessageURI}", value)
    unknown = sorted(set(value) - {"MNS", "RocketMQ", "ExtendedMessageURI"})
    if unknown:
        raise invalid(f"Notification.{unknown[0]}",
                      "only the keys MNS, RocketMQ, ExtendedMessageURI", value[unknown[0]])
    for channel, keys in _NOTIFICATION_KEYS.items():
        if channel not in value:
            continue
        sub = value[channel]
        if not isinstance(sub, dict) or set(sub) - set(keys) - {"Endpoint"}:
            raise invalid(f"Notification.{channel}", f"an object with {', '.join(keys)}", sub)
        for key in keys:
            if not isinstance(sub.get(key), str) or not sub[key]:
                raise invalid(f"Notification.{channel}.{key}", "a non-empty string",
                              sub.get(key))
    uri = value.get("ExtendedMessageURI")
    if uri is not None and (not isinstance(uri, str) or not uri.startswith("oss://")):
        raise invalid("Notification.ExtendedMessageURI", "an oss:// URI", uri)
    return value


# --- ListTasks -------------------------------------------------------------------------


def _time_range(value: Any, parameter: str) -> tuple[datetime | None, datetime | None] | None:
    if value is None:
        return None
    value = parse_json_param(value, parameter)
    if not isinstance(value, dict) or set(value) - {"Start", "End"}:
        raise invalid(parameter, "an object {Start, End} of RFC 3339 times", value)
    bounds = []
    for key in ("Start", "End"):
        raw = value.get(key)
        if raw in (None, ""):
            bounds.append(None)
            continue
        try:
            bounds.append(as_utc_datetime(raw, f"{parameter}.{key}"))
        except (TypeError, ValueError):
            raise invalid(f"{parameter}.{key}", "an RFC 3339 time with a zone", raw) from None
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise invalid(parameter, "Start not after End", value)
    return bounds[0], bounds[1]


def _sort_key(task: Any, sort: str) -> tuple:
    if sort == "TaskId":
        return (task.task_id,)
    when = task.start_time if sort == "StartTime" else task.end_time
    if when is None:
        return (1, "", task.task_id)
    return (0, when.strftime("%Y-%m-%dT%H:%M:%S.%f"), task.task_id)


class TaskQuery:
    """A checked ListTasks request: filters, sort, page size and position."""

    def __init__(self, *, task_types: Any, status: Any, start_time_range: Any,
                 end_time_range: Any, tag_selector: Any, sort: Any, order: Any,
                 max_results: Any, next_token: Any) -> None:
        task_types = parse_json_param(task_types, "TaskTypes") if task_types is not None \
            else None
        if task_types is not None:
            if not isinstance(task_types, (list, tuple)) or \
                    not all(isinstance(t, str) and t for t in task_types):
                raise invalid("TaskTypes", "a list of task type strings", task_types)
        self.task_types = None if task_types is None else set(task_types)
        if status is not None and (not isinstance(status, str) or
                                   status.lower() not in {s.lower() for s in STATUSES}):
            raise invalid("Status", f"one of {list(STATUSES)}", status)
        self.status = None if status is None else status.lower()
        self.start_range = _time_range(start_time_range, "StartTimeRange")
        self.end_range = _time_range(end_time_range, "EndTimeRange")
        self.tag = None
        if tag_selector is not None:
            if not isinstance(tag_selector, str) or tag_selector.count("=") != 1 or \
                    tag_selector.startswith("="):
                raise invalid("TagSelector", "one key=value pair, e.g. 'team=qa'", tag_selector)
            self.tag = tuple(tag_selector.split("="))
        if sort not in SORTS:
            raise invalid("Sort", f"one of {list(SORTS)}", sort)
        if order not in ORDERS:
            raise invalid("Order", f"one of {list(ORDERS)}", order)
        self.sort, self.order = sort, order
        if isinstance(max_results, bool) or not isinstance(max_results, int) or \
                not 0 < max_results <= MAX_RESULTS:
            raise invalid("MaxResults", f"an integer in (0, {MAX_RESULTS}]", max_results)
        self.max_results = max_results
        self.after = self._decode(next_token) if next_token not in (None, "") else None

    def _decode(self, token: Any) -> tuple:
        try:
            raw = orjson.loads(base64.urlsafe_b64decode(token.encode("ascii")))
            sort, order, key = raw
            key = tuple(key)
        except Exception:
            raise invalid("NextToken", "a NextToken returned by ListTasks", token) from None
        if (sort, order) != (self.sort, self.order):
            raise invalid("NextToken", f"a token of a Sort={self.sort} Order={self.order} "
                          f"listing (it belongs to Sort={sort} Order={order})", token)
        return key

    def _encode(self, key: tuple) -> str:
        return base64.urlsafe_b64encode(orjson.dumps([self.sort, self.order, list(key)])).decode()

    def _keep(self, task: Any) -> bool:
        if self.task_types is not None and task.task_type not in self.task_types:
            return False
        if self.status is not None and task.status.lower() != self.status:
            return False
        for bounds, when in ((self.start_range, task.start_time), (self.end_range, task.end_time)):
            if bounds is None:
                continue
            if when is None or (bounds[0] is not None and when < bounds[0]) or \
                    (bounds[1] is not None and when > bounds[1]):
                return False
        if self.tag is not None:
            tags = task.tags or {}
            key, text = self.tag
            if key not in tags or _tag_text(tags[key]) != text:
                return False
        return True

    def page(self, tasks: list) -> tuple[list, str | None]:
        """The tasks of this page in order, and the NextToken (None on the last page)."""
        rows = sorted(((_sort_key(t, self.sort), t) for t in tasks if self._keep(t)),
                      key=lambda kt: kt[0], reverse=self.order == "desc")
        if self.after is not None:
            if self.order == "asc":
                rows = [kt for kt in rows if kt[0] > self.after]
            else:
                rows = [kt for kt in rows if kt[0] < self.after]
        page = rows[:self.max_results]
        token = self._encode(page[-1][0]) if len(rows) > self.max_results else None
        return [t for _, t in page], token


def _tag_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


# --- records ---------------------------------------------------------------------------


def task_fields(task: Any, *, progress: int, request_definition: bool) -> dict:
    """The TaskInfo fields of a task (shared by GetTask and ListTasks)."""
    out: dict[str, Any] = {"TaskId": task.task_id, "TaskType": task.task_type,
                           "Status": task.status, "Progress": int(progress)}
    if task.start_time is not None:
        out["StartTime"] = iso_ms(task.start_time)
    if task.end_time is not None:
        out["EndTime"] = iso_ms(task.end_time)
    out["Code"], out["Message"] = task.code, task.message
    if task.user_data is not None:
        out["UserData"] = task.user_data
    if task.tags is not None:
        out["Tags"] = task.tags
    if request_definition:
        out["TaskRequestDefinition"] = orjson.dumps(task.request).decode()
    return out


def envelope(task: Any, *, region: str, account_id: str) -> dict:
    """The IMM asynchronous message of a task's end (EventBridge / MNS / RocketMQ form)."""
    kind = EVENT_KINDS[task.task_type]
    message = {
        "ProjectName": task.project, "DatasetName": task.dataset, "RequestId": task.request_id,
        "StartTime": iso_ms(task.start_time) if task.start_time else "",
        "EndTime": iso_ms(task.end_time), "UserData": task.user_data or "",
        "TaskType": task.task_type, "TaskId": task.task_id, "Status": task.status,
        "Code": task.code, "Message": task.message,
    }
    return {"id": task.event_id, "source": "acs.imm", "type": f"imm:Task:{kind}",
            "subject": f"acs:imm:{region}:{account_id}:{task.project}/imm:Task:{kind}",
            "time": str(epoch_ms(task.end_time)),
            "content": orjson.dumps(message).decode()}


def as_plain_tags(tags: Mapping | None) -> dict | None:
    """Tags as a plain dict (a round trip through JSON: what the cloud would echo)."""
    return None if tags is None else orjson.loads(orjson.dumps(dict(tags)))
