"""The Huawei VIAS half of the task engine: the rule table, batch operations, schedules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import ViasError
from toolkit.tasks import VIAS_RULES, ManualClock, TaskEngine, WeeklySchedule
from toolkit.tasks._vias_validation import validate_batch_body

P = "proj-1"
_DELETE = object()


def valid_body() -> dict:
    """A CreateBatchTask body that uses every field once."""
    return {
        "name": "lobby_faces", "description": "faces at the lobby",
        "service_name": "face-capture", "service_version": "1.0.0",
        "schedule": {"type": "weekly", "timezone": "+08:00", "days_of_week": [1, 2],
                     "days_of_month": [1],
                     "periods": [[{"begin_at": "07:30:00", "end_at": "19:00:00"}]]},
        "batch_input": {"video_source_group": [{
            "video_source_group_id": "grp-lobby-01",
            "video_source_list": [{"video_source_id": "cam-0001", "target_roi": "roi-1"}]}]},
        "output": {
            "obs": {"bucket": "bucket-01", "path": "faces/out", "data_category": ["FaceImage"]},
            "dis": {"stream_name": "stream-1", "data_category": ["FaceImage"]},
            "webhook": {"url": "https://hooks.example.test/vias", "headers": {"X-Audit": "on"},
                        "data_category": ["FaceImage"]},
            "event_center": False},
        "config": {"common": {"face_min_size": 40}},
        "is_saved_as_template": False, "resource_order_id": "order-0001",
    }


def put(body: dict, path: str, value) -> str:
    """Set the first place ``path`` names (``[]`` = item 0); return its concrete name."""
    parts, obj, concrete = path.split("."), body, []
    for i, part in enumerate(parts):
        key = part.rstrip("[]")
        stars = (len(part) - len(key)) // 2
        concrete.append(key + "[0]" * stars)
        if i < len(parts) - 1:
            obj = obj[key]
            for _ in range(stars):
                obj = obj[0]
        elif stars == 0:
            if value is _DELETE:
                obj.pop(key, None)
            else:
                obj[key] = value
        else:
            target = obj[key]
            for _ in range(stars - 1):
                target = target[0]
            target[0] = value
    return ".".join(concrete)


# --- boundary values derived from each rule ------------------------------------------------------

def text(path: str, n: int) -> str:
    """A string of ``n`` characters that passes the field's pattern when one that long can."""
    if path.endswith("url"):
        return "https://" + "a" * (n - 8) if n > 8 else "a" * n
    return "a" * n


def items(path: str, n: int) -> list:
    """``n`` distinct valid items for the array at ``path``."""
    if path.endswith("days_of_week"):
        return list(range(1, n + 1))
    if path == "schedule.periods":
        return [[{"begin_at": "07:30:00", "end_at": "19:00:00"}] for _ in range(n)]
    if path == "schedule.periods[]":
        return [{"begin_at": f"{h % 24:02d}:00:00", "end_at": f"{h % 24:02d}:30:00"}
                for h in range(n)]
    if path.endswith("video_source_group"):
        return [{"video_source_group_id": f"grp-{i:04d}",
                 "video_source_list": [{"video_source_id": f"cam-{i:04d}"}]} for i in range(n)]
    if path.endswith("video_source_list"):
        return [{"video_source_id": f"cam-{i:04d}"} for i in range(n)]
    if path.endswith("data_category"):
        return [f"Category{i}" for i in range(n)]
    raise AssertionError(path)


WRONG_TYPE = {"string": 123, "integer": "1", "boolean": "true", "object": [],
              "array": {}, "boolean_or_01": 2}

PATTERN_CASES = {
    "name": (["lobby_faces-2", "大厅摄像头", "a" * 100], ["lobby faces", "a/b", "é"]),
    "service_name": (["face-capture", "人脸"], ["face capture", "face.capture"]),
    "service_version": (["1.0.0", "v20", "a" * 32], ["1.0.0-beta", "V1.0", "v2"]),
    "resource_order_id": (["order-0001", "a_b-"], ["Order-0001", "abc", "ord er"]),
    "schedule.timezone": (["+08:00", "-05:30", "+00:00"], ["08:00", "+8:00", "UTC", "+08:00:00"]),
    "schedule.periods[][].begin_at": (["06:00:00", "00:00:00"], ["6:00:00", "06:00", "06:00:00Z"]),
    "schedule.periods[][].end_at": (["21:00:00", "06:00:00"], ["9:00:00", "21:00", "21h"]),
    "batch_input.video_source_group[].video_source_group_id":
        (["grp-0001", "a_b-c"], ["GRP-0001", "grp", "grp 0001"]),
    "batch_input.video_source_group[].video_source_list[].video_source_id":
        (["cam-0002", "c_1-x"], ["CAM-0002", "cam", "cam/0002"]),
    "output.obs.bucket": (["bucket-01", "a.b.c", "abc"],
                          ["-bucket", "bucket-", "bu..cket", "bu.-cket", "Bucket", "ab"]),
    "output.obs.path": (["faces/out", "a", "a b/c"],
                        ["/faces", ".faces", " faces", "faces//out", "faces.", "faces ",
                         "fa:ces", "fa*ces", "fa\\ces"]),
    "output.dis.stream_name": (["stream-1", "S_1"], ["stream 1", "stream.1"]),
    "output.webhook.url": (["https://x.test/a", "http://x", "rtsp://cam/1", "rtmp://s/1",
                            "ftp://h/f", "file://x"], ["mailto:x", "https://", "x.test/a"]),
}


