"""IMM records of the generated world, in the cloud's own shapes (PascalCase keys).

File records (each with ``Figures[]``), QueryFigureClusters pages, and for the
tasks: GetTask bodies, ListTasks pages, GetTask polling snapshots, MNS-style
notifications and the caller's merge request log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import orjson

from ._clock import DAY, MINUTE, NS, ZONES, epoch_ms, rfc3339
from ._faces import DATASET, World
from ._ids import event_ids, hex_ids, request_ids, uuid4s
from ._merges import MERGE_TYPE, PROJECT, MergeTask

__all__ = ["file_records", "cluster_pages", "task_records", "REGION", "ACCOUNT", "TOPIC"]

REGION = "cn-hangzhou"
ACCOUNT = "1234567890123456"
TOPIC = "imm-face-events"
CLUSTERING_TYPE = "FaceClustering"
_EVENT_KIND = {MERGE_TYPE: "FigureClustersMerging", CLUSTERING_TYPE: "FigureClustering"}
_PAGE = 100  # QueryFigureClusters MaxResults upper bound
_NAMES = ("grandma", "dad", "mei", "uncle-li", "coach", "neighbour", "little-bao", "auntie")


def _json_text(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class _Spelling:
    """Chooses how each timestamp is written: every fraction length 0-9 and both zones occur."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._digits: list[int] = []

    def __call__(self, ns: int, zone: str | None = None) -> str:
        if not self._digits:
            self._digits = self._rng.permutation(10).tolist()
        if zone is None:
            zone = ZONES[int(self._rng.integers(0, 2))]
        return rfc3339(ns, digits=self._digits.pop(), zone=zone)


# --- files and clusters ----------------------------------------------------------------------

def _figure(face: dict) -> dict:
    """The IMM Figure of one face row (snake_case columns back to PascalCase keys)."""
    i, f, t = (lambda k: int(face[k])), (lambda k: float(face[k])), (lambda k: str(face[k]))
    fig = {
        "FigureId": t("face_id"),
        "FigureType": "face",
        "FigureConfidence": f("figure_confidence"),
        "FigureClusterId": t("cluster_id"),
        "Boundary": {"Left": i("boundary_left"), "Top": i("boundary_top"),
                     "Width": i("boundary_width"), "Height": i("boundary_height")},
        "FaceQuality": f("face_quality"),
        "Sharpness": f("sharpness"),
        "HeadPose": {"Pitch": f("head_pose_pitch"), "Roll": f("head_pose_roll"),
                     "Yaw": f("head_pose_yaw")},
        "Age": i("age"),
        "Gender": t("gender"),
        "Emotion": t("emotion"),
        "Glasses": t("glasses"),
        "Mask": t("mask"),
    }
    if not math.isnan(face["figure_cluster_confidence"]):
        fig["FigureClusterConfidence"] = f("figure_cluster_confidence")
    return fig


def file_records(world: World, rng: np.random.Generator) -> list[dict]:
    """One IMM File per photo, in the order the photos were taken."""
    spell = _Spelling(rng)
    files = world.photos.files
    indexed = files["created"].to_numpy() + (rng.uniform(1, 30, len(files)) * MINUTE).astype(
        np.int64)
    faces = world.faces.to_dict("records")
    photo_of = world.faces["file_id"].to_numpy()
    # Faces are stored photo by photo, so each photo's figures are one contiguous run.
    bounds = np.flatnonzero(np.r_[True, photo_of[1:] != photo_of[:-1], True])
    runs = {photo_of[s]: (int(s), int(e)) for s, e in zip(bounds[:-1], bounds[1:])}
    out = []
    for i, row in enumerate(files.itertuples(index=False)):
        s, e = runs[row.file_id]
        when = spell(int(indexed[i]))
        out.append({
            "ObjectId": row.file_id, "ObjectType": "file", "ProjectName": PROJECT,
            "DatasetName": DATASET, "URI": row.uri, "MediaType": "image",
            "ContentType": "image/jpeg", "ImageWidth": int(row.width),
            "ImageHeight": int(row.height), "CreateTime": when, "UpdateTime": when,
            "FigureCount": e - s, "Figures": [_figure(f) for f in faces[s:e]],
        })
    return out


