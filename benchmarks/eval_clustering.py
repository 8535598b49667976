"""Evaluate ``toolkit.reclustering`` against scikit-learn, in one run.

For each data set (the sample data's world at both similarity scales, two
held-out variants -- an anisotropic embedding model and another seed and
dimension -- and a generated set of 20,000 faces) it reports, side by side:

- pairwise F (primary) and BCubed F against the true identities, at the best
  threshold of one shared grid (31 points from the data's floor to its
  ceiling, see ``estimate_threshold``) for every method, and at
  ``recluster``'s default threshold;
- time (median of 3) and peak memory (tracemalloc: Python and NumPy
  allocations) of ``recluster`` and of the baselines,
  ``AgglomerativeClustering(linkage="average", metric="cosine")`` and
  ``HDBSCAN(metric="cosine")`` (its own EOM selection and its hierarchy cut at
  each grid threshold), and the speed ratio;
- merge and split suggestion figures on the IMM clustering the generator
  exports: precision of the top T merge suggestions (T = true fragment pairs)
  and the ranks of the wrongly merged look-alike clusters among the splits;
- on the largest set, the exact neighbour search alone (``nearest_neighbors``,
  15 per face) against scikit-learn's ``NearestNeighbors(algorithm="brute",
  metric="cosine")``, time (median of 3) and agreement.

Checks that the results agree: on a subset, ``recluster`` with every pair a
candidate and no cohesion guard must equal scikit-learn's average linkage, and
``nearest_neighbors`` must equal a float64 brute force.

``recluster`` runs its neighbour search on two threads (one BLAS thread each)
and large batches of exact links on all cores; the baselines use what
scikit-learn uses (BLAS threads for the distance products). The CPUs this
process may use are printed first: the figures depend on them and on what else
the machine runs. ``recluster``'s compiled loops (numba) are loaded before any
timing: the exactness check and the threshold grid run first. Their one-time
compilation after an install (seconds) is not in the figures.

Run ``python benchmarks/eval_clustering.py`` (10 to 15 minutes on 2 cores),
``--quick`` (small sizes, seconds) or ``--only generated`` (the data sets
whose name holds that text, e.g. just the 20,000 faces). ``--faces FILE``
adds a labelled faces file of your own -- real embeddings, which the bundled
sets are not -- scored the same way (``--only FILE`` to run only it); the
suggestion figures need its ``cluster_id`` column (a clustering to repair).
Not run by CI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd
from sklearn.cluster import HDBSCAN, AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from toolkit import FaceSet, read_faces
from toolkit.clustering import ClusterState
from toolkit.quality import compare_to_truth
from toolkit.reclustering import (estimate_threshold, nearest_neighbors, recluster,
                                  suggest_merges, suggest_splits)
from toolkit.reclustering._recluster import COHESION_RATIO, labeller
from toolkit.sampledata import generate_faces

GRID_POINTS = 31


def datasets(quick: bool):
    """The generated data sets: ``(name, generate_faces keywords)``."""
    small = (800, 40) if quick else (3000, 120)
    large = (3000, 120) if quick else (20_000, 800)
    yield "sample standard", dict(n_faces=small[0], n_identities=small[1], seed=0)
    yield "sample compressed", dict(n_faces=small[0], n_identities=small[1], seed=0,
                                    similarity_scale="compressed")
    yield "held-out anisotropic", dict(n_faces=small[0], n_identities=small[1], seed=0,
                                       model="anisotropic")
    yield "held-out seed 5 dim 128", dict(n_faces=small[0], n_identities=small[1], seed=5,
                                          dim=128)
    yield f"generated {large[0]:,}", dict(n_faces=large[0], n_identities=large[1], seed=3)


def load_labelled(path: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A user's faces file (anything ``read_faces`` reads) with a ground truth.

    Faces without an identity are left out (they cannot be scored).
    """
    faces = read_faces(path)
    frame = faces.faces
    if "identity" not in frame.columns or not frame["identity"].notna().any():
        raise SystemExit(f"{path}: no 'identity' column (the true person of each face) to "
                         f"score against; columns are {list(frame.columns)}")
    keep = frame["identity"].notna().to_numpy()
    return frame[keep].reset_index(drop=True), faces.embeddings[keep]