def _windows(begin, end):
    return lambda b: b["schedule"].update(periods=[[{"begin_at": begin, "end_at": end}]])


W = "schedule.periods[0][0]"

#: Cases for each custom check: (change to the valid body, field it breaks or None).
CUSTOM_CASES = {
    "_real_offset": [
        (lambda b: b["schedule"].update(timezone="+23:59"), None),
        (lambda b: b["schedule"].update(timezone="-00:00"), None),
        (lambda b: b["schedule"].update(timezone="+24:00"), "schedule.timezone"),
        (lambda b: b["schedule"].update(timezone="+05:60"), "schedule.timezone")],
    "_weekly_needs_days": [
        (lambda b: b["schedule"].pop("days_of_week"), "schedule.type")],
    "_periods_match_days": [
        (lambda b: b["schedule"].update(periods=items("schedule.periods", 2)), None),
        (lambda b: b["schedule"].update(days_of_week=[1, 2, 3],
                                        periods=items("schedule.periods", 2)),
         "schedule.periods")],
    "_valid_window_time": [
        (_windows("23:59:59", "19:00:00"), None),
        (_windows("24:00:00", "19:00:00"), W + ".begin_at"),
        (_windows("07:60:00", "19:00:00"), W + ".begin_at"),
        (_windows("07:30:00", "19:00:60"), W + ".end_at"),
        (_windows("2025-02-29T07:30:00", "2025-03-01T19:00:00"), W + ".begin_at")],
    "_window_is_consistent": [
        (_windows("22:00:00", "06:00:00"), None),               # overnight
        (_windows("2025-03-01T22:00:00", "2025-03-02T06:00:00"), None),
        (_windows("07:30:00", "07:30:00"), W + ".end_at"),       # empty
        (_windows("2025-03-01T07:30:00", "19:00:00"), W + ".end_at"),  # one date only
        (_windows("2025-03-01T19:00:00", "2025-03-01T07:30:00"), W + ".end_at")],
    "_distinct_sources": [
        (lambda b: b["batch_input"]["video_source_group"][0].update(
            video_source_list=[{"video_source_id": "cam-0001"},
                               {"video_source_id": "cam-0001"}]),
         "batch_input.video_source_group[0].video_source_list")],
    "_has_output_mode": [
        (lambda b: b.update(output={"event_center": True}), None),
        (lambda b: b.update(output={"event_center": 1}), None),
        (lambda b: b.update(output={"dis": {"stream_name": "s"}}), None),
        (lambda b: b.update(output={"event_center": False}), "output"),
        (lambda b: b.update(output={"event_center": 0}), "output"),
        (lambda b: b.update(output={}), "output")],
    "_string_values": [
        (lambda b: b["output"]["webhook"].update(headers={"X-A": 1}), "output.webhook.headers")],
}


def _rule_cases():
    """(id, operation, body, expected field or None when valid) for every rule."""
    cases = []
    for n, rule in enumerate(VIAS_RULES):
        rid = f"{n:03d}-{rule.path}-{rule.check}"
        ops = ["create", "update"] if rule.on == "both" else [rule.on]
        variants = []  # (label, setter(body) -> field, ok)

        def setter(value, path=rule.path):
            return lambda b: put(b, path, value)

        if rule.check == "required":
            variants.append(("missing", setter(_DELETE), False))
        elif rule.check == "forbidden":
            variants.append(("present", setter("face-capture"), False))
        elif rule.check == "type":
            variants.append(("wrong-type", setter(WRONG_TYPE[rule.arg]), False))
        elif rule.check == "length":
            lo, hi = rule.arg
            has_pattern = rule.path in PATTERN_CASES
            for size, ok in ((hi, True), (hi + 1, False)) + \
                    (((lo, True),) if lo > 0 or not has_pattern else ()) + \
                    (((lo - 1, False),) if lo > 0 else ()):
                variants.append((f"len{size}", setter(text(rule.path, size)), ok))
        elif rule.check in ("items", "pairs"):
            lo, hi = rule.arg
            for size, ok in ((lo, True), (hi, True), (hi + 1, False)) + \
                    (((lo - 1, False),) if lo > 0 else ()):
                if rule.check == "pairs":
                    value = {f"X-{i}": "v" for i in range(size)}
                    variants.append((f"n{size}", setter(value), ok))
                elif rule.path == "schedule.periods":
                    def both(b, size=size):
                        b["schedule"]["days_of_week"] = items("days_of_week", min(size, 7) or 1)
                        return put(b, "schedule.periods", items("schedule.periods", size))
                    variants.append((f"n{size}", both, ok))
                else:
                    variants.append((f"n{size}", setter(items(rule.path, size)), ok))
        elif rule.check == "range":
            lo, hi = rule.arg
            for value, ok in ((lo, True), (hi, True), (lo - 1, False), (hi + 1, False)):
                variants.append((f"v{value}", setter(value), ok))
        elif rule.check == "unique":
            path = rule.path
            dup = [1, 1] if "days" in path else ["FaceImage", "FaceImage"]
            variants.append(("dup", setter(dup), False))
        elif rule.check == "enum":
            variants.append(("allowed", setter(rule.arg[0]), True))
            variants.append(("monthly", setter("monthly"), False))
        elif rule.check == "pattern":
            good, bad = PATTERN_CASES[rule.path]
            variants += [(f"ok-{v[:12]}", setter(v), True) for v in good]
            variants += [(f"bad-{v[:12]}", setter(v), False) for v in bad]
        elif rule.check == "custom":
            for i, (mutate, field) in enumerate(CUSTOM_CASES[rule.arg.__name__]):
                def apply(b, mutate=mutate, field=field):
                    mutate(b)
                    return field
                variants.append((f"case{i}", apply, field is None))
        else:
            raise AssertionError(rule.check)
        for op in ops:
            for label, set_value, ok in variants:
                body = valid_body()
                field = set_value(body)
                if op == "update":
                    top = rule.path.split(".")[0].rstrip("[]")
                    body = {top: body[top]} if top in body else {}
                cases.append(pytest.param(op, body, None if ok else field,
                                          id=f"{rid}-{op}-{label}"))
    return cases