def cluster_pages(world: World, rng: np.random.Generator) -> list[dict]:
    """QueryFigureClusters responses (``WithTotalCount``), 100 clusters a page, by ObjectId."""
    spell = _Spelling(rng)
    faces = world.faces
    clustered = faces[faces["cluster_id"].isin(world.clustering.clusters["cluster_id"])]
    groups = clustered.groupby("cluster_id", sort=True)
    cover_rows = groups["face_quality"].idxmax()
    stats = groups.agg(FaceCount=("face_id", "size"), ImageCount=("file_id", "nunique"),
                       AverageAge=("age", "mean"), MinAge=("age", "min"), MaxAge=("age", "max"))
    gender = groups["gender"].agg(lambda g: g.value_counts().sort_index().idxmax())
    tl = world.timeline
    n = len(stats)
    created = tl.photos_from + 30 * DAY + (rng.random(n) * (tl.clustering_start - 30 * DAY
                                                          - tl.photos_from)).astype(np.int64)
    updated = np.maximum(created, tl.clustering_end - (rng.random(n) * 90 * NS).astype(np.int64))
    version = rng.integers(0, 3, n)
    named = rng.choice(n, min(len(_NAMES), n), replace=False)
    names = {int(j): _NAMES[i] for i, j in enumerate(named)}
    clusters = []
    for j, (cid, row) in enumerate(stats.iterrows()):
        cover = faces.loc[cover_rows[cid]]
        cluster = {
            "ObjectId": cid, "ObjectType": "figure-cluster", "OwnerId": ACCOUNT,
            "ProjectName": PROJECT, "DatasetName": DATASET,
            "FaceCount": int(row.FaceCount), "ImageCount": int(row.ImageCount),
            "VideoCount": 0, "Gender": gender[cid],
            "AverageAge": round(float(row.AverageAge), 1), "MinAge": float(row.MinAge),
            "MaxAge": float(row.MaxAge),
            "Cover": {"URI": cover["uri"], "Figures": [_figure(cover.to_dict())]},
            "CreateTime": spell(int(created[j]), "+08:00"),
            "UpdateTime": spell(int(updated[j]), "+08:00"),
            "MetaLockVersion": int(version[j]),
        }
        if j in names:  # a person named in the album app: one more update of the cluster
            cluster["Name"] = names[j]
            cluster["CustomLabels"] = {"verified": "yes"} if j % 2 else {}
            cluster["MetaLockVersion"] += 1
        clusters.append(cluster)
    pages = [clusters[i:i + _PAGE] for i in range(0, len(clusters), _PAGE)] or [[]]
    tokens = hex_ids(rng, len(pages), 48)
    return [{"RequestId": str(rid), "FigureClusters": page, "TotalCount": len(clusters),
             "NextToken": str(tokens[i]) if i < len(pages) - 1 else ""}
            for i, (page, rid) in enumerate(zip(pages, request_ids(rng, len(pages))))]


# --- tasks -----------------------------------------------------------------------------------

@dataclass
class _Task:
    """What every task record is written from, with its times already spelled."""

    task_id: str
    task_type: str
    dataset: str
    status: str
    code: str
    message: str
    start: int
    end: int | None
    start_text: str
    end_text: str
    progress: int | None  # the Running progress, or 100 where a final record shows it
    user_data: str
    tags: dict | None
    request_id: str
    event_id: str
    definition: dict | None
    log_line: dict | None

    def info(self, *, status: str | None = None, progress: int | None = None) -> dict:
        """ListTasks TaskInfo (GetTask adds RequestId, ProjectName, EventId, definition)."""
        status = status or self.status
        running = status == "Running"
        body = {"TaskId": self.task_id, "TaskType": self.task_type, "Status": status,
                "StartTime": self.start_text,
                "EndTime": "" if running else self.end_text,
                "Code": "" if running else self.code,
                "Message": "" if running else self.message, "UserData": self.user_data}
        shown = progress if progress is not None else self.progress
        if shown is not None:
            body["Progress"] = shown
        if self.tags is not None:
            body["Tags"] = dict(self.tags)
        return body

    def gettask(self, request_id: str, **kw) -> dict:
        body = {"RequestId": request_id, "ProjectName": PROJECT, "EventId": self.event_id,
                **self.info(**kw)}
        if self.definition is not None:
            body["TaskRequestDefinition"] = _json_text(self.definition)
        return body


def _from_merge(task: MergeTask, spell: _Spelling, rng: np.random.Generator) -> _Task:
    zone = ZONES[int(rng.integers(0, 2))]
    request = task.request()
    definition = None
    if task.has_definition:
        definition = {**request, "Notification": {"MNS": {"TopicName": TOPIC}}}
        if task.froms_as_text:
            definition["Froms"] = _json_text(definition["Froms"])
    shows_100 = task.status != "Running" and rng.random() < 0.5
    return _Task(
        task.task_id, MERGE_TYPE, task.dataset, task.status, task.code, task.message, task.start,
        task.end, spell(task.start, zone), "" if task.end is None else spell(task.end, zone),
        task.progress if task.status == "Running" else (100 if shows_100 else None),
        task.user_data, task.tags, task.request_id, task.event_id, definition,
        {"Request": request, "Response": {"RequestId": task.request_id, "TaskId": task.task_id,
                                          "EventId": task.event_id}} if task.in_log else None)


