"""Huawei VIAS batch tasks, re-implemented locally: ``engine.vias``.

A batch ("batch configuration") fans out into one member task per video
source. The operations answer with the bodies of the VIAS v2 API
(BatchTaskResDto, BatchTaskListResp, TaskListDto, TaskInfoDto); a rejected
request raises :class:`~toolkit.errors.ViasError` with the Huawei error body.

How the engine behaves where the cloud documentation is silent:

- **Member tasks.** Keyed by (video_source_group_id, video_source_id). A new
  task starts at once when its batch is started (a create starts the batch):
  ``RUNNING``, or ``START_FAILED`` when its video source is offline
  (:meth:`ViasService.set_video_source_online`); a batch that was stopped
  creates its new tasks ``STOPPED``.
- **Counts.** Every response counts the member tasks the call acted on:
  ``total_count = succeed_count + failed_count`` and ``error_list`` holds one
  ``"<task id>: <reason>"`` per failure.
- **Update = partial patch** (RFC 7386 at the top level): a field present in
  the body replaces that field whole; an absent field keeps its value; a
  ``null`` removes an optional field (``description``, ``schedule``,
  ``config``, ``resource_order_id``); ``name``, ``batch_input`` and ``output``
  cannot be removed. The batch that results must satisfy the create rules.
- **Running member tasks on update.** Tasks of removed video sources are
  deleted. A running task is restarted (a new ``RUNNING`` observation at the
  update time, ``updated_at`` moves) when the update changes what it runs:
  ``name``, ``output``, ``config``, ``schedule``, ``resource_order_id`` or its
  own ``target_roi``; a ``description`` or ``is_saved_as_template`` change
  restarts nothing. Stopped tasks take the new configuration and stay
  stopped; ``START_FAILED`` tasks of a started batch are retried.
- **Schedules.** ``schedule_status`` is ``ACTIVATED`` for a started batch
  with a schedule. The engine does not pause tasks outside their windows;
  :meth:`ViasService.next_windows` says when the schedule would run them.
- **Ids.** Batch and task ids are 32 lower-case hex digits drawn from the
  engine's seeded generator.
- **Pages.** A ListTasks page filtered by ``batch_id`` carries that
  ``batch_id`` at its top level, so readers can attach it to the tasks.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from ._clock import epoch_ms, iso_ms
from ._history import HistoryLog
from ._schedule import WeeklySchedule
from ._vias_validation import INVALID_PARAMETER, NOT_FOUND, validate_batch_body, vias_error

__all__ = ["ViasService", "QUERY_RULES"]

_PROJECT_ID = r"^[a-zA-Z0-9-]{1,64}$"
_ID = r"^[a-z0-9-_]{4,36}$"
# Fields whose change makes a running task restart; the rest is bookkeeping.
_RESTARTING_FIELDS = ("name", "output", "config", "schedule", "resource_order_id")
_REMOVABLE_FIELDS = ("description", "schedule", "config", "resource_order_id")
_BODY_FIELDS = ("name", "description", "schedule", "batch_input", "output", "config",
                "service_name", "service_version", "is_saved_as_template", "resource_order_id")


@dataclass
class _Task:
    id: str
    batch_id: str
    group_id: str
    source_id: str
    target_roi: str | None
    created_at: datetime
    updated_at: datetime
    state: str = "STOPPED"
    status: str = ""
    error: dict = field(default_factory=lambda: {"code": "", "message": ""})


@dataclass
class _Batch:
    id: str
    project_id: str
    body: dict
    created_at: datetime
    updated_at: datetime
    started: bool = True
    tasks: dict[tuple[str, str], _Task] = field(default_factory=dict)


# --- query parameters, as data: name -> (kind, argument, default) ---

#: ListBatchTasks query parameters.
BATCH_QUERY = {
    "is_paged": ("bool", None, True),
    "page_size": ("int", (5, 200), 10),
    "page_num": ("int", (1, 10000), 1),
    "order_by": ("enum", ("asc", "desc"), "desc"),
    "sort_name": ("enum", ("task_count", "created_at"), "created_at"),
    "video_group": ("str", (1, 1000), None),
    "task_state": ("str", (1, 64), None),
    "type_like": ("enum", ("batch_task_name", "publish_service_name"), None),
    "name_like": ("str", (1, 100), None),
    "manufacturer": ("str", (1, 64), None),
    "title": ("str", (2, 64), None),
}
#: ListTasks query parameters (``batch_id`` is a named argument).
TASK_QUERY = {
    "task_state": ("str", (1, 64), None),
    "task_name": ("str", (1, 100), None),
    "title": ("str", (1, 64), None),
    "camera_name": ("str", (1, 100), None),
    "video_group_id": ("str", (1, 36), None),
    "company": ("str", (1, 64), None),
    "alg_id": ("str", (1, 100), None),
    "source_data_type": ("str", (1, 64), None),
    "page": ("int", (1, 10000), 1),
    "page_size": ("int", (5, 1000), 10),
    "sort_dir": ("enum", ("asc", "desc"), "desc"),
}
QUERY_RULES = {"list_batch_tasks": BATCH_QUERY, "list_tasks": TASK_QUERY}


def _bad_query(name: str, expected: str, got: Any) -> Exception:
    return vias_error(400, INVALID_PARAMETER, f"Invalid parameter: {name}.",
                      f"query (object): parameter {name!r}: expected {expected}, got {got!r}",
                      params=[name], reason="Invalid parameter.",
                      advice=f"Correct the query parameter {name!r} and retry.")


def _parse_query(query: dict, rules: dict) -> dict:
    """Query values (Python values or their HTTP text form) checked against ``rules``."""
    unknown = sorted(set(query) - set(rules))
    if unknown:
        raise _bad_query(unknown[0], f"one of the parameters {sorted(rules)}", query[unknown[0]])
    out = {}
    for name, (kind, arg, default) in rules.items():
        value = query.get(name)
        if value is None:
            out[name] = default
            continue
        if kind == "bool":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool):
                raise _bad_query(name, "true or false", value)
        elif kind == "int":
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or \
                    not arg[0] <= value <= arg[1]:
                raise _bad_query(name, f"an integer from {arg[0]} to {arg[1]}", value)
        elif kind == "enum":
            if value not in arg:
                raise _bad_query(name, f"one of {list(arg)}", value)
        elif not isinstance(value, str) or not arg[0] <= len(value) <= arg[1]:
            raise _bad_query(name, f"a string of {arg[0]} to {arg[1]} characters", value)
        out[name] = value
    return out


def _check_path(name: str, value: Any, pattern: str) -> None:
    if not isinstance(value, str) or re.fullmatch(pattern, value) is None:
        raise vias_error(400, INVALID_PARAMETER, f"Invalid parameter: {name}.",
                         f"path (object): parameter {name!r}: expected a value matching "
                         f"{pattern}, got {value!r}", params=[name], reason="Invalid parameter.",
                         advice=f"Correct {name!r} in the request path and retry.")


def _group_ids(batch: "_Batch") -> list[str]:
    return [g["video_source_group_id"] for g in batch.body["batch_input"]["video_source_group"]]


def _not_found(kind: str, name: str, value: str) -> Exception:
    return vias_error(404, NOT_FOUND, f"The {kind} does not exist.",
                      f"path (object): parameter {name!r}: no {kind} with id {value!r}",
                      params=[name], reason=f"{kind.capitalize()} not found.",
                      advice="Check the id (ListBatchTasks / ListTasks list the existing ones).")


class ViasService:
    """The VIAS half of :class:`~toolkit.tasks.TaskEngine` (``engine.vias``).

    Not built directly: a :class:`~toolkit.tasks.TaskEngine` makes one, sharing
    its clock, its seeded id generator and its history. Every method is
    synchronous and thread-safe.

    Parameters
    ----------
    clock : SystemClock or ManualClock
        The engine's clock: every ``created_at`` / ``updated_at`` and history
        time comes from it.
    history : HistoryLog
        The engine's status history; each member-task state change adds a
        row (``provider`` ``"vias"``, ``task_type`` ``"task"``).
    rng : random.Random
        The engine's seeded generator; batch and task ids (32 lower-case hex
        digits) are drawn from it.
    rng_lock : threading.Lock
        Guards ``rng``, which the IMM half shares.

    Examples
    --------
    >>> from toolkit.tasks import TaskEngine, ManualClock
    >>> with TaskEngine(ManualClock()) as engine:
    ...     vias = engine.vias
    ...     vias.set_video_source_online("proj-1", "cam-0002", False)
    ...     r = vias.create_batch_task("proj-1", {
    ...         "name": "lobby", "service_name": "face-capture", "service_version": "1.0.0",
    ...         "batch_input": {"video_source_group": [{"video_source_group_id": "grp-1",
    ...             "video_source_list": [{"video_source_id": "cam-0001"},
    ...                                   {"video_source_id": "cam-0002"}]}]},
    ...         "output": {"event_center": True}})
    ...     listed = vias.list_batch_tasks("proj-1")
    >>> r["total_count"], r["succeed_count"], r["failed_count"]
    (2, 1, 1)
    >>> listed["batch_task_list"][0]["batch_task_status_info"]
    {'running': 1, 'start_failed': 1}
    """

    def __init__(self, clock: Any, history: HistoryLog, rng: random.Random,
                 rng_lock: threading.Lock) -> None:
        self._clock = clock
        self._history = history
        self._rng = rng
        self._rng_lock = rng_lock
        self._lock = threading.RLock()
        self._batches: dict[str, _Batch] = {}
        self._offline: set[tuple[str, str]] = set()

    # --- helpers -------------------------------------------------------------------------

    def _new_id(self) -> str:
        with self._rng_lock:
            return f"{self._rng.getrandbits(128):032x}"

    def _batch(self, project_id: str, batch_id: str) -> _Batch:
        _check_path("project_id", project_id, _PROJECT_ID)
        _check_path("id", batch_id, _ID)
        batch = self._batches.get(batch_id)
        if batch is None or batch.project_id != project_id:
            raise _not_found("batch task", "id", batch_id)
        return batch

    def _set_state(self, batch: _Batch, task: _Task, state: str, at: datetime,
                   status: str = "", error: tuple[str, str] = ("", "")) -> None:
        task.state, task.status, task.updated_at = state, status, at
        task.error = {"code": error[0], "message": error[1]}
        # "task" is the task_type read_tasks gives a VIAS member task.
        self._history.record("vias", task.id, "task", at, state, None)

    def _start(self, batch: _Batch, task: _Task, at: datetime, why: str) -> str | None:
        """Start (or restart) one task; the failure reason, or None."""
        if (batch.project_id, task.source_id) in self._offline:
            reason = f"video source {task.source_id!r} is offline"
            self._set_state(batch, task, "START_FAILED", at, "start failed",
                            ("VIAS.00020001", reason))
            return reason
        self._set_state(batch, task, "RUNNING", at, why)
        return None

    @staticmethod
    def _result(batch_id: str, failures: list[tuple[str, str]], total: int) -> dict:
        return {"id": batch_id, "total_count": total, "succeed_count": total - len(failures),
                "failed_count": len(failures),
                "error_list": [f"{task_id}: {reason}" for task_id, reason in failures]}

    def _sources(self, body: dict) -> list[tuple[str, str, str | None]]:
        return [(g["video_source_group_id"], s["video_source_id"], s.get("target_roi"))
                for g in body["batch_input"]["video_source_group"]
                for s in g["video_source_list"]]

    # --- operations ----------------------------------------------------------------------

    def create_batch_task(self, project_id: str, body: dict) -> dict:
        """CreateBatchTask (``POST /v2/{project_id}/batch-tasks``).

        Parameters
        ----------
        project_id : str
            ``^[a-zA-Z0-9-]{1,64}$``.
        body : dict
            CreateBatchTasksRequestBody: ``name``, ``service_name``,
            ``service_version``, ``batch_input``, ``output`` required; see
            :data:`~toolkit.tasks.VIAS_RULES`.

        Returns
        -------
        dict
            BatchTaskResDto ``{id, total_count, succeed_count, failed_count,
            error_list}``: one member task per video source, each started.

        Examples
        --------
        >>> from toolkit.tasks import TaskEngine, ManualClock
        >>> with TaskEngine(ManualClock()) as engine:
        ...     r = engine.vias.create_batch_task("proj-1", {
        ...         "name": "lobby", "service_name": "face-capture", "service_version": "1.0.0",
        ...         "batch_input": {"video_source_group": [{"video_source_group_id": "grp-1",
        ...             "video_source_list": [{"video_source_id": "cam-0001"}]}]},
        ...         "output": {"event_center": True}})
        >>> r["total_count"], r["succeed_count"]
        (1, 1)
        """
        _check_path("project_id", project_id, _PROJECT_ID)
        validate_batch_body(body, operation="create")
        with self._lock:
            now = self._clock.now()
            stored = {k: body[k] for k in _BODY_FIELDS if body.get(k) is not None}
            batch = _Batch(self._new_id(), project_id, stored, now, now)
            self._batches[batch.id] = batch
            failures = []
            for group_id, source_id, roi in self._sources(stored):
                task = _Task(self._new_id(), batch.id, group_id, source_id, roi, now, now)
                batch.tasks[(group_id, source_id)] = task
                reason = self._start(batch, task, now, "started")
                if reason:
                    failures.append((task.id, reason))
            return self._result(batch.id, failures, len(batch.tasks))

    def update_batch_task(self, project_id: str, batch_id: str, body: dict) -> dict:
        """UpdateBatchTask, "Modifying a Batch Task" (``PUT /v2/{project_id}/batch-tasks/{id}``).

        A partial patch: fields present replace theirs, absent fields stay,
        ``null`` removes an optional field. Running member tasks whose
        configuration changes are restarted; tasks of removed video sources
        are deleted; new sources get new tasks (see the module notes).

        Returns
        -------
        dict
            BatchTaskResDto counting every member task before or after the
            update: created, restarted, retried, reconfigured, deleted or
            left alone.
        """
        validate_batch_body(body, operation="update")
        with self._lock:
            batch = self._batch(project_id, batch_id)
            for key in ("name", "batch_input", "output"):
                if key in body and body[key] is None:
                    raise vias_error(400, INVALID_PARAMETER, f"Invalid parameter: {key}.",
                                     f"request body (object): field {key!r}: expected a value "
                                     "(it cannot be removed), got None", params=[key],
                                     reason="Invalid parameter.",
                                     advice=f"Leave {key!r} out to keep it.")
            merged = dict(batch.body)
            for key in _BODY_FIELDS:
                if key in body:
                    if body[key] is None and key in _REMOVABLE_FIELDS:
                        merged.pop(key, None)
                    elif body[key] is not None:
                        merged[key] = body[key]
            # The patched batch must still be a valid batch.
            validate_batch_body(merged, operation="create")
            now = self._clock.now()
            restart_all = any(merged.get(k) != batch.body.get(k) for k in _RESTARTING_FIELDS)
            wanted = {(g, s): roi for g, s, roi in self._sources(merged)}
            failures: list[tuple[str, str]] = []
            total = 0
            for key, task in list(batch.tasks.items()):
                total += 1
                if key not in wanted:
                    self._set_state(batch, task, "DELETING", now, "deleted by an update")
                    del batch.tasks[key]
                    continue
                changed = restart_all or wanted[key] != task.target_roi
                task.target_roi = wanted[key]
                if task.state == "RUNNING" and changed:
                    reason = self._start(batch, task, now, "restarted to apply an update")
                elif task.state == "START_FAILED" and batch.started:
                    reason = self._start(batch, task, now, "start retried by an update")
                else:
                    reason = None
                    if changed:
                        task.updated_at = now
                if reason:
                    failures.append((task.id, reason))
            for key, roi in wanted.items():
                if key in batch.tasks:
                    continue
                total += 1
                task = _Task(self._new_id(), batch.id, key[0], key[1], roi, now, now)
                batch.tasks[key] = task
                if batch.started:
                    reason = self._start(batch, task, now, "started")
                    if reason:
                        failures.append((task.id, reason))
                else:
                    self._set_state(batch, task, "STOPPED", now, "created stopped")
            batch.body = merged
            batch.updated_at = now
            return self._result(batch.id, failures, total)

    def delete_batch_task(self, project_id: str, batch_id: str) -> dict:
        """DeleteBatchTask: stop and delete every member task, then the batch."""
        with self._lock:
            batch = self._batch(project_id, batch_id)
            now = self._clock.now()
            for task in batch.tasks.values():
                self._set_state(batch, task, "DELETING", now, "deleted with its batch")
            del self._batches[batch.id]
            return self._result(batch.id, [], len(batch.tasks))

    def start_batch_task(self, project_id: str, batch_id: str) -> dict:
        """BatchStartStopTask ``start``: start every member task that is not running.

        Running tasks count as started; a task of an offline source fails.
        """
        with self._lock:
            batch = self._batch(project_id, batch_id)
            now = self._clock.now()
            batch.started = True
            failures = []
            for task in batch.tasks.values():
                if task.state != "RUNNING":
                    reason = self._start(batch, task, now, "started")
                    if reason:
                        failures.append((task.id, reason))
            return self._result(batch.id, failures, len(batch.tasks))

    def stop_batch_task(self, project_id: str, batch_id: str) -> dict:
        """BatchStartStopTask ``stop``: stop every member task (stopped ones count as done)."""
        with self._lock:
            batch = self._batch(project_id, batch_id)
            now = self._clock.now()
            batch.started = False
            for task in batch.tasks.values():
                if task.state != "STOPPED":
                    self._set_state(batch, task, "STOPPED", now, "stopped")
            return self._result(batch.id, [], len(batch.tasks))

    def set_video_source_online(self, project_id: str, video_source_id: str,
                                online: bool) -> None:
        """Mark a video source reachable or not; starting a task of an offline source fails.

        This is the engine's fault model for member tasks (the cloud's causes
        of ``START_FAILED`` are not documented). Tasks already running are
        left as they are.
        """
        _check_path("project_id", project_id, _PROJECT_ID)
        _check_path("video_source_id", video_source_id, _ID)
        with self._lock:
            if online:
                self._offline.discard((project_id, video_source_id))
            else:
                self._offline.add((project_id, video_source_id))

    # --- views ---------------------------------------------------------------------------

    def _task_row(self, batch: _Batch, task: _Task) -> dict:
        name = f"{batch.body['name']}_{task.source_id}"[:100]
        return {"id": task.id, "name": name, "service_id": batch.body["service_name"],
                "algorithm_publish_id": batch.body["service_version"],
                "created_at": str(epoch_ms(task.created_at)), "state": task.state,
                "video_source_name": task.source_id, "title": task.source_id, "type": "0"}

    def _status_info(self, batch: _Batch) -> dict:
        counts: dict[str, int] = {}
        for task in batch.tasks.values():
            key = task.state.lower()
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

    def _batch_row(self, batch: _Batch) -> dict:
        groups = _group_ids(batch)
        return {"id": batch.id, "batch_task_name": batch.body["name"],
                "video_source_name": ",".join(t.source_id for t in batch.tasks.values()),
                "video_group_name": ",".join(groups), "alg_name": batch.body["service_name"],
                "company": "", "type": "0", "num_task": len(batch.tasks),
                "created_at": epoch_ms(batch.created_at),
                "batch_task_status_info": self._status_info(batch)}

    def list_batch_tasks(self, project_id: str, **query: Any) -> dict:
        """ListBatchTasks (``GET /v2/{project_id}/batch-tasks``).

        Parameters
        ----------
        project_id : str
        **query
            ``is_paged`` (default True), ``page_size`` 5-200 (10),
            ``page_num`` 1-10000 (1), ``order_by`` asc|desc (desc),
            ``sort_name`` task_count|created_at (created_at), ``video_group``
            (comma list of group ids: batches using any), ``task_state`` (a
            member in that state, any case), ``type_like`` batch_task_name|
            publish_service_name with ``name_like`` (case-insensitive
            substring; batch_task_name when ``type_like`` is absent),
            ``manufacturer`` (equals ``company``, always empty locally),
            ``title`` (a member task whose title contains it). Values may be
            given in their HTTP text form (``"20"``, ``"false"``).

        Returns
        -------
        dict
            ``{count, batch_task_list}``: ``count`` is the number of matches
            before paging; ties in the sort key are broken by batch id.
        """
        _check_path("project_id", project_id, _PROJECT_ID)
        q = _parse_query(query, BATCH_QUERY)
        with self._lock:
            batches = [b for b in self._batches.values() if b.project_id == project_id]
            if q["video_group"]:
                wanted = set(q["video_group"].split(","))
                batches = [b for b in batches if wanted & set(_group_ids(b))]
            if q["task_state"]:
                state = q["task_state"].upper()
                batches = [b for b in batches if any(t.state == state for t in b.tasks.values())]
            if q["name_like"]:
                attr = "service_name" if q["type_like"] == "publish_service_name" else "name"
                needle = q["name_like"].lower()
                batches = [b for b in batches if needle in b.body[attr].lower()]
            if q["manufacturer"]:
                batches = [b for b in batches
                           if self._batch_row(b)["company"] == q["manufacturer"]]
            if q["title"]:
                batches = [b for b in batches
                           if any(q["title"] in t.source_id for t in b.tasks.values())]
            key: Callable[[_Batch], Any] = (
                (lambda b: (len(b.tasks), b.id)) if q["sort_name"] == "task_count"
                else (lambda b: (b.created_at, b.id)))
            batches.sort(key=key, reverse=q["order_by"] == "desc")
            count = len(batches)
            if q["is_paged"]:
                start = (q["page_num"] - 1) * q["page_size"]
                batches = batches[start:start + q["page_size"]]
            return {"count": count, "batch_task_list": [self._batch_row(b) for b in batches]}

    def list_tasks(self, project_id: str, batch_id: str | None = None, **query: Any) -> dict:
        """ListTasks (``GET /v2/{project_id}/tasks``), optionally one batch's member tasks.

        Parameters
        ----------
        project_id : str
        batch_id : str, optional
            Only the member tasks of this batch (404 when it does not exist).
        **query
            ``task_state`` (any case), ``task_name``, ``title``,
            ``camera_name`` (case-insensitive substrings of the task name,
            title, video source), ``video_group_id`` (exact), ``company`` and
            ``source_data_type`` (exact; always empty locally), ``alg_id``
            (the service name, exact), ``page`` (1), ``page_size`` 5-1000
            (10), ``sort_dir`` asc|desc by creation time (desc; ties by id).

        Returns
        -------
        dict
            ``{count, page, page_size, tasks}`` plus ``batch_id`` when given.
        """
        _check_path("project_id", project_id, _PROJECT_ID)
        q = _parse_query(query, TASK_QUERY)
        with self._lock:
            if batch_id is not None:
                batches = [self._batch(project_id, batch_id)]
            else:
                batches = [b for b in self._batches.values() if b.project_id == project_id]
            pairs = [(b, t) for b in batches for t in b.tasks.values()]
            if q["task_state"]:
                pairs = [(b, t) for b, t in pairs if t.state == q["task_state"].upper()]
            for name, attr in (("task_name", "name"), ("title", "title"),
                               ("camera_name", "video_source_name")):
                if q[name]:
                    needle = q[name].lower()
                    pairs = [(b, t) for b, t in pairs
                             if needle in self._task_row(b, t)[attr].lower()]
            if q["video_group_id"]:
                pairs = [(b, t) for b, t in pairs if t.group_id == q["video_group_id"]]
            if q["alg_id"]:
                pairs = [(b, t) for b, t in pairs if b.body["service_name"] == q["alg_id"]]
            for name in ("company", "source_data_type"):
                if q[name]:
                    # The local engine records neither: both are always empty.
                    pairs = [(b, t) for b, t in pairs if q[name] == ""]
            pairs.sort(key=lambda bt: (bt[1].created_at, bt[1].id),
                       reverse=q["sort_dir"] == "desc")
            start = (q["page"] - 1) * q["page_size"]
            page = {"count": len(pairs), "page": q["page"], "page_size": q["page_size"],
                    "tasks": [self._task_row(b, t) for b, t in
                              pairs[start:start + q["page_size"]]]}
            if batch_id is not None:
                page["batch_id"] = batch_id
            return page

    def show_task(self, project_id: str, task_id: str) -> dict:
        """ShowTaskInfo (``GET /v2/{project_id}/tasks/{task_id}``): one member task in full.

        Times are ISO strings here (epoch-ms strings in ListTasks), as in the
        cloud. ``input`` is ``{video_source_group_id, video_source_id,
        target_roi}`` and ``batch_id`` names the batch (both the engine's
        shape: the cloud does not document them).
        """
        _check_path("project_id", project_id, _PROJECT_ID)
        _check_path("task_id", task_id, _ID)
        with self._lock:
            for batch in self._batches.values():
                if batch.project_id != project_id:
                    continue
                for task in batch.tasks.values():
                    if task.id == task_id:
                        return self._task_info(batch, task)
            raise _not_found("task", "task_id", task_id)

    def _task_info(self, batch: _Batch, task: _Task) -> dict:
        body = batch.body
        row = self._task_row(batch, task)
        info = {**row, "created_at": iso_ms(task.created_at),
                "updated_at": iso_ms(task.updated_at),
                "description": body.get("description", ""), "creator": "local",
                "project_id": batch.project_id, "batch_id": batch.id,
                "input": {"video_source_group_id": task.group_id,
                          "video_source_id": task.source_id,
                          "target_roi": task.target_roi or ""},
                "output": body["output"], "config": body.get("config", {}),
                "schedule": body.get("schedule", {}),
                "schedule_status": "ACTIVATED" if batch.started and body.get("schedule")
                else "INACTIVATED",
                "status": task.status, "error": dict(task.error), "task_config": "",
                "group_name": task.group_id, "company": ""}
        return info

    def next_windows(self, project_id: str, batch_id: str, after: Any, n: int) -> list:
        """The next ``n`` run windows of a batch's weekly schedule, in its UTC offset.

        See :meth:`WeeklySchedule.next_windows`. A batch without a schedule
        runs continuously and has no windows: 400.
        """
        with self._lock:
            batch = self._batch(project_id, batch_id)
            schedule = batch.body.get("schedule")
        if schedule is None:
            raise vias_error(400, INVALID_PARAMETER, "Invalid parameter: schedule.",
                             f"batch {batch_id!r}: expected a batch with a schedule, got none",
                             params=["schedule"], reason="The batch has no schedule.",
                             advice="Set a schedule with update_batch_task first.")
        return WeeklySchedule(schedule).next_windows(after, n)
