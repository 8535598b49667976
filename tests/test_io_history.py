"""read_task_history (observations, skipped shapes, duplicates, bad input) and task_transitions."""

from __future__ import annotations

import json

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolkit as tk
from toolkit.errors import RecordError
from toolkit.io import _tasks_scan
from toolkit.io._history import HISTORY_COLUMNS, TRANSITION_COLUMNS


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def write_jsonl(path, records) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


def snapshot(task_id, observed, status, progress=None, **extra):
    body = {"TaskId": task_id, "TaskType": "FaceClustering", "Status": status, **extra}
    if progress is not None:
        body["Progress"] = progress
    return {"ObservedAt": observed, "Response": body}


def notification(task_id, status, *, time="1740902201907", end="2025-03-02T08:16:41.02Z",
                 kind="imm:Task:FigureClustersMerging"):
    content = {"TaskId": task_id, "Status": status, "StartTime": "2025-03-02T08:16:39.5Z"}
    if end is not None:
        content["EndTime"] = end
    note = {"id": "ev", "source": "acs.imm", "type": kind, "content": json.dumps(content)}
    if time is not None:
        note["time"] = time
    return note


POLLS = [
    snapshot("t-1", "2025-03-02T08:00:10Z", "Running", 10),
    snapshot("t-1", "2025-03-02T08:00:20+08:00", "Running", 0),   # 00:00:20Z: earlier
    snapshot("t-1", "2025-03-02T08:00:30Z", "Running", 60),
    snapshot("t-1", "2025-03-02T08:00:40Z", "Succeeded"),
    snapshot("t-0", "2025-03-02T09:00:00Z", "RUNNING", 5),
]


def test_columns_order_and_dtypes():
    history = tk.read_task_history(POLLS)
    assert tuple(history.columns) == HISTORY_COLUMNS
    assert str(history["observed_at"].dtype) == "datetime64[ns, UTC]"
    assert str(history["progress"].dtype) == "Int64"
    assert history["task_id"].dtype == "str" and history["state"].dtype == "str"


def test_snapshots_sorted_by_task_then_observation_time():
    history = tk.read_task_history(POLLS)
    assert history["task_id"].tolist() == ["t-0", "t-1", "t-1", "t-1", "t-1"]
    t1 = history[history["task_id"] == "t-1"]
    # 08:00:20+08:00 is 00:00:20Z, the first observation of t-1.
    assert t1["observed_at"].tolist() == [ts("2025-03-02T00:00:20"), ts("2025-03-02T08:00:10"),
                                          ts("2025-03-02T08:00:30"), ts("2025-03-02T08:00:40")]
    assert t1["progress"].tolist() == [0, 10, 60, pd.NA]
    assert t1["state"].tolist() == ["running", "running", "running", "succeeded"]
    t0 = history.iloc[0]
    assert (t0["status"], t0["state"], t0["provider"], t0["task_type"]) == (
        "RUNNING", "running", "imm", "FaceClustering")
    assert history["source"].tolist()[1:] == ["object[1]", "object[0]", "object[2]",
                                              "object[3]"]
    assert history.attrs["counts"] == {"read": 5, "accepted": 5, "duplicates": 0, "rejected": 0,
                                       "skipped": 0}


def test_notification_is_observed_at_its_time_else_its_end_time():
    history = tk.read_task_history([notification("m-1", "Succeeded"),
                                    notification("m-2", "Failed", time=None)])
    m1, m2 = history.iloc[0], history.iloc[1]
    # time "1740902201907" ms = 2025-03-02T07:56:41.907Z
    assert m1["observed_at"] == ts("2025-03-02T07:56:41.907")
    assert m2["observed_at"] == ts("2025-03-02T08:16:41.02")
    assert m1["task_type"] == "FigureClustersMerging" and m2["state"] == "failed"


