"""Turning an audit (or merge suggestions) into files a user acts on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import orjson
import pandas as pd

from ._replay import AuditResult

__all__ = ["export_merge_requests", "export_undo_plan", "frame_for_files"]


def _write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    n = 0
    with open(path, "wb") as fh:
        for record in records:
            fh.write(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n")
            n += 1
    return n


def _request(to: str, sources: list[str], project: str | None, dataset: str | None,
             user_data: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if project is not None:
        body["ProjectName"] = project
    if dataset is not None:
        body["DatasetName"] = dataset
    if len(sources) == 1:
        body["From"] = sources[0]
    else:
        body["Froms"] = list(sources)
    body["To"] = to
    if user_data is not None:
        body["UserData"] = user_data
    return body


def export_merge_requests(merges: Any, path: str | os.PathLike, *, accept: Any = None,
                          project_name: str | None = None, dataset_name: str | None = None,
                          user_data: str | None = None) -> int:
    """Write CreateFigureClustersMergingTask request bodies, one JSON line each.

    Parameters
    ----------
    merges : AuditResult or DataFrame
        An audit, a frame of merges with columns ``merge_to``/``merge_sources``
        or ``to``/``froms`` (``from`` is accepted too), or pair suggestions
        from :func:`toolkit.suggest_merges` (``merge_to``/``merge_from``):
        accepted pairs that share a cluster become one request, its ``To``
        the largest cluster (``size_to``/``size_from``; ties: the smallest
        id), so no request names a cluster an earlier one merged away.
    path : path-like
        The JSONL file to write.
    accept : boolean array-like or list of row labels, default=None
        The rows the user accepts. By default: the frame's boolean ``accept``
        column when it has one, else every row — and for an audit, the merges
        that failed although they are judged likely correct (worth retrying).
    project_name, dataset_name : str, default=None
        Written as ``ProjectName`` and ``DatasetName``; for an audit the
        dataset defaults to the audited one.
    user_data : str, default=None
        ``UserData`` for every request (at most 2048 bytes, see IMM).

    Returns
    -------
    int
        The number of requests written.

    Examples
    --------
    Accepted merge suggestions, as requests to send:

    >>> import json, tempfile
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> suggestions = pd.DataFrame({"to": ["Cluster-a", "Cluster-c"],
    ...                             "froms": [["Cluster-b"], ["Cluster-d", "Cluster-e"]],
    ...                             "accept": [True, True]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "requests.jsonl"
    ...     n = export_merge_requests(suggestions, path, project_name="audit-proj",
    ...                               dataset_name="family-photos")
    ...     lines = path.read_text().splitlines()
    >>> n
    2
    >>> request = json.loads(lines[1])
    >>> request["ProjectName"], request["DatasetName"], request["Froms"], request["To"]
    ('audit-proj', 'family-photos', ['Cluster-d', 'Cluster-e'], 'Cluster-c')
    """
    if isinstance(merges, AuditResult):
        frame = merges.merges
        dataset_name = dataset_name if dataset_name is not None else merges.dataset
        if accept is None and "accept" not in frame.columns:
            accept = (frame["outcome"].eq("failed") & frame["verdict"].eq("likely-correct")).to_numpy()
    elif isinstance(merges, pd.DataFrame):
        frame = merges
    else:
        raise TypeError(f"`merges` must be an AuditResult or a DataFrame, but "
                        f"{type(merges).__name__} was passed.")
    if accept is None:
        accept = frame["accept"].astype(bool).to_numpy() if "accept" in frame.columns else None
    chosen = _normalise_columns(frame if accept is None else _select(frame, accept))
    return _write_jsonl(path, (_request(r.merge_to, list(r.merge_sources), project_name,
                                        dataset_name, user_data)
                               for r in chosen.itertuples(index=False)))


def _group_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """Pair suggestions (``merge_to``, ``merge_from``) as one request per chain.

    Accepted pairs A←B and B←C must become one request (To = the largest cluster,
    Froms = the rest): as two requests, the second would name a cluster the
    first merged away and fail with ResourceNotFound.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    size: dict[str, int] = {}
    for r in frame.itertuples(index=False):
        a, b = str(r.merge_to), str(r.merge_from)
        size[a] = max(size.get(a, 0), int(getattr(r, "size_to", 0) or 0))
        size[b] = max(size.get(b, 0), int(getattr(r, "size_from", 0) or 0))
        parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for cid in parent:
        groups.setdefault(find(cid), []).append(cid)
    rows = []
    for members in groups.values():
        # Destination: the largest cluster (ties: the smallest id); deterministic order.
        members.sort(key=lambda c: (-size.get(c, 0), c))
        rows.append({"merge_to": members[0], "merge_sources": sorted(members[1:])})
    rows.sort(key=lambda r: r["merge_to"])
    return pd.DataFrame(rows, columns=["merge_to", "merge_sources"])


def _normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    if {"merge_to", "merge_sources"} <= set(frame.columns):
        return frame
    if {"merge_to", "merge_from"} <= set(frame.columns):
        return _group_pairs(frame)
    if "to" in frame.columns and ("froms" in frame.columns or "from" in frame.columns):
        sources = frame["froms"] if "froms" in frame.columns else frame["from"].map(lambda s: [s])
        sources = sources.map(lambda s: [s] if isinstance(s, str) else list(s))
        return frame.assign(merge_to=frame["to"], merge_sources=sources)
    raise ValueError("The merges frame needs columns merge_to and merge_sources (or to and "
                     f"froms); it has {list(frame.columns)}.")


def _select(frame: pd.DataFrame, accept: Any) -> pd.DataFrame:
    mask = pd.Series(accept) if not isinstance(accept, pd.Series) else accept
    if mask.dtype == bool:
        if len(mask) != len(frame):
            raise ValueError(f"`accept` has {len(mask)} values for {len(frame)} merges.")
        return frame[mask.to_numpy()]
    return frame.loc[list(accept)]


def export_undo_plan(audit: AuditResult, path: str | os.PathLike, *,
                     verdicts: tuple[str, ...] = ("likely-wrong",),
                     task_ids: Iterable[str] | None = None) -> int:
    """Write, for each applied merge judged wrong, the faces to move back.

    IMM has no split operation: a wrong merge is undone by taking the faces
    that came from each source out of the destination again (re-indexing
    them, or assigning them by hand). Each JSON line holds the task, the
    destination, and per source cluster its face ids, with the verdict and
    reasons.

    Parameters
    ----------
    audit : AuditResult
    path : path-like
        The JSONL file to write.
    verdicts : tuple of str, default=("likely-wrong",)
        Which verdicts to undo; add ``"suspicious"`` to include those.
        Ignored when ``task_ids`` is given.
    task_ids : iterable of str, default=None
        Undo exactly these applied merges (e.g. the ones a reviewer rejected),
        whatever their verdict.

    Returns
    -------
    int
        The number of merges in the plan.

    Examples
    --------
    The audit of :func:`~toolkit.audit_merges`' example, where ``t2`` wrongly
    merged ``b`` into ``a``:

    >>> import json, tempfile
    >>> from pathlib import Path
    >>> import toolkit as tk
    >>> X = [[1, .1, 0, 0], [1, 0, .1, 0], [0, 1, .1, 0], [0, 1, 0, .1],
    ...      [1, 0, 0, .1], [1, .1, .1, 0], [0, 0, 1, .1], [0, .1, 1, 0]]
    >>> state = tk.ClusterState.from_arrays(X, ["a", "a", "b", "b", "c", "c", "d", "d"])
    >>> def merge(task_id, end, source):   # a merge task record, as GetTask returns it
    ...     return {"TaskId": task_id, "TaskType": "FigureClustersMerging",
    ...             "Status": "Succeeded", "StartTime": f"2025-03-01T00:00:0{end - 1}Z",
    ...             "EndTime": f"2025-03-01T00:00:0{end}Z",
    ...             "TaskRequestDefinition": json.dumps({"From": source, "To": "a"})}
    >>> audit = tk.audit_merges(state, [merge("t1", 2, "c"), merge("t2", 4, "b")])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     n = export_undo_plan(audit, Path(tmp) / "undo.jsonl")
    ...     plan = json.loads((Path(tmp) / "undo.jsonl").read_text())
    >>> n, plan["TaskId"], plan["MoveBack"]
    (1, 't2', [{'ClusterId': 'b', 'FaceIds': ['face-2', 'face-3']}])
    """
    if not isinstance(audit, AuditResult):
        raise TypeError(f"`audit` must be an AuditResult, but {type(audit).__name__} was passed.")
    frame = audit.merges
    chosen = frame["verdict"].isin(verdicts) if task_ids is None else frame["task_id"].isin(list(task_ids))
    chosen = frame[frame["outcome"].eq("applied") & chosen]
    entries = {e.task_id: e for e in audit.ledger.entries}

    def plan():
        for row in chosen.itertuples(index=False):
            entry = entries[row.task_id]
            yield {
                "TaskId": row.task_id, "To": row.merge_to, "Verdict": row.verdict,
                "Reasons": row.reasons, "Step": int(row.step),
                "MoveBack": [{"ClusterId": src, "FaceIds": [str(f) for f in faces]}
                             for src, faces in zip(entry.sources, entry.member_face_ids)],
            }
    return _write_jsonl(path, plan())


def frame_for_files(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose list and dict cells are JSON text, for CSV and Parquet."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, (list, dict, tuple))).any():
            out[col] = out[col].map(lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
                                    if isinstance(v, (list, dict, tuple)) else v)
    return out


def _suffix(path: str | os.PathLike) -> str:
    return Path(path).suffix.lower()