@pytest.mark.parametrize("operation, body, field", _rule_cases())
def test_every_rule_on_both_sides_of_its_bound(operation, body, field):
    if field is None:
        validate_batch_body(body, operation=operation)
        return
    with pytest.raises(ViasError) as info:
        validate_batch_body(body, operation=operation)
    err = info.value
    assert err.status_code == 400
    assert set(err.body) == {"error_code", "error_msg", "detail", "params", "reason", "advice"}
    assert err.body["error_code"] == "VIAS.00010001"
    assert err.body["params"] == [field]
    assert field in err.body["detail"] and "expected" in err.body["detail"]


def test_every_pattern_and_custom_rule_has_cases():
    patterns = {r.path for r in VIAS_RULES if r.check == "pattern"}
    customs = {r.arg.__name__ for r in VIAS_RULES if r.check == "custom"}
    assert patterns == set(PATTERN_CASES)
    assert customs == set(CUSTOM_CASES)


def test_the_documented_bounds_are_in_the_table():
    bounds = {(r.path, r.check): r.arg for r in VIAS_RULES if isinstance(r.arg, tuple)}
    assert bounds[("name", "length")] == (1, 100)
    assert bounds[("description", "length")] == (0, 500)
    assert bounds[("output.webhook.headers", "pairs")] == (1, 10)
    assert bounds[("output.webhook.url", "length")] == (0, 1000)
    assert bounds[("schedule.periods[]", "items")] == (1, 10)
    assert bounds[("batch_input.video_source_group", "items")] == (1, 100)
    assert bounds[("batch_input.video_source_group[].video_source_list", "items")] == (0, 100)
    assert bounds[("batch_input.video_source_group[].video_source_list[].target_roi",
                   "length")] == (0, 2048)
    assert bounds[("schedule.days_of_week[]", "range")] == (1, 7)


@pytest.mark.parametrize("body, match", [
    ([1], "a JSON object"),
    ("name=x", "a JSON object"),
])
def test_a_body_must_be_an_object(body, match):
    with pytest.raises(ViasError, match=match):
        validate_batch_body(body, operation="create")


def test_validation_needs_a_known_operation():
    with pytest.raises(ValueError, match=r"one of \['create', 'update'\]"):
        validate_batch_body({}, operation="delete")


# --- the batch operations ----------------------------------------------------------------------


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def engine(clock):
    eng = TaskEngine(clock)
    yield eng
    eng.close()


def two_groups(n_a=2, n_b=1) -> dict:
    body = valid_body()
    body["batch_input"] = {"video_source_group": [
        {"video_source_group_id": "grp-a", "video_source_list": [
            {"video_source_id": f"cam-a{i:03d}", "target_roi": f"roi-{i}"} for i in range(n_a)]},
        {"video_source_group_id": "grp-b", "video_source_list": [
            {"video_source_id": f"cam-b{i:03d}"} for i in range(n_b)]}]}
    return body


def member_tasks(vias, batch_id):
    page = vias.list_tasks(P, batch_id=batch_id, page_size=1000)
    return {vias.show_task(P, t["id"])["input"]["video_source_id"]: vias.show_task(P, t["id"])
            for t in page["tasks"]}


def test_create_fans_out_one_running_task_per_video_source(engine):
    vias = engine.vias
    r = vias.create_batch_task(P, two_groups())
    assert r == {"id": r["id"], "total_count": 3, "succeed_count": 3, "failed_count": 0,
                 "error_list": []}
    tasks = member_tasks(vias, r["id"])
    assert sorted(tasks) == ["cam-a000", "cam-a001", "cam-b000"]
    assert {t["state"] for t in tasks.values()} == {"RUNNING"}
    info = tasks["cam-a001"]
    assert info["input"] == {"video_source_group_id": "grp-a", "video_source_id": "cam-a001",
                             "target_roi": "roi-1"}
    assert (info["batch_id"], info["project_id"], info["group_name"]) == (r["id"], P, "grp-a")
    assert info["created_at"] == "2025-01-01T00:00:00.000Z"            # ISO in ShowTaskInfo
    listed = vias.list_tasks(P, batch_id=r["id"])
    assert listed["batch_id"] == r["id"] and listed["count"] == 3
    assert {t["created_at"] for t in listed["tasks"]} == {"1735689600000"}  # epoch-ms text
    assert info["schedule_status"] == "ACTIVATED"
    row = vias.list_batch_tasks(P)["batch_task_list"][0]
    assert row["batch_task_status_info"] == {"running": 3}
    assert (row["num_task"], row["video_group_name"], row["created_at"]) == \
        (3, "grp-a,grp-b", 1735689600000)


