"""The request rules of Huawei VIAS batch tasks, kept as one table.

Every rule is a row of :data:`RULES`: the field path, the kind of check, its
argument, and whether it applies to a create, an update or both. A path is
dotted; ``[]`` means "each item of this array". :func:`validate_batch_body`
walks the table in order and rejects the first violation with a
:class:`~toolkit.errors.ViasError` (HTTP 400) whose body names the field with
its concrete position (``batch_input.video_source_group[0].video_source_id``).

The rules follow the VIAS v2 API definitions. Where the definitions are silent
the engine chooses, and the rule says so in its ``note``:

- ``schedule.timezone`` must also be a real offset (minutes below 60, below 24 h);
- ``schedule.periods`` holds one list of windows (used on every scheduled day)
  or one per entry of ``days_of_week`` (paired by position);
- a window's ``begin_at`` and ``end_at`` differ; an end earlier than the begin
  crosses midnight; a ``YYYY-MM-DDT`` prefix makes a one-off window and must be
  on both ends or on neither;
- a video source appears at most once per group (one member task each);
- ``output.event_center`` also accepts 1 / 0 (the documentation says so);
- ``service_name`` and ``service_version`` cannot change on an update.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from typing import Any, Iterator

from ..errors import ViasError

__all__ = ["Rule", "RULES", "validate_batch_body", "vias_error", "parse_clock_time",
           "INVALID_PARAMETER", "NOT_FOUND"]

#: Huawei error codes. ``VIAS.00010001`` (invalid parameter) is documented;
#: the not-found code is the engine's own choice.
INVALID_PARAMETER = "VIAS.00010001"
NOT_FOUND = "VIAS.00010002"

_NAME = r"^[\u4E00-\u9FA5a-zA-Z0-9_-]{1,100}$"
_ID = r"^[a-z0-9-_]{4,36}$"
_WINDOW_TIME = r"^(\d{4}-\d{2}-\d{2}T)?\d{2}:\d{2}:\d{2}$"
_OUTPUT_MODES = ("obs", "dis", "webhook", "event_center")


@dataclass(frozen=True)
class Rule:
    """One request rule.

    Attributes
    ----------
    path : str
        Dotted field path; ``[]`` stands for every item of an array.
    check : str
        ``required``, ``forbidden``, ``type``, ``length`` (characters),
        ``items`` (array length), ``pairs`` (object size), ``range`` (integer
        value), ``unique``, ``enum``, ``pattern`` or ``custom``.
    arg : object
        The bound ``(low, high)`` (inclusive), type name, regex, value list, or
        for ``custom`` a function ``(value, parent) -> problem or None``.
    on : {"both", "create", "update"}
        Which calls the rule applies to.
    note : str
        Why the rule exists when the cloud documentation does not state it.
    value_type : str
        The JSON type the checked value must have for the rule to apply, when
        it differs from the check's usual one (see :attr:`needs`).

    Examples
    --------
    The rules are data (:data:`~toolkit.tasks.VIAS_RULES`), one test checks
    them all:

    >>> from toolkit.tasks import VIAS_RULES
    >>> [(r.check, r.arg, r.on) for r in VIAS_RULES if r.path == "name" and r.check != "pattern"]
    [('required', None, 'create'), ('type', 'string', 'both'), ('length', (1, 100), 'both')]
    """

    path: str
    check: str
    arg: Any = None
    on: str = "both"
    note: str = ""
    value_type: str = ""

    @property
    def needs(self) -> str | None:
        """The JSON type a value needs for this check to apply (its type rule reports others)."""
        if self.check in ("required", "forbidden", "type"):
            return None
        if self.value_type:
            return self.value_type
        return {"length": "string", "pattern": "string", "enum": "string", "items": "array",
                "unique": "array", "pairs": "object", "range": "integer"}[self.check]


# --- custom checks: each returns a description of the problem, or None ---

def _real_offset(value: str, parent: dict) -> str | None:
    hours, minutes = int(value[1:3]), int(value[4:6])
    if minutes > 59 or hours > 23:
        return "a UTC offset with hours 00-23 and minutes 00-59"
    return None


def _weekly_needs_days(value: str, parent: dict) -> str | None:
    if value == "weekly" and parent.get("days_of_week") is None:
        return "days_of_week to be set for a weekly schedule"
    return None


def _periods_match_days(value: list, parent: dict) -> str | None:
    days = parent.get("days_of_week")
    if len(value) == 1 or (isinstance(days, list) and len(value) == len(days)):
        return None
    n_days = len(days) if isinstance(days, list) else 0
    return (f"1 list of windows (every scheduled day) or {n_days} (one per entry of "
            "days_of_week)")


def parse_clock_time(text: str) -> tuple[date | None, time]:
    """``"hh:mm:ss"`` or ``"YYYY-MM-DDThh:mm:ss"`` to ``(date or None, time)``.

    Raises ValueError when the date or the time of day does not exist.
    """
    day_text, _, clock_text = text.rpartition("T")
    day = date.fromisoformat(day_text) if day_text else None
    hh, mm, ss = (int(part) for part in clock_text.split(":"))
    return day, time(hh, mm, ss)


def _valid_window_time(value: str, parent: dict) -> str | None:
    try:
        parse_clock_time(value)
    except ValueError:
        return "a real time of day (hours 00-23, minutes and seconds 00-59) and a real date"
    return None


def _window_is_consistent(value: str, parent: dict) -> str | None:
    begin = parent.get("begin_at")
    if not isinstance(begin, str) or re.fullmatch(_WINDOW_TIME, begin) is None:
        return None
    try:
        begin_day, begin_time = parse_clock_time(begin)
        end_day, end_time = parse_clock_time(value)
    except ValueError:
        return None
    if (begin_day is None) != (end_day is None):
        return "a date prefix on both begin_at and end_at, or on neither"
    if begin_day is None and begin_time == end_time:
        return "an end different from begin_at (an earlier end crosses midnight)"
    if begin_day is not None and (end_day, end_time) <= (begin_day, begin_time):
        return "an end after begin_at for a dated window"
    return None


def _distinct_sources(value: list, parent: dict) -> str | None:
    ids = [s.get("video_source_id") for s in value if isinstance(s, dict)]
    seen: set = set()
    for source_id in ids:
        if source_id in seen:
            return f"each video source once per group ({source_id!r} repeats)"
        seen.add(source_id)
    return None


def _has_output_mode(value: dict, parent: dict) -> str | None:
    configured = [m for m in _OUTPUT_MODES if value.get(m) not in (None, False, 0)]
    if not configured:
        return "at least one output mode: obs, dis, webhook or event_center true"
    return None


def _string_values(value: dict, parent: dict) -> str | None:
    bad = [k for k, v in value.items() if not isinstance(v, str)]
    return f"string header values ({bad[0]!r} is not)" if bad else None


_GROUP = "batch_input.video_source_group[]"
_SOURCE = _GROUP + ".video_source_list[]"
_WINDOW = "schedule.periods[][]"

#: Every rule of a CreateBatchTask / UpdateBatchTask body, in checking order.
RULES: tuple[Rule, ...] = (
    Rule("name", "required", on="create"),
    Rule("name", "type", "string"),
    Rule("name", "length", (1, 100)),
    Rule("name", "pattern", _NAME),
    Rule("description", "type", "string"),
    Rule("description", "length", (0, 500)),
    Rule("service_name", "required", on="create"),
    Rule("service_name", "forbidden", on="update",
         note="the algorithm of a batch cannot change"),
    Rule("service_name", "type", "string", on="create"),
    Rule("service_name", "pattern", _NAME, on="create"),
    Rule("service_version", "required", on="create"),
    Rule("service_version", "forbidden", on="update",
         note="the algorithm of a batch cannot change"),
    Rule("service_version", "type", "string", on="create"),
    Rule("service_version", "length", (3, 32), on="create"),
    Rule("service_version", "pattern", r"^[a-z0-9.]{3,32}$", on="create"),
    Rule("is_saved_as_template", "type", "boolean"),
    Rule("resource_order_id", "type", "string"),
    Rule("resource_order_id", "length", (4, 36)),
    Rule("resource_order_id", "pattern", _ID),
    Rule("schedule", "type", "object"),
    Rule("schedule.type", "required"),
    Rule("schedule.type", "type", "string"),
    Rule("schedule.type", "enum", ("weekly",),
         note="'monthly' passes the pattern but is unsupported"),
    Rule("schedule.timezone", "required"),
    Rule("schedule.timezone", "type", "string"),
    Rule("schedule.timezone", "pattern", r"^[+-][0-9]{2}:[0-9]{2}$"),
    Rule("schedule.timezone", "custom", _real_offset, note="the pattern admits +99:99",
         value_type="string"),
    Rule("schedule.type", "custom", _weekly_needs_days, value_type="string"),
    Rule("schedule.days_of_week", "type", "array"),
    Rule("schedule.days_of_week", "items", (1, 7)),
    Rule("schedule.days_of_week[]", "type", "integer"),
    Rule("schedule.days_of_week[]", "range", (1, 7)),
    Rule("schedule.days_of_week", "unique"),
    Rule("schedule.days_of_month", "type", "array"),
    Rule("schedule.days_of_month[]", "type", "integer"),
    Rule("schedule.days_of_month[]", "range", (1, 31)),
    Rule("schedule.periods", "required"),
    Rule("schedule.periods", "type", "array"),
    Rule("schedule.periods", "items", (1, 7), note="follows from the pairing with days_of_week"),
    Rule("schedule.periods", "custom", _periods_match_days,
         note="pairing of periods with days_of_week is undocumented", value_type="array"),
    Rule("schedule.periods[]", "type", "array"),
    Rule("schedule.periods[]", "items", (1, 10)),
    Rule(_WINDOW, "type", "object"),
    Rule(_WINDOW + ".begin_at", "required"),
    Rule(_WINDOW + ".begin_at", "type", "string"),
    Rule(_WINDOW + ".begin_at", "pattern", _WINDOW_TIME),
    Rule(_WINDOW + ".begin_at", "custom", _valid_window_time, value_type="string"),
    Rule(_WINDOW + ".end_at", "required"),
    Rule(_WINDOW + ".end_at", "type", "string"),
    Rule(_WINDOW + ".end_at", "pattern", _WINDOW_TIME),
    Rule(_WINDOW + ".end_at", "custom", _valid_window_time, value_type="string"),
    Rule(_WINDOW + ".end_at", "custom", _window_is_consistent,
         note="empty, dated and overnight windows are undocumented", value_type="string"),
    Rule("batch_input", "required", on="create"),
    Rule("batch_input", "type", "object"),
    Rule("batch_input.video_source_group", "required", on="create"),
    Rule("batch_input.video_source_group", "type", "array"),
    Rule("batch_input.video_source_group", "items", (1, 100)),
    Rule(_GROUP, "type", "object"),
    Rule(_GROUP + ".video_source_group_id", "required"),
    Rule(_GROUP + ".video_source_group_id", "type", "string"),
    Rule(_GROUP + ".video_source_group_id", "length", (4, 36)),
    Rule(_GROUP + ".video_source_group_id", "pattern", _ID),
    Rule(_GROUP + ".video_source_list", "required"),
    Rule(_GROUP + ".video_source_list", "type", "array"),
    Rule(_GROUP + ".video_source_list", "items", (0, 100)),
    Rule(_GROUP + ".video_source_list", "custom", _distinct_sources,
         note="one member task per video source", value_type="array"),
    Rule(_SOURCE, "type", "object"),
    Rule(_SOURCE + ".video_source_id", "required"),
    Rule(_SOURCE + ".video_source_id", "type", "string"),
    Rule(_SOURCE + ".video_source_id", "length", (4, 36)),
    Rule(_SOURCE + ".video_source_id", "pattern", _ID),
    Rule(_SOURCE + ".target_roi", "type", "string"),
    Rule(_SOURCE + ".target_roi", "length", (0, 2048)),
    Rule("output", "required", on="create"),
    Rule("output", "type", "object"),
    Rule("output", "custom", _has_output_mode, value_type="object"),
    Rule("output.obs", "type", "object"),
    Rule("output.obs.bucket", "required"),
    Rule("output.obs.bucket", "type", "string"),
    Rule("output.obs.bucket", "length", (0, 63)),
    Rule("output.obs.bucket", "pattern", r"^[a-z0-9](?!.*[-.][-.].*)([a-z0-9-.]{1,61})[a-z0-9]$"),
    Rule("output.obs.path", "required"),
    Rule("output.obs.path", "type", "string"),
    Rule("output.obs.path", "length", (0, 1023)),
    Rule("output.obs.path", "pattern", r'^(?![/.\s])(?!.*//.*)([^:*?"<>|\\]{0,1023})(?<![.\s])$'),
    Rule("output.obs.data_category", "type", "array"),
    Rule("output.obs.data_category", "items", (0, 10)),
    Rule("output.obs.data_category[]", "type", "string"),
    Rule("output.obs.data_category", "unique"),
    Rule("output.dis", "type", "object"),
    Rule("output.dis.stream_name", "required"),
    Rule("output.dis.stream_name", "type", "string"),
    Rule("output.dis.stream_name", "length", (1, 64)),
    Rule("output.dis.stream_name", "pattern", r"^[-A-Za-z0-9_]{1,64}$"),
    Rule("output.dis.data_category", "type", "array"),
    Rule("output.dis.data_category", "items", (0, 10)),
    Rule("output.dis.data_category[]", "type", "string"),
    Rule("output.dis.data_category", "unique"),
    Rule("output.webhook", "type", "object"),
    Rule("output.webhook.url", "required"),
    Rule("output.webhook.url", "type", "string"),
    Rule("output.webhook.url", "length", (0, 1000)),
    Rule("output.webhook.url", "pattern", r"^(https?|rtsp|rtmp|ftp|file)://\S+$"),
    Rule("output.webhook.headers", "required"),
    Rule("output.webhook.headers", "type", "object"),
    Rule("output.webhook.headers", "pairs", (1, 10)),
    Rule("output.webhook.headers", "custom", _string_values, value_type="object"),
    Rule("output.webhook.data_category", "type", "array"),
    Rule("output.webhook.data_category", "items", (0, 10)),
    Rule("output.webhook.data_category[]", "type", "string"),
    Rule("output.webhook.data_category", "unique"),
    Rule("output.event_center", "type", "boolean_or_01",
         note="the documentation says true or 1 means yes"),
    Rule("config", "type", "object"),
    Rule("config.common", "type", "object"),
)

_TYPE_NAMES = {
    "string": "a string", "integer": "an integer", "boolean": "true or false",
    "object": "a JSON object", "array": "a JSON array", "boolean_or_01": "true, false, 1 or 0",
}


def _type_ok(value: Any, type_name: str) -> bool:
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "boolean_or_01":
        return isinstance(value, bool) or (type(value) is int and value in (0, 1))
    if type_name == "object":
        return isinstance(value, dict)
    if type_name == "array":
        return isinstance(value, list)
    raise AssertionError(type_name)


def _locate(body: Any, path: str) -> Iterator[tuple[str, dict, str]]:
    """Every ``(concrete parent path, parent object, key)`` the path names in ``body``.

    Parents that are missing or of the wrong type yield nothing: their own
    rules report them.
    """
    parts = path.split(".")
    frontier: list[tuple[str, Any]] = [("", body)]
    for depth, part in enumerate(parts):
        key, stars = part.rstrip("[]"), (len(part) - len(part.rstrip("[]"))) // 2
        last = depth == len(parts) - 1
        nxt: list[tuple[str, Any]] = []
        for prefix, obj in frontier:
            if not isinstance(obj, dict):
                continue
            here = f"{prefix}.{key}" if prefix else key
            if last and stars == 0:
                yield prefix, obj, key
                continue
            if obj.get(key) is None:
                continue
            items = [(here, obj[key])]
            for _ in range(stars):
                items = [(f"{p}[{i}]", v) for p, seq in items if isinstance(seq, list)
                         for i, v in enumerate(seq)]
            if last:
                # Items of an array: the "parent" is the list, keyed by position.
                for p, v in items:
                    base, _, index = p.rpartition("[")
                    yield base, {"__item__": v, "__owner__": obj}, p
            else:
                nxt.extend(items)
        frontier = nxt


def vias_error(status_code: int, code: str, message: str, detail: str, *,
               params: list[str] | None = None, reason: str = "", advice: str = "") -> ViasError:
    """A :class:`ViasError` with a complete Huawei error body."""
    return ViasError(status_code, {
        "error_code": code, "error_msg": message, "detail": detail,
        "params": list(params or []), "reason": reason, "advice": advice,
    })


def _invalid(field: str, expected: str, got: Any) -> ViasError:
    shown = repr(got)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return vias_error(
        400, INVALID_PARAMETER, f"Invalid parameter: {field}.",
        f"request body (object): field {field!r}: expected {expected}, got {shown}",
        params=[field], reason="Invalid parameter.",
        advice=f"Correct {field!r} in the request body and retry.")


class _Summary(str):
    """A value too long to show, told by its size; shown without quotes."""

    def __repr__(self) -> str:
        return str(self)


def _describe(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 40:
        return _Summary(f"a string of {len(value)} characters")
    if isinstance(value, (list, dict)) and len(value) > 3:
        return _Summary(f"{len(value)} {'items' if isinstance(value, list) else 'pairs'}")
    return value


def _check(rule: Rule, value: Any, parent: dict) -> str | None:
    """The expectation ``value`` fails, or None when it passes."""
    low, high = rule.arg if rule.check in ("length", "items", "pairs", "range") else (0, 0)
    if rule.check == "type":
        return None if _type_ok(value, rule.arg) else _TYPE_NAMES[rule.arg]
    if rule.check == "length":
        return None if low <= len(value) <= high else f"{low} to {high} characters"
    if rule.check in ("items", "pairs"):
        unit = "items" if rule.check == "items" else "key/value pairs"
        return None if low <= len(value) <= high else f"{low} to {high} {unit}"
    if rule.check == "range":
        return None if low <= value <= high else f"an integer from {low} to {high}"
    if rule.check == "unique":
        seen = [repr(v) for v in value]
        return None if len(set(seen)) == len(seen) else "distinct items"
    if rule.check == "enum":
        return None if value in rule.arg else f"one of {list(rule.arg)}"
    if rule.check == "pattern":
        return None if re.fullmatch(rule.arg, value) else f"a value matching {rule.arg}"
    if rule.check == "custom":
        return rule.arg(value, parent)
    raise AssertionError(rule.check)


def validate_batch_body(body: Any, *, operation: str) -> None:
    """Check a CreateBatchTask (``operation="create"``) or UpdateBatchTask body.

    Raises
    ------
    ViasError
        Status 400 with ``error_code`` ``VIAS.00010001`` and ``params`` naming
        the first field that breaks a rule of :data:`RULES`.
    """
    if operation not in ("create", "update"):
        raise ValueError(f"The value for `operation` must be one of ['create', 'update'], "
                         f"but {operation!r} was passed.")
    if not isinstance(body, dict):
        raise _invalid("body", "a JSON object", body)
    for rule in RULES:
        if rule.on not in ("both", operation):
            continue
        for prefix, parent, key in _locate(body, rule.path):
            if "__item__" in parent:
                field, value, owner = key, parent["__item__"], parent["__owner__"]
            else:
                field = f"{prefix}.{key}" if prefix else key
                value, owner = parent.get(key), parent
            if rule.check == "required":
                if value is None:
                    raise _invalid(field, "a value (the field is required)", value)
                continue
            if rule.check == "forbidden":
                if key in parent:
                    raise _invalid(field, "no value (the field cannot be modified)", value)
                continue
            if value is None:
                continue
            if rule.needs is not None and not _type_ok(value, rule.needs):
                continue  # reported once, by the field's own type rule
            problem = _check(rule, value, owner)
            if problem is not None:
                raise _invalid(field, problem, _describe(value))
