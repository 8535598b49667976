"""read_tasks (every record shape, folding, ordering, bad input, conservation, the Arrow route
for JSON-lines files against the line-by-line route) and to_utc."""

from __future__ import annotations

import calendar
import datetime as dt
import gzip
import itertools
import json
import os
import warnings
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolkit as tk
from toolkit.errors import RecordError
from toolkit.io import _tasks_scan
from toolkit.io._tasks import TASK_COLUMNS
from toolkit.io._tasks_bulk import BULK_KEYS, imm_fields, loads_each
from toolkit.io._tasks_records import ROW_KEYS, Row
from toolkit.io._tasks_states import batch_state, imm_state, vias_state
from toolkit.io._time import parse_utc

UTC = "UTC"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def write_jsonl(path, records) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


def one(frame: pd.DataFrame, task_id: str) -> pd.Series:
    rows = frame[frame["task_id"] == task_id]
    assert len(rows) == 1, f"{task_id}: {len(rows)} rows"
    return rows.iloc[0]


# --- hand-written minimal records of every shape ----------------------------------------------

GET_TASK = {
    "RequestId": "req-1", "ProjectName": "proj", "EventId": "ev-1",
    "TaskId": "FaceClustering-1", "TaskType": "FaceClustering", "Status": "Succeeded",
    "StartTime": "2025-03-02T08:15:04.118233911Z", "EndTime": "2025-03-02T16:16:40.902+08:00",
    "Code": "", "Message": "", "UserData": '{"run": "weekly-07"}', "Tags": {"team": "qa"},
}
LIST_PAGE = {
    "RequestId": "req-2", "ProjectName": "proj", "NextToken": "", "MaxResults": "2",
    "Tasks": [
        {"TaskId": "a", "TaskType": "FaceClustering", "Status": "Running", "Progress": 40,
         "StartTime": "2025-03-02T09:00:00Z", "EndTime": ""},
        {"TaskId": "b", "TaskType": "FigureClustersMerging", "Status": "Failed",
         "Code": "ResourceNotFound", "Message": "no such cluster",
         "StartTime": "2025-03-02T09:01:00Z", "EndTime": "2025-03-02T09:01:02Z",
         "TaskRequestDefinition": json.dumps({"DatasetName": "photos", "To": "C-9",
                                              "Froms": json.dumps(["C-1", "C-2"])})},
    ],
}
CREATED = {"RequestId": "req-3", "TaskId": "m-9", "EventId": "ev-9"}
NOTIFICATION = {
    "id": "3C7-notice", "source": "acs.imm", "type": "imm:Task:FigureClustering",
    "subject": "acs:imm:cn-hangzhou:1234567890:proj-from-subject/imm:Task:FigureClustering",
    "time": "1740902201907",
    "content": json.dumps({"DatasetName": "photos", "TaskId": "fc-7", "Status": "Succeeded",
                           "StartTime": "2025-03-02T08:16:39.5Z",
                           "EndTime": "2025-03-02T08:16:41.02Z", "UserData": "",
                           "Code": "", "Message": ""}),
}
MERGE_LOG = {
    "Request": {"ProjectName": "proj", "DatasetName": "photos", "From": "C-3", "To": "C-4",
                "UserData": '{"ticket": "FC-118"}', "Tags": {"purpose": "manual-merge"}},
    "Response": {"RequestId": "req-4", "TaskId": "m-1", "EventId": "ev-4"},
}
SNAPSHOT = {"ObservedAt": "2025-03-02T08:15:30Z",
            "Response": {"TaskId": "s-1", "TaskType": "FaceClustering", "Status": "Running",
                         "Progress": 10, "StartTime": "2025-03-02T08:15:04Z"}}
BATCH_PAGE = {"count": 1, "batch_task_list": [{
    "id": "b7e21c0d", "batch_task_name": "lobby", "alg_name": "face-capture", "type": "0",
    "num_task": 3, "created_at": 1740902201907,
    "batch_task_status_info": {"running": 2, "start_failed": 1}}]}
VIAS_TASK_PAGE = {"count": 2, "page": 1, "page_size": 10, "batch_id": "b7e21c0d", "tasks": [
    {"id": "vt-1", "name": "cam-1", "state": "RUNNING", "created_at": "1686027880205",
     "type": "0"},
    {"id": "vt-2", "name": "cam-2", "state": "START_FAILED", "created_at": "1686027880305",
     "type": "0"}]}
SHOW_TASK = {"id": "vt-3", "name": "cam-3", "state": "STOPPED", "project_id": "p-1",
             "created_at": "2023-06-06T06:59:33.024Z", "updated_at": "2023-06-06T07:10:00Z",
             "status": "stopped by user", "input": {"type": "video"},
             "error": {"code": "VIAS.00010001", "message": "stopped"}}
BATCH_RESULT = {"id": "b-res", "total_count": 2, "succeed_count": 1, "failed_count": 1,
                "error_list": ["cam-9: no such video source"]}

ALL_SHAPES = [GET_TASK, LIST_PAGE, CREATED, NOTIFICATION, MERGE_LOG, SNAPSHOT, BATCH_PAGE,
              VIAS_TASK_PAGE, SHOW_TASK, BATCH_RESULT]


def read(records, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no shape here has an undocumented state
        return tk.read_tasks(records, **kwargs)


# --- to_utc -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("2021-12-24T03:01:49.480109219Z", "2021-12-24T03:01:49.480109219"),
    # +08:00 is eight hours ahead of UTC: 10:10:52 there is 02:10:52 UTC.
    ("2022-01-14T10:10:52.83948013+08:00", "2022-01-14T02:10:52.839480130"),
    ("2024-08-20T07:03:07.36Z", "2024-08-20T07:03:07.360"),
    ("2024-08-20T07:03:07Z", "2024-08-20T07:03:07"),
    ("2024-08-20T07:03:07+0800", "2024-08-19T23:03:07"),
    # -05:30 is behind UTC: 07:03:07 + 5:30 = 12:33:07.
    ("2024-08-20T07:03:07.5-05:30", "2024-08-20T12:33:07.5"),
    ("2024-08-20T07:03:07", "2024-08-20T07:03:07"),  # no zone: taken as UTC
    # 1686027880205 ms = 1686027880 s + 205 ms, and 1686027880 s is 2023-06-06T05:04:40Z.
    (1686027880205, "2023-06-06T05:04:40.205"),
    ("1686027880205", "2023-06-06T05:04:40.205"),
    (1686027880205.5, "2023-06-06T05:04:40.205500"),
    (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=8))),
     "2024-01-01T19:04:05"),
])
def test_to_utc_reads_every_documented_form(value, expected):
    assert to_scalar(value) == ts(expected)
    assert tk.to_utc([value])[0] == ts(expected)


def to_scalar(value):
    return tk.to_utc(value)


def test_to_utc_keeps_nanoseconds_and_the_ns_dtype():
    times = tk.to_utc(["2021-12-24T03:01:49.480109219Z", "2024-08-20T07:03:07Z"])
    assert str(times.dtype) == "datetime64[ns, UTC]"
    assert times[0].nanosecond == 219 and times[0].microsecond == 480109


@pytest.mark.parametrize("missing", [None, "", float("nan"), pd.NaT])
def test_to_utc_missing_values_are_nat(missing):
    assert tk.to_utc([missing, "2024-08-20T07:03:07Z"])[0] is pd.NaT


def test_to_utc_series_keeps_index_and_name():
    series = pd.Series(["1686027880205", None], index=[7, 9], name="created_at")
    out = tk.to_utc(series)
    assert out.index.tolist() == [7, 9] and out.name == "created_at"
    assert out.dtype == "datetime64[ns, UTC]"
    assert out[7] == ts("2023-06-06T05:04:40.205") and out[9] is pd.NaT


@pytest.mark.parametrize("bad", ["garbage", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z",
                                 "9999-01-01T00:00:00Z", "١٢٣", True, [1], "-5",
                                 "99999999999999999999"])
def test_to_utc_bad_value_names_source_and_field(bad):
    with pytest.raises(RecordError, match=r"log\.jsonl:3: value is not a timestamp; "
                                          r"field 'StartTime'; expected an RFC 3339"):
        tk.to_utc(["2024-08-20T07:03:07Z", bad], field="StartTime",
                  sources=["log.jsonl:2", "log.jsonl:3"])
    coerced = tk.to_utc(["2024-08-20T07:03:07Z", bad], errors="coerce")
    assert coerced[1] is pd.NaT and coerced[0] == ts("2024-08-20T07:03:07")


