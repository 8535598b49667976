"""Every record the task engine emits round-trips the official SDK models and the readers."""

from __future__ import annotations

import os
from datetime import timedelta

import numpy as np
import orjson
import pandas as pd
import pytest

from toolkit.clustering import ClusterState
from toolkit.io import read_task_history, read_tasks
from toolkit.tasks import ManualClock, TaskEngine

if os.environ.get("TOOLKIT_REQUIRE_SDK") == "1":
    from alibabacloud_imm20200930 import models as imm_models   # CI: must be installed
else:
    imm_models = pytest.importorskip("alibabacloud_imm20200930.models")

MERGE = "FigureClustersMerging"


def make_state() -> ClusterState:
    rng = np.random.default_rng(0)
    ids = [f"Cluster-{i // 2:02d}" for i in range(16)]
    return ClusterState.from_arrays(rng.normal(size=(16, 6)), ids)


@pytest.fixture
def run(tmp_path):
    """An engine that ran merges (one fails), a clustering run, and VIAS batches; its logs."""
    clock = ManualClock()
    logs = {name: tmp_path / f"{name}.jsonl" for name in ("notifications", "merges", "polls")}
    eng = TaskEngine(clock, notification_log=logs["notifications"],
                     request_log=logs["merges"], snapshot_log=logs["polls"])
    eng.add_dataset("proj", "photos", make_state())
    created = [
        eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-00",
                                                froms=["Cluster-01", "Cluster-02"],
                                                user_data='{"ticket": "FC-1"}',
                                                tags={"team": "qa", "n": 1},
                                                notification={"MNS": {"TopicName": "t"}}),
        eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-03",
                                                from_="Cluster-04", user_data="plain text"),
        eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-05",
                                                from_="Cluster-01"),        # fails: merged away
        eng.create_figure_clustering_task("proj", "photos", tags={"kind": "run"}),
    ]
    polls = []
    for _ in range(8):                              # poll the first two tasks every second
        for r, kind in ((created[0], MERGE), (created[1], MERGE)):
            polls.append(eng.get_task("proj", kind, r["TaskId"], request_definition=True))
        clock.advance(1)
    eng.wait()
    batch = eng.vias.create_batch_task("proj-1", {
        "name": "lobby", "service_name": "face-capture", "service_version": "1.0.0",
        "batch_input": {"video_source_group": [{"video_source_group_id": "grp-1",
                                                "video_source_list": [
                                                    {"video_source_id": "cam-0001"},
                                                    {"video_source_id": "cam-0002"}]}]},
        "output": {"event_center": True}})
    clock.advance(timedelta(minutes=1))
    eng.vias.stop_batch_task("proj-1", batch["id"])
    yield eng, created, polls, logs, batch
    eng.close()


def _final(eng, created):
    types = [MERGE, MERGE, MERGE, "FaceClustering"]
    return [eng.get_task("proj", t, r["TaskId"], request_definition=True)
            for r, t in zip(created, types)]


# --- the official SDK models -------------------------------------------------------------------


def test_get_task_bodies_round_trip_the_sdk(run):
    eng, created, polls, _, _ = run
    bodies = polls + _final(eng, created) + [
        eng.get_task("proj", MERGE, created[2]["TaskId"])]
    assert {b["Status"] for b in bodies} == {"Running", "Succeeded", "Failed"}
    for body in bodies:
        assert imm_models.GetTaskResponseBody().from_map(body).to_map() == body
    # The full response wrapper too, as the SDK client returns it.
    wrapped = {"headers": {"x-acs-request-id": bodies[0]["RequestId"]}, "statusCode": 200,
               "body": bodies[0]}
    assert imm_models.GetTaskResponse().from_map(wrapped).to_map() == wrapped


