"""How well the audit's flags catch the wrong merges, and how long the main job takes.

For each data set — the bundled sample data, its compressed-scale twin, and
embedding variants the tests never see (another model geometry and dimension,
other seeds) — the script generates the data with ``toolkit.make_sample_data``,
audits the recorded merges, and scores the flags (suspicious or likely-wrong)
against ``truth/merges.csv``: precision and recall of catching the wrong
merges among the applied ones. It then times the main job
(``python -m toolkit audit sample_data``) end to end, median of 3 runs.

Usage::

    python benchmarks/eval_audit.py            # every variant, main job timed 3 times
    python benchmarks/eval_audit.py --quick    # two variants, main job once
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import toolkit as tk

ROOT = Path(__file__).resolve().parent.parent

VARIANTS = [
    # (name, make_sample_data keywords); seed 0 standard is the committed sample_data.
    ("sample (standard, 512-d)", dict(seed=0, similarity_scale="standard")),
    ("sample (compressed, 512-d)", dict(seed=0, similarity_scale="compressed")),
    ("held-out: anisotropic, 128-d, seed 7", dict(seed=7, similarity_scale="standard",
                                                  model="anisotropic", dim=128)),
    ("held-out: anisotropic compressed, 128-d, seed 3",
     dict(seed=3, similarity_scale="compressed", model="anisotropic", dim=128)),
    ("held-out: anisotropic, 256-d, seed 11", dict(seed=11, similarity_scale="standard",
                                                   model="anisotropic", dim=256)),
    ("held-out: default compressed, seed 5", dict(seed=5, similarity_scale="compressed")),
]


def score_flags(directory: Path) -> dict:
    faces = tk.read_faces(directory / "faces.parquet")
    audit = tk.audit_merges(faces, tk.read_tasks(directory / "tasks"))
    truth = pd.read_csv(directory / "truth" / "merges.csv").set_index("task_id")[["correct"]]
    applied = audit.merges[audit.merges["outcome"].eq("applied")].join(truth, on="task_id")
    flagged = applied["verdict"].isin(["suspicious", "likely-wrong"])
    wrong = ~applied["correct"].astype(bool)
    tp = int((flagged & wrong).sum())
    return {"applied": len(applied), "wrong": int(wrong.sum()), "flagged": int(flagged.sum()),
            "precision": tp / max(int(flagged.sum()), 1), "recall": tp / max(int(wrong.sum()), 1)}


def time_main_job(repeats: int) -> float:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "toolkit", "audit", str(ROOT / "sample_data"),
                            "--out", str(Path(tmp) / "report.html")], check=True,
                           stdout=subprocess.DEVNULL, cwd=ROOT)
            times.append(time.perf_counter() - start)
        size = (Path(tmp) / "report.html").stat().st_size
    print(f"report size: {size / 1024:.0f} KiB")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two variants, main job once")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kws in VARIANTS[:2] if args.quick else VARIANTS:
            out = Path(tmp) / name.replace(" ", "_").replace(",", "").replace(":", "")
            tk.make_sample_data(out, **kws)
            rows.append({"data": name, **score_flags(out)})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"target: precision and recall >= 0.80 everywhere -> "
          f"{'met' if (table[['precision', 'recall']] >= 0.8).all().all() else 'NOT met'}")
    repeats = 1 if args.quick else 3
    print(f"main job (python -m toolkit audit sample_data), median of {repeats}: "
          f"{time_main_job(repeats):.1f} s")


if __name__ == "__main__":
    main()