def test_to_utc_validates_its_options():
    with pytest.raises(ValueError, match=r"`errors` must be one of \['raise', 'coerce'\]"):
        tk.to_utc(["x"], errors="ignore")
    with pytest.raises(ValueError, match="one label per value"):
        tk.to_utc(["x", "y"], sources=["a"])


_OFFSETS = st.one_of(st.just(None), st.integers(-14 * 4, 14 * 4).map(lambda q: q * 15))


@settings(deadline=None, max_examples=60)
@given(seconds=st.integers(0, 7_000_000_000), frac=st.integers(0, 10**9 - 1),
       digits=st.integers(0, 9), offset=_OFFSETS)
def test_to_utc_matches_integer_arithmetic_on_both_parsing_routes(seconds, frac, digits, offset):
    # Build an RFC 3339 string for a known instant, then parse it through Arrow (a batch of
    # zoned strings) and through pandas (a zone-less string in the batch makes Arrow refuse).
    shown = f"{frac:09d}"[:digits]
    kept_ns = int(shown.ljust(9, "0")) if digits else 0
    local = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds + 60 * (offset or 0))
    zone = "Z" if offset is None else f"{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}:" \
                                      f"{abs(offset) % 60:02d}"
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + ("." + shown if digits else "") + zone
    expected = calendar.timegm(local.timetuple()) * 10**9 - 60 * (offset or 0) * 10**9 + kept_ns
    arrow_ns, arrow_bad = parse_utc([text])
    pandas_ns, pandas_bad = parse_utc([text, "2020-01-01T00:00:00"])
    assert not arrow_bad.any() and not pandas_bad.any()
    assert arrow_ns[0] == expected == pandas_ns[0]


# --- states -----------------------------------------------------------------------------------

@pytest.mark.parametrize("arrow_type", [pa.string(), pa.large_string()])
def test_parse_utc_reads_arrow_strings_as_it_reads_python_strings(arrow_type):
    values = ["2021-12-24T03:01:49.480109219Z", "", None, "1686027880205", "not a time",
              "2022-01-14T10:10:52.83948013+08:00", "99999999999999999999"]
    chunked = pa.chunked_array([values[:3], values[3:]], type=arrow_type)
    for column in (chunked, chunked.combine_chunks()):
        ns, bad = parse_utc(column)
        expected_ns, expected_bad = parse_utc(values)
        np.testing.assert_array_equal(ns, expected_ns)
        np.testing.assert_array_equal(bad, expected_bad)
    assert bad.tolist() == [False, False, False, False, True, False, True]


@pytest.mark.parametrize("status, state", [("Running", "running"), ("RUNNING", "running"),
                                           ("succeeded", "succeeded"), ("Failed", "failed"),
                                           ("Cancelled", None)])
def test_imm_state_is_case_insensitive_and_closed(status, state):
    assert imm_state(status) == state


@pytest.mark.parametrize("raw, state", [
    ("PENDING", "pending"), ("scheduling", "pending"), ("Lack_Of_Resources", "pending"),
    ("RUNNING", "running"), ("SUCCEEDED", "succeeded"), ("CREATE_FAILED", "failed"),
    ("abnormal", "failed"), ("STOPPED_NO_SERVICE", "stopped"), ("FROZEN", "stopped"),
    ("deleting", "stopped"), ("HIBERNATING", "other")])
def test_vias_state_vocabulary(raw, state):
    assert vias_state(raw) == state


@pytest.mark.parametrize("counts, state", [
    ({"running": 2, "start_failed": 1}, "running"),        # any running wins
    ({"PENDING": 1, "succeeded": 4}, "pending"),          # else any pending-like
    ({"starting": 1, "failed": 1}, "pending"),
    ({}, "pending"),                                        # no member yet
    ({"running": 0, "succeeded": 0}, "pending"),
    ({"succeeded": 3, "abnormal": 1, "stopped": 2}, "failed"),  # at rest: failed first
    ({"succeeded": 3, "stopped": 1}, "stopped"),
    ({"succeeded": 3, "hibernating": 1}, "other"),
    ({"succeeded": 3}, "succeeded"),
])
def test_batch_state_rule(counts, state):
    assert batch_state(counts) == state


# --- every shape ------------------------------------------------------------------------------

def test_columns_are_the_contract_in_order_with_their_dtypes():
    frame = read(ALL_SHAPES)
    assert tuple(frame.columns) == TASK_COLUMNS
    for col in ("start_time", "end_time"):
        assert str(frame[col].dtype) == "datetime64[ns, UTC]"
    assert str(frame["duration"].dtype) == "timedelta64[ns]"
    for col in ("progress", "total_count", "succeed_count", "failed_count"):
        assert str(frame[col].dtype) == "Int64"
    for col in ("user_data", "tags", "request", "merge_froms", "merge_sources"):
        assert frame[col].dtype == object
    for col in ("provider", "task_id", "status", "state", "source", "code"):
        assert frame[col].dtype == "str"
    # 1 + 2 + 1 + 1 + 1 + 1 + 1 batch + 2 + 1 + 1 rows, every record its own task
    assert frame.attrs["counts"] == {"read": 12, "accepted": 12, "duplicates": 0, "rejected": 0}


def test_get_task_body():
    row = one(read(GET_TASK), "FaceClustering-1")
    assert (row["provider"], row["task_type"], row["status"], row["state"]) == (
        "imm", "FaceClustering", "Succeeded", "succeeded")
    assert row["start_time"] == ts("2025-03-02T08:15:04.118233911")
    assert row["end_time"] == ts("2025-03-02T08:16:40.902")  # 16:16:40.902+08:00
    # 08:16:40.902000000 - 08:15:04.118233911 = 96.783766089 s
    assert row["duration"] == pd.Timedelta(seconds=96, nanoseconds=783766089)
    assert row["user_data"] == {"run": "weekly-07"} and row["tags"] == {"team": "qa"}
    assert pd.isna(row["code"]) and pd.isna(row["message"])  # "" reads as missing
    assert pd.isna(row["progress"]) and row["request"] is None
    assert (row["project"], row["event_id"], row["request_id"], row["source"]) == (
        "proj", "ev-1", "req-1", "object")


def test_list_tasks_page_entries_are_records_with_the_page_project():
    frame = read(LIST_PAGE)
    running, failed = one(frame, "a"), one(frame, "b")
    assert running["source"] == "object Tasks[0]" and failed["source"] == "object Tasks[1]"
    assert running["project"] == failed["project"] == "proj"
    assert running["progress"] == 40 and running["end_time"] is pd.NaT
    assert (failed["code"], failed["message"]) == ("ResourceNotFound", "no such cluster")
    # The definition's Froms is JSON text inside JSON text: both levels are decoded.
    assert failed["merge_froms"] == ["C-1", "C-2"] and failed["merge_sources"] == ["C-1", "C-2"]
    assert failed["merge_to"] == "C-9" and pd.isna(failed["merge_from"])
    assert failed["dataset"] == "photos"  # from the request definition
    assert frame.attrs["counts"]["read"] == 2  # the page itself is not a record


def test_create_response_is_a_pending_task_without_status():
    row = one(read(CREATED), "m-9")
    assert row["state"] == "pending" and pd.isna(row["status"]) and pd.isna(row["task_type"])
    assert (row["event_id"], row["request_id"]) == ("ev-9", "req-3")


def test_notification_content_is_decoded_and_typed():
    row = one(read(NOTIFICATION), "fc-7")
    assert row["task_type"] == "FaceClustering"  # imm:Task:FigureClustering
    assert row["event_id"] == "3C7-notice" and row["project"] == "proj-from-subject"
    assert row["state"] == "succeeded" and row["user_data"] is None
    assert row["end_time"] == ts("2025-03-02T08:16:41.020")


def test_notification_type_names_the_merge_when_content_does_not():
    note = {**NOTIFICATION, "type": "imm:Task:FigureClustersMerging"}
    assert one(read(note), "fc-7")["task_type"] == "FigureClustersMerging"


def test_indexing_message_success_flag_gives_the_state():
    note = {**NOTIFICATION, "content": json.dumps({"TaskId": "ix-1", "Success": False})}
    row = one(read(note), "ix-1")
    assert row["state"] == "failed" and pd.isna(row["status"])


def test_merge_log_alone_makes_a_pending_merge_row():
    row = one(read(MERGE_LOG), "m-1")
    assert (row["task_type"], row["state"]) == ("FigureClustersMerging", "pending")
    assert row["merge_from"] == "C-3" and row["merge_sources"] == ["C-3"]
    assert row["merge_froms"] is None and row["merge_to"] == "C-4"
    assert row["user_data"] == {"ticket": "FC-118"} and row["tags"] == {"purpose": "manual-merge"}
    assert (row["project"], row["dataset"]) == ("proj", "photos")
    assert row["request"] == MERGE_LOG["Request"]


