"""Huawei VIAS batch-task records (snake_case keys): one ListBatchTasks page, one
ListTasks page per batch, one ShowTaskInfo detail and one UpdateBatchTask response."""

from __future__ import annotations

import numpy as np

from ._clock import DAY, NS, epoch_ms, rfc3339
from ._ids import hex_ids

__all__ = ["vias_records"]

# (name, video groups, per-task states): every state class a reader must map occurs.
_BATCHES = (
    ("lobby_faces-v2", "grp-lobby-01", ("RUNNING", "RUNNING", "START_FAILED")),
    ("gate-entry", "grp-gate-01,grp-gate-02", ("RUNNING", "RUNNING", "RUNNING", "STOPPED")),
    ("parking_faces", "grp-parking-01",
     ("SUCCEEDED", "SUCCEEDED", "PENDING", "CREATE_FAILED", "ABNORMAL")),
)
_OFFLINE = "the video source is offline (no stream for 30 s)"


def _iso_ms(ns: int) -> str:
    return rfc3339(ns, digits=3, zone="Z")


def vias_records(rng: np.random.Generator, before: int) -> dict[str, object]:
    """Records of three batches created in the days before ``before`` (ns).

    Returns a dict: ``batch_tasks`` (ListBatchTasks page), ``tasks`` (batch id
    -> ListTasks page), ``task_detail`` (ShowTaskInfo of the task that failed
    to start), ``update_response`` (BatchTaskResDto of modifying its batch).
    """
    project_id = str(hex_ids(rng, 1)[0])
    service_id, publish_id = (str(s) for s in hex_ids(rng, 2))
    batch_ids = hex_ids(rng, len(_BATCHES))
    camera = 0
    batches, pages, failed_task = [], {}, None
    for b, (name, groups, states) in enumerate(_BATCHES):
        created = before - (len(_BATCHES) - b) * 2 * DAY + int(rng.integers(0, 3600)) * NS
        task_ids = hex_ids(rng, len(states))
        tasks, cameras = [], []
        for t, state in enumerate(states):
            camera += 1
            cam = f"cam-{camera:04d}"
            cameras.append(cam)
            task_created = created + int(rng.integers(200, 5000)) * 1_000_000
            task = {"id": str(task_ids[t]), "name": f"{name}_{cam}", "service_id": service_id,
                    "algorithm_publish_id": publish_id, "created_at": str(epoch_ms(task_created)),
                    "state": state, "video_source_name": cam, "title": "face capture",
                    "type": "0"}
            tasks.append(task)
            if state == "START_FAILED" and failed_task is None:
                failed_task = (task, task_created, str(batch_ids[b]), groups)
        status_info: dict[str, int] = {}
        for state in states:
            status_info[state.lower()] = status_info.get(state.lower(), 0) + 1
        batches.append({
            "id": str(batch_ids[b]), "batch_task_name": name,
            "video_source_name": ",".join(cameras), "video_group_name": groups,
            "alg_name": "face-capture", "company": "Huawei", "type": "0",
            "num_task": len(states), "created_at": epoch_ms(created),
            "batch_task_status_info": status_info,
        })
        pages[str(batch_ids[b])] = {"batch_id": str(batch_ids[b]), "count": len(tasks),
                                    "page": 1, "page_size": 10, "tasks": tasks}
    # ListBatchTasks' default order: newest first.
    batches.sort(key=lambda batch: -batch["created_at"])

    task, created, batch_id, groups = failed_task
    detail = {
        **task, "created_at": _iso_ms(created),
        "updated_at": _iso_ms(created + int(rng.integers(2, 9)) * NS),
        "description": "face capture at the lobby entrance", "creator": "ops-admin",
        "project_id": project_id, "group_name": groups, "company": "Huawei",
        "input": {"type": "vis", "data": [{"video_source_id": task["video_source_name"],
                                            "target_roi": ""}]},
        "output": {"obs": {"bucket": "vias-face-output", "path": "lobby/",
                           "data_category": ["FaceImage"]}, "event_center": False},
        "config": {"common": {"face_min_size": 40}},
        "schedule": {"type": "weekly", "timezone": "+08:00", "days_of_week": [1, 2, 3, 4, 5],
                     "periods": [[{"begin_at": "07:30:00", "end_at": "19:00:00"}]]},
        "schedule_status": "ACTIVATED", "status": f"start failed: {_OFFLINE}",
        "error": {"code": "VIAS.10100021", "message": f"Start failed: {_OFFLINE}."},
        "task_config": "<config><face_min_size>40</face_min_size></config>",
    }
    total = len(pages[batch_id]["tasks"])
    update = {"id": batch_id, "total_count": total, "succeed_count": total - 1,
              "failed_count": 1,
              "error_list": [f"task {task['id']} ({task['video_source_name']}): {_OFFLINE}"]}
    return {"batch_tasks": {"count": len(batches), "batch_task_list": batches},
            "tasks": pages, "task_detail": detail, "update_response": update}
