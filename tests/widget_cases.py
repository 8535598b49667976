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

# One colour per cluster of _faces: a face's crop is filled with it.
CLUSTER_COLORS = {"a1": (230, 159, 0), "a2": (86, 180, 233), "b": (0, 158, 115),
                  "b2": (240, 228, 66), "c": (204, 121, 167)}
# Where each face sits in its photo (pixels): left, top, width, height.
BOX = (30, 12, 20, 24)


def photo_faces(root, *, missing=()):
    """_faces() with a photo per face under ``root``: a grey 80 x 60 PNG holding a square of
    the face's cluster colour at BOX. Faces whose id is in ``missing`` get a URI but no file."""
    from PIL import Image

    fs = _faces()
    frame = fs.faces.copy()
    frame["uri"] = [f"photos/{f}.png" for f in frame["face_id"]]
    left, top, width, height = BOX
    frame["boundary_left"], frame["boundary_top"] = left, top
    frame["boundary_width"], frame["boundary_height"] = width, height
    (root / "photos").mkdir(parents=True, exist_ok=True)
    for face, cluster in zip(frame["face_id"], frame["cluster_id"]):
        if face in missing:
            continue
        img = Image.new("RGB", (80, 60), (128, 128, 128))
        img.paste(CLUSTER_COLORS[cluster], (left, top, left + width, top + height))
        img.save(root / "photos" / f"{face}.png")
    return tk.FaceSet(frame, fs.embeddings)