def test_snapshot_is_a_task_record_too():
    row = one(read(SNAPSHOT), "s-1")
    assert row["state"] == "running" and row["progress"] == 10


def test_huawei_batch_state_and_counts():
    row = one(read(BATCH_PAGE), "b7e21c0d")
    assert (row["provider"], row["task_type"], row["state"]) == ("vias", "batch", "running")
    assert row["status"] == "running=2, start_failed=1"
    assert row["start_time"] == ts("2025-03-02T07:56:41.907")  # epoch ms int
    # num_task 3; 0 succeeded; start_failed counts as failed
    assert (row["total_count"], row["succeed_count"], row["failed_count"]) == (3, 0, 1)
    assert row["batch_id"] == "b7e21c0d"
    assert row["request"] == {"batch_task_name": "lobby", "alg_name": "face-capture", "type": "0"}


def test_huawei_task_page_applies_its_batch_id():
    frame = read(VIAS_TASK_PAGE)
    assert frame["batch_id"].tolist() == ["b7e21c0d", "b7e21c0d"]
    assert frame["state"].tolist() == ["running", "failed"]
    assert frame["status"].tolist() == ["RUNNING", "START_FAILED"]
    assert one(frame, "vt-1")["start_time"] == ts("2023-06-06T05:04:40.205")
    assert one(frame, "vt-1")["request"] == {"name": "cam-1", "type": "0"}


def test_huawei_show_task_info():
    row = one(read(SHOW_TASK), "vt-3")
    assert row["state"] == "stopped" and row["start_time"] == ts("2023-06-06T06:59:33.024")
    assert (row["code"], row["message"], row["project"]) == ("VIAS.00010001", "stopped", "p-1")
    assert row["request"] == {"name": "cam-3", "input": {"type": "video"}}


def test_huawei_show_task_status_text_is_the_message_without_an_error():
    row = one(read({**SHOW_TASK, "error": None}), "vt-3")
    assert row["message"] == "stopped by user" and pd.isna(row["code"])


def test_huawei_batch_result():
    row = one(read(BATCH_RESULT), "b-res")
    assert (row["task_type"], row["state"]) == ("batch", "pending")
    assert (row["total_count"], row["succeed_count"], row["failed_count"]) == (2, 1, 1)
    assert row["message"] == "cam-9: no such video source"


def test_huawei_batch_and_task_with_the_same_id_stay_apart():
    frame = read([BATCH_PAGE, {"tasks": [{"id": "b7e21c0d", "state": "RUNNING"}]}])
    assert sorted(frame["task_type"]) == ["batch", "task"]


def test_unknown_huawei_states_warn_once_and_read_as_other():
    page = {"tasks": [{"id": "x1", "state": "HIBERNATING"}, {"id": "x2", "state": "dozing"},
                      {"id": "x3", "state": "dozing"}]}
    with pytest.warns(UserWarning, match=r"\['HIBERNATING', 'dozing'\]") as record:
        frame = tk.read_tasks(page)
    assert len(record) == 1
    assert frame["state"].tolist() == ["other"] * 3
    assert frame["status"].tolist() == ["HIBERNATING", "dozing", "dozing"]


def test_imm_status_is_compared_case_insensitively_and_kept_raw():
    row = one(read({**GET_TASK, "Status": "RUNNING"}), "FaceClustering-1")
    assert (row["status"], row["state"]) == ("RUNNING", "running")


@pytest.mark.parametrize("user_data, expected", [
    ('{"a": 1}', {"a": 1}), ("[1, 2]", [1, 2]), (' {"a": 1}', {"a": 1}),
    ("plain text", "plain text"), ("0042", "0042"), ("7", "7"), ("{not json", "{not json"),
    ("", None), (None, None)])
def test_user_data_is_parsed_only_when_it_is_json_object_or_array_text(user_data, expected):
    assert one(read({**GET_TASK, "UserData": user_data}), "FaceClustering-1")["user_data"] \
        == expected


def test_tags_and_progress_sent_as_text_are_read():
    row = one(read({**GET_TASK, "Tags": '{"k": "v"}', "Progress": "40"}), "FaceClustering-1")
    assert row["tags"] == {"k": "v"} and row["progress"] == 40


def test_any_task_type_string_is_accepted():
    row = one(read({**GET_TASK, "TaskType": "SomethingNew"}), "FaceClustering-1")
    assert row["task_type"] == "SomethingNew"


