"""The local task engine: IMM's asynchronous face-clustering tasks, run on a thread pool.

How a task lives (the engine's design; IMM documents only the outcome):

1. **Create.** The request is checked at once with the cloud's parameter
   rules; a violation raises :class:`~toolkit.errors.ImmError` and creates no
   task. A task is created ``Running`` with ``Progress`` 0 (IMM has no queued
   status) and joins its dataset's queue.
2. **One task at a time per dataset.** A dataset runs its tasks one after
   another in creation order (the legacy API allowed one clustering or merge
   job per set at a time; a merge must see the clusters the previous one left).
   Different datasets run in parallel on the ``workers`` threads.
3. **Start.** ``StartTime`` is when a worker picks the task up. A merge
   checks here that its clusters exist; if one is unknown the task fails at
   once with ``ResourceNotFound`` and the dataset is left as it was.
4. **Run.** The task takes its simulated duration on the engine's clock,
   in four equal steps (``Progress`` 25, 50, 75), each an observation.
5. **End.** The work is applied in one step: a merge is one
   ``Ledger.merge`` call (so one ``ClusterState.merge``), a clustering run
   replaces the state and starts a new ledger. ``EndTime`` is the clock's
   time then. ``Succeeded`` (``Progress`` 100), or ``Failed`` with ``Code``
   and ``Message`` (an exception inside the task ends it ``Failed`` with
   ``InternalError``); a failed task leaves the dataset unchanged.
6. **Notify.** The end's message envelope goes to every subscriber and to
   the notification log, whether or not the request named a Notification
   channel (the engine behaves like the service-wide EventBridge feed).
7. **Forget.** ``retention`` (7 days) after its start (its creation, if it
   never started) GetTask answers ``ResourceNotFound`` and ListTasks no longer
   lists it; the history keeps it.

Under a :class:`~toolkit.tasks.ManualClock` the simulated durations default to
2 s per merge and 10 s per clustering run, and every time is exact: a test
advances the clock, or calls :meth:`TaskEngine.wait`, which moves the clock to
the next wake-up whenever every worker is asleep on it. Under the real clock
the durations default to zero: a task takes the time its work takes.
"""

from __future__ import annotations

import logging
import os
import threading
import time as _time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import orjson
import pandas as pd

from ..clustering import MERGE_RULES, ClusterState, Ledger, validate_merge_request
from ..errors import ImmError, MergeError
from ..faceset import FaceSet
from ._clock import ManualClock, SystemClock, as_timedelta, iso_ms
from ._history import HistoryLog
from ._imm_records import (TASK_TYPES, IdSource, TaskQuery, as_plain_tags,
                           check_name, envelope, invalid, missing, parse_json_param,
                           parse_notification, task_fields)
from ._incremental import cluster_unassigned
from ._vias import ViasService

__all__ = ["TaskEngine"]

log = logging.getLogger("toolkit.tasks")
_worker = threading.local()

_STEPS = 4
_SHARED_RULES = tuple(r for r in MERGE_RULES if r.field in ("UserData", "Tags"))
_MANUAL_DURATIONS = {"FigureClustersMerging": timedelta(seconds=2),
                     "FaceClustering": timedelta(seconds=10)}


@dataclass(eq=False)
class _Task:
    task_id: str
    task_type: str
    project: str
    dataset: str
    request: dict
    user_data: str | None
    tags: dict | None
    event_id: str
    request_id: str
    created_at: datetime
    merge: dict | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    status: str = "Running"
    progress: int = 0
    code: str = ""
    message: str = ""
    settled: bool = False


@dataclass(eq=False)
class _Dataset:
    project: str
    name: str
    ledgers: list[Ledger]
    queue: deque = field(default_factory=deque)
    active: bool = False


def _imm_error(exc: MergeError, source: str = "request (object): ") -> ImmError:
    """A broken merge rule as IMM answers it: the code, and a message naming field and value."""
    value = repr(exc.value)
    if len(value) > 80:
        value = value[:77] + "..."
    status = 404 if exc.code == "ResourceNotFound" else 400
    return ImmError(exc.code, f"{source}{exc.field}={value}: {exc.rule}", status)


