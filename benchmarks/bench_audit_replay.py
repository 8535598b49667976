"""Benchmark: an audit replay that carries the silhouette context from state to state.

``audit_merges`` replays a history of merges and measures each one on the
state just before it with ``merge_impact``, which needs that state's
silhouette context. Without the carry every new state pays one O(n·k·d)
faces × clusters pass (today's path before the carry: the audit simply does
not call ``carry_context``). With it, each merged state's context is
derived from the previous one in O(n·d + A·k·d) (A: faces whose nearest or
runner-up cluster was merged).

Both runs replay the same merge tasks through ``toolkit.audit_merges`` on the
same export, whose own context is computed once beforehand (it is the same
one-off cost for both, printed separately). The two AuditResults must be
identical (``merges`` and ``timeline`` frames, exact).

The merges are realistic candidates: a cluster and its 1 to 3 nearest
clusters by feature, 20 of them over disjoint clusters.

Timing: the carried replay is the median of 3; at full size the replay
without the carry takes minutes per run (20 × one full pass), so it runs
once unless ``--baseline-repeats 3`` is given. ``--quick`` (n=5,000,
k=250, d=64) takes seconds and times both three times.

Run: ``python benchmarks/bench_audit_replay.py [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import orjson
import pandas as pd

import toolkit as tk
import toolkit.audit._replay as replay
from bench_silhouette import sphere_blobs


def merge_tasks(state: tk.ClusterState, n_merges: int, seed: int = 0) -> list[dict]:
    """Merge task records (as GetTask returns them): a cluster and its 1-3 nearest by
    feature, over clusters not used by an earlier merge."""
    rng = np.random.default_rng(seed)
    used = np.zeros(state.n_clusters, dtype=bool)
    tasks = []
    for i, t in enumerate(rng.permutation(state.n_clusters)):
        if len(tasks) == n_merges:
            break
        if used[t]:
            continue
        sims = state.features @ state.features[t]
        sims[used] = -np.inf
        sims[t] = -np.inf
        near = np.argsort(-sims)[:1 + i % 3]
        used[t] = True
        used[near] = True
        froms = [str(state.cluster_ids[c]) for c in near]
        end = pd.Timestamp("2025-03-01T00:00:00Z") + pd.Timedelta(minutes=len(tasks) + 1)
        tasks.append({
            "TaskId": f"merge-{len(tasks):03d}", "TaskType": "FigureClustersMerging",
            "Status": "Succeeded",
            "StartTime": (end - pd.Timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "EndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "TaskRequestDefinition": orjson.dumps(
                {"Froms": froms, "To": str(state.cluster_ids[t])}).decode()})
    return tasks


def timed(func, repeats: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--merges", type=int, default=20, help="merges replayed (default 20)")
    parser.add_argument("--baseline-repeats", type=int, default=None,
                        help="runs of the replay without the carry (default 1, 3 with --quick)")
    args = parser.parse_args(argv)
    n, k, d = (5_000, 250, 64) if args.quick else (100_000, 5_000, 512)
    base_repeats = args.baseline_repeats or (3 if args.quick else 1)
    X, labels = sphere_blobs(n, k, d)
    state = tk.ClusterState.from_arrays(X, labels)
    del X
    tasks = tk.read_tasks(merge_tasks(state, args.merges))
    print(f"audit replay, n={n:,} k={k:,} d={d} float32 rows, {len(tasks)} merges of 1-3 "
          "sources into a near cluster")

    start = time.perf_counter()
    tk.silhouette_score(state)   # the export's context: the same one-off cost for both runs
    print(f"  export's silhouette context (one full pass, shared)   {time.perf_counter() - start:9.3f} s")

    def audit():
        return tk.audit_merges(state, tasks, progress=False)

    t_carry, times, carried = timed(audit, 3)
    print(f"  audit_merges, context carried     median of 3  {t_carry:9.3f} s   "
          f"runs {', '.join(f'{t:.3f}' for t in times)}")
    real = replay.carry_context
    replay.carry_context = lambda *args, **kwargs: None
    try:
        t_fresh, times, fresh = timed(audit, base_repeats)
    finally:
        replay.carry_context = real
    label = "median of 3" if base_repeats == 3 else f"{base_repeats} run(s) "
    print(f"  audit_merges, fresh context/state {label:12} {t_fresh:9.3f} s   "
          f"runs {', '.join(f'{t:.3f}' for t in times)}")
    applied = int((carried.merges["outcome"] == "applied").sum())
    print(f"  speed-up {t_fresh / t_carry:,.1f}x over {applied} applied merges "
          f"({t_carry / max(applied, 1):.3f} s vs {t_fresh / max(applied, 1):.3f} s per merge)")
    try:
        pd.testing.assert_frame_equal(carried.merges, fresh.merges, check_exact=True)
        pd.testing.assert_frame_equal(carried.timeline, fresh.timeline, check_exact=True)
    except AssertionError as exc:
        print(f"  FAIL: the audits differ: {exc}")
        return 1
    if applied != len(tasks):
        print(f"  FAIL: only {applied} of {len(tasks)} merges applied")
        return 1
    print("  the two AuditResults are identical (merges and timeline, exact)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