def test_json_array_file_and_directory_of_mixed_files(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.json").write_bytes(orjson.dumps([GET_TASK, CREATED]))
    with gzip.open(tmp_path / "b" / "notes.jsonl.gz", "wb") as f:
        f.write(orjson.dumps(NOTIFICATION) + b"\n")
    (tmp_path / "b" / "page.json").write_bytes(orjson.dumps(LIST_PAGE))
    (tmp_path / "b" / "ignored.txt").write_text("not json")
    frame = read(tmp_path)
    assert sorted(frame["task_id"]) == ["FaceClustering-1", "a", "b", "fc-7", "m-9"]
    assert one(frame, "m-9")["source"] == f"{tmp_path / 'a.json'} [1]"
    assert one(frame, "fc-7")["source"] == f"{tmp_path / 'b' / 'notes.jsonl.gz'}:1"
    assert one(frame, "b")["source"] == f"{tmp_path / 'b' / 'page.json'} Tasks[1]"


def test_empty_input_gives_the_empty_frame():
    frame = read([])
    assert tuple(frame.columns) == TASK_COLUMNS and len(frame) == 0
    assert frame.attrs["counts"] == {"read": 0, "accepted": 0, "duplicates": 0, "rejected": 0}


# --- one row per task -------------------------------------------------------------------------

def _lifecycle():
    """One merge seen four times: a ListTasks page (running), a merge-log line, a GetTask
    snapshot and a notification (both succeeded; the notification was observed later)."""
    page = {"ProjectName": "proj", "Tasks": [{
        "TaskId": "m-2", "TaskType": "FigureClustersMerging", "Status": "Running",
        "Progress": 60, "StartTime": "2025-03-02T08:00:00Z"}]}
    log = {"Request": {"ProjectName": "proj", "DatasetName": "photos", "Froms": ["C-1", "C-2"],
                       "To": "C-3", "UserData": '{"by": "ann"}'},
           "Response": {"RequestId": "req-create", "TaskId": "m-2", "EventId": "ev-create"}}
    snapshot = {"ObservedAt": "2025-03-02T08:00:05Z", "Response": {
        "TaskId": "m-2", "TaskType": "FigureClustersMerging", "Status": "Succeeded",
        "StartTime": "2025-03-02T08:00:00Z", "EndTime": "2025-03-02T08:00:03Z",
        "RequestId": "req-get", "Tags": {"k": "v"}}}
    note = {"id": "ev-note", "type": "imm:Task:FigureClustersMerging", "time": "1740902410000",
            "content": json.dumps({"TaskId": "m-2", "Status": "Succeeded",
                                   "StartTime": "2025-03-02T08:00:00Z",
                                   "EndTime": "2025-03-02T08:00:03Z"})}
    return [page, log, snapshot, note]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_fold_same_task_whatever_the_order(order):
    records = _lifecycle()
    frame = read([records[i] for i in order])
    assert frame.attrs["counts"] == {"read": 4, "accepted": 1, "duplicates": 3, "rejected": 0}
    row = frame.iloc[0]
    # Succeeded beats running; of the two succeeded records the notification was observed
    # last (1740902410000 ms = 2025-03-02T08:00:10Z, after the snapshot's 08:00:05Z).
    assert row["event_id"] == "ev-note" and row["status"] == "Succeeded"
    assert row["source"] == f"object[{order.index(3)}]"
    # Filled from the others: tags and request id from the snapshot, the merge from the log.
    assert row["tags"] == {"k": "v"} and row["request_id"] == "req-get"
    assert row["merge_froms"] == ["C-1", "C-2"] and row["merge_to"] == "C-3"
    assert row["user_data"] == {"by": "ann"} and row["dataset"] == "photos"
    assert row["project"] == "proj"
    # Progress belongs to the running record only: never shown on the succeeded task.
    assert pd.isna(row["progress"])
    assert row["duration"] == pd.Timedelta(seconds=3)


def test_fold_tie_goes_to_the_latest_time_then_to_the_last_read():
    early = {**GET_TASK, "EndTime": "2025-03-02T08:16:00Z", "EventId": "early"}
    late = {**GET_TASK, "EndTime": "2025-03-02T08:17:00Z", "EventId": "late"}
    assert one(read([late, early]), "FaceClustering-1")["event_id"] == "late"
    assert one(read([early, late]), "FaceClustering-1")["event_id"] == "late"
    same_a, same_b = {**early, "EventId": "a"}, {**early, "EventId": "b"}
    assert one(read([same_a, same_b]), "FaceClustering-1")["event_id"] == "b"


_RANK = {"pending": 0, "other": 1, "running": 2, "succeeded": 3, "failed": 3, "stopped": 3}
_FOLD_RECORD = st.fixed_dictionaries({
    "TaskId": st.sampled_from(["t1", "t2"]),
    "Status": st.sampled_from(["Running", "Succeeded", "Failed"]),
    "EndTime": st.sampled_from([None, "2025-01-01T00:00:01Z", "2025-01-01T00:00:02Z"]),
}, optional={
    "StartTime": st.sampled_from(["2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z"]),
    "Progress": st.sampled_from([10, 90]),
    "Code": st.sampled_from(["E1", "E2"]),
    "TaskType": st.sampled_from(["A", "B"]),
    "UserData": st.sampled_from(["u1", "u2"]),
    "EventId": st.sampled_from(["e1", "e2"]),
})


def _reference_fold(records):
    """The documented rule, record by record, for GetTask bodies (or snapshots)."""
    def state(r):
        return r["Response"]["Status"].lower() if "Response" in r else r["Status"].lower()

    def body(r):
        return r.get("Response", r)

    def when(r):
        for value in (r.get("ObservedAt"), body(r).get("EndTime"), body(r).get("StartTime")):
            if value:
                return tk.to_utc(value).value
        return -(2**63)

    out = {}
    tasks = {body(r)["TaskId"] for r in records}
    for task in tasks:
        members = [(i, r) for i, r in enumerate(records) if body(r)["TaskId"] == task]
        ordered = sorted(members, key=lambda m: (_RANK[state(m[1])], when(m[1]), m[0]),
                         reverse=True)
        winner = ordered[0][1]

        def first(key, same_state=False, ordered=ordered, winner=winner):
            for _, r in ordered:
                if same_state and state(r) != state(winner):
                    continue
                if body(r).get(key) not in (None, ""):
                    return body(r)[key]
            return None

        out[task] = {"state": state(winner), "source": f"object[{ordered[0][0]}]",
                     "progress": first("Progress", True), "code": first("Code", True),
                     "task_type": first("TaskType"), "user_data": first("UserData"),
                     "event_id": first("EventId"), "end_time": first("EndTime"),
                     "start_time": first("StartTime")}
    return out


@settings(deadline=None, max_examples=80)
@given(records=st.lists(st.tuples(_FOLD_RECORD, st.sampled_from([None, "2025-01-01T00:00:03Z",
                                                                  "2025-01-01T00:00:04Z"])),
                        min_size=1, max_size=8))
def test_fold_matches_the_documented_rule_record_by_record(records):
    records = [{"ObservedAt": seen, "Response": r} if seen else r for r, seen in records]
    frame = read(records).set_index("task_id")
    expected = _reference_fold(records)
    assert sorted(frame.index) == sorted(expected)
    for task, want in expected.items():
        row = frame.loc[task]
        assert row["state"] == want["state"] and row["source"] == want["source"]
        for key in ("progress", "code", "task_type", "user_data", "event_id"):
            got = row[key]
            assert (None if pd.isna(got) else got) == want[key], key
        for key in ("start_time", "end_time"):
            assert row[key] == (tk.to_utc(want[key]) if want[key] else pd.NaT) or (
                pd.isna(row[key]) and want[key] is None), key


def test_rows_sorted_by_provider_then_start_then_task_id():
    tasks = [
        {"TaskId": "z", "Status": "Running", "StartTime": "2025-01-01T00:00:00Z"},
        {"TaskId": "y", "Status": "Running", "StartTime": "2025-01-01T00:00:00Z"},
        {"TaskId": "x", "Status": "Running"},  # no start: last among IMM
        {"TaskId": "w", "Status": "Running", "StartTime": "2024-12-31T23:00:00-02:00"},
    ]
    frame = read([SHOW_TASK, *tasks])
    # w starts 2025-01-01T01:00Z, after y and z at 00:00Z; y before z by id; vias after imm.
    assert frame["task_id"].tolist() == ["y", "z", "w", "x", "vt-3"]


def test_records_are_folded_across_chunks(monkeypatch, tmp_path):
    monkeypatch.setattr(_tasks_scan, "CHUNK", 3)
    records = [{"TaskId": f"t{i % 4}", "Status": "Running" if i < 7 else "Succeeded",
                "StartTime": f"2025-01-01T00:00:{i:02d}Z"} for i in range(10)]
    write_jsonl(tmp_path / "t.jsonl", records)
    frame = read(tmp_path / "t.jsonl")
    assert frame.attrs["counts"] == {"read": 10, "accepted": 4, "duplicates": 6, "rejected": 0}
    # t0: records 0, 4, 8; record 8 is the only succeeded one
    assert one(frame, "t0")["source"].endswith(":9") and one(frame, "t0")["state"] == "succeeded"
    # t2: records 2 and 6, both running: the later start (record 6, line 7) wins the tie.
    assert one(frame, "t2")["state"] == "running" and one(frame, "t2")["source"].endswith(":7")


# --- bad input --------------------------------------------------------------------------------

BAD_RECORDS = [
    ({"foo": 1}, r"unknown record shape"),
    (5, r"unknown record shape; expected a JSON object"),
    ({"TaskType": "FaceClustering", "Status": "Running"},
     r"missing required field; field 'TaskId'"),
    ({"TaskId": "t", "TaskType": "X"}, r"missing required field; field 'Status'"),
    ({"TaskId": "t", "Status": "Running", "Progress": "abc"},
     r"field 'Progress'; expected an integer percentage 0-100, got 'abc'"),
    ({"TaskId": "t", "Status": "Running", "Progress": 150},
     r"value out of range; field 'Progress'"),
    ({"TaskId": "t", "Status": "Running", "Tags": ["a"]},
     r"field 'Tags'; expected a map of tag names to values, got \['a'\]"),
    ({"TaskId": "t", "Status": "Cancelled"},
     r"unknown status value; field 'Status'; expected 'Running', 'Succeeded' or 'Failed'"),
    ({"TaskId": "t", "Status": "Running", "StartTime": "yesterday"},
     r"value is not a timestamp; field 'StartTime'"),
    ({"TaskId": "t", "Status": "Running", "Code": 5}, r"wrong type; field 'Code'"),
    ({"TaskId": 7, "Status": "Running"}, r"wrong type; field 'TaskId'"),
    ({"TaskId": "t", "Status": "Running", "TaskRequestDefinition": "{oops"},
     r"field 'TaskRequestDefinition'"),
    ({"Request": {"To": "C-1", "From": "C-2", "Froms": ["C-3"]}, "Response": {"TaskId": "m"}},
     r"both From and Froms are set"),
    ({"Request": {"To": "C-1"}, "Response": {"TaskId": "m"}},
     r"missing required field; field 'Request.From/Froms'"),
    ({"Request": {"From": "C-1"}, "Response": {"TaskId": "m"}},
     r"missing required field; field 'Request.To'"),
    ({"Request": {"To": "C-1", "Froms": "[1, 2]"}, "Response": {"TaskId": "m"}},
     r"field 'Request.Froms'; expected a non-empty list of cluster-id strings"),
    ({"Request": {"To": "C-1", "From": "C-2"}, "Response": {"RequestId": "r"}},
     r"field 'Response.TaskId'"),
    ({"id": "n", "type": "imm:Task:FigureClustering", "content": "{not json"},
     r"notification content is not JSON text"),
    ({"ObservedAt": "", "Response": {"TaskId": "t", "Status": "Running"}},
     r"field 'ObservedAt'"),
    ({"ObservedAt": "2025-01-01T00:00:00Z", "Response": {"TaskId": "t", "Status": "Nope"}},
     r"unknown status value; field 'Response.Status'"),
    ({"tasks": [{"id": "v", "state": 3}]}, r"wrong type; field 'state'"),
    ({"tasks": [{"id": "v", "name": "no state"}]}, r"missing required field; field 'state'"),
    ({"tasks": [{"id": "v", "state": "RUNNING", "created_at": "soon"}]},
     r"value is not a timestamp; field 'created_at'"),
    ({"batch_task_list": [{"id": "b", "batch_task_status_info": {"running": -1}}]},
     r"field 'batch_task_status_info.running'; expected a non-negative integer"),
    ({"Tasks": "not a list"}, r"wrong type; field 'Tasks'"),
    ({"error_code": "VIAS.00010001", "error_msg": "Invalid parameter: name."},
     r"a Huawei VIAS error response"),
    ({"RequestId": "r", "HostId": "h", "Code": "ResourceNotFound", "Message": "x"},
     r"an IMM error response"),
]


@pytest.mark.parametrize("record, match", BAD_RECORDS)
def test_bad_record_raises_naming_source_and_field(record, match):
    with pytest.raises(RecordError, match=r"^object\[1\]"):
        tk.read_tasks([GET_TASK, record])
    with pytest.raises(RecordError, match=match):
        tk.read_tasks([GET_TASK, record])


@pytest.mark.parametrize("record, match", BAD_RECORDS)
def test_bad_record_is_collected_from_files_too(record, match, tmp_path):
    # A file takes the bulk route for GetTask lines: the reasons must not change.
    write_jsonl(tmp_path / "t.jsonl", [GET_TASK, record, {**GET_TASK, "TaskId": "other"}])
    frame, rejected = tk.read_tasks(tmp_path / "t.jsonl", errors="collect")
    assert sorted(frame["task_id"]) == ["FaceClustering-1", "other"]
    n_bad = len(record["tasks"]) if isinstance(record, dict) and "tasks" in record else 1
    assert frame.attrs["counts"] == {"read": 2 + n_bad, "accepted": 2, "duplicates": 0,
                                     "rejected": 1}
    assert rejected["source"].tolist() == [f"{tmp_path / 't.jsonl'}:2" + (
        " tasks[0]" if isinstance(record, dict) and "tasks" in record else
        " batch_task_list[0]" if isinstance(record, dict) and "batch_task_list" in record
        else "")]
    assert rejected["reason"].str.contains(match).all()
    assert rejected["raw"].tolist() == [
        record["tasks"][0] if isinstance(record, dict) and "tasks" in record else
        record["batch_task_list"][0] if isinstance(record, dict) and "batch_task_list" in record
        else record]


def test_malformed_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(orjson.dumps(GET_TASK) + b"\n" + b'{"TaskId": "x", \n' + orjson.dumps(CREATED))
    with pytest.raises(RecordError, match=r"tasks\.jsonl:2: malformed JSON line"):
        tk.read_tasks(path)
    frame, rejected = tk.read_tasks(path, errors="collect")
    assert sorted(frame["task_id"]) == ["FaceClustering-1", "m-9"]
    assert rejected["source"].tolist() == [f"{path}:2"]
    assert frame.attrs["counts"] == {"read": 3, "accepted": 2, "duplicates": 0, "rejected": 1}


def test_truncated_gzip_keeps_the_records_before_the_cut(tmp_path):
    path = tmp_path / "tasks.jsonl.gz"
    lines = [{**GET_TASK, "TaskId": f"t{i}"} for i in range(200)]
    whole = gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in lines))
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(RecordError, match="truncated gzip stream"):
        tk.read_tasks(path)
    frame, rejected = tk.read_tasks(path, errors="collect")
    counts = frame.attrs["counts"]
    assert 0 < counts["accepted"] < 200 and counts["rejected"] == 1
    assert counts["read"] == counts["accepted"] + 1
    assert rejected["reason"].str.contains("truncated gzip").all()