def test_notification_without_any_time_is_rejected():
    note = notification("m-3", "Succeeded", time=None, end=None)
    with pytest.raises(RecordError, match=r"object\[1\]: no observation time; "
                                          r"field 'content.EndTime'"):
        tk.read_task_history([notification("m-1", "Succeeded"), note])
    history, rejected = tk.read_task_history([note], errors="collect")
    assert len(history) == 0 and rejected["raw"].tolist() == [note]
    assert history.attrs["counts"]["rejected"] == 1


def test_other_shapes_are_skipped_not_read():
    records = [
        {"TaskId": "g", "Status": "Running"},                              # plain GetTask body
        {"ProjectName": "p", "Tasks": [{"TaskId": "a", "Status": "Running"},
                                       {"TaskId": "b", "Status": "Failed"}]},
        {"RequestId": "r", "TaskId": "c", "EventId": "e"},                  # Create response
        {"Request": {"To": "C-1", "From": "C-2"}, "Response": {"TaskId": "c"}},
        {"batch_task_list": [{"id": "b1", "batch_task_status_info": {}}]},
        {"tasks": [{"id": "v1", "state": "RUNNING"}]},
        POLLS[0],
    ]
    history = tk.read_task_history(records)
    assert history["task_id"].tolist() == ["t-1"]
    # 1 + 2 page entries + 1 + 1 + 1 batch + 1 task = 7 records that are not observations
    assert history.attrs["counts"] == {"read": 1, "accepted": 1, "duplicates": 0, "rejected": 0,
                                       "skipped": 7}


def test_skipped_records_are_not_validated():
    # A broken ListTasks entry is read_tasks' business, not this reader's.
    history = tk.read_task_history([{"Tasks": [{"TaskId": "a", "Status": "Nope"}]}, POLLS[0]])
    assert history.attrs["counts"]["skipped"] == 1 and len(history) == 1


def test_exact_duplicates_are_dropped_and_counted(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", POLLS[:2])
    write_jsonl(tmp_path / "b.jsonl", POLLS[:3])   # the first two again, in another file
    history = tk.read_task_history(tmp_path)
    assert len(history) == 3
    assert history.attrs["counts"] == {"read": 5, "accepted": 3, "duplicates": 2, "rejected": 0,
                                       "skipped": 0}
    # The first read is kept.
    assert history["source"].str.contains("a.jsonl").sum() == 2


def test_same_time_different_status_is_not_a_duplicate():
    history = tk.read_task_history([snapshot("t", "2025-01-01T00:00:00Z", "Running", 50),
                                    snapshot("t", "2025-01-01T00:00:00Z", "Running", 60)])
    assert len(history) == 2 and history.attrs["counts"]["duplicates"] == 0


@pytest.mark.parametrize("record, match", [
    ({"ObservedAt": "", "Response": {"TaskId": "t", "Status": "Running"}},
     r"missing required field; field 'ObservedAt'"),
    ({"ObservedAt": "noonish", "Response": {"TaskId": "t", "Status": "Running"}},
     r"value is not a timestamp; field 'ObservedAt'"),
    ({"ObservedAt": "2025-01-01T00:00:00Z", "Response": {"Status": "Running"}},
     r"missing required field; field 'Response.TaskId'"),
    ({"ObservedAt": "2025-01-01T00:00:00Z", "Response": {"TaskId": "t", "Status": "Queued"}},
     r"unknown status value; field 'Response.Status'"),
    ({"ObservedAt": "2025-01-01T00:00:00Z", "Response": ["not", "a", "body"]},
     r"wrong type; field 'Response'"),
    ({"ObservedAt": "2025-01-01T00:00:00Z",
      "Response": {"TaskId": "t", "Status": "Running", "Progress": "abc"}},
     r"wrong type; field 'Response.Progress'"),
    ({"id": "e", "type": "imm:Task:X", "time": "1740902201907", "content": "{nope"},
     r"notification content is not JSON text"),
    ({"id": "e", "type": "imm:Task:X", "time": "soon",
      "content": json.dumps({"TaskId": "t", "Status": "Failed"})},
     r"value is not a timestamp; field 'time'"),
    ({"mystery": True}, r"unknown record shape"),
])
def test_bad_observation(record, match, tmp_path):
    with pytest.raises(RecordError, match=r"^object\[1\]: " + match):
        tk.read_task_history([POLLS[0], record])
    write_jsonl(tmp_path / "h.jsonl", [POLLS[0], record])
    history, rejected = tk.read_task_history(tmp_path / "h.jsonl", errors="collect")
    assert len(history) == 1 and rejected["source"].tolist() == [f"{tmp_path / 'h.jsonl'}:2"]
    assert rejected["reason"].str.contains(match).all()


def test_bad_files_and_paths(tmp_path):
    (tmp_path / "h.jsonl").write_bytes(orjson.dumps(POLLS[0]) + b"\n{broken\n")
    with pytest.raises(RecordError, match=r"h\.jsonl:2: malformed JSON line"):
        tk.read_task_history(tmp_path / "h.jsonl")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(RecordError, match="the file is empty"):
        tk.read_task_history(tmp_path / "empty.jsonl")
    history, rejected = tk.read_task_history(tmp_path, errors="collect")
    assert history.attrs["counts"] == {"read": 3, "accepted": 1, "duplicates": 0, "rejected": 2,
                                       "skipped": 0}
    with pytest.raises(FileNotFoundError):
        tk.read_task_history(tmp_path / "missing")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="holds no"):
        tk.read_task_history(tmp_path / "sub")
    with pytest.raises(ValueError, match=r"`errors` must be one of"):
        tk.read_task_history(POLLS, errors="skip")


