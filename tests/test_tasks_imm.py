"""The IMM half of the local task engine: clocks, create rules, task lives, GetTask, ListTasks."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.clustering import ClusterState, Ledger, UnknownClusterError
from toolkit.errors import ImmError, MergeError
from toolkit.tasks import ManualClock, SystemClock, TaskEngine

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
MERGE = "FigureClustersMerging"


def make_state(n_clusters: int = 6, per: int = 3, *, dim: int = 8, seed: int = 0,
               unclustered: int = 0) -> ClusterState:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_clusters * per + unclustered, dim))
    ids = [f"Cluster-{i // per:02d}" for i in range(n_clusters * per)] + [None] * unclustered
    return ClusterState.from_arrays(x, ids)


def iso(seconds: float) -> str:
    when = T0 + timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def engine(clock):
    eng = TaskEngine(clock)
    eng.add_dataset("proj", "photos", make_state())
    yield eng
    eng.close()


def merge(engine, to="Cluster-00", **kwargs):
    return engine.create_figure_clusters_merging_task("proj", "photos", to, **kwargs)


# --- the clock ----------------------------------------------------------------------------


def test_manual_clock_moves_only_forward_and_only_when_told():
    clock = ManualClock(datetime(2025, 3, 1, 8, tzinfo=timezone(timedelta(hours=8))))
    assert clock.now() == datetime(2025, 3, 1, 0, tzinfo=timezone.utc)
    assert clock.advance(90) == datetime(2025, 3, 1, 0, 1, 30, tzinfo=timezone.utc)
    assert clock.advance(timedelta(hours=1)).hour == 1
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance_to(datetime(2025, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(ValueError, match="must not be negative"):
        clock.advance(-1)


@pytest.mark.parametrize("bad, error, match", [
    (datetime(2025, 1, 1), ValueError, "timezone-aware"),
    ("yesterday", ValueError, "ISO 8601"),
    (17, TypeError, "timezone-aware datetime"),
])
def test_manual_clock_refuses_times_without_a_zone(bad, error, match):
    with pytest.raises(error, match=match):
        ManualClock(bad)


def test_system_clock_is_utc():
    assert SystemClock().now().utcoffset() == timedelta(0)


# --- engine arguments -------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, match", [
    ({"workers": 0}, ValueError, "positive integer"),
    ({"workers": True}, ValueError, "positive integer"),
    ({"durations": {"Transcode": 1}}, ValueError, "keys of `durations`"),
    ({"durations": {MERGE: -1}}, ValueError, "must not be negative"),
    ({"durations": {MERGE: "1s"}}, TypeError, "number of seconds"),
    ({"clock": object()}, TypeError, "SystemClock or ManualClock"),
    ({"clustering_threshold": 1.5}, ValueError, r"\[-1, 1\]"),
])
def test_engine_refuses_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        TaskEngine(**kwargs)


def test_add_dataset_refuses_duplicates_and_other_types(engine):
    with pytest.raises(ValueError, match="already registered"):
        engine.add_dataset("proj", "photos", make_state())
    with pytest.raises(TypeError, match="FaceSet or a ClusterState"):
        engine.add_dataset("proj", "other", np.eye(3))


def test_add_dataset_takes_a_faceset(clock):
    state = make_state()
    with TaskEngine(clock) as eng:
        eng.add_dataset("proj", "photos", state.faceset)
        assert eng.dataset_state("proj", "photos").equals(state)


# --- a task's life --------------------------------------------------------------------------


def test_merge_runs_in_steps_with_exact_times_and_progress(engine, clock):
    before = engine.dataset_state("proj", "photos")
    r = merge(engine, froms=["Cluster-01", "Cluster-02"], user_data="u", tags={"k": "v"})
    assert set(r) == {"RequestId", "TaskId", "EventId"}
    seen = engine.get_task("proj", MERGE, r["TaskId"])
    assert (seen["Status"], seen["Progress"], seen["StartTime"]) == ("Running", 0, iso(0))
    assert "EndTime" not in seen
    # 2 s in four steps: progress 25 at 0.5 s, 50 at 1.0 s, 75 at 1.5 s.
    clock.advance(0.5)
    assert engine.get_task("proj", MERGE, r["TaskId"])["Progress"] == 25
    clock.advance(1.0)
    assert engine.get_task("proj", MERGE, r["TaskId"])["Progress"] == 75
    assert engine.dataset_state("proj", "photos").equals(before)
    # One big step still stops the task at its own end, 2.0 s.
    clock.advance(10)
    done = engine.get_task("proj", MERGE, r["TaskId"])
    assert (done["Status"], done["Progress"], done["Code"], done["Message"]) == \
        ("Succeeded", 100, "", "")
    assert (done["StartTime"], done["EndTime"]) == (iso(0), iso(2))
    assert (done["UserData"], done["Tags"], done["EventId"]) == ("u", {"k": "v"}, r["EventId"])
    after = engine.dataset_state("proj", "photos")
    expected, _ = before.merge("Cluster-00", ["Cluster-01", "Cluster-02"])
    assert after.equals(expected)


def test_tasks_of_one_dataset_queue_and_other_datasets_run_alongside(clock):
    with TaskEngine(clock) as eng:
        eng.add_dataset("proj", "a", make_state())
        eng.add_dataset("proj", "b", make_state())
        first = eng.create_figure_clusters_merging_task("proj", "a", "Cluster-00",
                                                        from_="Cluster-01")
        queued = eng.create_figure_clusters_merging_task("proj", "a", "Cluster-02",
                                                         from_="Cluster-03")
        other = eng.create_figure_clusters_merging_task("proj", "b", "Cluster-02",
                                                        from_="Cluster-03")
        waiting = eng.get_task("proj", MERGE, queued["TaskId"])
        assert (waiting["Status"], waiting["Progress"]) == ("Running", 0)
        assert "StartTime" not in waiting
        eng.wait()
        times = {k: (eng.get_task("proj", MERGE, r["TaskId"])["StartTime"],
                     eng.get_task("proj", MERGE, r["TaskId"])["EndTime"])
                 for k, r in (("first", first), ("queued", queued), ("other", other))}
    assert times == {"first": (iso(0), iso(2)), "queued": (iso(2), iso(4)),
                     "other": (iso(0), iso(2))}


def test_wait_on_one_task_moves_the_clock_only_as_far_as_needed(engine, clock):
    a = merge(engine, from_="Cluster-01")
    merge(engine, to="Cluster-02", from_="Cluster-03")
    engine.wait(a["TaskId"])
    assert clock.now() == T0 + timedelta(seconds=2)
    engine.wait()
    assert clock.now() == T0 + timedelta(seconds=4)


def test_wait_rejects_unknown_tasks(engine):
    with pytest.raises(ValueError, match="not a task of this engine"):
        engine.wait("no-such-task")


def test_system_clock_runs_tasks_without_sleeping():
    with TaskEngine() as eng:
        eng.add_dataset("proj", "photos", make_state())
        r = eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-00",
                                                    from_="Cluster-01")
        eng.wait(r["TaskId"], timeout=30)
        task = eng.get_task("proj", MERGE, r["TaskId"])
    assert task["Status"] == "Succeeded"
    assert task["StartTime"] <= task["EndTime"]


def test_wait_times_out_under_the_system_clock():
    with TaskEngine(durations={MERGE: 0.3}) as eng:
        eng.add_dataset("proj", "photos", make_state())
        r = eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-00",
                                                    from_="Cluster-01")
        with pytest.raises(TimeoutError, match="did not end"):
            eng.wait(r["TaskId"], timeout=0.01)
        eng.wait(r["TaskId"])
        assert eng.get_task("proj", MERGE, r["TaskId"])["Status"] == "Succeeded"


def test_zero_duration_under_a_manual_clock_ends_at_the_start(clock):
    with TaskEngine(clock, durations={MERGE: 0}) as eng:
        eng.add_dataset("proj", "photos", make_state())
        r = eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-00",
                                                    from_="Cluster-01")
        eng.wait()
        task = eng.get_task("proj", MERGE, r["TaskId"])
        rows = eng.history()
    assert (task["StartTime"], task["EndTime"]) == (iso(0), iso(0))
    # No progress steps: created (Running, 0), then ended (Succeeded, 100).
    assert rows["status"].tolist() == ["Running", "Succeeded"]
    assert rows["progress"].tolist() == [0, 100]


# --- create-time rules ----------------------------------------------------------------------

FROMS_100 = [f"Cluster-x{i:03d}" for i in range(100)]


@pytest.mark.parametrize("kwargs", [
    {"from_": "Cluster-01"},
    {"froms": ["Cluster-01"]},
    {"froms": FROMS_100},                                   # 100 Froms: the bound
    {"froms": '["Cluster-01", "Cluster-02"]'},              # IMM sends arrays as JSON text
    {"from_": "Cluster-01", "user_data": "a" * 2048},       # 2048 bytes: the bound
    {"from_": "Cluster-01", "user_data": "é" * 1024},       # 2 bytes each: 2048
    {"from_": "Cluster-01", "tags": {"k": [1, {"x": None}]}},
    {"from_": "Cluster-01", "notification": {"MNS": {"TopicName": "t"}}},
    {"from_": "Cluster-01", "notification": '{"RocketMQ": {"InstanceId": "i", "TopicName": "t"}}'},
    {"from_": "Cluster-01", "notification": {"ExtendedMessageURI": "oss://b/k.json"}},
])
def test_create_accepts_requests_on_the_bounds(engine, kwargs):
    r = merge(engine, **kwargs)
    assert engine.get_task("proj", MERGE, r["TaskId"])["TaskId"] == r["TaskId"]


@pytest.mark.parametrize("kwargs, code, status, match", [
    ({}, "MissingParameter", 400, "neither was"),
    ({"from_": "Cluster-01", "froms": ["Cluster-02"]}, "InvalidArgument", 400, "both were"),
    ({"to": None, "from_": "Cluster-01"}, "MissingParameter", 400, "To .* is required"),
    ({"to": 7, "from_": "Cluster-01"}, "InvalidArgument", 400, "To must be a non-empty"),
    ({"from_": 7}, "InvalidArgument", 400, "From must be"),
    ({"froms": FROMS_100 + ["Cluster-x100"]}, "InvalidArgument", 400, "1 to 100 ids; got 101"),
    ({"froms": []}, "InvalidArgument", 400, "1 to 100 ids; got 0"),
    ({"froms": "Cluster-01"}, "InvalidArgument", 400, "single id was passed as Froms"),
    ({"froms": "[not json"}, "InvalidArgument", 400, "parameter Froms: expected JSON"),
    ({"froms": ["Cluster-01", "Cluster-01"]}, "InvalidArgument", 400, "distinct"),
    ({"froms": ["Cluster-01", "Cluster-00"]}, "InvalidArgument", 400, "not be one of the source"),
    ({"from_": "Cluster-00"}, "InvalidArgument", 400, "not be one of the source"),
    ({"from_": "Cluster-01", "user_data": "a" * 2049}, "InvalidArgument", 400, "2049 bytes"),
    ({"from_": "Cluster-01", "user_data": "é" * 1024 + "a"}, "InvalidArgument", 400,
     "2049 bytes"),
    ({"from_": "Cluster-01", "user_data": {"a": 1}}, "InvalidArgument", 400, "must be a string"),
    ({"from_": "Cluster-01", "tags": ["a"]}, "InvalidArgument", 400, "Tags must be a mapping"),
    ({"from_": "Cluster-01", "tags": {1: "a"}}, "InvalidArgument", 400, "string keys"),
    ({"from_": "Cluster-01", "tags": {"a": float("nan")}}, "InvalidArgument", 400, "JSON"),
    ({"from_": "Cluster-01", "notification": {"Webhook": {}}}, "InvalidArgument", 400,
     "Notification.Webhook"),
    ({"from_": "Cluster-01", "notification": {"MNS": {}}}, "InvalidArgument", 400,
     "Notification.MNS.TopicName"),
    ({"from_": "Cluster-01", "notification": {"ExtendedMessageURI": "http://x"}},
     "InvalidArgument", 400, "oss://"),
    ({"from_": "Cluster-01", "notification": ["MNS"]}, "InvalidArgument", 400, "Notification"),
    ({"project": "nope", "from_": "Cluster-01"}, "ResourceNotFound", 404, "project 'nope'"),
    ({"dataset": "nope", "from_": "Cluster-01"}, "ResourceNotFound", 404, "dataset 'nope'"),
    ({"project": "", "from_": "Cluster-01"}, "MissingParameter", 400, "ProjectName"),
    ({"dataset": 3, "from_": "Cluster-01"}, "InvalidArgument", 400, "DatasetName"),
])
def test_create_rejects_broken_rules_and_creates_nothing(engine, kwargs, code, status, match):
    kwargs = {"to": "Cluster-00", **kwargs}
    project, dataset = kwargs.pop("project", "proj"), kwargs.pop("dataset", "photos")
    with pytest.raises(ImmError, match=match) as info:
        engine.create_figure_clusters_merging_task(project, dataset, **kwargs)
    assert (info.value.code, info.value.status_code) == (code, status)
    assert engine.list_tasks("proj")["Tasks"] == []
    assert engine.history().empty


@pytest.mark.parametrize("kwargs, code, match", [
    ({"user_data": "a" * 2049}, "InvalidArgument", "2048 bytes"),
    ({"tags": "team=qa"}, "InvalidArgument", "mapping"),
    ({"notification": {"MNS": {"TopicName": ""}}}, "InvalidArgument", "TopicName"),
    ({"dataset": "nope"}, "ResourceNotFound", "dataset 'nope'"),
])
def test_clustering_create_rejects_broken_rules(engine, kwargs, code, match):
    dataset = kwargs.pop("dataset", "photos")
    with pytest.raises(ImmError, match=match) as info:
        engine.create_figure_clustering_task("proj", dataset, **kwargs)
    assert info.value.code == code
    assert engine.list_tasks("proj")["Tasks"] == []


# --- failures at run time -------------------------------------------------------------------


def test_unknown_cluster_fails_the_task_at_its_start_and_changes_nothing(engine, clock):
    before = engine.dataset_state("proj", "photos")
    r = merge(engine, froms=["Cluster-01", "Cluster-99"])
    engine.wait()
    task = engine.get_task("proj", MERGE, r["TaskId"])
    assert (task["Status"], task["Code"]) == ("Failed", "ResourceNotFound")
    assert "Cluster-99" in task["Message"]
    assert (task["StartTime"], task["EndTime"], task["Progress"]) == (iso(0), iso(0), 0)
    assert engine.dataset_state("proj", "photos").equals(before)
    assert len(engine.ledger("proj", "photos")) == 0


def test_a_cluster_merged_away_before_the_run_fails_the_later_task(engine):
    first = merge(engine, from_="Cluster-01")
    late = merge(engine, to="Cluster-02", from_="Cluster-01")   # valid when created
    engine.wait()
    assert engine.get_task("proj", MERGE, first["TaskId"])["Status"] == "Succeeded"
    task = engine.get_task("proj", MERGE, late["TaskId"])
    assert (task["Status"], task["Code"]) == ("Failed", "ResourceNotFound")
    assert engine.dataset_state("proj", "photos").cluster_ids.tolist() == \
        ["Cluster-00", "Cluster-02", "Cluster-03", "Cluster-04", "Cluster-05"]


def test_a_fault_inside_a_task_fails_it_and_leaves_the_dataset_unchanged(engine, monkeypatch):
    before = engine.dataset_state("proj", "photos")

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(Ledger, "merge", broken)
        r = merge(engine, from_="Cluster-01")
        engine.wait()
    task = engine.get_task("proj", MERGE, r["TaskId"])
    assert (task["Status"], task["Code"]) == ("Failed", "InternalError")
    assert task["Message"] == "RuntimeError: disk on fire"
    # Failed at the end of its run: the last progress it reached stays.
    assert (task["EndTime"], task["Progress"]) == (iso(2), 75)
    assert engine.dataset_state("proj", "photos").equals(before)
    # The engine keeps working.
    again = merge(engine, from_="Cluster-01")
    engine.wait()
    assert engine.get_task("proj", MERGE, again["TaskId"])["Status"] == "Succeeded"


def test_a_fault_in_a_clustering_run_fails_it(engine, monkeypatch):
    before = engine.dataset_state("proj", "photos")

    def broken(*args, **kwargs):
        raise MemoryError("too many faces")

    monkeypatch.setattr("toolkit.tasks._engine.cluster_unassigned", broken)
    r = engine.create_figure_clustering_task("proj", "photos")
    engine.wait()
    task = engine.get_task("proj", "FaceClustering", r["TaskId"])
    assert (task["Status"], task["Code"], task["Message"]) == \
        ("Failed", "InternalError", "MemoryError: too many faces")
    assert engine.dataset_state("proj", "photos").equals(before)
    assert len(engine.ledgers("proj", "photos")) == 1


# --- concurrency ------------------------------------------------------------------------------


def test_twenty_concurrent_merges_lose_no_update(clock):
    initial = make_state(n_clusters=24, per=2, seed=3)
    ids = initial.cluster_ids.tolist()
    rng = random.Random(7)
    # Overlapping requests, so some find their clusters merged away and fail.
    requests = []
    for _ in range(20):
        to, *sources = rng.sample(ids, rng.choice([2, 3]))
        requests.append({"to": to, "froms": sources})
    barrier = threading.Barrier(len(requests))
    created: dict[str, dict] = {}
    lock = threading.Lock()

    def submit(req):
        barrier.wait()
        r = eng.create_figure_clusters_merging_task("proj", "photos", req["to"],
                                                    froms=req["froms"])
        with lock:
            created[r["TaskId"]] = req

    with TaskEngine(clock, workers=4) as eng:
        eng.add_dataset("proj", "photos", initial)
        threads = [threading.Thread(target=submit, args=(req,)) for req in requests]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        eng.wait()
        final = eng.dataset_state("proj", "photos")
        ledger = eng.ledger("proj", "photos")
        tasks = {tid: eng.get_task("proj", MERGE, tid) for tid in created}

    assert len(created) == 20
    applied = [e.task_id for e in ledger]
    failed = [tid for tid, t in tasks.items() if t["Status"] == "Failed"]
    assert sorted(applied + failed) == sorted(created)
    assert {tasks[tid]["Code"] for tid in failed} <= {"ResourceNotFound"}
    # Replaying the requests in the engine's recorded order, independently of its
    # ledger, gives its final state bit for bit.
    state = initial
    for tid in applied:
        state, _ = state.merge(created[tid]["to"], created[tid]["froms"])
    assert state.equals(final)
    # Each failed task was invalid on the state at the time it ran.
    ends = {tid: tasks[tid]["EndTime"] for tid in applied}
    for tid in failed:
        state = initial
        for done in applied:
            if ends[done] <= tasks[tid]["StartTime"]:
                state, _ = state.merge(created[done]["to"], created[done]["froms"])
        with pytest.raises(UnknownClusterError):
            state.merge(created[tid]["to"], created[tid]["froms"])


def test_same_seed_same_operations_same_records(clock):
    def run():
        with TaskEngine(ManualClock(), seed=11) as eng:
            eng.add_dataset("proj", "photos", make_state())
            out = [merge(eng, from_="Cluster-01"), merge(eng, to="Cluster-02", from_="Cluster-01"),
                   eng.create_figure_clustering_task("proj", "photos")]
            eng.wait()
            out.append(eng.list_tasks("proj")["Tasks"])
            return out, eng.history()

    (a, ha), (b, hb) = run(), run()
    assert a == b
    pd.testing.assert_frame_equal(ha, hb)


# --- GetTask ----------------------------------------------------------------------------------


def test_get_task_request_definition_is_the_create_request(engine):
    r = merge(engine, froms=["Cluster-01"], user_data="{\"t\": 1}", tags={"a": 1},
              notification={"MNS": {"TopicName": "topic"}})
    body = engine.get_task("proj", MERGE, r["TaskId"], request_definition=True)
    assert orjson.loads(body["TaskRequestDefinition"]) == {
        "ProjectName": "proj", "DatasetName": "photos", "Froms": ["Cluster-01"],
        "To": "Cluster-00", "UserData": "{\"t\": 1}", "Tags": {"a": 1},
        "Notification": {"MNS": {"TopicName": "topic"}}}
    assert "TaskRequestDefinition" not in engine.get_task("proj", MERGE, r["TaskId"])


@pytest.mark.parametrize("args, code, status, match", [
    (("nope", MERGE, "TID"), "ResourceNotFound", 404, "project 'nope'"),
    (("proj", MERGE, "no-such-task"), "ResourceNotFound", 404, "task 'no-such-task'"),
    (("proj", "FaceClustering", "TID"), "ResourceNotFound", 404, "of type 'FaceClustering'"),
    (("proj", "", "TID"), "MissingParameter", 400, "TaskType"),
    (("proj", MERGE, None), "MissingParameter", 400, "TaskId"),
    (("proj", MERGE, 12), "InvalidArgument", 400, "TaskId"),
    ((None, MERGE, "TID"), "MissingParameter", 400, "ProjectName"),
    (("proj", MERGE, "TID", "yes"), "InvalidArgument", 400, "RequestDefinition"),
])
def test_get_task_errors(engine, args, code, status, match):
    tid = merge(engine, from_="Cluster-01")["TaskId"]
    args = tuple(tid if a == "TID" else a for a in args)
    with pytest.raises(ImmError, match=match) as info:
        engine.get_task(*args)
    assert (info.value.code, info.value.status_code) == (code, status)


def test_tasks_expire_seven_days_after_their_start(engine, clock):
    r = merge(engine, from_="Cluster-01")
    engine.wait()
    clock.advance_to(T0 + timedelta(days=7))            # exactly 7 days: still kept
    assert engine.get_task("proj", MERGE, r["TaskId"])["Status"] == "Succeeded"
    assert len(engine.list_tasks("proj")["Tasks"]) == 1
    clock.advance(timedelta(milliseconds=1))
    with pytest.raises(ImmError, match="kept 7 days, 0:00:00 after") as info:
        engine.get_task("proj", MERGE, r["TaskId"])
    assert info.value.code == "ResourceNotFound"
    assert engine.list_tasks("proj")["Tasks"] == []
    # The engine's own history keeps it.
    assert r["TaskId"] in set(engine.history()["task_id"])


def test_retention_is_configurable(clock):
    with TaskEngine(clock, retention=60) as eng:
        eng.add_dataset("proj", "photos", make_state())
        r = eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-00",
                                                    from_="Cluster-01")
        eng.wait()                                   # started at 0 s, ended at 2 s
        clock.advance(58)                            # 60 s after the start: kept
        eng.get_task("proj", MERGE, r["TaskId"])
        clock.advance(0.001)
        with pytest.raises(ImmError, match=r"kept 0:01:00 after they start"):
            eng.get_task("proj", MERGE, r["TaskId"])


# --- ListTasks --------------------------------------------------------------------------------


@pytest.fixture
def busy(clock):
    """12 tasks on two datasets, seen at 5 s (each task takes 2 s, one at a time per dataset).

    a: 0 runs 0-2 s, 1 runs 2-4 s, 2 fails at 4 s (Cluster-99), 3 runs from 4 s, 4-5 queued.
    b: 0 runs 0-2 s, 1 runs 2-4 s, 2 runs from 4 s, 3-5 queued.
    """
    eng = TaskEngine(clock)
    eng.add_dataset("proj", "a", make_state())
    eng.add_dataset("proj", "b", make_state())
    ids = {}
    for i in range(6):
        for ds in ("a", "b"):
            source = "Cluster-99" if (i == 2 and ds == "a") or i == 4 else f"Cluster-0{i % 5 + 1}"
            r = eng.create_figure_clusters_merging_task(
                "proj", ds, "Cluster-00", from_=source, tags={"team": ds, "n": i},
                user_data=f"{ds}{i}")
            ids[(ds, i)] = r["TaskId"]
    clock.advance(5)
    yield eng, ids
    eng.close()


def _all_pages(eng, **kwargs):
    seen, token, pages = [], None, 0
    while True:
        body = eng.list_tasks("proj", next_token=token, **kwargs)
        seen.extend(t["TaskId"] for t in body["Tasks"])
        assert body["MaxResults"] == str(len(body["Tasks"]))
        pages += 1
        token = body.get("NextToken")
        if token is None:
            return seen, pages


@settings(deadline=None, max_examples=40)
@given(size=st.integers(1, 13), sort=st.sampled_from(["TaskId", "StartTime", "EndTime"]),
       order=st.sampled_from(["asc", "desc"]))
def test_paging_never_repeats_or_skips_a_task(size, sort, order):
    clock = ManualClock()
    with TaskEngine(clock, durations={MERGE: 2}) as eng:
        eng.add_dataset("proj", "a", make_state())
        eng.add_dataset("proj", "b", make_state())
        for i in range(6):
            for ds in ("a", "b"):
                eng.create_figure_clusters_merging_task("proj", ds, "Cluster-00",
                                                        from_=f"Cluster-0{i % 5 + 1}")
        clock.advance(3)
        whole = eng.list_tasks("proj", sort=sort, order=order)["Tasks"]
        paged, pages = _all_pages(eng, sort=sort, order=order, max_results=size)
    assert paged == [t["TaskId"] for t in whole]
    assert len(set(paged)) == 12
    assert pages == -(-12 // size)


def test_paging_keeps_its_place_when_tasks_are_added_between_pages(busy):
    eng, ids = busy
    first = eng.list_tasks("proj", max_results=5)
    later = eng.create_figure_clusters_merging_task("proj", "a", "Cluster-00",
                                                    from_="Cluster-01")["TaskId"]
    token, seen = first["NextToken"], [t["TaskId"] for t in first["Tasks"]]
    while token:
        body = eng.list_tasks("proj", max_results=5, next_token=token)
        seen.extend(t["TaskId"] for t in body["Tasks"])
        token = body.get("NextToken")
    assert len(seen) == len(set(seen))
    assert set(ids.values()) <= set(seen)
    # The new task shows up exactly when its id sorts after the page already read.
    assert (later in seen) == (later > first["Tasks"][-1]["TaskId"])


def test_sort_by_time_puts_tasks_without_that_time_last(busy):
    eng, _ = busy
    tasks = eng.list_tasks("proj", sort="EndTime")["Tasks"]
    ends = [t.get("EndTime") for t in tasks]
    n_done = sum(e is not None for e in ends)
    assert ends[:n_done] == sorted(ends[:n_done])
    assert all(e is None for e in ends[n_done:])
    desc = eng.list_tasks("proj", sort="EndTime", order="desc")["Tasks"]
    assert [t["TaskId"] for t in desc] == [t["TaskId"] for t in tasks][::-1]


def test_list_filters(busy):
    eng, ids = busy
    failed = eng.list_tasks("proj", status="Failed")["Tasks"]
    assert [t["TaskId"] for t in failed] == [ids[("a", 2)]]
    assert failed[0]["Code"] == "ResourceNotFound"
    assert len(eng.list_tasks("proj", status="Succeeded")["Tasks"]) == 4
    assert len(eng.list_tasks("proj", status="Running")["Tasks"]) == 7
    assert eng.list_tasks("proj", status="RUNNING")["Tasks"] == \
        eng.list_tasks("proj", status="Running")["Tasks"]
    team_b = eng.list_tasks("proj", tag_selector="team=b")["Tasks"]
    assert {t["TaskId"] for t in team_b} == {v for (ds, _), v in ids.items() if ds == "b"}
    assert [t["TaskId"] for t in eng.list_tasks("proj", tag_selector="n=3")["Tasks"]] == \
        sorted([ids[("a", 3)], ids[("b", 3)]])
    assert eng.list_tasks("proj", task_types=["FaceClustering"])["Tasks"] == []
    assert len(eng.list_tasks("proj", task_types='["FigureClustersMerging"]')["Tasks"]) == 12


def test_list_time_ranges_are_inclusive(busy):
    eng, _ = busy
    # Started in [2 s, 4 s]: a1, b1 at 2 s; a2, a3, b2 at 4 s (see the fixture).
    started = eng.list_tasks("proj", start_time_range={"Start": iso(2), "End": iso(4)})
    starts = sorted(t["StartTime"] for t in started["Tasks"])
    assert starts == [iso(2), iso(2), iso(4), iso(4), iso(4)]
    ended = eng.list_tasks("proj", end_time_range='{"End": "2025-01-01T00:00:02Z"}')
    assert [t["EndTime"] for t in ended["Tasks"]] == [iso(2), iso(2)]
    start_only = eng.list_tasks("proj", start_time_range={"Start": "2025-01-01T08:00:04+08:00"})
    assert [t["StartTime"] for t in start_only["Tasks"]] == [iso(4)] * 3


@pytest.mark.parametrize("kwargs, match", [
    ({"max_results": 0}, "MaxResults"),
    ({"max_results": 101}, "MaxResults"),
    ({"max_results": "10"}, "MaxResults"),
    ({"sort": "Name"}, "Sort"),
    ({"order": "up"}, "Order"),
    ({"status": "Done"}, "Status"),
    ({"task_types": "FigureClustersMerging"}, "TaskTypes"),
    ({"tag_selector": "team"}, "TagSelector"),
    ({"tag_selector": "=b"}, "TagSelector"),
    ({"start_time_range": {"Start": "noon"}}, "StartTimeRange.Start"),
    ({"start_time_range": {"From": iso(0)}}, "StartTimeRange"),
    ({"end_time_range": {"Start": iso(5), "End": iso(1)}}, "Start not after End"),
    ({"next_token": "garbage"}, "NextToken"),
    ({"request_definition": 1}, "RequestDefinition"),
])
def test_list_rejects_bad_parameters(busy, kwargs, match):
    eng, _ = busy
    with pytest.raises(ImmError, match=match) as info:
        eng.list_tasks("proj", **kwargs)
    assert (info.value.code, info.value.status_code) == ("InvalidArgument", 400)


@pytest.mark.parametrize("size", [1, 100])
def test_list_accepts_max_results_on_its_bounds(busy, size):
    eng, _ = busy
    assert len(eng.list_tasks("proj", max_results=size)["Tasks"]) == min(size, 12)


def test_a_token_belongs_to_its_sort_and_order(busy):
    eng, _ = busy
    token = eng.list_tasks("proj", max_results=2)["NextToken"]
    with pytest.raises(ImmError, match="Sort=TaskId Order=asc"):
        eng.list_tasks("proj", max_results=2, next_token=token, order="desc")


def test_list_unknown_project(busy):
    eng, _ = busy
    with pytest.raises(ImmError, match="project 'x'") as info:
        eng.list_tasks("x")
    assert info.value.status_code == 404


# --- history and notifications ------------------------------------------------------------------


def test_history_equals_what_polling_observed(engine, clock):
    observed = []
    a = merge(engine, from_="Cluster-01")
    b = merge(engine, to="Cluster-02", froms=["Cluster-99"])     # fails when it starts
    c = merge(engine, to="Cluster-02", from_="Cluster-03")
    ids = [a["TaskId"], b["TaskId"], c["TaskId"]]
    # Poll every 0.25 s, past the end of all three (a: 0-2 s, b: fails at 2 s, c: 2-4 s).
    for step in range(20):
        for tid in ids:
            body = engine.get_task("proj", MERGE, tid)
            observed.append((tid, clock.now(), body["Status"], body["Progress"]))
        clock.advance(0.25)
    # Keep each change: the first sight of every (status, progress).
    changes, last = [], {}
    for tid, at, status, progress in observed:
        if last.get(tid) != (status, progress):
            changes.append((tid, at, status, progress))
            last[tid] = (status, progress)
    history = engine.history()
    got = list(zip(history["task_id"], history["observed_at"].dt.to_pydatetime(),
                   history["status"], history["progress"]))
    assert sorted(got, key=lambda r: (r[0], r[1])) == sorted(changes, key=lambda r: (r[0], r[1]))
    assert set(history["state"]) == {"running", "succeeded", "failed"}
    assert list(history.columns) == ["task_id", "observed_at", "status", "state", "progress",
                                     "source", "provider", "task_type"]


def test_notifications_reach_subscribers_and_the_log(clock, tmp_path):
    log = tmp_path / "notifications.jsonl"
    got, broken_calls = [], []

    def broken(message):
        broken_calls.append(message["id"])
        raise RuntimeError("subscriber bug")

    with TaskEngine(clock, notification_log=log, region="cn-hangzhou",
                    account_id="1234") as eng:
        eng.add_dataset("proj", "photos", make_state())
        stop = eng.subscribe(got.append)
        eng.subscribe(broken)
        r = eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-00",
                                                    from_="Cluster-01", user_data="u")
        c = eng.create_figure_clustering_task("proj", "photos")
        eng.wait()
        stop()
        eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-00",
                                                from_="Cluster-02")
        eng.wait()
        merge_task = eng.get_task("proj", MERGE, r["TaskId"])
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert lines[:2] == got and len(lines) == 3 and len(broken_calls) == 3
    first = got[0]
    assert first["id"] == r["EventId"]
    assert (first["source"], first["type"]) == ("acs.imm", "imm:Task:FigureClustersMerging")
    assert first["subject"] == "acs:imm:cn-hangzhou:1234:proj/imm:Task:FigureClustersMerging"
    assert first["time"] == "1735689602000"              # 2025-01-01T00:00:02Z in epoch ms
    content = orjson.loads(first["content"])
    assert content == {"ProjectName": "proj", "DatasetName": "photos",
                       "RequestId": r["RequestId"], "StartTime": merge_task["StartTime"],
                       "EndTime": merge_task["EndTime"], "UserData": "u",
                       "TaskType": MERGE, "TaskId": r["TaskId"], "Status": "Succeeded",
                       "Code": "", "Message": ""}
    assert got[1]["type"] == "imm:Task:FigureClustering"
    assert orjson.loads(got[1]["content"])["TaskType"] == "FaceClustering"
    assert orjson.loads(got[1]["content"])["TaskId"] == c["TaskId"]


def test_subscribe_needs_a_callable(engine):
    with pytest.raises(TypeError, match="callable"):
        engine.subscribe("print")


def test_request_and_snapshot_logs(clock, tmp_path):
    requests, snapshots = tmp_path / "merges.jsonl", tmp_path / "polls.jsonl"
    with TaskEngine(clock, request_log=requests, snapshot_log=snapshots) as eng:
        eng.add_dataset("proj", "photos", make_state())
        r = eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-00",
                                                    froms=["Cluster-01"], tags={"t": 1})
        eng.create_figure_clustering_task("proj", "photos")     # not a merge: not logged
        first = eng.get_task("proj", MERGE, r["TaskId"])
        clock.advance(1)
        second = eng.get_task("proj", MERGE, r["TaskId"])
    logged = [orjson.loads(line) for line in requests.read_bytes().splitlines()]
    assert logged == [{"Request": {"ProjectName": "proj", "DatasetName": "photos",
                                   "Froms": ["Cluster-01"], "To": "Cluster-00", "Tags": {"t": 1}},
                       "Response": r}]
    polls = [orjson.loads(line) for line in snapshots.read_bytes().splitlines()]
    assert polls == [{"ObservedAt": iso(0), "Response": first},
                     {"ObservedAt": iso(1), "Response": second}]


# --- the clustering task ------------------------------------------------------------------------


def _clustering_state(quality):
    """Two clusters on the x and y axes; five new faces near z, one near x, one near -x."""
    rows = [[1, 0.05, 0], [1, -0.05, 0], [0.05, 1, 0], [-0.05, 1, 0],   # clusters A, B
            [0.02, 0.0, 1], [0.0, 0.02, 1], [-0.02, 0.0, 1],            # three near z
            [1, 0.0, 0.01],                                             # joins A
            [-1, 0.0, 0.0]]                                             # alone
    ids = ["Cluster-A", "Cluster-A", "Cluster-B", "Cluster-B"] + [None] * 5
    faces = pd.DataFrame({"face_id": [f"f{i}" for i in range(9)], "cluster_id": ids,
                          "face_quality": quality})
    return ClusterState.from_arrays(np.array(rows, dtype=float), ids, faces=faces)


@pytest.mark.parametrize("quality, new_group", [
    ([0.9] * 9, True),                                  # three good faces found a group
    ([0.9] * 4 + [0.9, 0.9, 0.8, 0.9, 0.9], False),    # 0.8 is not above 0.8: only two
])
def test_clustering_run_joins_existing_clusters_and_founds_new_ones(clock, quality, new_group):
    state = _clustering_state(quality)
    with TaskEngine(clock, clustering_threshold=0.9) as eng:
        eng.add_dataset("proj", "photos", state)
        r = eng.create_figure_clustering_task("proj", "photos", user_data="run-1")
        eng.wait()
        task = eng.get_task("proj", "FaceClustering", r["TaskId"])
        after = eng.dataset_state("proj", "photos")
        ledgers = eng.ledgers("proj", "photos")
    assert (task["Status"], task["TaskType"]) == ("Succeeded", "FaceClustering")
    assert (task["StartTime"], task["EndTime"]) == (iso(0), iso(10))
    ids = after.face_cluster_ids().tolist()
    assert ids[:4] == ["Cluster-A", "Cluster-A", "Cluster-B", "Cluster-B"]
    assert ids[7] == "Cluster-A"
    assert ids[8] is None
    if new_group:
        assert ids[4] == ids[5] == ids[6] and ids[4].startswith("Cluster-")
        assert after.n_clusters == 3
    else:
        assert ids[4:7] == [None, None, None]
        assert after.n_clusters == 2
    assert len(ledgers) == 2 and ledgers[-1].initial.equals(after)


def test_clustering_then_merging_uses_the_new_clusters(clock):
    state = _clustering_state([0.9] * 9)
    with TaskEngine(clock, clustering_threshold=0.9) as eng:
        eng.add_dataset("proj", "photos", state)
        eng.create_figure_clustering_task("proj", "photos")
        eng.wait()
        new = (set(eng.dataset_state("proj", "photos").cluster_ids) -
               {"Cluster-A", "Cluster-B"}).pop()
        r = eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-A", from_=new)
        eng.wait()
        assert eng.get_task("proj", MERGE, r["TaskId"])["Status"] == "Succeeded"
        assert eng.dataset_state("proj", "photos").counts.tolist() == [6, 2]
        assert len(eng.ledger("proj", "photos")) == 1


def test_clustering_threshold_defaults_to_the_data(clock):
    # Threshold: the 5th percentile of members' similarity to their own feature. The
    # members here sit at cosine ~0.9988 from their features, so the face near x
    # (cosine ~0.9999 to A's feature) joins and the z faces cannot join A or B.
    state = _clustering_state([0.9] * 9)
    with TaskEngine(clock) as eng:
        eng.add_dataset("proj", "photos", state)
        eng.create_figure_clustering_task("proj", "photos")
        eng.wait()
        ids = eng.dataset_state("proj", "photos").face_cluster_ids().tolist()
    assert ids[7] == "Cluster-A"
    assert ids[4] not in ("Cluster-A", "Cluster-B")


def test_merge_errors_carry_the_merge_rule(engine):
    with pytest.raises(ImmError) as info:
        merge(engine, froms=["Cluster-01", "Cluster-01"])
    assert isinstance(info.value, ImmError) and not isinstance(info.value, MergeError)
    assert "Froms='Cluster-01'" in info.value.message


def test_a_callback_can_read_but_not_wait(engine):
    seen, errors = [], []

    def callback(message):
        content = orjson.loads(message["content"])
        seen.append(engine.get_task("proj", MERGE, content["TaskId"])["Status"])
        try:
            engine.wait()
        except RuntimeError as exc:
            errors.append(str(exc))

    engine.subscribe(callback)
    merge(engine, from_="Cluster-01")
    engine.wait()
    assert seen == ["Succeeded"]
    assert errors and "wait for itself" in errors[0]


def test_an_unwritable_notification_log_does_not_hang_the_task(clock, tmp_path):
    folder = tmp_path / "gone"                 # a directory, not a file: appending fails
    folder.mkdir()
    with TaskEngine(clock, notification_log=folder) as eng:
        eng.add_dataset("proj", "photos", make_state())
        r = eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-00",
                                                    from_="Cluster-01")
        eng.wait()
        assert eng.get_task("proj", MERGE, r["TaskId"])["Status"] == "Succeeded"
