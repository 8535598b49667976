"""``python -m toolkit recluster DIR`` and ``python -m toolkit suggest DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from .cli import command
from .reclustering import METHODS

_FACES_FILE = "faces.parquet"


def _load_faces(path: Path):
    """The FaceSet of ``DIR/faces.parquet`` (or of a faces file given directly)."""
    from .io import read_faces

    target = path / _FACES_FILE if path.is_dir() else path
    if not target.exists():
        raise FileNotFoundError(f"{target}: no such file; pass a directory holding "
                                f"{_FACES_FILE} (as written by `python -m toolkit sample-data`) "
                                "or a faces file")
    return read_faces(target)


def _write(frame: pd.DataFrame, path: Path) -> None:
    frame = frame.copy()
    for col in frame.columns:
        if frame[col].map(lambda v: isinstance(v, tuple)).any():
            frame[col] = frame[col].map(lambda v: ";".join(v) if isinstance(v, tuple) else v)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, lineterminator="\n")
    print(f"wrote {len(frame)} rows to {path}")


def _add_recluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path,
                        help=f"directory holding {_FACES_FILE} (or a faces file)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="cosine similarity; default: derived from the data")
    parser.add_argument("--method", choices=METHODS, default="graph",
                        help="graph (default): average linkage on the exact kNN graph; the "
                             "others run scikit-learn for comparison")
    parser.add_argument("--n-neighbors", type=int, default=15, help="neighbours per face (15)")
    parser.add_argument("--min-cluster-size", type=int, default=1,
                        help="smaller clusters become independent faces (1)")
    parser.add_argument("--calibrate", action="store_true",
                        help="pick the threshold that maximises pairwise F on the faces' "
                             "identity column instead")
    parser.add_argument("--out", type=Path, default=None,
                        help="write face_id, cluster_id (.csv, or .parquet)")


@command("recluster", help="cluster the faces afresh and compare with their current clustering")
def recluster_command(args: argparse.Namespace) -> int:
    from .clustering import ClusterState
    from .quality import compare_to_truth
    from .reclustering import calibrate_threshold, compare_labelings, recluster

    faces = _load_faces(args.directory)
    threshold = args.threshold
    if args.calibrate:
        cal = calibrate_threshold(faces, method=args.method, n_neighbors=args.n_neighbors)
        threshold = cal.threshold
        print(f"calibrated on {cal.n_faces} labelled faces: threshold {threshold:.4f} "
              f"(pairwise F {cal.best['pairwise_f']:.4f})")
    result = recluster(faces, threshold=threshold, method=args.method,
                       n_neighbors=args.n_neighbors, min_cluster_size=args.min_cluster_size)
    state = result.state
    print(f"faces: {state.n_faces}, method: {result.method}")
    source = "calibrated" if args.calibrate else result.params["threshold_source"]
    line = f"threshold: {result.threshold:.4f} ({source})"
    if result.estimate is not None:
        line += f"; floor {result.estimate.floor:.4f}, ceiling {result.estimate.ceiling:.4f}"
    print(line)
    print(f"clusters: {state.n_clusters}, faces in no cluster: {state.n_unclustered}")
    before = ClusterState(faces)
    cmp = compare_labelings(before, state)
    print("against the current clustering: " + ", ".join(
        f"{k} {v}" for k, v in cmp.summary.items()) + f"; ARI {cmp.scores['ari']:.4f}")
    if faces.has_truth:
        for name, st in (("current", before), ("recluster", state)):
            r = compare_to_truth(st)
            print(f"{name:>9} vs identity: pairwise F {r.pairwise_f:.4f}, "
                  f"BCubed F {r.bcubed_f:.4f}, ARI {r.ari:.4f}")
    if args.out is not None:
        _write(pd.DataFrame({"face_id": state.face_ids,
                             "cluster_id": state.to_faceset().faces["cluster_id"]}), args.out)
    return 0


recluster_command.add_arguments = _add_recluster_arguments


def _add_suggest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path,
                        help=f"directory holding {_FACES_FILE} (or a faces file)")
    parser.add_argument("--top", type=int, default=20, help="merge suggestions to show (20)")
    parser.add_argument("--splits", type=int, default=10, help="split suggestions to show (10)")
    parser.add_argument("--cannot-link", type=Path, default=None,
                        help="JSON file of pairs judged 'not the same person' (CannotLink.save)")
    parser.add_argument("--out-merges", type=Path, default=None,
                        help="write the merge suggestions (.csv, or .parquet)")
    parser.add_argument("--out-splits", type=Path, default=None,
                        help="write the split suggestions (.csv, or .parquet)")


@command("suggest", help="suggest cluster merges and splits for the faces' clustering")
def suggest_command(args: argparse.Namespace) -> int:
    from .clustering import ClusterState
    from .reclustering import suggest_merges, suggest_splits

    state = ClusterState(_load_faces(args.directory))
    merges = suggest_merges(state, top=args.top, cannot_link=args.cannot_link)
    splits = suggest_splits(state, top=args.splits)
    a = merges.attrs
    print(f"{state.n_clusters} clusters; {a['n_candidates']} candidate pairs, "
          f"{a['n_vetoed_co_occurrence']} vetoed (same photo), "
          f"{a['n_vetoed_cannot_link']} vetoed (cannot-link)")
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.precision", 3):
        print("\nmerge suggestions (score 1 = as alike as their own faces):")
        print(merges[["rank", "merge_to", "merge_from", "size_to", "size_from", "score",
                      "mean_similarity", "median_link", "weakest_link", "silhouette_before",
                      "silhouette_after"]].to_string(index=False))
        print("\nsplit suggestions (score 0 = one person, higher = two people):")
        print(splits[["rank", "cluster_id", "size", "score", "size_a", "size_b", "n_outliers",
                      "cross_similarity", "silhouette"]].to_string(index=False))
    if args.out_merges is not None:
        _write(merges, args.out_merges)
    if args.out_splits is not None:
        _write(splits, args.out_splits)
    return 0


suggest_command.add_arguments = _add_suggest_arguments
