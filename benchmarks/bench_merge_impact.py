"""Benchmark: ``merge_impact`` against merging and recomputing the silhouette.

The baseline is what one would do without merge impact: apply the merge
(``state.merge``) and recompute the silhouette of the new state from scratch
with the toolkit's own ``silhouette_score`` (one chunked faces × clusters
product on the new state). ``merge_impact`` reuses the state's memoised
silhouette context and touches only the faces the merge can affect. The
one-off cost of that context (the first call on a state) is printed too.
Both are timed three times in the same run (medians compared), and the
silhouette after the merge must agree to 1e-9.

The merge is a realistic candidate: a cluster and the two clusters whose
features are closest to its own.

Target: at n=100,000, k=5,000, d=512 merge impact is at least 200× faster.

Run: ``python benchmarks/bench_merge_impact.py`` (a few minutes, mostly the
baseline) or ``--quick`` (n=5,000, k=250, d=64: seconds).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import toolkit as tk
from bench_silhouette import median_time, sphere_blobs

TARGET = 200.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args(argv)
    n, k, d = (5_000, 250, 64) if args.quick else (100_000, 5_000, 512)
    X, labels = sphere_blobs(n, k, d)
    state = tk.ClusterState.from_arrays(X, labels)
    del X
    t = 0
    sims = state.features @ state.features[t]
    sims[t] = -np.inf
    to = state.cluster_ids[t]
    froms = [state.cluster_ids[i] for i in np.argsort(-sims)[:2]]
    print(f"merge impact, n={n:,} k={k:,} d={d} float32 rows; merge {froms} into {to!r}; "
          "medians of 3")

    start = time.perf_counter()
    tk.merge_impact(state, to, froms)
    t_cold = time.perf_counter() - start
    print(f"  first call on the state (builds the silhouette context) {t_cold:9.3f} s")
    t_ours, impact = median_time(lambda: tk.merge_impact(state, to, froms))
    print(f"  toolkit.merge_impact                       {t_ours:12.6f} s   "
          f"silhouette after={impact.silhouette_after:.12f}")

    def recompute() -> float:
        merged, _ = state.merge(to, froms=froms)
        return tk.silhouette_score(merged)

    t_base, score = median_time(recompute)
    print(f"  merge + silhouette_score from scratch      {t_base:12.6f} s   "
          f"silhouette after={score:.12f}")
    diff = abs(score - impact.silhouette_after)
    ratio = t_base / t_ours
    print(f"  speed-up {ratio:,.0f}x (target >= {TARGET:.0f}x); |difference| = {diff:.2e}; "
          f"{impact.n_faces_recomputed} faces recomputed")
    if diff >= 1e-9:
        print("  FAIL: results disagree beyond 1e-9")
        return 1
    if not args.quick and ratio < TARGET:
        print("  below target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