def test_empty_file_is_one_rejected_record(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"\n  \n")
    with pytest.raises(RecordError, match="the file is empty"):
        tk.read_tasks(tmp_path / "empty.jsonl")
    frame, rejected = tk.read_tasks(tmp_path, errors="collect")
    assert len(frame) == 0 and len(rejected) == 1
    assert frame.attrs["counts"] == {"read": 1, "accepted": 0, "duplicates": 0, "rejected": 1}


def test_empty_directory_and_missing_path_always_raise(tmp_path):
    with pytest.raises(ValueError, match="holds no"):
        tk.read_tasks(tmp_path, errors="collect")
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        tk.read_tasks(tmp_path / "nope.jsonl", errors="collect")


def test_errors_option_is_validated():
    with pytest.raises(ValueError, match=r"`errors` must be one of \['raise', 'collect'\], "
                                         r"but 'ignore' was passed"):
        tk.read_tasks([GET_TASK], errors="ignore")


def test_unreadable_source_type_is_a_type_error():
    with pytest.raises(TypeError, match="Cannot read 'int'"):
        tk.read_tasks(5)


def test_first_bad_record_in_read_order_raises(tmp_path):
    path = tmp_path / "t.jsonl"
    # Line 2 has a bad time (found after the chunk is read), line 3 cannot be parsed at all
    # (found while reading): line 2 is the first bad record and must be the one reported.
    path.write_bytes(b"\n".join([orjson.dumps(GET_TASK),
                                 orjson.dumps({**GET_TASK, "EndTime": "later"}),
                                 b"{broken", orjson.dumps({"foo": 1})]) + b"\n")
    with pytest.raises(RecordError, match=r"t\.jsonl:2: value is not a timestamp"):
        tk.read_tasks(path)
    frame, rejected = tk.read_tasks(path, errors="collect")
    assert rejected["source"].tolist() == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert frame.attrs["counts"] == {"read": 4, "accepted": 1, "duplicates": 0, "rejected": 3}


# --- the bulk route and the record route agree ------------------------------------------------

def test_row_keys_and_bulk_fields_match_their_definitions():
    assert Row._fields == ROW_KEYS
    assert imm_fields(GET_TASK) == tuple(GET_TASK.get(k) for k in BULK_KEYS)


def test_file_records_take_the_bulk_route(monkeypatch, tmp_path):
    calls = []
    real = _tasks_scan.bulk_imm_tasks

    def spy(fields, *args):
        calls.append(len(fields))
        return real(fields, *args)

    monkeypatch.setattr(_tasks_scan, "bulk_imm_tasks", spy)
    write_jsonl(tmp_path / "t.jsonl", [GET_TASK, LIST_PAGE, CREATED])
    read(tmp_path / "t.jsonl")
    assert calls == [3]  # the GetTask body and both ListTasks entries
    read([GET_TASK])
    assert calls == [3]  # in-memory records are parsed one by one


_TIMES = [None, "", "2025-03-02T08:15:04.118233911Z", "2025-03-02T16:16:40.9+08:00",
          "1686027880205", 1686027880205, "not a time"]
_GET_TASK_FIELDS = {
    "TaskId": st.sampled_from(["t1", "t2", "t3", "", None, 7]),
    "Status": st.sampled_from(["Running", "Succeeded", "Failed", "RUNNING", "Nope", "", None]),
    "TaskType": st.sampled_from([None, "", "FaceClustering", "FigureClustersMerging", 3]),
    "Progress": st.sampled_from([None, 0, 50, 100, 101, -1, "40", "abc", 50.0, 50.5, True]),
    "Code": st.sampled_from([None, "", "InternalError", 5]),
    "ProjectName": st.sampled_from([None, "", "proj", ["p"]]),
    "DatasetName": st.sampled_from([None, "photos"]),
    "StartTime": st.sampled_from(_TIMES),
    "EndTime": st.sampled_from(_TIMES),
    "Tags": st.sampled_from([None, {}, {"k": "v"}, '{"k": "v"}', ["k"], "x"]),
    "UserData": st.sampled_from([None, "", "plain", '{"a": 1}', " [1]", "{bad", {"a": 1}, 4]),
    "TaskRequestDefinition": st.sampled_from([
        None, "", "{}", '{"DatasetName": "from-request", "ProjectName": "p2"}',
        '{"To": "C-1", "Froms": "[\\"C-2\\"]"}', '{"To": "C-1", "From": "C-2"}',
        '{"To": "C-1"}', "{oops", {"To": "C-1", "Froms": ["C-2", "C-3"]}]),
}
_get_tasks = st.fixed_dictionaries({}, optional=_GET_TASK_FIELDS)


def _without_source(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="source").reset_index(drop=True)


@settings(deadline=None, max_examples=40,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_get_tasks, min_size=1, max_size=12))
def test_bulk_route_and_record_route_give_the_same_rows_and_errors(records, tmp_path):
    path = tmp_path / "bulk.jsonl"
    write_jsonl(path, records)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_file, rejected_file = tk.read_tasks(path, errors="collect")
        in_memory, rejected_memory = tk.read_tasks(records, errors="collect")
    pd.testing.assert_frame_equal(_without_source(from_file), _without_source(in_memory))
    assert from_file.attrs["counts"] == in_memory.attrs["counts"]

    def reasons(rejected):
        return [reason.split(": ", 1)[1] for reason in rejected["reason"]]

    assert reasons(rejected_file) == reasons(rejected_memory)