def test_same_directory_serves_both_readers(tmp_path):
    write_jsonl(tmp_path / "polls.jsonl", POLLS)
    write_jsonl(tmp_path / "notes.jsonl", [notification("t-1", "Succeeded")])
    (tmp_path / "page.json").write_bytes(orjson.dumps({"Tasks": [{"TaskId": "t-1",
                                                                  "Status": "Running"}]}))
    tasks = tk.read_tasks(tmp_path)
    history = tk.read_task_history(tmp_path)
    assert tasks.attrs["counts"] == {"read": 7, "accepted": 2, "duplicates": 5, "rejected": 0}
    assert history.attrs["counts"] == {"read": 6, "accepted": 6, "duplicates": 0, "rejected": 0,
                                       "skipped": 1}


def test_get_task_lines_are_skipped_where_read_tasks_takes_them_whole(monkeypatch, tmp_path):
    gets = [{"TaskId": f"g-{i}", "Status": "Succeeded", "StartTime": "2025-03-02T08:00:00Z"}
            for i in range(5)]
    write_jsonl(tmp_path / "gets.jsonl", gets)
    write_jsonl(tmp_path / "polls.jsonl", POLLS)
    taken = []
    real = _tasks_scan.read_imm_lines

    def spy(*args):
        batch = real(*args)
        taken.append(batch is not None)
        return batch

    monkeypatch.setattr(_tasks_scan, "read_imm_lines", spy)
    history = tk.read_task_history(tmp_path)
    assert taken == []  # GetTask bodies are no observations: never parsed for history
    assert history.attrs["counts"] == {"read": 5, "accepted": 5, "duplicates": 0, "rejected": 0,
                                       "skipped": 5}
    tasks = tk.read_tasks(tmp_path)
    assert taken == [True, False]  # gets.jsonl whole, polls.jsonl (snapshots) line by line
    assert tasks.attrs["counts"] == {"read": 10, "accepted": 7, "duplicates": 3, "rejected": 0}


_OBS = st.one_of(
    st.builds(snapshot, st.sampled_from(["a", "b"]),
              st.sampled_from(["2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z", 1735689600000]),
              st.sampled_from(["Running", "Succeeded"]), st.sampled_from([None, 10, 90])
              ).map(lambda r: (r, "good")),
    st.sampled_from(["a", "b"]).map(lambda t: (notification(t, "Succeeded"), "good")),
    st.sampled_from([
        ({"TaskId": "a", "Status": "Running"}, "skipped"),
        ({"RequestId": "r", "TaskId": "a"}, "skipped"),
        ({"ObservedAt": "x", "Response": {"TaskId": "a", "Status": "Running"}}, "bad"),
        ({"ObservedAt": "2025-01-01T00:00:00Z", "Response": {"TaskId": "a"}}, "bad"),
        ({"foo": "bar"}, "bad"),
        (notification("a", "Succeeded", time=None, end=None), "bad"),
    ]),
)