def test_an_offline_source_fails_to_start_and_is_counted(engine):
    vias = engine.vias
    vias.set_video_source_online(P, "cam-a001", False)
    r = vias.create_batch_task(P, two_groups())
    assert (r["total_count"], r["succeed_count"], r["failed_count"]) == (3, 2, 1)
    tasks = member_tasks(vias, r["id"])
    failed = tasks["cam-a001"]
    assert failed["state"] == "START_FAILED"
    assert r["error_list"] == [f"{failed['id']}: video source 'cam-a001' is offline"]
    assert failed["error"]["message"] == "video source 'cam-a001' is offline"
    row = vias.list_batch_tasks(P)["batch_task_list"][0]
    assert row["batch_task_status_info"] == {"running": 2, "start_failed": 1}
    # Back online: a start retries only the task that is not running.
    vias.set_video_source_online(P, "cam-a001", True)
    again = vias.start_batch_task(P, r["id"])
    assert (again["total_count"], again["succeed_count"], again["failed_count"]) == (3, 3, 0)
    assert {t["state"] for t in member_tasks(vias, r["id"]).values()} == {"RUNNING"}


def test_stop_and_start(engine):
    vias = engine.vias
    r = vias.create_batch_task(P, two_groups())
    stopped = vias.stop_batch_task(P, r["id"])
    assert (stopped["total_count"], stopped["succeed_count"]) == (3, 3)
    tasks = member_tasks(vias, r["id"])
    assert {t["state"] for t in tasks.values()} == {"STOPPED"}
    assert {t["schedule_status"] for t in tasks.values()} == {"INACTIVATED"}
    vias.start_batch_task(P, r["id"])
    assert {t["state"] for t in member_tasks(vias, r["id"]).values()} == {"RUNNING"}


def test_delete_removes_the_batch_and_its_tasks(engine):
    vias = engine.vias
    r = vias.create_batch_task(P, two_groups())
    task_id = vias.list_tasks(P, batch_id=r["id"])["tasks"][0]["id"]
    assert vias.delete_batch_task(P, r["id"]) == {**r, "error_list": []}
    assert vias.list_batch_tasks(P) == {"count": 0, "batch_task_list": []}
    with pytest.raises(ViasError) as info:
        vias.show_task(P, task_id)
    assert info.value.status_code == 404
    with pytest.raises(ViasError) as info:
        vias.delete_batch_task(P, r["id"])
    assert (info.value.status_code, info.value.body["params"]) == (404, ["id"])


@pytest.mark.parametrize("call, status, param", [
    (lambda v, b: v.update_batch_task(P, "b" * 32, {"description": "x"}), 404, "id"),
    (lambda v, b: v.start_batch_task(P, "NOT-AN-ID"), 400, "id"),
    (lambda v, b: v.stop_batch_task("proj 1", b), 400, "project_id"),
    (lambda v, b: v.create_batch_task("p" * 65, valid_body()), 400, "project_id"),
    (lambda v, b: v.list_tasks(P, batch_id="abc"), 400, "id"),
    (lambda v, b: v.list_tasks(P, batch_id="c" * 32), 404, "id"),
    (lambda v, b: v.show_task(P, "d" * 32), 404, "task_id"),
    (lambda v, b: v.update_batch_task("proj-2", b, {"description": "x"}), 404, "id"),
    (lambda v, b: v.set_video_source_online(P, "CAM", False), 400, "video_source_id"),
])
def test_path_parameters_are_checked(engine, call, status, param):
    batch_id = engine.vias.create_batch_task(P, valid_body())["id"]
    with pytest.raises(ViasError) as info:
        call(engine.vias, batch_id)
    assert (info.value.status_code, info.value.body["params"]) == (status, [param])


def test_create_rejects_a_bad_body_and_creates_nothing(engine):
    body = valid_body()
    body["name"] = "n" * 101
    with pytest.raises(ViasError, match="name") as info:
        engine.vias.create_batch_task(P, body)
    assert info.value.body["params"] == ["name"]
    assert engine.vias.list_batch_tasks(P)["count"] == 0


# --- update: a partial patch -------------------------------------------------------------------


def test_update_of_the_description_restarts_nothing(engine, clock):
    vias = engine.vias
    r = vias.create_batch_task(P, two_groups())
    rows_before = len(engine.history())
    clock.advance(60)
    out = vias.update_batch_task(P, r["id"], {"description": "only words"})
    assert (out["total_count"], out["succeed_count"], out["failed_count"]) == (3, 3, 0)
    tasks = member_tasks(vias, r["id"])
    assert {t["updated_at"] for t in tasks.values()} == {"2025-01-01T00:00:00.000Z"}
    assert {t["description"] for t in tasks.values()} == {"only words"}
    assert len(engine.history()) == rows_before
    # The rest of the batch is kept.
    assert {t["output"]["obs"]["bucket"] for t in tasks.values()} == {"bucket-01"}