def timed(func, repeats: int):
    """Median wall time of ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def peak_mb(func) -> float:
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def scores(labels, truth) -> tuple[float, float]:
    r = compare_to_truth(labels, truth)
    return r.pairwise_f, r.bcubed_f


def cut_tree(children: np.ndarray, distances: np.ndarray, n: int, distance: float) -> np.ndarray:
    """Flat clusters of a scikit-learn tree: apply the merges below ``distance``."""
    parent = np.arange(2 * n - 1)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for step, ((a, b), d) in enumerate(zip(children, distances)):
        if d >= distance:
            break
        parent[find(a)] = n + step
        parent[find(b)] = n + step
    return np.array([find(i) for i in range(n)])


def evaluate(name: str, frame: pd.DataFrame, x: np.ndarray, repeats: int) -> list[dict]:
    truth = frame["identity"].to_numpy(dtype=object)
    faces = FaceSet(frame, x)
    n = len(x)
    est = estimate_threshold(faces, progress=False)
    grid = np.linspace(est.floor, est.ceiling, GRID_POINTS)
    rows = []

    # toolkit: the neighbour graph once for the grid; then full runs for time and memory.
    label_at = labeller(x, method="graph", n_neighbors=15, cohesion_ratio=COHESION_RATIO,
                        min_cluster_size=1, floor=est.floor, progress=False)
    ours = [scores(label_at(t), truth) for t in grid]
    best = int(np.argmax([f for f, _ in ours]))
    t_best = float(grid[best])
    sec, res_best = timed(lambda: recluster(faces, threshold=t_best, progress=False), repeats)
    sec_default, res_default = timed(lambda: recluster(faces, progress=False), repeats)
    mem = peak_mb(lambda: recluster(faces, threshold=t_best, progress=False))
    f_def, b_def = scores(res_default.state.labels, truth)
    rows.append(dict(data=name, n=n, method="toolkit recluster", best_t=t_best,
                     pairwise_f=ours[best][0], bcubed_f=ours[best][1],
                     default_t=res_default.threshold, default_f=f_def, default_bcubed=b_def,
                     seconds=sec, seconds_default=sec_default, peak_mb=mem))

    # scikit-learn average linkage: the full tree once, cut at every grid threshold.
    full = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                   distance_threshold=0.0, compute_full_tree=True).fit(x)
    sk = [scores(cut_tree(full.children_, full.distances_, n, 1 - t), truth) for t in grid]
    sk_best = int(np.argmax([f for f, _ in sk]))
    dt = 1 - float(grid[sk_best])

    def fit_average():
        return AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                       distance_threshold=dt).fit_predict(x)
    sk_sec, sk_labels = timed(fit_average, repeats)
    rows.append(dict(data=name, n=n, method="sklearn average", best_t=float(grid[sk_best]),
                     pairwise_f=sk[sk_best][0], bcubed_f=sk[sk_best][1], seconds=sk_sec,
                     peak_mb=peak_mb(fit_average)))

    # HDBSCAN: its own selection (EOM) and its hierarchy cut at every grid threshold.
    def fit_hdbscan():
        return HDBSCAN(metric="cosine", min_cluster_size=2, copy=True).fit(x)
    hd_sec, model = timed(fit_hdbscan, repeats)
    hd = [scores(model.labels_, truth)] + [
        scores(model.dbscan_clustering(1 - t, min_cluster_size=2), truth) for t in grid]
    hd_best = int(np.argmax([f for f, _ in hd]))
    rows.append(dict(data=name, n=n, method="sklearn HDBSCAN",
                     best_t=float("nan") if hd_best == 0 else float(grid[hd_best - 1]),
                     pairwise_f=hd[hd_best][0], bcubed_f=hd[hd_best][1], seconds=hd_sec,
                     peak_mb=peak_mb(fit_hdbscan), note="EOM" if hd_best == 0 else "cut"))
    ari = adjusted_rand_score(res_best.state.labels, sk_labels)
    for r in rows:
        r["ari_vs_sklearn_average"] = ari
    return rows


def exactness_check(quick: bool) -> None:
    """With every pair a candidate and no guard, recluster is scikit-learn's average linkage."""
    frame, x = generate_faces(400 if quick else 1500, 20 if quick else 60, dim=64, seed=9)
    for t in (0.1, 0.3, 0.5):
        ours = recluster(x, threshold=t, n_neighbors=len(x), cohesion_ratio=None).state.labels
        sk = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=1 - t).fit_predict(x)
        ari = adjusted_rand_score(ours, sk)
        print(f"exactness check, threshold {t}: ARI(recluster all-pairs, sklearn) = {ari:.6f}")
        if ari < 1 - 1e-12:
            sys.exit("recluster with every pair a candidate disagrees with scikit-learn")