@settings(deadline=None, max_examples=60,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(_OBS, min_size=1, max_size=15), as_file=st.booleans())
def test_observations_read_equal_accepted_plus_duplicates_plus_rejected(items, as_file, tmp_path):
    records = [r for r, _ in items]
    if as_file:
        source = tmp_path / "h.jsonl"
        write_jsonl(source, records)
    else:
        source = records
    history, rejected = tk.read_task_history(source, errors="collect")
    counts = history.attrs["counts"]
    kinds = [k for _, k in items]
    assert counts["read"] == counts["accepted"] + counts["duplicates"] + counts["rejected"]
    assert counts["read"] == kinds.count("good") + kinds.count("bad")
    assert counts["rejected"] == kinds.count("bad") == len(rejected)
    assert counts["skipped"] == kinds.count("skipped")
    # An exact duplicate is one with the same task, time, status and progress.
    assert not history.duplicated(["task_id", "observed_at", "status", "progress"]).any()
    assert history.equals(history.sort_values(["task_id", "observed_at"], kind="stable",
                                              ignore_index=True))


# --- task_transitions -------------------------------------------------------------------------

def test_transitions_are_changes_between_consecutive_observations():
    history = tk.read_task_history(POLLS + [snapshot("t-0", "2025-03-02T09:05:00Z", "Failed")])
    out = tk.task_transitions(history)
    assert tuple(out.columns) == TRANSITION_COLUMNS
    # t-0: running at 09:00, failed at 09:05; t-1: running x3, then succeeded at 08:00:40.
    assert out.values.tolist() == [
        ["t-0", "running", "failed", ts("2025-03-02T09:05:00")],
        ["t-1", "running", "succeeded", ts("2025-03-02T08:00:40")],
    ]


def test_transitions_with_initial_states():
    out = tk.task_transitions(tk.read_task_history(POLLS), initial=True)
    assert out["task_id"].tolist() == ["t-0", "t-1", "t-1"]
    assert out["from_state"].isna().tolist() == [True, True, False]
    assert out["to_state"].tolist() == ["running", "running", "succeeded"]
    assert out["at"].tolist() == [ts("2025-03-02T09:00:00"), ts("2025-03-02T00:00:20"),
                                  ts("2025-03-02T08:00:40")]


def test_transitions_do_not_need_sorted_input_and_go_back_and_forth():
    history = pd.DataFrame({
        "task_id": ["v", "v", "v", "w"],
        "observed_at": pd.to_datetime([3, 1, 2, 1], unit="s", utc=True),
        "state": ["running", "running", "stopped", "pending"],
    })
    # v in time order: running (1 s), stopped (2 s), running (3 s)
    out = tk.task_transitions(history)
    assert out[["from_state", "to_state"]].values.tolist() == [["running", "stopped"],
                                                               ["stopped", "running"]]
    assert out["at"].tolist() == [pd.Timestamp(2, unit="s", tz="UTC"),
                                  pd.Timestamp(3, unit="s", tz="UTC")]


def test_transitions_of_an_empty_history():
    out = tk.task_transitions(tk.read_task_history([]))
    assert tuple(out.columns) == TRANSITION_COLUMNS and len(out) == 0


def test_transitions_validate_their_input():
    with pytest.raises(TypeError, match="`history` must be a DataFrame"):
        tk.task_transitions([{"task_id": "t"}])
    with pytest.raises(ValueError, match=r"lacks the columns \['observed_at'\]"):
        tk.task_transitions(pd.DataFrame({"task_id": ["t"], "state": ["running"]}))