def _clustering_task(world: World, spell: _Spelling, rng: np.random.Generator) -> _Task:
    tl = world.timeline
    user_data = _json_text({"run": "nightly", "by": "scheduler"})
    tags = {"schedule": "nightly"}
    definition = {"ProjectName": PROJECT, "DatasetName": DATASET, "UserData": user_data,
                  "Tags": tags, "Notification": {"MNS": {"TopicName": TOPIC}}}
    return _Task(f"{CLUSTERING_TYPE}-{uuid4s(rng, 1)[0]}", CLUSTERING_TYPE, DATASET, "Succeeded",
                 "", "", tl.clustering_start, tl.clustering_end,
                 spell(tl.clustering_start, "Z"), spell(tl.clustering_end, "Z"), 100, user_data,
                 tags, str(request_ids(rng, 1)[0]), str(event_ids(rng, 1)[0]), definition, None)


def _notification(task: _Task, delay_ns: int) -> dict:
    kind = _EVENT_KIND[task.task_type]
    content = {"ProjectName": PROJECT, "DatasetName": task.dataset, "RequestId": task.request_id,
               "StartTime": task.start_text, "EndTime": task.end_text,
               "UserData": task.user_data, "TaskType": task.task_type, "TaskId": task.task_id,
               "Status": task.status, "Code": task.code, "Message": task.message}
    return {"id": task.event_id, "source": "acs.imm", "type": f"imm:Task:{kind}",
            "subject": f"acs:imm:{REGION}:{ACCOUNT}:{PROJECT}/imm:Task:{kind}",
            "time": str(epoch_ms(task.end + delay_ns)), "content": _json_text(content)}


def _polls(task: _Task, until: int, spell: _Spelling, rng: np.random.Generator) -> list[dict]:
    """GetTask snapshots while a client polls: Running with rising Progress, then the end."""
    finished = task.end is not None
    stop = task.end if finished else until
    step = max(NS, (stop - task.start) // 4)
    times = list(range(task.start + int(0.4 * NS), stop, step))[:5] or [task.start + NS // 10]
    final_progress = task.progress if not finished else 100
    out = []
    for i, at in enumerate(times):
        progress = int(round(final_progress * i / len(times))) if finished else \
            int(round(final_progress * (i + 1) / len(times)))
        body = task.gettask(str(request_ids(rng, 1)[0]), status="Running", progress=progress)
        out.append({"ObservedAt": spell(at), "Response": body})
    if finished:
        seen = task.end + int(rng.uniform(0.2, 1.5) * NS)
        out.append({"ObservedAt": spell(seen),
                    "Response": task.gettask(str(request_ids(rng, 1)[0]))})
    return out


def task_records(world: World, merges: list[MergeTask], fetched: int,
                 rng: np.random.Generator) -> dict[str, object]:
    """All task files: ``gettask``, ``listtasks`` (2 pages), ``notifications``,
    ``merge_requests`` and ``polling`` (lists of JSON values)."""
    spell = _Spelling(rng)
    tasks = [_clustering_task(world, spell, rng)] + [_from_merge(m, spell, rng) for m in merges]

    gettask = [t.gettask(str(rid)) for t, rid in zip(tasks, request_ids(rng, len(tasks)))]

    infos = sorted((t.info() for t in tasks), key=lambda info: info["TaskId"])
    size = math.ceil(len(infos) / 2)  # the MaxResults the caller asked for: two pages
    pages = [infos[:size], infos[size:]]
    listtasks = [{"RequestId": str(rid), "ProjectName": PROJECT, "MaxResults": str(len(page)),
                  "NextToken": page[-1]["TaskId"] if i == 0 and len(pages[1]) else "",
                  "Tasks": page}
                 for i, (page, rid) in enumerate(zip(pages, request_ids(rng, 2)))]

    finished = [t for t in tasks if t.end is not None]
    notes = [_notification(t, int(rng.uniform(0.05, 0.9) * NS)) for t in finished]
    # MNS delivers at least once: one message arrives twice, a little later.
    again = int(rng.integers(0, len(notes)))
    notes.insert(min(len(notes), again + 3), dict(notes[again]))

    merge_log = [t.log_line for t in tasks if t.log_line is not None]

    failed = [t for t in tasks if t.status == "Failed"][:1]
    running = [t for t in tasks if t.status == "Running"]
    done = [t for t in tasks[1:] if t.status == "Succeeded"]
    picked = [done[i] for i in sorted(rng.choice(len(done), min(3, len(done)), replace=False))]
    polled = sorted([tasks[0], *failed, *picked, *running], key=lambda t: t.start)
    polling = [obs for t in polled for obs in _polls(t, fetched, spell, rng)]
    return {"gettask": gettask, "listtasks": listtasks, "notifications": notes,
            "merge_requests": merge_log, "polling": polling, "n_polled": len(polled)}
