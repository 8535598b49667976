"""Benchmark: peak memory of building a state and computing its silhouette.

Two fresh subprocesses make the same float32 blobs on the sphere and build a
ClusterState from them; one also computes ``silhouette_score(state)``. Each
reports its peak resident memory (``ru_maxrss``); the silhouette process
also reports (tracemalloc) the peak of what ``silhouette_score`` itself
allocates: the cluster sums, the per-face context and one chunk of the
faces × clusters product (64 MiB by default), never a faces × faces matrix
(which would be n² × 8 bytes: 75 GiB at n=100,000).
Each child runs three times; the medians are reported.

Target: the silhouette process stays under 2 GB at n=100,000, k=5,000,
d=512.

Run: ``python benchmarks/bench_memory.py`` (a minute or two) or ``--quick``
(n=10,000, k=500, d=128, one subprocess each: seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

LIMIT_MB = 2048.0


def child(n: int, k: int, d: int, with_silhouette: bool) -> None:
    import resource
    import tracemalloc

    import toolkit as tk
    from bench_silhouette import sphere_blobs

    X, labels = sphere_blobs(n, k, d)
    state = tk.ClusterState.from_arrays(X, labels)
    del X
    score, working = None, 0.0
    if with_silhouette:
        # numpy reports its buffers to tracemalloc: the peak of what the
        # silhouette itself allocates, on top of the state it was given.
        tracemalloc.start()
        score = tk.silhouette_score(state)
        working = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux
    print(json.dumps({"peak_mb": peak_kb / 1024.0, "score": score, "working_mb": working}))


def run_child(n: int, k: int, d: int, with_silhouette: bool) -> dict:
    here = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(here), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                          f"{n},{k},{d},{int(with_silhouette)}"],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"the measuring subprocess failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        n, k, d, with_sil = (int(v) for v in args.child.split(","))
        child(n, k, d, bool(with_sil))
        return 0
    n, k, d = (10_000, 500, 128) if args.quick else (100_000, 5_000, 512)
    repeats = 1 if args.quick else 3
    print(f"peak resident memory, n={n:,} k={k:,} d={d} float32; medians of {repeats} "
          "subprocesses")
    base = [run_child(n, k, d, False) for _ in range(repeats)]
    full = [run_child(n, k, d, True) for _ in range(repeats)]
    base_mb = statistics.median(r["peak_mb"] for r in base)
    full_mb = statistics.median(r["peak_mb"] for r in full)
    scores = {r["score"] for r in full}
    embeddings_mb = n * d * 4 / 2 ** 20
    print(f"  build the state only                 {base_mb:9.1f} MB "
          f"(the float32 embeddings alone: {embeddings_mb:.1f} MB)")
    print(f"  build the state + silhouette_score   {full_mb:9.1f} MB   score={scores}")
    working_mb = statistics.median(r["working_mb"] for r in full)
    print(f"  allocated by silhouette_score itself {working_mb:9.1f} MB at its peak "
          f"(tracemalloc); a faces x faces float64 matrix would be "
          f"{n * n * 8 / 2 ** 30:,.1f} GB")
    print(f"  peak vs the {LIMIT_MB:.0f} MB limit: {full_mb / LIMIT_MB:.2f} of it")
    if len(scores) != 1:
        print("  FAIL: the runs disagree")
        return 1
    if full_mb >= LIMIT_MB:
        print("  above the limit")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
