"""Benchmark: ``read_tasks`` against the plain pandas route on IMM GetTask JSON lines.

The plain route is what a notebook would do: ``json.loads`` per line,
``pd.json_normalize``, ``pd.to_datetime(format="ISO8601", utc=True)`` on both
times, and ``json.loads`` of ``TaskRequestDefinition`` and ``UserData``.
Both read the same generated file in the same run; each is timed three times
(interleaved) and the medians are compared. The parsed values (times,
statuses, user data, request definitions, tags) are checked to agree. The
file is one GetTask body per line, which ``read_tasks`` hands whole to
Arrow's JSON reader (``toolkit.io._tasks_arrow``).

Run: ``python benchmarks/bench_read_tasks.py`` (200,000 records) or
``--quick`` (5,000 records, a smoke run of a few seconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

import toolkit as tk

TASK_TYPES = ("FaceClustering", "FigureClustersMerging", "MediaConvert", "OfficeConversion")


def _stamp(rng: np.random.Generator, epoch_s: np.ndarray, plus8: np.ndarray) -> list[str]:
    """RFC 3339 strings: mostly 9 fraction digits, some fewer; zones Z or +08:00."""
    out = []
    digits = rng.choice([9, 9, 9, 6, 3, 2, 0], size=len(epoch_s))
    fractions = rng.integers(0, 10**9, size=len(epoch_s))
    for sec, eight, nd, frac in zip(epoch_s.tolist(), plus8.tolist(), digits.tolist(),
                                    fractions.tolist()):
        shift = 8 * 3600 if eight else 0
        base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec + shift))
        if nd:
            base += "." + f"{frac:09d}"[:nd]
        out.append(base + ("+08:00" if eight else "Z"))
    return out


def make_records(n: int, seed: int = 0) -> list[dict]:
    """``n`` realistic GetTask bodies (unique task ids)."""
    rng = np.random.default_rng(seed)
    start = 1_735_689_600 + rng.integers(0, 90 * 86400, size=n)
    run = rng.integers(1, 3600, size=n)
    status = rng.choice(["Succeeded", "Succeeded", "Succeeded", "Failed", "Running"], size=n)
    start_str = _stamp(rng, start, rng.random(n) < 0.5)
    end_str = _stamp(rng, start + run, rng.random(n) < 0.5)
    types = rng.choice(TASK_TYPES, size=n)
    with_definition = rng.random(n) < 0.3
    records = []
    for i in range(n):
        task_type = str(types[i])
        st = str(status[i])
        rec = {
            "RequestId": f"{i:08X}-5B44-4F0E-9C21-3E8B2A6F11D0",
            "ProjectName": "audit-proj",
            "EventId": f"1A4-{i:021d}",
            "TaskId": f"{task_type}-{i:08x}-8c7d-4b6e-a0f2-19d4c7e5b8a1",
            "TaskType": task_type,
            "Status": st,
            "StartTime": start_str[i],
            "EndTime": "" if st == "Running" else end_str[i],
            "Code": "ResourceNotFound" if st == "Failed" else "",
            "Message": "The specified resource was not found." if st == "Failed" else "",
            "UserData": json.dumps({"run": f"weekly-{i % 52:02d}", "batch": i % 7}),
            "Tags": {"team": "qa", "shard": str(i % 4)},
        }
        if st == "Running":
            rec["Progress"] = int(i % 100)
        if with_definition[i]:
            if task_type == "FigureClustersMerging":
                definition = {"ProjectName": "audit-proj", "DatasetName": "family-photos",
                              "Froms": json.dumps([f"Cluster-{i:06d}-a", f"Cluster-{i:06d}-b"]),
                              "To": f"Cluster-{i:06d}-z"}
            else:
                definition = {"ProjectName": "audit-proj", "DatasetName": "family-photos",
                              "Tags": {"purpose": "bench"}}
            rec["TaskRequestDefinition"] = json.dumps(definition)
        records.append(rec)
    return records


def plain_pandas(path: Path) -> pd.DataFrame:
    """The route a notebook would take without the toolkit."""
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    frame = pd.json_normalize(records)
    for col in ("StartTime", "EndTime"):
        frame[col] = pd.to_datetime(frame[col], format="ISO8601", utc=True)
    for col in ("TaskRequestDefinition", "UserData"):
        frame[col] = [json.loads(v) if isinstance(v, str) and v else None for v in frame[col]]
    return frame


def _timed(func, *args) -> float:
    t0 = time.perf_counter()
    result = func(*args)
    elapsed = time.perf_counter() - t0
    del result  # freeing the result is not part of reading
    return elapsed


def median_times(path: Path, repeats: int = 3) -> tuple[float, float]:
    """Medians of ``repeats`` runs of each route, interleaved so that a change in the load of
    the (shared) machine hits both alike; no result is kept alive while the other runs."""
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(_timed(tk.read_tasks, path))
        theirs.append(_timed(plain_pandas, path))
    return statistics.median(ours), statistics.median(theirs)


def check_agree(toolkit_frame: pd.DataFrame, plain: pd.DataFrame) -> None:
    ours = toolkit_frame.set_index("task_id")
    theirs = plain.set_index("TaskId").loc[ours.index]
    for a, b in (("start_time", "StartTime"), ("end_time", "EndTime")):
        left = ours[a].dt.as_unit("ns")
        right = theirs[b].dt.as_unit("ns")
        same = (left == right) | (left.isna() & right.isna())
        assert same.all(), f"{a} differs from the plain route on {int((~same).sum())} rows"
    assert (ours["status"] == theirs["Status"]).all(), "statuses differ"
    assert ours["user_data"].tolist() == theirs["UserData"].tolist(), "user data differ"
    assert ours["request"].tolist() == theirs["TaskRequestDefinition"].tolist(), \
        "request definitions differ"
    # json_normalize spread Tags over "Tags.<key>" columns: gather them back.
    tag_columns = [c for c in theirs.columns if c.startswith("Tags.")]
    their_tags = [{c.removeprefix("Tags."): v for c, v in zip(tag_columns, row)}
                  for row in theirs[tag_columns].itertuples(index=False)]
    assert ours["tags"].tolist() == their_tags, "tags differ"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 records instead of 200,000")
    args = parser.parse_args(argv)
    n = 5_000 if args.quick else 200_000
    records = make_records(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "get_task.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        del records
        t_toolkit, t_plain = median_times(path)
        ours = tk.read_tasks(path)
        assert ours.attrs["counts"] == {"read": n, "accepted": n, "duplicates": 0, "rejected": 0}
        check_agree(ours, plain_pandas(path))
    print(f"records: {n:,}")
    print(f"toolkit read_tasks    median of 3: {t_toolkit:8.3f} s")
    print(f"plain pandas route    median of 3: {t_plain:8.3f} s")
    print(f"speed-up: {t_plain / t_toolkit:.1f}x  (values agree: times, statuses, user data, "
          "request definitions, tags)")


if __name__ == "__main__":
    main()