def knn_exactness_check(x: np.ndarray, size: int, k: int = 15) -> None:
    """``nearest_neighbors`` on the first ``size`` faces equals a float64 brute force.

    The reference ranks a float64 BLAS product by (-similarity, position). Its
    rounding may differ from the toolkit's by about 1e-16, so rows may differ
    only where two of the values concerned are that close; the values must agree.
    """
    sub = x[:size]
    idx, sims = nearest_neighbors(sub.astype(np.float64), k)
    full = sub.astype(np.float64) @ sub.astype(np.float64).T
    np.fill_diagonal(full, -np.inf)
    cols = np.arange(size)
    ref = np.array([np.lexsort((cols, -row))[:k + 1] for row in full])
    ref_vals = np.take_along_axis(full, ref, axis=1)
    worst = float(np.abs(sims - ref_vals[:, :k]).max())
    differ = np.flatnonzero((idx != ref[:, :k]).any(axis=1))
    near_tie = (np.diff(ref_vals, axis=1) > -1e-12).any(axis=1)
    print(f"kNN exactness check, {size} faces: max |similarity - brute force| = {worst:.1e}, "
          f"rows ordered differently {differ.size} (all at a near-tie: "
          f"{bool(near_tie[differ].all())})")
    if worst > 1e-12 or not near_tie[differ].all():
        sys.exit("nearest_neighbors disagrees with a float64 brute force")


def knn_timing(name: str, x: np.ndarray, repeats: int, k: int = 15) -> dict:
    """The neighbour search alone: toolkit against scikit-learn's brute force."""
    sec, (idx, _) = timed(lambda: nearest_neighbors(x, k), repeats)

    def sklearn_knn():
        nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="cosine")
        return nn.fit(x).kneighbors(x, return_distance=False)
    sk_sec, sk = timed(sklearn_knn, repeats)
    # scikit-learn lists the face itself (or a duplicate of it) among its k + 1.
    sk_sets = [[j for j in row if j != i][:k] for i, row in enumerate(sk.tolist())]
    same = float(np.mean([set(a) == set(b) for a, b in zip(idx.tolist(), sk_sets)]))
    return dict(data=name, n=len(x), toolkit_seconds=sec, sklearn_brute_seconds=sk_sec,
                speedup=sk_sec / sec, same_neighbour_sets=same)


