"""Hand-made cases shared by the widget tests: five clusters of four people and the
merge tasks that ran on them (right, wrong, failed, pending, vanished)."""

import json
import math

import numpy as np
import pandas as pd

import toolkit as tk

DIM = 32
SCRIPT = "<script>alert(1)</script>"


def _faces(seed=0):
    """Four people; A is split in two fragments; B2 is B's look-alike sibling.

    Clusters: a1, a2 (person A), b (person B), b2 (person B2, near B), c (person C).
    """
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(4, DIM))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    b2 = base[1] + 0.9 * base[3]
    people = {"A": base[0], "B": base[1], "B2": b2 / np.linalg.norm(b2), "C": base[2]}
    layout = [("a1", "A", 8), ("a2", "A", 7), ("b", "B", 9), ("b2", "B2", 8), ("c", "C", 10)]
    rows, vecs = [], []
    for cid, person, n in layout:
        for i in range(n):
            vecs.append(people[person] + 1.05 * rng.normal(size=DIM) / math.sqrt(DIM))
            rows.append({"face_id": f"{cid}-{i}", "cluster_id": cid, "identity": person,
                         "file_id": f"photo-{cid}-{i}", "dataset": "ds1"})
    X = np.asarray(vecs)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    frame = pd.DataFrame(rows)
    frame["norm"] = 1.0
    return tk.FaceSet(frame, X)


def _task(task_id, to, sources, *, status="Succeeded", end="2025-03-02T08:10:00Z", start=None,
          code="", message="", user_data="", progress=None):
    req = {"ProjectName": "proj", "DatasetName": "ds1", "To": to}
    req.update({"From": sources[0]} if len(sources) == 1 else {"Froms": sources})
    body = {"RequestId": f"req-{task_id}", "ProjectName": "proj", "EventId": f"ev-{task_id}",
            "TaskId": task_id, "TaskType": "FigureClustersMerging", "Status": status,
            "StartTime": start or end, "Code": code, "Message": message,
            "UserData": user_data, "TaskRequestDefinition": json.dumps(req)}
    if status != "Running":
        body["EndTime"] = end
    if progress is not None:
        body["Progress"] = progress
    return body


TASKS = [
    _task("t-right", "a1", ["a2"], end="2025-03-02T08:01:00Z"),
    _task("t-wrong", "b", ["b2"], start="2025-03-02T08:02:00Z", end="2025-03-02T08:03:00Z",
          user_data=SCRIPT),
    _task("t-failed", "c", ["a1"], status="Failed", code="InternalError",
          message="<b>boom</b>", end="2025-03-02T08:04:00Z"),
    _task("t-pending", "c", ["b"], status="Running", start="2025-03-02T08:05:00Z", progress=40),
    _task("t-vanished", "c", ["a2"], end="2025-03-02T08:06:00Z"),     # a2 went in t-right
]
# A client polling t-wrong: running at half way, then succeeded.
SNAPSHOTS = [
    {"ObservedAt": "2025-03-02T08:02:30Z",
     "Response": {**_task("t-wrong", "b", ["b2"], status="Running", start="2025-03-02T08:02:00Z",
                          progress=50)}},
    {"ObservedAt": "2025-03-02T08:03:05Z", "Response": TASKS[1]},
]
