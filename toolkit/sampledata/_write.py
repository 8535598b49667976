"""``make_sample_data``: write the generated world as the clouds would have exported it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from ._faces import DATASET, World, build_world
from ._imm_records import cluster_pages, file_records, task_records
from ._merges import MergeTask, plan_merges
from ._portraits import IMAGES_DIR, portrait_files
from ._readme import readme_text
from ._vias_records import vias_records

__all__ = ["make_sample_data", "FACES_FILE"]

FACES_FILE = "faces.parquet"
# Names that depend on the seed: written by an earlier run, removed unless written again.
_STALE_PATTERNS = ("huawei/tasks_*.json", f"{IMAGES_DIR}/**/*.jpg")
# Streams for the records, apart from the ones build_world uses (0-99).
_RECORD_STREAMS = ("merges", "files", "clusters", "tasks", "vias")


def _json_bytes(value, *, lines: bool = False) -> bytes:
    if lines:
        return b"".join(orjson.dumps(v, option=orjson.OPT_SORT_KEYS) + b"\n" for v in value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def _faces_bytes(world: World, params: dict) -> bytes:
    # pyarrow is needed only here; importing it lazily keeps `import toolkit` light.
    import pyarrow as pa
    import pyarrow.parquet as pq

    faces = world.faces.drop(columns=["norm"])
    # The raw model output: the reader L2-normalises and records the norm itself.
    raw = (world.embeddings * world.faces["norm"].to_numpy()[:, None]).astype(np.float16)
    n, dim = raw.shape
    offsets = pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32))
    column = pa.ListArray.from_arrays(offsets, pa.array(raw.ravel(), type=pa.float16()))
    table = pa.Table.from_pandas(faces, preserve_index=False).append_column("embedding", column)
    meta = dict(table.schema.metadata or {})
    meta[b"toolkit.sample_data"] = orjson.dumps(params, option=orjson.OPT_SORT_KEYS)
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata(meta), sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _merges_csv(tasks: list[MergeTask]) -> bytes:
    rows = [{"task_id": t.task_id, "kind": t.kind, "correct": t.correct, "status": t.status,
             "to_cluster": t.to, "source_clusters": ";".join(t.sources),
             "to_identity": t.identities[0], "source_identities": ";".join(t.identities[1:])}
            for t in tasks if t.dataset == DATASET]
    return pd.DataFrame(rows).to_csv(index=False, lineterminator="\n").encode()


def _identities_csv(world: World) -> bytes:
    return world.population.identities.to_csv(index=False, lineterminator="\n").encode()


def _contents(world: World, params: dict) -> tuple[dict[str, tuple[bytes, int]], dict]:
    """Relative path -> (bytes, number of records) for every file but the README, and
    the figures the README quotes."""
    rng = {name: np.random.default_rng([world.seed, 100 + i])
           for i, name in enumerate(_RECORD_STREAMS)}
    merges, fetched = plan_merges(rng["merges"], world)
    files = file_records(world, rng["files"])
    clusters = cluster_pages(world, rng["clusters"])
    tasks = task_records(world, merges, fetched, rng["tasks"])
    vias = vias_records(rng["vias"], world.timeline.merges_start)
    out = {
        FACES_FILE: (_faces_bytes(world, params), len(world.faces)),
        "imm/files.jsonl": (_json_bytes(files, lines=True), len(files)),
        "imm/clusters.jsonl": (_json_bytes(clusters, lines=True), len(clusters)),
        "tasks/gettask.jsonl": (_json_bytes(tasks["gettask"], lines=True), len(tasks["gettask"])),
        "tasks/notifications.jsonl": (_json_bytes(tasks["notifications"], lines=True),
                                      len(tasks["notifications"])),
        "tasks/merge_requests.jsonl": (_json_bytes(tasks["merge_requests"], lines=True),
                                       len(tasks["merge_requests"])),
        "tasks/polling.jsonl": (_json_bytes(tasks["polling"], lines=True),
                                len(tasks["polling"])),
        "huawei/batch_tasks.json": (_json_bytes(vias["batch_tasks"]),
                                    len(vias["batch_tasks"]["batch_task_list"])),
        "huawei/task_detail.json": (_json_bytes(vias["task_detail"]), 1),
        "huawei/update_response.json": (_json_bytes(vias["update_response"]), 1),
        "truth/merges.csv": (_merges_csv(merges), sum(t.dataset == DATASET for t in merges)),
        "truth/identities.csv": (_identities_csv(world), world.population.n_identities),
    }
    for i, page in enumerate(tasks["listtasks"], start=1):
        out[f"tasks/listtasks_page{i}.json"] = (_json_bytes(page), len(page["Tasks"]))
    for batch_id, page in vias["tasks"].items():
        out[f"huawei/tasks_{batch_id}.json"] = (_json_bytes(page), len(page["tasks"]))
    out.update(portrait_files(world, merges))
    kinds: dict[str, int] = {}
    for t in merges:
        kinds[t.kind] = kinds.get(t.kind, 0) + 1
    summary = {"kinds": kinds, "other": kinds.pop("other-dataset", 0), "fetched": fetched,
               "batch_ids": list(vias["tasks"]), "polled": tasks["n_polled"]}
    return dict(sorted(out.items())), summary


def make_sample_data(out_dir, *, seed: int = 0, similarity_scale: str = "standard",
                     n_faces: int = 3000, n_identities: int = 120, dim: int = 512,
                     model: str = "default") -> pd.DataFrame:
    """Write the deterministic sample data set to ``out_dir``.

    The faces (with ground truth and embeddings) of :func:`generate_faces`,
    the IMM File and FigureCluster records of their clustering before the
    merges, a merge-task history (GetTask, ListTasks, polling snapshots,
    notifications, the caller's merge request log) with its truth, Huawei VIAS
    batch-task records, generated portrait photos under ``images/<key>`` (the
    photos holding the faces the demo shows for the merged clusters, JPEG,
    downscaled; about 2-3 MB for the defaults), and a ``README.md``
    describing every file. The same arguments write the same bytes. Files
    this function writes are replaced; other files in ``out_dir`` are left
    alone, except ``huawei/tasks_*.json`` pages and ``images/**/*.jpg``
    photos of an earlier run that this one does not write.

    Parameters
    ----------
    out_dir : str or path-like
        Directory to write to; created if missing.
    seed : int, default=0
        Seed of every random draw.
    similarity_scale : {"standard", "compressed"}, default="standard"
        Embedding scale, see :func:`generate_faces`.
    n_faces : int, default=3000
        Number of faces; the merge plan needs at least about 800.
    n_identities : int, default=120
        Number of people; the merge plan needs at least about 30.
    dim : int, default=512
        Embedding dimension (the Parquet file grows by ``2 * n_faces`` bytes
        per dimension: float16).
    model : {"default", "anisotropic"}, default="default"
        Spread of faces around their person, see :func:`generate_faces`.

    Returns
    -------
    manifest : DataFrame
        One row per file written: ``file`` (relative path), ``records``
        (faces, lines, pages' entries, faces drawn in a photo...), ``bytes``.

    Examples
    --------
    >>> from toolkit.sampledata import make_sample_data
    >>> manifest = make_sample_data("sample_data", seed=0)   # doctest: +SKIP
    >>> int(manifest["bytes"].sum()) < 10_000_000             # doctest: +SKIP
    True
    """
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"The value for `out_dir` must be a path, but {out_dir!r} "
                        f"({type(out_dir).__name__}) was passed.")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a directory; `out_dir` must be a directory.")
    world = build_world(n_faces, n_identities, dim=dim, seed=seed,
                        similarity_scale=similarity_scale, model=model,
                        n_lookalike_pairs=None, low_quality_fraction=0.06)
    params = {"seed": world.seed, "similarity_scale": similarity_scale, "n_faces": n_faces,
              "n_identities": n_identities, "dim": dim, "model": model}
    contents, summary = _contents(world, params)
    contents["README.md"] = (readme_text(world, params, contents, summary).encode(), 1)

    for pattern in _STALE_PATTERNS:
        for stale in sorted(out.glob(pattern)) if out.is_dir() else []:
            if stale.relative_to(out).as_posix() not in contents:
                stale.unlink()
    images = out / IMAGES_DIR
    # Folders the removed photos leave empty go too, deepest first.
    for folder in sorted(images.rglob("*"), reverse=True) if images.is_dir() else []:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    for rel, (data, _) in contents.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return pd.DataFrame({"file": list(contents),
                         "records": [n for _, n in contents.values()],
                         "bytes": [len(data) for data, _ in contents.values()]})