# --- conservation -----------------------------------------------------------------------------

def _good(task_id):
    """Valid records of assorted shapes for one task: (records, provider-key)."""
    return st.sampled_from([
        [{"TaskId": task_id, "Status": "Running", "StartTime": "2025-01-01T00:00:00Z"}],
        [{"TaskId": task_id, "Status": "Succeeded", "EndTime": "1735689600000"}],
        [{"RequestId": "r", "TaskId": task_id, "EventId": "e"}],
        [{"id": "e", "type": "imm:Task:FigureClustersMerging", "time": "1735689600000",
          "content": json.dumps({"TaskId": task_id, "Status": "Failed"})}],
        [{"Request": {"To": "C-1", "Froms": '["C-2"]'}, "Response": {"TaskId": task_id}}],
        [{"ObservedAt": 1735689600000, "Response": {"TaskId": task_id, "Status": "RUNNING"}}],
    ]).map(lambda recs: (recs, ("imm", False, task_id)))


_BROKEN = st.sampled_from([r for r, _ in BAD_RECORDS if not (isinstance(r, dict) and (
    "tasks" in r or "batch_task_list" in r))])
_VIAS = st.sampled_from([
    ([{"id": "v1", "state": "RUNNING"}], ("vias", False, "v1")),
    ([{"id": "v1", "state": "succeeded", "created_at": "2023-06-06T06:59:33.024Z"}],
     ("vias", False, "v1")),
    ([{"id": "v1", "batch_task_status_info": {"running": 1}}], ("vias", True, "v1")),
    ([{"id": "v1", "total_count": 1}], ("vias", True, "v1")),
])
_ITEMS = st.one_of(st.sampled_from(["t1", "t2", "t3"]).flatmap(_good), _VIAS,
                   _BROKEN.map(lambda r: ([r], None)))


@settings(deadline=None, max_examples=60,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(_ITEMS, max_size=15), as_file=st.booleans(), paged=st.booleans())
def test_records_read_equal_accepted_plus_duplicates_plus_rejected(items, as_file, paged,
                                                                   tmp_path):
    records = [r for recs, _ in items for r in recs]
    if paged:  # the same records, the IMM GetTask-like ones inside a ListTasks page
        listed = [r for r in records if isinstance(r, dict) and "Status" in r and "TaskId" in r]
        records = [r for r in records if not any(r is x for x in listed)]
        records.append({"ProjectName": "proj", "Tasks": listed})
    good_keys = [key for _, key in items if key is not None]
    n_bad = sum(key is None for _, key in items)
    if as_file and not records:
        n_bad += 1  # an empty file is a record read and rejected
    if as_file:
        source = tmp_path / "mixed.jsonl"
        write_jsonl(source, records)
    else:
        source = records
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame, rejected = tk.read_tasks(source, errors="collect")
    counts = frame.attrs["counts"]
    assert counts["read"] == counts["accepted"] + counts["duplicates"] + counts["rejected"]
    assert counts["read"] == len(good_keys) + n_bad
    assert counts["rejected"] == n_bad == len(rejected)
    assert counts["accepted"] == len(set(good_keys)) == len(frame)
    if n_bad:
        with pytest.raises(RecordError):
            tk.read_tasks(source)


# --- SDK objects ------------------------------------------------------------------------------

@pytest.fixture
def imm_models():
    if os.environ.get("TOOLKIT_REQUIRE_SDK") == "1":
        from alibabacloud_imm20200930 import models
        return models
    return pytest.importorskip("alibabacloud_imm20200930.models")


def test_sdk_objects_read_like_their_dicts(imm_models):
    body = imm_models.GetTaskResponseBody().from_map(GET_TASK)
    page = imm_models.ListTasksResponseBody().from_map(LIST_PAGE)
    response = imm_models.GetTaskResponse().from_map(
        {"headers": {"x-acs-request-id": "req-1"}, "statusCode": 200, "body": GET_TASK})
    created = imm_models.CreateFigureClustersMergingTaskResponseBody().from_map(CREATED)
    from_sdk = read([body, page, response, created])
    from_dicts = read([GET_TASK, LIST_PAGE, GET_TASK, CREATED])
    pd.testing.assert_frame_equal(from_sdk, from_dicts)
    assert from_sdk.attrs["counts"]["duplicates"] == 1
    single = read(response)
    pd.testing.assert_frame_equal(single, read(GET_TASK))


def test_sdk_model_with_a_bad_value_is_rejected_like_its_dict(imm_models):
    body = imm_models.GetTaskResponseBody().from_map({**GET_TASK, "Progress": "abc"})
    with pytest.raises(RecordError, match=r"^object: wrong type; field 'Progress'"):
        tk.read_tasks(body)


def test_frame_values_are_plain_python_objects():
    frame = read([GET_TASK, LIST_PAGE])
    row = one(frame, "b")
    assert type(row["merge_froms"]) is list and isinstance(row["request"], dict)
    assert np.issubdtype(frame["start_time"].dtype.base, np.datetime64)


def test_in_memory_records_may_hold_numpy_scalars():
    record = {"TaskId": np.str_("np-1"), "Status": np.str_("Running"), "Progress": np.int64(7),
              "TaskType": np.str_("FaceClustering")}
    batch = {"batch_task_list": [{"id": "b", "num_task": np.int64(2),
                                  "batch_task_status_info": {"running": np.int64(2),
                                                             "failed": None}}]}
    frame = read([record, batch])
    row = one(frame, "np-1")
    assert (row["state"], row["progress"], row["task_type"]) == ("running", 7, "FaceClustering")
    assert type(row["task_id"]) is str
    assert one(frame, "b")["total_count"] == 2 and one(frame, "b")["state"] == "running"


# --- the Arrow route for JSON-lines files and the line-by-line route agree --------------------

