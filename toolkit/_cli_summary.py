"""``python -m toolkit summary DIR``: what a data directory holds, as the readers see it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from .cli import command
from .io import read_clusters, read_faces, read_task_history, read_tasks
from .io._layout import DataLayout


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="a data directory laid out like sample_data/")


def _counts_line(counts: dict) -> str:
    return (f"read {counts['read']}, accepted {counts['accepted']}, "
            f"duplicates folded {counts['duplicates']}, rejected {counts['rejected']}")


@command("summary", help="print what a data directory holds: records per kind, states, faces, "
                          "clusters, rejected records")
def summary(args: argparse.Namespace) -> int:
    layout = DataLayout.discover(args.directory)
    out: list[str] = [f"# {args.directory}"]
    rejected_frames = []

    if layout.task_sources:
        tasks, rejected = read_tasks(layout.task_sources, errors="collect")
        rejected_frames.append(rejected)
        out.append(f"\n## tasks: {len(tasks)} ({_counts_line(tasks.attrs['counts'])})")
        table = (tasks.groupby(["provider", "task_type", "state"], observed=True).size()
                 .rename("tasks").reset_index())
        out.append(table.to_string(index=False))
        history, rejected = read_task_history(layout.task_sources, errors="collect")
        rejected_frames.append(rejected)
        out.append(f"\n## task history: {len(history)} observations of "
                   f"{history['task_id'].nunique()} tasks ({_counts_line(history.attrs['counts'])})")

    if layout.faces is not None:
        faces, rejected = read_faces(layout.faces, embeddings=layout.embeddings, errors="collect")
        rejected_frames.append(rejected)
        clustered = faces.clustered
        out.append(f"\n## faces: {len(faces)} ({_counts_line(faces.counts)})")
        out.append(f"embedding dimension {faces.dim}; "
                   f"{faces.faces.loc[clustered, 'cluster_id'].nunique()} clusters; "
                   f"{int((~clustered).sum())} faces in no cluster")
        if faces.has_truth:
            out.append(f"ground truth: {faces.faces['identity'].nunique()} identities")

    if layout.clusters:
        clusters, rejected = read_clusters(layout.clusters, errors="collect")
        rejected_frames.append(rejected)
        out.append(f"\n## cluster records: {len(clusters)} ({_counts_line(clusters.attrs['counts'])})")

    # The task and history readers read the same files: a broken line is reported by both.
    rejected = pd.concat([f for f in rejected_frames if len(f)], ignore_index=True) \
        .drop_duplicates("source", ignore_index=True) if any(len(f) for f in rejected_frames) else None
    out.append(f"\n## rejected records: {0 if rejected is None else len(rejected)}")
    if rejected is not None:
        for row in rejected.itertuples():
            out.append(f"- {row.reason}")
    print("\n".join(out))
    return 0


summary.add_arguments = _add_arguments
