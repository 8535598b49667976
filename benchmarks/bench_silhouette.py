"""Benchmark: ``silhouette_score`` against scikit-learn's cosine silhouette.

The toolkit computes the exact cosine silhouette from per-cluster sums (one
chunked faces × clusters product); scikit-learn forms every faces × faces
distance (chunked). Both score the same float64 blobs on the sphere in the
same run; each is timed three times and the medians are compared. The two
scores must agree to 1e-9 (and the per-face values too).

Target: at n=20,000, k=1,000, d=512 the toolkit is at least 20× faster.

Run: ``python benchmarks/bench_silhouette.py`` (n=20,000, about a minute of
scikit-learn) or ``--quick`` (n=2,000, k=100, d=64: seconds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from sklearn.metrics import silhouette_samples as sk_silhouette_samples
from sklearn.metrics import silhouette_score as sk_silhouette_score

import toolkit as tk

TARGET = 20.0


def sphere_blobs(n: int, k: int, d: int, *, spread: float = 0.9, dtype=np.float32,
                 seed: int = 0, block: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit rows around ``k`` random unit centres, and their string labels.

    Each row is its centre plus Gaussian noise of total length about
    ``spread``, then L2-normalised. Rows are made a block at a time in
    ``dtype``, so a large set never has a float64 twin in memory. Labels are
    ``"c00042"``-style strings (uniformly drawn, so sizes vary).
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)).astype(dtype)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    codes = rng.integers(0, k, n)
    X = np.empty((n, d), dtype=dtype)
    scale = dtype(spread / np.sqrt(d))
    for start in range(0, n, block):
        stop = min(start + block, n)
        noise = rng.standard_normal((stop - start, d), dtype=np.float32).astype(dtype, copy=False)
        rows = centres[codes[start:stop]] + noise * scale
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        X[start:stop] = rows
    labels = np.array([f"c{c:05d}" for c in codes], dtype=object)
    return X, labels


def median_time(func, repeats: int = 3) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args(argv)
    n, k, d = (2_000, 100, 64) if args.quick else (20_000, 1_000, 512)
    X, labels = sphere_blobs(n, k, d, dtype=np.float64)
    print(f"silhouette (cosine), n={n:,} k={k:,} d={d} float64, medians of 3")

    t_ours, ours = median_time(lambda: tk.silhouette_score(X, labels))
    print(f"  toolkit.silhouette_score        {t_ours:9.3f} s   score={ours:.12f}")
    t_sk, theirs = median_time(lambda: sk_silhouette_score(X, labels, metric="cosine"))
    print(f"  sklearn silhouette_score cosine {t_sk:9.3f} s   score={theirs:.12f}")

    diff = abs(ours - theirs)
    ratio = t_sk / t_ours
    print(f"  speed-up {ratio:.1f}x (target >= {TARGET:.0f}x); |score difference| = {diff:.2e}")
    ok = diff < 1e-9
    if args.quick:
        per_face = np.abs(tk.silhouette_samples(X, labels)
                          - sk_silhouette_samples(X, labels, metric="cosine")).max()
        print(f"  max per-face difference {per_face:.2e}")
        ok = ok and per_face < 1e-9
    if not ok:
        print("  FAIL: results disagree beyond 1e-9")
        return 1
    if not args.quick and ratio < TARGET:
        print("  below target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