def test_update_of_one_roi_restarts_only_that_task(engine, clock):
    vias = engine.vias
    r = vias.create_batch_task(P, two_groups())
    clock.advance(60)
    body = {"batch_input": two_groups()["batch_input"]}
    body["batch_input"]["video_source_group"][0]["video_source_list"][1]["target_roi"] = "new"
    vias.update_batch_task(P, r["id"], body)
    tasks = member_tasks(vias, r["id"])
    assert tasks["cam-a001"]["updated_at"] == "2025-01-01T00:01:00.000Z"
    assert tasks["cam-a001"]["status"] == "restarted to apply an update"
    assert tasks["cam-a001"]["input"]["target_roi"] == "new"
    assert tasks["cam-a000"]["updated_at"] == "2025-01-01T00:00:00.000Z"
    history = engine.history()
    restarted = history[history["task_id"] == tasks["cam-a001"]["id"]]
    assert restarted["status"].tolist() == ["RUNNING", "RUNNING"]
    assert restarted["observed_at"].iloc[-1] == datetime(2025, 1, 1, 0, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("field, value", [
    ("name", "lobby_faces-v2"),
    ("output", {"event_center": True}),
    ("config", {"common": {"face_min_size": 80}}),
    ("schedule", {"type": "weekly", "timezone": "+00:00", "days_of_week": [7],
                  "periods": [[{"begin_at": "00:00:00", "end_at": "23:59:59"}]]}),
    ("resource_order_id", "order-0002"),
])
def test_update_of_what_tasks_run_restarts_every_running_task(engine, clock, field, value):
    vias = engine.vias
    r = vias.create_batch_task(P, two_groups())
    clock.advance(60)
    out = vias.update_batch_task(P, r["id"], {field: value})
    assert (out["total_count"], out["succeed_count"]) == (3, 3)
    tasks = member_tasks(vias, r["id"])
    assert {t["updated_at"] for t in tasks.values()} == {"2025-01-01T00:01:00.000Z"}
    assert {t["state"] for t in tasks.values()} == {"RUNNING"}


def test_update_adds_and_removes_video_sources(engine, clock):
    vias = engine.vias
    r = vias.create_batch_task(P, two_groups(n_a=2, n_b=1))
    old = member_tasks(vias, r["id"])
    clock.advance(60)
    # grp-a keeps cam-a000 and drops cam-a001; grp-b gets cam-b001.
    out = vias.update_batch_task(P, r["id"], {"batch_input": two_groups(n_a=1, n_b=2)[
        "batch_input"]})
    # Acted on: cam-a000 (kept), cam-a001 (deleted), cam-b000 (kept), cam-b001 (created).
    assert (out["total_count"], out["succeed_count"], out["failed_count"]) == (4, 4, 0)
    new = member_tasks(vias, r["id"])
    assert sorted(new) == ["cam-a000", "cam-b000", "cam-b001"]
    assert new["cam-a000"]["id"] == old["cam-a000"]["id"]
    assert new["cam-b001"]["state"] == "RUNNING"
    assert new["cam-b001"]["created_at"] == "2025-01-01T00:01:00.000Z"
    with pytest.raises(ViasError):
        vias.show_task(P, old["cam-a001"]["id"])
    history = engine.history()
    gone = history[history["task_id"] == old["cam-a001"]["id"]]
    assert gone["status"].tolist() == ["RUNNING", "DELETING"]


def test_update_of_a_stopped_batch_keeps_its_tasks_stopped(engine):
    vias = engine.vias
    r = vias.create_batch_task(P, two_groups(n_a=1, n_b=1))
    vias.stop_batch_task(P, r["id"])
    vias.update_batch_task(P, r["id"], {"batch_input": two_groups(n_a=2, n_b=1)["batch_input"],
                                        "output": {"event_center": True}})
    tasks = member_tasks(vias, r["id"])
    assert {k: t["state"] for k, t in tasks.items()} == {
        "cam-a000": "STOPPED", "cam-a001": "STOPPED", "cam-b000": "STOPPED"}
    assert tasks["cam-a000"]["output"] == {"event_center": True}


def test_update_retries_failed_starts(engine):
    vias = engine.vias
    vias.set_video_source_online(P, "cam-b000", False)
    r = vias.create_batch_task(P, two_groups(n_a=1, n_b=1))
    out = vias.update_batch_task(P, r["id"], {"description": "still offline"})
    assert (out["failed_count"], len(out["error_list"])) == (1, 1)
    vias.set_video_source_online(P, "cam-b000", True)
    out = vias.update_batch_task(P, r["id"], {"description": "back"})
    assert (out["succeed_count"], out["failed_count"]) == (2, 0)
    assert member_tasks(vias, r["id"])["cam-b000"]["state"] == "RUNNING"


def test_update_null_removes_optional_fields_only(engine):
    vias = engine.vias
    r = vias.create_batch_task(P, valid_body())
    vias.update_batch_task(P, r["id"], {"description": None, "schedule": None})
    info = member_tasks(vias, r["id"])["cam-0001"]
    assert (info["description"], info["schedule"], info["schedule_status"]) == \
        ("", {}, "INACTIVATED")
    for key in ("name", "batch_input", "output"):
        with pytest.raises(ViasError, match="cannot be removed") as err:
            vias.update_batch_task(P, r["id"], {key: None})
        assert err.value.body["params"] == [key]


@pytest.mark.parametrize("patch, param", [
    ({"service_name": "other"}, "service_name"),
    ({"service_version": "2.0.0"}, "service_version"),
    ({"output": {"event_center": False}}, "output"),
    ({"name": "n" * 101}, "name"),
    ({"schedule": {"type": "weekly", "timezone": "+08:00", "days_of_week": [1],
                   "periods": [[{"begin_at": "07:00:00", "end_at": "08:00:00"}] * 11]}},
     "schedule.periods[0]"),
])
def test_update_rejects_a_bad_patch_and_changes_nothing(engine, patch, param):
    vias = engine.vias
    r = vias.create_batch_task(P, valid_body())
    before = member_tasks(vias, r["id"])
    with pytest.raises(ViasError) as info:
        vias.update_batch_task(P, r["id"], patch)
    assert (info.value.status_code, info.value.body["params"]) == (400, [param])
    assert member_tasks(vias, r["id"]) == before


# --- listing ------------------------------------------------------------------------------------


@pytest.fixture
def many(engine, clock):
    """12 batches created a minute apart; batch i has i % 4 + 1 video sources."""
    ids = []
    for i in range(12):
        body = two_groups(n_a=i % 4, n_b=1)
        body["name"] = f"batch_{i:02d}"
        body["service_name"] = "face-capture" if i % 2 else "smoke-detect"
        body["batch_input"]["video_source_group"][1]["video_source_group_id"] = f"grp-b{i % 3}"
        ids.append(engine.vias.create_batch_task(P, body)["id"])
        clock.advance(60)
    engine.vias.stop_batch_task(P, ids[5])
    return engine.vias, ids


def test_list_batch_tasks_sorts_newest_first_by_default(many):
    vias, ids = many
    page = vias.list_batch_tasks(P)
    assert page["count"] == 12
    assert [b["id"] for b in page["batch_task_list"]] == ids[::-1][:10]
    asc = vias.list_batch_tasks(P, order_by="asc", page_size="5", page_num="2")
    assert [b["id"] for b in asc["batch_task_list"]] == ids[5:10]
    by_count = vias.list_batch_tasks(P, sort_name="task_count", order_by="asc", is_paged=False)
    counts = [b["num_task"] for b in by_count["batch_task_list"]]
    assert counts == sorted(counts) and len(counts) == 12


def test_list_batch_tasks_filters(many):
    vias, ids = many
    names = lambda page: sorted(b["batch_task_name"] for b in page["batch_task_list"])  # noqa: E731
    assert names(vias.list_batch_tasks(P, video_group="grp-b1,grp-zz", is_paged=False)) == \
        ["batch_01", "batch_04", "batch_07", "batch_10"]
    assert names(vias.list_batch_tasks(P, task_state="stopped")) == ["batch_05"]
    assert names(vias.list_batch_tasks(P, task_state="STOPPED")) == ["batch_05"]
    assert names(vias.list_batch_tasks(P, name_like="H_1")) == ["batch_10", "batch_11"]
    assert vias.list_batch_tasks(P, type_like="publish_service_name", name_like="SMOKE",
                                 is_paged=False)["count"] == 6
    assert names(vias.list_batch_tasks(P, title="cam-a002")) == \
        ["batch_03", "batch_07", "batch_11"]
    assert vias.list_batch_tasks(P, manufacturer="acme")["count"] == 0
    assert vias.list_batch_tasks("other-project")["count"] == 0


@pytest.mark.parametrize("query, param", [
    ({"page_size": 4}, "page_size"), ({"page_size": 201}, "page_size"),
    ({"page_num": 0}, "page_num"), ({"page_num": 10001}, "page_num"),
    ({"order_by": "up"}, "order_by"), ({"sort_name": "name"}, "sort_name"),
    ({"is_paged": "yes"}, "is_paged"), ({"title": "a"}, "title"),
    ({"name_like": "n" * 101}, "name_like"), ({"video_group": "g" * 1001}, "video_group"),
    ({"type_like": "alg"}, "type_like"), ({"pagesize": 10}, "pagesize"),
])
def test_list_batch_tasks_rejects_bad_queries(many, query, param):
    vias, _ = many
    with pytest.raises(ViasError) as info:
        vias.list_batch_tasks(P, **query)
    assert (info.value.status_code, info.value.body["params"]) == (400, [param])


@pytest.mark.parametrize("query", [{"page_size": 5}, {"page_size": 200}, {"page_num": 1},
                                   {"page_num": 10000}, {"title": "ca"}, {"is_paged": "false"}])
def test_list_batch_tasks_accepts_the_bounds(many, query):
    vias, _ = many
    assert vias.list_batch_tasks(P, **query)["count"] == 12


@settings(deadline=None, max_examples=30)
@given(size=st.integers(5, 13), order=st.sampled_from(["asc", "desc"]),
       sort=st.sampled_from(["created_at", "task_count"]))
def test_batch_paging_never_repeats_or_skips(size, order, sort):
    clock = ManualClock()
    with TaskEngine(clock) as eng:
        for i in range(13):
            body = two_groups(n_a=i % 3, n_b=1)
            eng.vias.create_batch_task(P, body)
            clock.advance(i % 2)          # some batches share a creation time
        seen, page_num = [], 1
        while True:
            page = eng.vias.list_batch_tasks(P, page_size=size, page_num=page_num,
                                             order_by=order, sort_name=sort)
            if not page["batch_task_list"]:
                break
            seen += [b["id"] for b in page["batch_task_list"]]
            page_num += 1
        whole = eng.vias.list_batch_tasks(P, is_paged=False, order_by=order, sort_name=sort)
    assert seen == [b["id"] for b in whole["batch_task_list"]]
    assert len(set(seen)) == 13


def test_list_tasks_filters_and_pages(many):
    vias, ids = many
    everything = vias.list_tasks(P, page_size=1000)
    assert everything["count"] == sum(i % 4 + 1 for i in range(12)) == 30
    assert "batch_id" not in everything
    times = [int(t["created_at"]) for t in everything["tasks"]]
    assert times == sorted(times, reverse=True)
    asc = vias.list_tasks(P, page_size=5, page=2, sort_dir="asc")
    assert (asc["page"], asc["page_size"], len(asc["tasks"])) == (2, 5, 5)
    all_asc = vias.list_tasks(P, page_size=1000, sort_dir="asc")["tasks"]
    assert asc["tasks"] == all_asc[5:10]
    assert vias.list_tasks(P, task_state="stopped")["count"] == 2          # batch 5: 1 + 1
    assert vias.list_tasks(P, video_group_id="grp-b2", page_size=1000)["count"] == 4
    # cam-a000 .. cam-a002: batch i has i % 4 of them, 0 + 1 + 2 + 3 per four batches.
    assert vias.list_tasks(P, camera_name="CAM-A00", page_size=1000)["count"] == 18
    assert vias.list_tasks(P, task_name="batch_03_cam")["count"] == 4
    assert vias.list_tasks(P, alg_id="smoke-detect", page_size=1000)["count"] == \
        sum(i % 4 + 1 for i in range(0, 12, 2))
    assert vias.list_tasks(P, company="acme")["count"] == 0


@pytest.mark.parametrize("query, param", [
    ({"page_size": 4}, "page_size"), ({"page_size": 1001}, "page_size"),
    ({"page": 0}, "page"), ({"sort_dir": "up"}, "sort_dir"), ({"state": "x"}, "state"),
])
def test_list_tasks_rejects_bad_queries(many, query, param):
    vias, _ = many
    with pytest.raises(ViasError) as info:
        vias.list_tasks(P, **query)
    assert info.value.body["params"] == [param]


@pytest.mark.parametrize("size", [5, 1000])
def test_list_tasks_accepts_the_page_size_bounds(many, size):
    vias, _ = many
    assert len(vias.list_tasks(P, page_size=size)["tasks"]) == min(size, 30)


# --- schedules -----------------------------------------------------------------------------------

UTC = timezone.utc
CN = timezone(timedelta(hours=8))


def weekly(days, periods, tz="+08:00"):
    return WeeklySchedule({"type": "weekly", "timezone": tz, "days_of_week": days,
                           "periods": periods})


def test_next_windows_of_a_weekday_schedule():
    s = weekly([1, 3, 5], [[{"begin_at": "07:30:00", "end_at": "19:00:00"}]])
    # 2025-03-05 is a Wednesday; 04:00 UTC is 12:00 in +08:00, inside Wednesday's window.
    got = s.next_windows(datetime(2025, 3, 5, 4, tzinfo=UTC), 4)
    assert got == [(datetime(2025, 3, 5, 7, 30, tzinfo=CN), datetime(2025, 3, 5, 19, tzinfo=CN)),
                   (datetime(2025, 3, 7, 7, 30, tzinfo=CN), datetime(2025, 3, 7, 19, tzinfo=CN)),
                   (datetime(2025, 3, 10, 7, 30, tzinfo=CN), datetime(2025, 3, 10, 19, tzinfo=CN)),
                   (datetime(2025, 3, 12, 7, 30, tzinfo=CN), datetime(2025, 3, 12, 19, tzinfo=CN))]
    assert all(b.utcoffset() == timedelta(hours=8) for b, _ in got)
    # Right at a window's end it no longer counts.
    later = s.next_windows(datetime(2025, 3, 5, 19, tzinfo=CN), 1)
    assert later[0][0] == datetime(2025, 3, 7, 7, 30, tzinfo=CN)


def test_periods_pair_with_days_and_windows_cross_midnight():
    s = weekly([1, 7], [[{"begin_at": "09:00:00", "end_at": "10:00:00"}],
                        [{"begin_at": "22:00:00", "end_at": "02:00:00"},
                         {"begin_at": "12:00:00", "end_at": "13:00:00"}]], tz="-05:00")
    ny = timezone(timedelta(hours=-5))
    # Sunday 2025-03-09 23:00 in -05:00: the Sunday night window is open until Monday 02:00.
    got = s.next_windows(datetime(2025, 3, 9, 23, tzinfo=ny), 3)
    assert got == [(datetime(2025, 3, 9, 22, tzinfo=ny), datetime(2025, 3, 10, 2, tzinfo=ny)),
                   (datetime(2025, 3, 10, 9, tzinfo=ny), datetime(2025, 3, 10, 10, tzinfo=ny)),
                   (datetime(2025, 3, 16, 12, tzinfo=ny), datetime(2025, 3, 16, 13, tzinfo=ny))]


def test_dated_windows_happen_once():
    s = weekly([2], [[{"begin_at": "2025-03-04T08:00:00", "end_at": "2025-03-04T09:00:00"}]])
    after = datetime(2025, 3, 1, tzinfo=UTC)
    assert s.next_windows(after, 5) == [(datetime(2025, 3, 4, 8, tzinfo=CN),
                                         datetime(2025, 3, 4, 9, tzinfo=CN))]
    assert s.next_windows(datetime(2025, 3, 5, tzinfo=UTC), 5) == []


@pytest.mark.parametrize("after, n, error, match", [
    (datetime(2025, 3, 1), 1, ValueError, "timezone-aware"),
    (datetime(2025, 3, 1, tzinfo=UTC), -1, ValueError, "non-negative"),
    (datetime(2025, 3, 1, tzinfo=UTC), 1.5, ValueError, "non-negative"),
])
def test_next_windows_checks_its_arguments(after, n, error, match):
    s = weekly([1], [[{"begin_at": "07:30:00", "end_at": "19:00:00"}]])
    with pytest.raises(error, match=match):
        s.next_windows(after, n)


def test_next_windows_zero_and_iso_text():
    s = weekly([1], [[{"begin_at": "07:30:00", "end_at": "19:00:00"}]])
    assert s.next_windows("2025-03-01T00:00:00Z", 0) == []
    assert s.next_windows("2025-03-01T00:00:00+00:00", 1)[0][0] == \
        datetime(2025, 3, 3, 7, 30, tzinfo=CN)


def test_a_schedule_is_checked_with_the_rules():
    with pytest.raises(ViasError) as info:
        weekly([1, 8], [[{"begin_at": "07:30:00", "end_at": "19:00:00"}]])
    assert info.value.body["params"] == ["schedule.days_of_week[1]"]
    with pytest.raises(ValueError, match="TaskSchedule"):
        WeeklySchedule(None)


def test_engine_next_windows_of_a_batch(engine):
    vias = engine.vias
    r = vias.create_batch_task(P, valid_body())       # Monday and Tuesday 07:30-19:00 +08:00
    got = vias.next_windows(P, r["id"], datetime(2025, 3, 1, tzinfo=UTC), 2)
    assert [b for b, _ in got] == [datetime(2025, 3, 3, 7, 30, tzinfo=CN),
                                   datetime(2025, 3, 4, 7, 30, tzinfo=CN)]
    vias.update_batch_task(P, r["id"], {"schedule": None})
    with pytest.raises(ViasError, match="expected a batch with a schedule"):
        vias.next_windows(P, r["id"], datetime(2025, 3, 1, tzinfo=UTC), 2)


def test_vias_state_changes_are_in_the_history(engine, clock):
    vias = engine.vias
    r = vias.create_batch_task(P, two_groups(n_a=1, n_b=0))
    clock.advance(30)
    vias.stop_batch_task(P, r["id"])
    history = engine.history()
    assert history["status"].tolist() == ["RUNNING", "STOPPED"]
    assert history["state"].tolist() == ["running", "stopped"]
    assert set(history["provider"]) == {"vias"} and set(history["task_type"]) == {"task"}
    assert history["progress"].isna().all()
    assert history["observed_at"].tolist() == [
        datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC)]