def suggestions(name: str, frame: pd.DataFrame, x: np.ndarray) -> dict:
    state = ClusterState(FaceSet(frame, x))
    df = pd.DataFrame({"c": state.face_cluster_ids(), "i": frame["identity"]}).dropna()
    majority = df.groupby("c")["i"].agg(lambda s: s.value_counts().index[0])
    purity = df.groupby("c")["i"].agg(lambda s: s.value_counts().iloc[0] / len(s))
    t = int(sum(v * (v - 1) // 2 for v in majority.value_counts()))
    t0 = time.perf_counter()
    merges = suggest_merges(state, top=max(t, 1))
    splits = suggest_splits(state)
    sec = time.perf_counter() - t0
    true_pair = majority[merges["merge_to"]].to_numpy() == majority[merges["merge_from"]].to_numpy()
    impure = set(purity[purity < 1].index)
    ranks = sorted((splits.index[splits["cluster_id"].isin(impure)] + 1).tolist())
    found = len(impure & set(splits["cluster_id"].head(2 * len(impure))))
    return dict(data=name, fragment_pairs_T=t, merge_precision_at_T=float(true_pair.mean()),
                impure_clusters=len(impure), found_in_top_2m=found, split_ranks=ranks,
                seconds=round(sec, 2))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one timing run")
    parser.add_argument("--only", default="", metavar="TEXT",
                        help="run only the data sets whose name contains TEXT")
    parser.add_argument("--faces", action="append", default=[], metavar="FILE",
                        help="also evaluate on this faces file (Parquet or NPZ, as read_faces "
                             "reads it) with an 'identity' column, e.g. your own real "
                             "embeddings; repeatable (--only FILE runs only it)")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 3
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads"
                         for i in threadpool_info() if i.get("user_api") == "blas")
    except ImportError:  # pragma: no cover - scikit-learn brings it
        blas = "unknown"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"CPUs available: {cpus}; BLAS: {blas}")
    exactness_check(args.quick)
    rows, sugg, knn = [], [], []
    sources = [(name, lambda kw=kw: generate_faces(**kw)) for name, kw in datasets(args.quick)]
    sources += [(f"file {path}", lambda path=path: load_labelled(path)) for path in args.faces]
    for name, load in sources:
        if args.only not in name:
            continue
        frame, x = load()
        print(f"\n== {name}: {len(x):,} faces, dim {x.shape[1]} ==", flush=True)
        part = evaluate(name, frame, x, repeats)
        for r in part:
            print(f"  {r['method']:<18} best t {r['best_t']:.4f}  pairwise F {r['pairwise_f']:.4f}"
                  f"  BCubed F {r['bcubed_f']:.4f}  {r['seconds']:8.2f} s  "
                  f"{r['peak_mb']:8.1f} MB", flush=True)
        ours = part[0]
        print(f"  toolkit default: t {ours['default_t']:.4f}  pairwise F {ours['default_f']:.4f}"
              f" ({ours['default_f'] - ours['pairwise_f']:+.4f} vs best)  "
              f"{ours['seconds_default']:.2f} s")
        base = max(part[1:], key=lambda r: r["pairwise_f"])
        print(f"  best baseline {base['method']}: F {base['pairwise_f']:.4f}; toolkit "
              f"{ours['pairwise_f'] - base['pairwise_f']:+.4f}; speed-up x"
              f"{base['seconds'] / ours['seconds']:.1f} (default threshold x"
              f"{base['seconds'] / ours['seconds_default']:.1f}); "
              f"ARI(toolkit, sklearn average) {ours['ari_vs_sklearn_average']:.4f}")
        rows += part
        if name.startswith("generated"):
            knn_exactness_check(x, 800 if args.quick else 3000)
            knn.append(knn_timing(name, x, repeats))
            r = knn[-1]
            print(f"  neighbour search alone: toolkit {r['toolkit_seconds']:.2f} s, scikit-learn "
                  f"brute {r['sklearn_brute_seconds']:.2f} s (x{r['speedup']:.1f}); same "
                  f"neighbour sets {r['same_neighbour_sets']:.4%}", flush=True)
        elif FaceSet(frame, x).clustered.any():  # a clustering to suggest repairs for
            sugg.append(suggestions(name, frame, x))
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 220, "display.max_columns", 30,
                           "display.float_format", "{:.4f}".format):
        print("\nclustering (pairwise F is the primary figure):")
        print(table[["data", "method", "best_t", "pairwise_f", "bcubed_f", "default_t",
                     "default_f", "seconds", "peak_mb"]].to_string(index=False))
        if sugg:
            print("\nsuggestions on the exported IMM clustering:")
            print(pd.DataFrame(sugg).to_string(index=False))
        if knn:
            print("\nexact neighbour search (15 per face):")
            print(pd.DataFrame(knn).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