@pytest.mark.parametrize("kwargs", [
    {}, {"max_results": 1}, {"max_results": 2, "sort": "EndTime", "order": "desc"},
    {"status": "Failed"}, {"tag_selector": "team=none"}, {"request_definition": True},
])
def test_list_tasks_pages_round_trip_the_sdk(run, kwargs):
    eng, *_ = run
    body = eng.list_tasks("proj", **kwargs)
    assert imm_models.ListTasksResponseBody().from_map(body).to_map() == body
    if body.get("NextToken"):
        nxt = eng.list_tasks("proj", next_token=body["NextToken"], **kwargs)
        assert imm_models.ListTasksResponseBody().from_map(nxt).to_map() == nxt


def test_create_responses_round_trip_the_sdk(run):
    _, created, *_ = run
    for r in created[:3]:
        model = imm_models.CreateFigureClustersMergingTaskResponseBody()
        assert model.from_map(r).to_map() == r
    model = imm_models.CreateFigureClusteringTaskResponseBody()
    assert model.from_map(created[3]).to_map() == created[3]


def test_merge_request_definitions_parse_as_sdk_requests(run):
    eng, created, *_ = run
    for body in _final(eng, created)[:3]:
        request = orjson.loads(body["TaskRequestDefinition"])
        sdk = imm_models.CreateFigureClustersMergingTaskRequest().from_map(request)
        assert sdk.to_map() == request


def test_sdk_notification_and_time_range_objects_are_accepted(run):
    eng, *_ = run
    note = imm_models.Notification(mns=imm_models.MNS(topic_name="imm-face-events"))
    r = eng.create_figure_clusters_merging_task("proj", "photos", "Cluster-06",
                                                from_="Cluster-07", notification=note)
    eng.wait()
    body = eng.get_task("proj", MERGE, r["TaskId"], request_definition=True)
    assert orjson.loads(body["TaskRequestDefinition"])["Notification"] == \
        {"MNS": {"TopicName": "imm-face-events"}}
    window = imm_models.TimeRange(start="2025-01-01T00:00:00Z", end="2025-01-01T00:00:05Z")
    started = eng.list_tasks("proj", start_time_range=window)["Tasks"]
    assert started and all(t["StartTime"] <= "2025-01-01T00:00:05.000Z" for t in started)


# --- the readers --------------------------------------------------------------------------------


def test_list_pages_read_back_as_the_tasks(run):
    eng, created, *_ = run
    pages, token = [], None
    while True:
        page = eng.list_tasks("proj", max_results=2, next_token=token, request_definition=True)
        pages.append(page)
        token = page.get("NextToken")
        if token is None:
            break
    frame = read_tasks(pages).set_index("task_id")
    finals = {b["TaskId"]: b for b in _final(eng, created)}
    assert set(frame.index) == set(finals)
    for tid, body in finals.items():
        row = frame.loc[tid]
        assert (row["status"], row["task_type"]) == (body["Status"], body["TaskType"])
        assert row["start_time"] == pd.Timestamp(body["StartTime"])
        assert row["end_time"] == pd.Timestamp(body["EndTime"])
        assert row["progress"] == body["Progress"]
    first = frame.loc[created[0]["TaskId"]]
    assert (first["merge_to"], first["merge_sources"]) == ("Cluster-00",
                                                          ["Cluster-01", "Cluster-02"])
    assert first["user_data"] == {"ticket": "FC-1"} and first["tags"] == {"team": "qa", "n": 1}
    failed = frame.loc[created[2]["TaskId"]]
    assert (failed["state"], failed["code"]) == ("failed", "ResourceNotFound")


def test_logs_read_back_and_agree_with_get_task(run):
    eng, created, _, logs, _ = run
    finals = {b["TaskId"]: b for b in _final(eng, created)}
    notified = read_tasks(logs["notifications"]).set_index("task_id")
    assert set(notified.index) == set(finals)
    for tid, body in finals.items():
        row = notified.loc[tid]
        # The reader turns the empty Code of a success into a missing value.
        code = "" if pd.isna(row["code"]) else row["code"]
        assert (row["status"], code) == (body["Status"], body["Code"])
        assert (row["start_time"], row["end_time"]) == (pd.Timestamp(body["StartTime"]),
                                                        pd.Timestamp(body["EndTime"]))
        assert (row["project"], row["dataset"]) == ("proj", "photos")
    merges = read_tasks(logs["merges"]).set_index("task_id")
    assert set(merges.index) == {r["TaskId"] for r in created[:3]}
    assert merges.loc[created[1]["TaskId"], "merge_sources"] == ["Cluster-04"]
    assert merges.loc[created[1]["TaskId"], "request_id"] == created[1]["RequestId"]
    # Everything together: one row per task, the final status and the merge request.
    together = read_tasks(logs["notifications"].parent).set_index("task_id")
    assert set(together.index) == set(finals)
    assert together.loc[created[0]["TaskId"], "status"] == "Succeeded"
    assert together.loc[created[0]["TaskId"], "merge_to"] == "Cluster-00"