@settings(deadline=None, max_examples=25)
@given(st.lists(st.tuples(st.sampled_from(["update", "start", "stop", "offline", "online"]),
                          st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=8))
def test_counts_always_agree_with_the_member_tasks(steps):
    with TaskEngine(ManualClock()) as eng:
        vias = eng.vias
        batch_id = vias.create_batch_task(P, two_groups(n_a=2, n_b=1))["id"]
        for op, a, b in steps:
            before = {t["id"] for t in vias.list_tasks(P, batch_id=batch_id,
                                                       page_size=1000)["tasks"]}
            if op in ("offline", "online"):
                vias.set_video_source_online(P, f"cam-a{a:03d}", op == "online")
                continue
            if op == "update":
                body = two_groups(n_a=a, n_b=b)
                body["batch_input"]["video_source_group"][0]["video_source_list"] = [
                    {"video_source_id": f"cam-a{i:03d}", "target_roi": f"roi-{i}-{b}"}
                    for i in range(a)]
                out = vias.update_batch_task(P, batch_id, {"batch_input": body["batch_input"]})
            else:
                out = getattr(vias, f"{op}_batch_task")(P, batch_id)
            tasks = vias.list_tasks(P, batch_id=batch_id, page_size=1000)["tasks"]
            after = {t["id"] for t in tasks}
            assert out["total_count"] == out["succeed_count"] + out["failed_count"]
            assert out["failed_count"] == len(out["error_list"])
            assert out["total_count"] == len(before | after)
            failed_ids = {line.split(":")[0] for line in out["error_list"]}
            assert failed_ids <= {t["id"] for t in tasks if t["state"] == "START_FAILED"}
            row = vias.list_batch_tasks(P)["batch_task_list"][0]
            assert row["num_task"] == len(tasks) == sum(row["batch_task_status_info"].values())
            states = {}
            for t in tasks:
                states[t["state"].lower()] = states.get(t["state"].lower(), 0) + 1
            assert row["batch_task_status_info"] == states