def _read_routes(monkeypatch, source, **kwargs):
    """read_tasks of ``source`` with and without the Arrow route, and whether it took a file."""
    taken = []
    real = _tasks_scan.read_imm_lines

    def spy(*args):
        batch = real(*args)
        taken.append(batch is not None)
        return batch

    monkeypatch.setattr(_tasks_scan, "read_imm_lines", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrow = tk.read_tasks(source, **kwargs)
        monkeypatch.setattr(_tasks_scan, "ARROW_LINES", False)
        lines = tk.read_tasks(source, **kwargs)
        monkeypatch.setattr(_tasks_scan, "ARROW_LINES", True)
    return arrow, lines, taken


def _assert_same_frames(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    assert left.attrs == right.attrs
    for column in left.columns[left.dtypes == object]:
        # Equal dicts may differ in key order; repr does not forgive that.
        assert list(map(repr, left[column])) == list(map(repr, right[column])), column


def _assert_same_results(arrow, lines) -> None:
    if isinstance(arrow, tuple):
        _assert_same_frames(arrow[0], lines[0])
        pd.testing.assert_frame_equal(arrow[1], lines[1])
    else:
        _assert_same_frames(arrow, lines)


TRICKY_LINES = [
    GET_TASK,
    # 9 fraction digits and an offset: 16:16:40.123456789+08:00 is 08:16:40.123456789Z.
    {**GET_TASK, "TaskId": "t-nanos", "StartTime": "2025-03-02T16:16:40.123456789+08:00",
     "EndTime": "2025-03-02T08:20:00.000000001Z", "Tags": {"shard": "1", "team": "qa"}},
    {**GET_TASK, "TaskId": "t-epoch", "StartTime": "1686027880205", "EndTime": "",
     "Status": "Running", "Progress": 40, "UserData": "plain text, not JSON"},
    {**GET_TASK, "TaskId": "t-array", "UserData": "[1, 2]", "Tags": {}},
    {**GET_TASK, "TaskId": "t-space", "UserData": "  {\"a\": 1}", "Code": "", "Message": ""},
    {**GET_TASK, "TaskId": "t-bad-ud", "UserData": "{not json", "Tags": {"team": None}},
    {**GET_TASK, "TaskId": "t-unicode", "UserData": '{"who": "陈"}', "Message": "caf\u00e9 \u2713",
     "Tags": {"owner": "陈"}},
    {"TaskId": "t-merge", "TaskType": "FigureClustersMerging", "Status": "Succeeded",
     "StartTime": "2025-03-02T09:00:00Z", "EndTime": "2025-03-02T09:00:02.5Z",
     "TaskRequestDefinition": json.dumps({"DatasetName": "photos", "To": "C-9",
                                          "Froms": json.dumps(["C-1", "C-2"])})},
    {"TaskId": "t-merge-1", "TaskType": "FigureClustersMerging", "Status": "Failed",
     "Code": "ResourceNotFound", "StartTime": "2025-03-02T09:01:00Z",
     "TaskRequestDefinition": json.dumps({"ProjectName": "p2", "To": "C-9", "From": "C-3"})},
    # Records the column checks doubt, accepted one by one as the record parser reads them.
    {**GET_TASK, "TaskId": "t-upper", "Status": "RUNNING", "Progress": 7},
    {**GET_TASK, "TaskId": "t-brace-tag", "Tags": {"note": "a } inside"}},
    {**GET_TASK, "TaskId": "t-bad-time", "Status": "Running", "EndTime": "1686027880205"},
    # The same task twice: the succeeded record wins, the running one is a duplicate.
    {"TaskId": "t-nanos", "Status": "Running", "Progress": 90,
     "StartTime": "2025-03-02T08:16:40.123456789Z"},
]


def _tricky_bytes(records=TRICKY_LINES) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


@pytest.mark.parametrize("errors", ["raise", "collect"])
def test_arrow_route_gives_the_line_route_result(monkeypatch, tmp_path, errors):
    path = tmp_path / "get_task.jsonl"
    path.write_bytes(_tricky_bytes())
    arrow, lines, taken = _read_routes(monkeypatch, path, errors=errors)
    assert taken == [True]
    _assert_same_results(arrow, lines)
    frame = arrow[0] if errors == "collect" else arrow
    assert frame.attrs["counts"] == {"read": 13, "accepted": 12, "duplicates": 1,
                                     "rejected": 0}
    row = one(frame, "t-nanos")
    assert row["state"] == "succeeded" and row["source"] == f"{path}:2"
    assert row["start_time"] == ts("2025-03-02T08:16:40.123456789")
    assert list(row["tags"]) == ["shard", "team"]  # key order as written
    assert one(frame, "t-brace-tag")["tags"] == {"note": "a } inside"}
    assert one(frame, "t-upper")["state"] == "running"
    assert one(frame, "t-merge")["merge_sources"] == ["C-1", "C-2"]
    assert one(frame, "t-merge-1")["project"] == "p2"
    assert one(frame, "t-bad-ud")["user_data"] == "{not json"
    assert one(frame, "t-space")["user_data"] == {"a": 1}
    assert one(frame, "t-epoch")["start_time"] == ts("2023-06-06T05:04:40.205")
    assert one(frame, "t-unicode")["tags"] == {"owner": "陈"}
    # The same UserData text on many lines: equal values, each row its own object.
    same = frame.loc[frame["user_data"].map(lambda v: v == {"run": "weekly-07"}), "user_data"]
    assert len(same) > 2 and len({id(v) for v in same}) == len(same)


@pytest.mark.parametrize("layout", ["crlf", "blank-lines", "no-final-newline", "gzip",
                                    "two-files"])
def test_arrow_route_keeps_line_numbers_and_files(monkeypatch, tmp_path, layout):
    body = _tricky_bytes()
    if layout == "crlf":
        body = body.replace(b"\n", b"\r\n")
    elif layout == "blank-lines":
        body = b"\n" + body.replace(b"\n", b"\n\r\n", 3) + b"\n\n"
    elif layout == "no-final-newline":
        body = body.rstrip(b"\n")
    if layout == "gzip":
        (tmp_path / "t.jsonl.gz").write_bytes(gzip.compress(body))
    elif layout == "two-files":
        # The same tasks in both files: every record of the second is a duplicate or wins.
        (tmp_path / "a.jsonl").write_bytes(body)
        (tmp_path / "b.ndjson").write_bytes(_tricky_bytes(TRICKY_LINES[::-1]))
    else:
        (tmp_path / "t.jsonl").write_bytes(body)
    arrow, lines, taken = _read_routes(monkeypatch, tmp_path, errors="collect")
    # A file starting with a blank line is left to the line route; the result is the same.
    assert taken == ([False] if layout == "blank-lines" else
                     [True, True] if layout == "two-files" else [True])
    _assert_same_results(arrow, lines)
    assert len(arrow[1]) == 0


def test_arrow_route_takes_blank_lines_between_records(monkeypatch, tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(_tricky_bytes().replace(b"\n", b"\n\n", 2))
    arrow, lines, taken = _read_routes(monkeypatch, path)
    assert taken == [True]
    _assert_same_results(arrow, lines)
    # Lines 2 and 4 are blank: the third record is on line 5.
    assert one(arrow, "t-epoch")["source"] == f"{path}:5"


NOT_FOR_ARROW = {
    "bad record": b'{"TaskId": "x", "Status": "Nope"}\n',
    "bad time": b'{"TaskId": "x", "Status": "Running", "StartTime": "yesterday"}\n',
    "malformed line": b'{"TaskId": "x", "Status": \n',
    "NaN in an unknown key": b'{"TaskId": "x", "Status": "Running", "Ratio": NaN}\n',
    "NaN in tags": b'{"TaskId": "x", "Status": "Running", "Tags": {"r": NaN}}\n',
    "unknown key": b'{"TaskId": "x", "Status": "Running", "Extra": 1}\n',
    "repeated key": b'{"TaskId": "x", "Status": "Running", "Status": "Failed"}\n',
    "invalid utf-8": b'{"TaskId": "x\xff", "Status": "Running"}\n',
    "lone surrogate": b'{"TaskId": "x\\ud800", "Status": "Running"}\n',
    "two objects on a line": b'{"TaskId": "x", "Status": "Running"} {"TaskId": "y", '
                             b'"Status": "Running"}\n',
    "float progress": b'{"TaskId": "x", "Status": "Running", "Progress": 40.0}\n',
    "text progress": b'{"TaskId": "x", "Status": "Running", "Progress": "40"}\n',
    "tags as text": b'{"TaskId": "x", "Status": "Running", "Tags": "{\\"k\\": 1}"}\n',
    "number id": b'{"TaskId": 7, "Status": "Running"}\n',
    "null id": b'{"TaskId": null, "Status": "Running"}\n',
    "no status": b'{"TaskId": "x", "TaskType": "FaceClustering"}\n',
    "another shape": orjson.dumps(CREATED) + b"\n",
    "a page": orjson.dumps(LIST_PAGE) + b"\n",
    "whitespace line": b"   \n",
    "carriage return alone": b'{"TaskId": "x", "Status": "Running"}\r{"TaskId": "y", '
                             b'"Status": "Running"}\n',
    "user data object": b'{"TaskId": "x", "Status": "Running", "UserData": {"a": 1}}\n',
    "tag values of two types": b'{"TaskId": "x", "Status": "Running", "Tags": {"team": 5}}\n',
}


# Records the line route accepts (the others are rejected).
_GOOD_FOR_LINES = {"float progress", "text progress", "tags as text", "user data object",
                   "another shape", "a page", "whitespace line", "repeated key",
                   "unknown key", "tag values of two types"}


@pytest.mark.parametrize("name", sorted(NOT_FOR_ARROW))
def test_arrow_route_leaves_what_it_cannot_vouch_for_to_the_line_route(monkeypatch, tmp_path,
                                                                       name):
    path = tmp_path / "t.jsonl"
    path.write_bytes(_tricky_bytes() + NOT_FOR_ARROW[name] + orjson.dumps(GET_TASK) + b"\n")
    arrow, lines, taken = _read_routes(monkeypatch, path, errors="collect")
    assert taken == [False]
    _assert_same_results(arrow, lines)
    if name not in _GOOD_FOR_LINES:
        with pytest.raises(RecordError) as from_arrow:
            tk.read_tasks(path)
        monkeypatch.setattr(_tasks_scan, "ARROW_LINES", False)
        with pytest.raises(RecordError) as from_lines:
            tk.read_tasks(path)
        assert str(from_arrow.value) == str(from_lines.value)
        assert str(from_arrow.value).startswith(f"{path}:{len(TRICKY_LINES) + 1}")


def test_arrow_route_keeps_the_first_bad_record_of_an_earlier_file(monkeypatch, tmp_path):
    # a.jsonl holds a bad record; b.jsonl is Arrow's; c.jsonl is missing. The line route
    # meets the missing file before it reports the bad record: so must the Arrow route.
    write_jsonl(tmp_path / "a.jsonl", [GET_TASK, {"TaskId": "x", "Status": "Nope"}])
    (tmp_path / "b.jsonl").write_bytes(_tricky_bytes())
    sources = [tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"]
    for arrow in (False, True):
        monkeypatch.setattr(_tasks_scan, "ARROW_LINES", arrow)
        with pytest.raises(FileNotFoundError, match="c.jsonl"):
            tk.read_tasks(sources)
        with pytest.raises(RecordError, match=r"a\.jsonl:2: unknown status value"):
            tk.read_tasks(sources[:2])
    arrow, lines, taken = _read_routes(monkeypatch, sources[:2], errors="collect")
    assert taken == [False, True]
    _assert_same_results(arrow, lines)


def test_arrow_route_batches_count_towards_chunks(monkeypatch, tmp_path):
    # Chunks of 3 records: the bad record of the last file is reported after the Arrow file.
    monkeypatch.setattr(_tasks_scan, "CHUNK", 3)
    (tmp_path / "a.jsonl").write_bytes(_tricky_bytes())
    write_jsonl(tmp_path / "b.jsonl", [GET_TASK, {"TaskId": "x", "Status": "Running",
                                                  "StartTime": "soon"}, CREATED])
    arrow, lines, taken = _read_routes(monkeypatch, tmp_path, errors="collect")
    assert taken == [True, False]
    _assert_same_results(arrow, lines)
    assert arrow[1]["source"].tolist() == [f"{tmp_path / 'b.jsonl'}:2"]


_ARROW_FIELDS = {
    "Status": st.sampled_from(["Running", "Succeeded", "Failed", "RUNNING"]),
    "TaskType": st.sampled_from(["", "FaceClustering", "FigureClustersMerging"]),
    "Progress": st.sampled_from([0, 50, 100]),
    "Code": st.sampled_from(["", "InternalError"]),
    "ProjectName": st.sampled_from(["", "proj"]),
    "DatasetName": st.sampled_from(["photos", ""]),
    "EventId": st.text(max_size=3),
    "StartTime": st.sampled_from(["", "2025-03-02T08:15:04.118233911Z", "1686027880205",
                                  "2025-03-02T16:16:40.9+08:00", "2025-03-02T16:16:40Z"]),
    "EndTime": st.sampled_from(["", "2025-03-02T08:15:04Z", "1686027880305"]),
    "Tags": st.dictionaries(st.sampled_from(["a", "b", "c", "}", "Tags"]),
                            st.text(max_size=3), max_size=3),
    "UserData": st.one_of(st.sampled_from(["", "plain", '{"a": 1}', " [1]", "{bad", "7"]),
                          st.text(max_size=4)),
    "TaskRequestDefinition": st.sampled_from([
        "", "{}", '{"DatasetName": "from-request", "ProjectName": "p2"}',
        '{"To": "C-1", "Froms": "[\\"C-2\\"]"}', '{"To": "C-1", "From": "C-2"}']),
}
_arrow_tasks = st.fixed_dictionaries(
    {"TaskId": st.sampled_from(["t1", "t2", "t3", "t4"]),
     "Status": _ARROW_FIELDS["Status"]},
    optional={k: v for k, v in _ARROW_FIELDS.items() if k != "Status"})


@settings(deadline=None, max_examples=40,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_arrow_tasks, min_size=1, max_size=10),
       compact=st.booleans())
def test_arrow_route_and_line_route_agree_on_any_good_file(monkeypatch, tmp_path, records,
                                                            compact):
    path = tmp_path / "t.jsonl"
    if compact:
        path.write_bytes(_tricky_bytes(records))
    else:  # spaces around every separator, keys in another order
        path.write_text("".join(json.dumps(dict(reversed(r.items())), ensure_ascii=False)
                                + "\n" for r in records), encoding="utf-8")
    arrow, lines, taken = _read_routes(monkeypatch, path, errors="collect")
    _assert_same_results(arrow, lines)
    assert taken == [True]


def test_arrow_route_never_joins_a_record_cut_over_two_lines(monkeypatch, tmp_path):
    # Arrow's parser reads across line breaks: lines 14 and 15 would be one record to it,
    # and line 16 two, so that it would count as many records as lines. Line by line, all
    # three lines are malformed.
    cut = b'{"TaskId": "x", "Status": "Running", "Tags":\n{"k": "v"}}\n'
    two = b'{"TaskId": "y", "Status": "Running"} {"TaskId": "z", "Status": "Running"}\n'
    path = tmp_path / "t.jsonl"
    path.write_bytes(_tricky_bytes() + cut + two)
    arrow, lines, taken = _read_routes(monkeypatch, path, errors="collect")
    assert taken == [False]
    _assert_same_results(arrow, lines)
    assert len(TRICKY_LINES) == 13
    assert arrow[1]["source"].tolist() == [f"{path}:{i}" for i in (14, 15, 16)]


def test_arrow_route_reads_tags_as_written(monkeypatch, tmp_path):
    base = b'{"TaskId": "t%d", "Status": "Running", '
    lines = [
        b'"Tags": {"b": "2", "a": "1"}}',  # key order kept
        b'"Tags" :{ "a" : "1" , "b" : "x}y" }}',  # spaces; a brace inside a string
        b'"Tags": {}}',
        b'"Tags": null}',
        b'"Code": "Tags", "Tags": {"a": "\\u00e9\\"Tags\\": {"}}',  # "Tags" in strings
        b'"Message": "x"}',  # no Tags
        b'"Tags": {"b": "\\u6e05", "a": "1", "c": [1, 2]}}',
    ]
    body = b"\n".join(base % i + line for i, line in enumerate(lines)) + b"\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(body)
    arrow, lines_route, taken = _read_routes(monkeypatch, path)
    assert taken == [True]
    _assert_same_results(arrow, lines_route)
    tags = dict(zip(arrow["task_id"], arrow["tags"]))
    assert list(tags["t0"]) == ["b", "a"] and tags["t1"] == {"a": "1", "b": "x}y"}
    assert tags["t2"] == {} and tags["t3"] is None and tags["t5"] is None
    assert tags["t4"] == {"a": 'é"Tags": {'} and tags["t6"] == {"b": "清", "a": "1", "c": [1, 2]}
    # Every record its own dict, however alike.
    assert tags["t0"] is not tags["t1"]


@pytest.mark.parametrize("tags", [
    b'{"Tags": {"note": "a { inside"}}',  # the cut stops at the brace: the text is not found
    b'{"T\\u0061gs": {"x": "1"}}',  # the key written with an escape: the text is not found
    b'{"Tags": {"a": {"Tags": {"x": "1"}}}}',  # an object inside: every record by its line
    b'{"T\\u0061gs": {"a": {"Tags": {"x": "1"}}}}',  # both
])
def test_arrow_route_reads_tags_it_cannot_cut_out_from_the_line(monkeypatch, tmp_path, tags):
    record = b'{"TaskId": "odd", "Status": "Running", ' + tags[1:] + b"\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(_tricky_bytes() + record)
    arrow, lines, taken = _read_routes(monkeypatch, path)
    assert taken == [True]
    _assert_same_results(arrow, lines)
    assert one(arrow, "odd")["tags"] == orjson.loads(tags)["Tags"]


@pytest.mark.parametrize("tags, taken, expected", [
    (b"null", [True], None),  # no line holds an object
    # JSON text on every line: left to the record parser.
    (b'"{\\"k\\": \\"v\\"}"', [False], {"k": "v"}),
])
def test_arrow_route_with_the_same_kind_of_tags_on_every_line(monkeypatch, tmp_path, tags,
                                                              taken, expected):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(b'{"TaskId": "t%d", "Status": "Running", "Tags": %s}\n' % (i, tags)
                              for i in range(3)))
    arrow, lines, was_taken = _read_routes(monkeypatch, path)
    assert was_taken == taken
    _assert_same_results(arrow, lines)
    assert arrow["tags"].tolist() == [expected] * 3


@pytest.mark.parametrize("repeat", [1, 3])  # 3: repeated texts are parsed once and copied
def test_loads_each_gives_each_text_a_value_of_its_own(repeat):
    texts = ['{"a": 1}', '[1, "x"]', '{"n": {"m": [1]}}', "{bad", "7", b'{"b": null}'] * repeat
    values, not_json = loads_each(texts)
    assert not_json == [i for i, t in enumerate(texts) if t == "{bad"]
    assert values == [None if t == "{bad" else orjson.loads(t) for t in texts]
    containers = [v for v in values if isinstance(v, (dict, list))]
    containers += [v["n"] for v in values if isinstance(v, dict) and "n" in v]
    assert len({id(v) for v in containers}) == len(containers)


def test_arrow_route_on_the_sample_task_records(monkeypatch):
    tasks_dir = Path(__file__).parent.parent / "sample_data" / "tasks"
    arrow, lines, taken = _read_routes(monkeypatch, tasks_dir)
    # gettask.jsonl whole; merge requests, notifications and snapshots line by line.
    assert taken == [True, False, False, False]
    _assert_same_results(arrow, lines)