def test_the_history_reads_back_as_the_engine_saw_it(run):
    eng, created, polls, logs, _ = run
    engine_history = eng.history()
    imm = engine_history[engine_history["provider"] == "imm"]
    # Polls: each snapshot is an observation at the time it was taken.
    polled = read_task_history(logs["polls"])
    assert len(polled) == len(polls) - int(polled.attrs["counts"]["duplicates"]) == \
        polled.attrs["counts"]["accepted"]
    for _, row in polled.iterrows():
        same_task = imm["task_id"] == row["task_id"]
        changes = imm[same_task & (imm["observed_at"] <= row["observed_at"])]
        last = changes.iloc[-1]
        assert (row["status"], row["progress"]) == (last["status"], last["progress"])
    # Notifications: one observation per task, at its end, equal to the engine's last row.
    notified = read_task_history(logs["notifications"])
    last_rows = imm.groupby("task_id", sort=True).tail(1).reset_index(drop=True)
    cols = ["task_id", "observed_at", "status", "state", "task_type"]
    pd.testing.assert_frame_equal(notified[cols].reset_index(drop=True), last_rows[cols])
    # The engine's frame has the reader's columns and dtypes.
    assert list(engine_history.columns) == list(notified.columns)
    assert engine_history.dtypes.to_dict() == notified.dtypes.to_dict()


def test_vias_records_read_back(run):
    eng, _, _, _, batch = run
    vias = eng.vias
    batches = read_tasks(vias.list_batch_tasks("proj-1"))
    assert batches["task_id"].tolist() == [batch["id"]]
    assert (batches["task_type"].iloc[0], batches["state"].iloc[0]) == ("batch", "stopped")
    members = read_tasks(vias.list_tasks("proj-1", batch_id=batch["id"]))
    assert set(members["batch_id"]) == {batch["id"]}
    assert set(members["status"]) == {"STOPPED"} and len(members) == 2
    detail = read_tasks(vias.show_task("proj-1", members["task_id"].iloc[0]))
    assert detail["batch_id"].iloc[0] == batch["id"]
    # Merges 0-2 s, 2-4 s, a failure at 4 s, clustering 4-14 s: the batch came at 14 s.
    assert detail["start_time"].iloc[0] == pd.Timestamp("2025-01-01T00:00:14Z")
    counts = read_tasks(vias.stop_batch_task("proj-1", batch["id"]))
    assert (counts["total_count"].iloc[0], counts["succeed_count"].iloc[0]) == (2, 2)
    vias_history = eng.history().query("provider == 'vias'")
    assert set(vias_history["task_id"]) == set(members["task_id"])
    assert vias_history.groupby("task_id")["status"].agg(list).tolist() == \
        [["RUNNING", "STOPPED"]] * 2


def test_a_notebook_cell_creates_merges_waits_gets_and_plots():
    import toolkit as tk

    with tk.TaskEngine(tk.ManualClock()) as engine:
        engine.add_dataset("proj", "photos", make_state())
        created = [engine.create_figure_clusters_merging_task("proj", "photos", "Cluster-00",
                                                              from_=f"Cluster-0{i}")
                   for i in (1, 2)]
        engine.wait()
        task = engine.get_task("proj", MERGE, created[1]["TaskId"])
        ax = tk.plots.plot_task_history(engine.history(), created[1]["TaskId"])
    assert task["Status"] == "Succeeded"
    assert ax.figure is not None and (ax.lines or ax.collections)