class _JsonLines:
    """Appends JSON lines to a file, one writer at a time."""

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.Lock()

    def write(self, record: dict) -> None:
        if self.path is None:
            return
        line = orjson.dumps(record) + b"\n"
        with self._lock, open(self.path, "ab") as fh:
            fh.write(line)


class TaskEngine:
    """Run IMM face-clustering tasks and Huawei VIAS batch tasks locally.

    Parameters
    ----------
    clock : SystemClock or ManualClock, default=None
        Where time comes from; ``None`` is the real UTC clock.
    workers : int, default=2
        Threads that run tasks (tasks of one dataset still run one at a time).
    durations : mapping of str to float or timedelta, default=None
        Simulated run time per TaskType (``"FigureClustersMerging"``,
        ``"FaceClustering"``). Default: 2 s and 10 s under a ManualClock,
        0 under the real clock.
    retention : float or timedelta, default=7 days
        How long after its start a task can be fetched (IMM keeps 7 days).
    notification_log, request_log, snapshot_log : path, default=None
        JSON-lines files the engine appends to: every task's end message
        envelope; every accepted merge request as ``{"Request", "Response"}``;
        every GetTask answer as ``{"ObservedAt", "Response"}``.
    clustering_threshold : float, default=None
        Cosine similarity a face needs to join a group in a clustering run;
        ``None`` derives it from the dataset (see ``FaceClustering``).
    region, account_id : str
        Used in the notification ``subject``.
    seed : int, default=0
        Seed of every id the engine makes (tasks, requests, events, new
        clusters, VIAS batches and tasks).

    Attributes
    ----------
    vias : ViasService
        The Huawei VIAS batch-task API (``engine.vias.create_batch_task`` ...).
    clock : SystemClock or ManualClock

    Examples
    --------
    >>> import numpy as np
    >>> from toolkit.clustering import ClusterState
    >>> from toolkit.tasks import TaskEngine, ManualClock
    >>> state = ClusterState.from_arrays(np.eye(3), ["Cluster-a", "Cluster-b", "Cluster-c"])
    >>> with TaskEngine(ManualClock()) as engine:
    ...     engine.add_dataset("proj", "photos", state)
    ...     r = engine.create_figure_clusters_merging_task("proj", "photos", "Cluster-a",
    ...                                                    froms=["Cluster-b"])
    ...     engine.wait(r["TaskId"])
    ...     task = engine.get_task("proj", "FigureClustersMerging", r["TaskId"])
    ...     after = engine.dataset_state("proj", "photos")
    >>> task["Status"], task["StartTime"], task["EndTime"]
    ('Succeeded', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:02.000Z')
    >>> after.cluster_ids.tolist()
    ['Cluster-a', 'Cluster-c']
    """

    def __init__(self, clock: SystemClock | ManualClock | None = None, workers: int = 2, *,
                 durations: dict | None = None, retention: Any = timedelta(days=7),
                 notification_log: str | os.PathLike | None = None,
                 request_log: str | os.PathLike | None = None,
                 snapshot_log: str | os.PathLike | None = None,
                 clustering_threshold: float | None = None, region: str = "cn-local",
                 account_id: str = "0", seed: int = 0) -> None:
        self.clock = SystemClock() if clock is None else clock
        if not all(hasattr(self.clock, a) for a in ("now", "_hold", "_release", "_sleep_until")):
            raise TypeError("`clock` must be a toolkit.tasks.SystemClock or ManualClock, but "
                            f"{type(clock).__name__} was passed.")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"`workers` must be a positive integer, but {workers!r} was passed.")
        self.durations = dict(_MANUAL_DURATIONS) if self.clock.manual else \
            dict.fromkeys(TASK_TYPES, timedelta(0))
        for task_type, value in (durations or {}).items():
            if task_type not in TASK_TYPES:
                raise ValueError(f"The keys of `durations` must be among {list(TASK_TYPES)}, "
                                 f"but {task_type!r} was passed.")
            self.durations[task_type] = as_timedelta(value, f"durations[{task_type!r}]")
        self.retention = as_timedelta(retention, "retention")
        if clustering_threshold is not None and not -1.0 <= clustering_threshold <= 1.0:
            raise ValueError("`clustering_threshold` must be a cosine similarity in [-1, 1], "
                             f"but {clustering_threshold!r} was passed.")
        self.clustering_threshold = clustering_threshold
        self.region, self.account_id = str(region), str(account_id)
        self._ids = IdSource(seed)
        self._history = HistoryLog()
        self._notifications = _JsonLines(notification_log)
        self._requests = _JsonLines(request_log)
        self._snapshots = _JsonLines(snapshot_log)
        self._cond = threading.Condition()
        self._tasks: dict[str, _Task] = {}
        self._datasets: dict[tuple[str, str], _Dataset] = {}
        self._subscribers: list[Callable[[dict], Any]] = []
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="toolkit-task")
        self._closed = False
        self.vias = ViasService(self.clock, self._history, self._ids.rng, self._ids.lock)

    # --- datasets -------------------------------------------------------------------------

    def add_dataset(self, project_name: str, dataset_name: str,
                    faces_or_state: FaceSet | ClusterState) -> None:
        """Register a dataset (and its project) with its faces and clusters.

        Parameters
        ----------
        project_name, dataset_name : str
            The names the IMM calls use.
        faces_or_state : FaceSet or ClusterState
            The faces with their current clusters (a FaceSet's ``cluster_id``
            column, or a ClusterState).
        """
        check_name(project_name, "ProjectName")
        check_name(dataset_name, "DatasetName")
        if isinstance(faces_or_state, FaceSet):
            state = ClusterState.from_faces(faces_or_state)
        elif isinstance(faces_or_state, ClusterState):
            state = faces_or_state
        else:
            raise TypeError("`faces_or_state` must be a toolkit.FaceSet or a ClusterState, but "
                            f"{type(faces_or_state).__name__} was passed.")
        key = (project_name, dataset_name)
        with self._cond:
            if key in self._datasets:
                raise ValueError(f"The dataset {dataset_name!r} of project {project_name!r} "
                                 "is already registered.")
            self._datasets[key] = _Dataset(project_name, dataset_name, [Ledger(state)])

    def _dataset(self, project_name: Any, dataset_name: Any) -> _Dataset:
        project_name = check_name(project_name, "ProjectName")
        dataset_name = check_name(dataset_name, "DatasetName")
        with self._cond:
            if not any(p == project_name for p, _ in self._datasets):
                raise ImmError("ResourceNotFound",
                               f"The specified resource project {project_name!r} is not found.",
                               404)
            ds = self._datasets.get((project_name, dataset_name))
        if ds is None:
            raise ImmError("ResourceNotFound", f"The specified resource dataset "
                           f"{dataset_name!r} is not found in project {project_name!r}.", 404)
        return ds

    def dataset_state(self, project_name: str, dataset_name: str) -> ClusterState:
        """The dataset's current clusters (after every task that has ended)."""
        ds = self._dataset(project_name, dataset_name)
        self._settle()
        with self._cond:
            return ds.ledgers[-1].final

    def ledger(self, project_name: str, dataset_name: str) -> Ledger:
        """The merges applied since the dataset was added or last clustered, in order."""
        ds = self._dataset(project_name, dataset_name)
        self._settle()
        with self._cond:
            return ds.ledgers[-1]

    def ledgers(self, project_name: str, dataset_name: str) -> list[Ledger]:
        """Every ledger of the dataset: a new one starts after each clustering run."""
        ds = self._dataset(project_name, dataset_name)
        self._settle()
        with self._cond:
            return list(ds.ledgers)

    # --- create -----------------------------------------------------------------------------

    def create_figure_clusters_merging_task(self, project_name: str, dataset_name: str, to: str,
                                            from_: str | None = None, froms: Any = None,
                                            user_data: str | None = None,
                                            tags: dict | None = None,
                                            notification: Any = None) -> dict:
        """CreateFigureClustersMergingTask: merge source clusters into ``to``, asynchronously.

        Parameters
        ----------
        project_name, dataset_name : str
            A registered dataset (else ``ResourceNotFound``, 404).
        to : str
            Destination cluster id (``To``).
        from_ : str, default=None
            One source cluster id (``From``).
        froms : list of str or JSON text, default=None
            1 to 100 distinct source ids (``Froms``); exactly one of ``from_``
            / ``froms``.
        user_data : str, default=None
            At most 2048 bytes in UTF-8, echoed in the task and its message.
        tags : dict, default=None
            String keys, JSON values; ListTasks' ``tag_selector`` searches them.
        notification : dict, JSON text or SDK Notification, default=None
            ``{MNS: {TopicName}, RocketMQ: {InstanceId, TopicName},
            ExtendedMessageURI}``; checked and kept in the request definition.

        Returns
        -------
        dict
            ``{"RequestId", "TaskId", "EventId"}``.

        Raises
        ------
        ImmError
            A parameter rule is broken (``MissingParameter`` or
            ``InvalidArgument``, 400) or the project / dataset is unknown
            (``ResourceNotFound``, 404). No task is created. Clusters are
            checked when the task runs, not here.
        """
        if isinstance(froms, (str, bytes)) and str(froms).lstrip().startswith("["):
            froms = parse_json_param(froms, "Froms")  # IMM sends arrays as JSON text
        try:
            sources = validate_merge_request(to, froms, from_, user_data, tags)
        except MergeError as exc:
            raise _imm_error(exc) from None
        notification = parse_notification(notification)
        ds = self._dataset(project_name, dataset_name)
        request: dict[str, Any] = {"ProjectName": project_name, "DatasetName": dataset_name}
        if froms is not None:
            request["Froms"] = sources
            merge = {"to": to, "froms": sources, "from_": None}
        else:
            request["From"] = sources[0]
            merge = {"to": to, "froms": None, "from_": sources[0]}
        request["To"] = to
        response = self._create(ds, "FigureClustersMerging", request, user_data, tags,
                                notification, merge)
        self._requests.write({"Request": request, "Response": response})
        return response

    def create_figure_clustering_task(self, project_name: str, dataset_name: str,
                                      user_data: str | None = None, tags: dict | None = None,
                                      notification: Any = None) -> dict:
        """CreateFigureClusteringTask: cluster the dataset's faces that are in no cluster.

        The run is incremental, as in the cloud, and is
        :func:`toolkit.reclustering.assign_incremental`: each face in no
        cluster (row order = arrival order) joins the most similar cluster
        feature when similar enough (the feature then moves); the rest are
        clustered among themselves, and a group becomes a new cluster
        (``Cluster-<uuid5 of its first member>``) only with at least 3 good
        faces (``face_quality`` above 0.8, box over 75x75 px, head pose within
        +-30 degrees, each gate applied when its column exists). Faces left
        over are ``figure-cluster-id-independent``. The threshold is
        ``clustering_threshold`` or, by default, derived from the data
        (:func:`toolkit.reclustering.estimate_threshold`).

        Returns
        -------
        dict
            ``{"RequestId", "TaskId", "EventId"}``; the TaskType is
            ``"FaceClustering"``.

        Raises
        ------
        ImmError
            As for :meth:`create_figure_clusters_merging_task`.
        """
        try:
            # UserData and Tags follow the same rules as in a merge request.
            shared = SimpleNamespace(user_data=user_data, tags=tags, existing=None)
            for rule in _SHARED_RULES:
                rule.apply(shared)
        except MergeError as exc:
            raise _imm_error(exc) from None
        notification = parse_notification(notification)
        ds = self._dataset(project_name, dataset_name)
        request = {"ProjectName": project_name, "DatasetName": dataset_name}
        return self._create(ds, "FaceClustering", request, user_data, tags, notification, None)

    def _create(self, ds: _Dataset, task_type: str, request: dict, user_data: str | None,
                tags: dict | None, notification: dict | None, merge: dict | None) -> dict:
        tags = as_plain_tags(tags)
        if user_data is not None:
            request["UserData"] = user_data
        if tags is not None:
            request["Tags"] = tags
        if notification is not None:
            request["Notification"] = notification
        with self._cond:
            if self._closed:
                raise RuntimeError("The TaskEngine is closed.")
            task = _Task(self._ids.task_id(), task_type, ds.project, ds.name, request,
                         user_data, tags, self._ids.event_id(), self._ids.request_id(),
                         self.clock.now(), merge=merge)
            self._tasks[task.task_id] = task
            self._record(task)
            ds.queue.append(task)
            if not ds.active:
                ds.active = True
                self._submit(ds)
        return {"RequestId": task.request_id, "TaskId": task.task_id, "EventId": task.event_id}

    # --- running ----------------------------------------------------------------------------

    def _record(self, task: _Task, at: datetime | None = None) -> None:
        self._history.record("imm", task.task_id, task.task_type,
                             task.created_at if at is None else at, task.status, task.progress)

    def _submit(self, ds: _Dataset) -> None:
        # Held until the job releases it, so a manual clock never moves past queued work.
        self.clock._hold()
        self._executor.submit(self._run_next, ds)

    def _settle(self) -> None:
        # Under a manual clock an observation waits until every worker is asleep on the
        # clock or idle, so what it sees depends on the clock's time alone. A worker's own
        # calls (a notification callback asking GetTask) must not wait for themselves.
        if self.clock.manual and not getattr(_worker, "active", False):
            self.clock.settle()

    def _run_next(self, ds: _Dataset) -> None:
        _worker.active = True
        try:
            with self._cond:
                task = ds.queue.popleft()
            self._run(task, ds)
        finally:
            with self._cond:
                if ds.queue:
                    self._submit(ds)
                else:
                    ds.active = False
            _worker.active = False
            self.clock._release()

    def _run(self, task: _Task, ds: _Dataset) -> None:
        start = self.clock.now()
        with self._cond:
            task.start_time = start
        try:
            if task.merge is not None:
                with self._cond:
                    state = ds.ledgers[-1].final
                validate_merge_request(task.merge["to"], task.merge["froms"],
                                       task.merge["from_"], existing=set(state.cluster_ids))
            duration = self.durations[task.task_type]
            if duration > timedelta(0):
                for step in range(1, _STEPS):
                    self.clock._sleep_until(start + duration * step / _STEPS)
                    with self._cond:
                        task.progress = 100 * step // _STEPS
                        self._record(task, self.clock.now())
                self.clock._sleep_until(start + duration)
            self._apply(task, ds)
        except MergeError as exc:
            self._finish(task, "Failed", exc.code, _imm_error(exc, source="").message)
        except Exception as exc:  # a fault inside the task fails the task, not the engine
            log.exception("task %s failed with an internal error", task.task_id)
            self._finish(task, "Failed", "InternalError", f"{type(exc).__name__}: {exc}")
        else:
            self._finish(task, "Succeeded", "", "")

    def _apply(self, task: _Task, ds: _Dataset) -> None:
        at = self.clock.now()
        with self._cond:
            current = ds.ledgers[-1]
        if task.merge is not None:
            updated = current.merge(task.merge["to"], task.merge["froms"], task.merge["from_"],
                                    user_data=task.user_data, tags=task.tags, at=at,
                                    task_id=task.task_id)
            with self._cond:
                ds.ledgers[-1] = updated
        else:
            state = cluster_unassigned(current.final, threshold=self.clustering_threshold)
            with self._cond:
                ds.ledgers.append(Ledger(state))

    def _finish(self, task: _Task, status: str, code: str, message: str) -> None:
        with self._cond:
            task.end_time = self.clock.now()
            task.status, task.code, task.message = status, code, message
            if status == "Succeeded":
                task.progress = 100
            self._record(task, task.end_time)
            subscribers = list(self._subscribers)
        try:
            message_envelope = envelope(task, region=self.region, account_id=self.account_id)
            try:
                self._notifications.write(message_envelope)
            except OSError:  # a full disk must not leave the task unfinished
                log.exception("could not append to the notification log %s",
                              self._notifications.path)
            for callback in subscribers:
                try:
                    callback(message_envelope)
                except Exception:  # a subscriber's bug must not undo the task's outcome
                    log.exception("notification callback %r raised", callback)
        finally:
            with self._cond:
                task.settled = True
                self._cond.notify_all()

    # --- waiting ----------------------------------------------------------------------------

    def _done(self, task_id: str | None) -> bool:
        if task_id is not None:
            return self._tasks[task_id].settled
        return all(t.settled for t in self._tasks.values())

    def wait(self, task_id: str | None = None, timeout: float | None = None) -> None:
        """Block until a task (or, with ``task_id=None``, every task) has ended.

        Under a ManualClock the engine moves the clock itself: whenever every
        worker is asleep on the clock, to the earliest wake-up, so the tasks
        end at exactly their simulated times. Never sleep-polls.

        Parameters
        ----------
        task_id : str, default=None
            A TaskId this engine returned.
        timeout : float, default=None
            Real seconds to wait at most.

        Raises
        ------
        TimeoutError
            The task(s) did not end within ``timeout`` seconds.
        """
        if getattr(_worker, "active", False):
            raise RuntimeError("TaskEngine.wait cannot be called from inside a task or a "
                               "notification callback: the task would wait for itself.")
        with self._cond:
            if task_id is not None and task_id not in self._tasks:
                raise ValueError(f"`task_id` {task_id!r} is not a task of this engine.")
        deadline = None if timeout is None else _time.monotonic() + timeout
        if not self.clock.manual:
            with self._cond:
                if not self._cond.wait_for(lambda: self._done(task_id), timeout=timeout):
                    raise TimeoutError(f"The task(s) did not end within {timeout} s.")
            return
        while True:
            with self._cond:
                if self._done(task_id):
                    return
            if deadline is not None and _time.monotonic() > deadline:
                raise TimeoutError(f"The task(s) did not end within {timeout} s.")
            wake = self.clock.next_deadline()
            with self._cond:
                if self._done(task_id):
                    return
            if wake is None:
                raise RuntimeError("Tasks are unfinished but none is running or asleep on the "
                                   "clock; this is a bug in the engine.")
            self.clock.advance_to(wake)

    def subscribe(self, callback: Callable[[dict], Any]) -> Callable[[], None]:
        """Call ``callback(envelope)`` at each task's end; returns a function that unsubscribes.

        The callback runs on the worker thread that ended the task. An
        exception it raises is logged (logger ``toolkit.tasks``) and does not
        change the task.
        """
        if not callable(callback):
            raise TypeError(f"`callback` must be callable, but {callback!r} was passed.")
        with self._cond:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._cond:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
        return unsubscribe

    # --- GetTask / ListTasks ------------------------------------------------------------------

    def _expired(self, task: _Task, now: datetime) -> bool:
        return now > (task.start_time or task.created_at) + self.retention

    def get_task(self, project_name: str, task_type: str, task_id: str,
                 request_definition: bool = False) -> dict:
        """GetTask: one task's status, times, progress and outcome.

        Parameters
        ----------
        project_name : str
        task_type : str
            ``"FigureClustersMerging"`` or ``"FaceClustering"``; must be the
            task's type.
        task_id : str
        request_definition : bool, default=False
            Add ``TaskRequestDefinition``, the create request as JSON text
            (the engine answers it for merge tasks too).

        Returns
        -------
        dict
            GetTaskResponseBody: ``RequestId, ProjectName, EventId, TaskId,
            TaskType, Status, Progress`` (0-100), ``StartTime`` once started,
            ``EndTime`` once ended (RFC 3339 UTC, ms), ``Code``, ``Message``
            (empty unless Failed), ``UserData`` and ``Tags`` when given.

        Raises
        ------
        ImmError
            ``ResourceNotFound`` (404) for an unknown project, an unknown or
            expired task, or a task of another type; ``MissingParameter``
            (400) for an empty argument.
        """
        project_name = check_name(project_name, "ProjectName")
        for value, name in ((task_type, "TaskType"), (task_id, "TaskId")):
            if value is None or value == "":
                raise missing(name)
            if not isinstance(value, str):
                raise invalid(name, "a string", value)
        if not isinstance(request_definition, bool):
            raise invalid("RequestDefinition", "true or false", request_definition)
        self._project(project_name)
        self._settle()
        now = self.clock.now()
        with self._cond:
            task = self._tasks.get(task_id)
            if task is None or task.project != project_name or task.task_type != task_type \
                    or self._expired(task, now):
                raise ImmError("ResourceNotFound", f"The specified task {task_id!r} of type "
                               f"{task_type!r} is not found in project {project_name!r} (tasks "
                               f"are kept {self.retention} after they start).", 404)
            body = {"RequestId": self._ids.request_id(), "ProjectName": project_name,
                    "EventId": task.event_id,
                    **task_fields(task, progress=task.progress,
                                  request_definition=request_definition)}
        self._snapshots.write({"ObservedAt": iso_ms(now), "Response": body})
        return body

    def _project(self, project_name: str) -> None:
        with self._cond:
            known = any(p == project_name for p, _ in self._datasets)
        if not known:
            raise ImmError("ResourceNotFound",
                           f"The specified resource project {project_name!r} is not found.", 404)

    def list_tasks(self, project_name: str, task_types: Any = None, status: str | None = None,
                   start_time_range: Any = None, end_time_range: Any = None,
                   tag_selector: str | None = None, sort: str = "TaskId", order: str = "asc",
                   max_results: int = 100, next_token: str | None = None,
                   request_definition: bool = False) -> dict:
        """ListTasks: the project's tasks, filtered, sorted and paged.

        Parameters
        ----------
        project_name : str
        task_types : list of str, default=None
            Keep these TaskTypes.
        status : {"Running", "Succeeded", "Failed"}, default=None
        start_time_range, end_time_range : dict, default=None
            ``{"Start": ..., "End": ...}`` RFC 3339 times (or JSON text, or an
            SDK TimeRange); inclusive; either bound may be left out.
        tag_selector : str, default=None
            ``"key=value"``.
        sort : {"TaskId", "StartTime", "EndTime"}, default="TaskId"
        order : {"asc", "desc"}, default="asc"
        max_results : int, default=100
            Page size, 1 to 100.
        next_token : str, default=None
            The ``NextToken`` of the previous page (same sort and order).
        request_definition : bool, default=False
            Add each task's ``TaskRequestDefinition``.

        Returns
        -------
        dict
            ListTasksResponseBody: ``RequestId, ProjectName, MaxResults`` (the
            number returned, as a string), ``Tasks`` (TaskInfo dicts) and
            ``NextToken`` when more tasks follow. Expired tasks are not listed.
        """
        project_name = check_name(project_name, "ProjectName")
        query = TaskQuery(task_types=task_types, status=status,
                          start_time_range=start_time_range, end_time_range=end_time_range,
                          tag_selector=tag_selector, sort=sort, order=order,
                          max_results=max_results, next_token=next_token)
        if not isinstance(request_definition, bool):
            raise invalid("RequestDefinition", "true or false", request_definition)
        self._project(project_name)
        self._settle()
        now = self.clock.now()
        with self._cond:
            tasks = [t for t in self._tasks.values()
                     if t.project == project_name and not self._expired(t, now)]
            page, token = query.page(tasks)
            rows = [task_fields(t, progress=t.progress, request_definition=request_definition)
                    for t in page]
            body = {"RequestId": self._ids.request_id(), "ProjectName": project_name,
                    "MaxResults": str(len(rows)), "Tasks": rows}
        if token is not None:
            body["NextToken"] = token
        return body

    # --- history and lifetime -----------------------------------------------------------------

    def history(self) -> pd.DataFrame:
        """Every status change the engine made, IMM and VIAS alike.

        Returns
        -------
        DataFrame
            The task-history frame: ``task_id``, ``observed_at`` (UTC),
            ``status`` (raw), ``state`` (normalised), ``progress`` (Int64; IMM
            only), ``source`` (``"engine"``), ``provider`` (imm/vias),
            ``task_type``; sorted by task_id then time, changes at one instant
            in the order they happened. An IMM task has a row at creation
            (Running, 0), one per progress step, and one at its end.
        """
        self._settle()
        return self._history.frame()

    def close(self) -> None:
        """Wait for every task to end, then stop the workers."""
        if self._closed:
            return
        self.wait()
        with self._cond:
            self._closed = True
        self._executor.shutdown(wait=True)

    def __enter__(self) -> "TaskEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        with self._cond:
            n = len(self._tasks)
            running = sum(not t.settled for t in self._tasks.values())
        return (f"TaskEngine({len(self._datasets)} datasets, {n} tasks, {running} running, "
                f"clock={self.clock!r})")

