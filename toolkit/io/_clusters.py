"""Reading IMM FigureCluster records into a frame, one row per cluster.

Accepted shapes, freely mixed in files, directories and in-memory input:
GetFigureCluster ``{FigureCluster: {...}}``, BatchGetFigureCluster
``{FigureClusters: [...]}``, QueryFigureClusters pages
``{FigureClusters: [...], NextToken, TotalCount}``, a bare FigureCluster
``{ObjectId, ...}``, JSON arrays of any of these, and SDK model objects
(``to_map()``; response wrappers unwrapped).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np
import orjson
import pandas as pd

from ._faces import FieldProblem, check_dict, check_float, check_int, check_str
from ._source import Collector, Document, ReadCounts, iter_documents
from ._time import TIME_EXPECTED, parse_utc

__all__ = ["read_clusters", "CLUSTER_COLUMNS"]

#: Columns of :func:`read_clusters` and their dtypes.
CLUSTER_COLUMNS: dict[str, str] = {
    "cluster_id": "str",
    "project": "str",
    "dataset": "str",
    "name": "str",
    "custom_id": "str",
    "custom_labels": "object",
    "face_count": "Int64",
    "image_count": "Int64",
    "video_count": "Int64",
    "gender": "str",
    "average_age": "float64",
    "min_age": "float64",
    "max_age": "float64",
    "cover_uri": "str",
    "create_time": "datetime64[ns, UTC]",
    "update_time": "datetime64[ns, UTC]",
    "meta_lock_version": "Int64",
    "source": "str",
}

# wire key -> (column, check)
_FIELDS = {
    "ProjectName": ("project", check_str),
    "DatasetName": ("dataset", check_str),
    "Name": ("name", check_str),
    "CustomId": ("custom_id", check_str),
    "FaceCount": ("face_count", check_int),
    "ImageCount": ("image_count", check_int),
    "VideoCount": ("video_count", check_int),
    "Gender": ("gender", check_str),
    "AverageAge": ("average_age", check_float),
    "MinAge": ("min_age", check_float),
    "MaxAge": ("max_age", check_float),
    "MetaLockVersion": ("meta_lock_version", check_int),
}
_TIMES = {"CreateTime": "create_time", "UpdateTime": "update_time"}


def _labels(value: Any) -> dict:
    """CustomLabels: a map, or the JSON text of one (request-style encoding)."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = orjson.loads(value) if value.strip() else {}
        except orjson.JSONDecodeError:
            raise FieldProblem("wrong type", field="CustomLabels",
                               expected="an object of labels", got=value) from None
    if not isinstance(value, dict):
        raise FieldProblem("wrong type", field="CustomLabels", expected="an object of labels",
                           got=value)
    return dict(value)


def _parse_cluster(record: Any) -> dict[str, Any]:
    """One FigureCluster as a row (times still raw)."""
    if not isinstance(record, dict):
        raise FieldProblem("wrong type", field="FigureCluster",
                           expected="a FigureCluster object", got=record)
    object_type = record.get("ObjectType")
    if object_type not in (None, "", "figure-cluster"):
        raise FieldProblem("unknown record shape: not a figure cluster", field="ObjectType",
                           expected="'figure-cluster'", got=object_type)
    row: dict[str, Any] = {"cluster_id": check_str(record.get("ObjectId"), "ObjectId",
                                                   required=True)}
    for key, (column, check) in _FIELDS.items():
        row[column] = check(record.get(key), key)
    row["custom_labels"] = _labels(record.get("CustomLabels"))
    cover = check_dict(record.get("Cover"), "Cover")
    row["cover_uri"] = check_str(cover.get("URI"), "Cover.URI") if cover else None
    for key, column in _TIMES.items():
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, (str, int, type(None))):
            raise FieldProblem("wrong type", field=key, expected=TIME_EXPECTED, got=value)
        row[column] = value
    return row


def _is_cluster(value: dict) -> bool:
    return "ObjectId" in value and not ({"Files", "Figures", "URI", "TaskId"} & value.keys())


def _iter_clusters(source: str, value: Any, counts: ReadCounts,
                   collector: Collector) -> Iterator[tuple[str, Any]]:
    """The FigureCluster records of one document, each with its source label."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _iter_clusters(f"{source}[{i}]", item, counts, collector)
    elif isinstance(value, dict) and "FigureClusters" in value:
        clusters = value["FigureClusters"]
        if clusters is None:
            return
        if not isinstance(clusters, list):
            FieldProblem("wrong type", field="FigureClusters",
                         expected="a list of FigureCluster objects",
                         got=clusters).reject(collector, counts, source, value)
            return
        for i, item in enumerate(clusters):
            yield f"{source} FigureClusters[{i}]", item
    elif isinstance(value, dict) and "FigureCluster" in value:
        yield f"{source} FigureCluster", value["FigureCluster"]
    elif isinstance(value, dict) and _is_cluster(value):
        yield source, value
    else:
        got = sorted(value)[:12] if isinstance(value, dict) else type(value).__name__
        FieldProblem("unknown record shape", expected="a FigureCluster, {FigureCluster: ...} "
                     "or a page {FigureClusters: [...]}", got=got,
                     ).reject(collector, counts, source, value)


def _documents(source: Any, collector: Collector, counts: ReadCounts) -> Iterator[Document]:
    """Documents of a source, or of each path of a list of paths (``clusters*.json``)."""
    if isinstance(source, (list, tuple)) and source \
            and all(isinstance(p, (str, os.PathLike)) for p in source):
        for path in source:
            yield from iter_documents(path, collector, counts)
    else:
        yield from iter_documents(source, collector, counts)


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in CLUSTER_COLUMNS.items()})


def _frame(rows: list[dict[str, Any]], times: dict[str, pd.Series]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for column, dtype in CLUSTER_COLUMNS.items():
        if column in times:
            data[column] = times[column]
        elif dtype == "float64":
            data[column] = pd.Series([np.nan if r[column] is None else r[column] for r in rows],
                                     dtype="float64")
        else:
            data[column] = pd.Series([r[column] for r in rows], dtype=dtype)
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def read_clusters(source: Any, *, errors: str = "raise") -> pd.DataFrame | tuple[pd.DataFrame,
                                                                                pd.DataFrame]:
    """Read IMM FigureCluster records: one row per cluster.

    Parameters
    ----------
    source : str, path-like, list of them, dict, list or SDK object
        A ``.json`` / ``.jsonl`` / ``.ndjson`` file (optionally ``.gz``), a
        directory of them (read recursively, in sorted order), a list of such
        paths (read in the given order), a dict or list of dicts, or
        ``alibabacloud_imm20200930`` model / response objects.
        Each document is a GetFigureCluster response ``{FigureCluster}``, a
        BatchGetFigureCluster or QueryFigureClusters page
        ``{FigureClusters[], NextToken, TotalCount}``, or a bare FigureCluster.
    errors : {"raise", "collect"}, default="raise"
        ``"raise"`` stops at the first bad record with a
        :class:`~toolkit.RecordError`; ``"collect"`` skips bad records and
        returns them.

    Returns
    -------
    clusters : DataFrame
        One row per ``ObjectId``, in order of first appearance. Columns:
        ``cluster_id`` (ObjectId), ``project``, ``dataset``, ``name``,
        ``custom_id``, ``custom_labels`` (dict; ``{}`` when absent),
        ``face_count``, ``image_count``, ``video_count`` (Int64, >= 0),
        ``gender``, ``average_age``, ``min_age``, ``max_age`` (float64, years),
        ``cover_uri`` (the cover File's URI), ``create_time``,
        ``update_time`` (datetime64[ns, UTC]), ``meta_lock_version`` (Int64,
        starts at 0, +1 per update), ``source`` (where the winning record came
        from: ``"page.json FigureClusters[3]"``, ``"c.jsonl:2 FigureCluster"``).
        ``clusters.attrs["counts"]`` holds ``read``, ``accepted``,
        ``duplicates``, ``rejected`` with ``read == accepted + duplicates +
        rejected``.
    rejected : DataFrame
        Only with ``errors="collect"``: ``source``, ``reason``, ``raw``.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        The directory holds no JSON files; ``errors`` is not allowed.
    RecordError
        With ``errors="raise"``, the first bad record: malformed JSON, an
        unknown shape, a missing ``ObjectId``, a mistyped field, a time that
        does not parse, an empty or truncated file.

    Notes
    -----
    The same cluster seen more than once (repeated snapshots, overlapping
    pages) gives one row: the record with the highest ``MetaLockVersion``
    wins, then the latest ``UpdateTime``, then the first seen; the others
    count as duplicates. A missing version or time loses to any present one.

    Examples
    --------
    >>> import toolkit as tk
    >>> page = {"FigureClusters": [
    ...     {"ObjectId": "Cluster-1", "FaceCount": 4, "MetaLockVersion": 0},
    ...     {"ObjectId": "Cluster-1", "FaceCount": 6, "MetaLockVersion": 1}]}
    >>> clusters = tk.read_clusters(page)
    >>> clusters[["cluster_id", "face_count"]].values.tolist()
    [['Cluster-1', 6]]
    >>> clusters.attrs["counts"]
    {'read': 2, 'accepted': 1, 'duplicates': 1, 'rejected': 0}
    """
    collector = Collector(errors)
    counts = ReadCounts()
    rows: list[dict[str, Any]] = []
    raws: list[Any] = []
    for doc in _documents(source, collector, counts):
        for label, record in _iter_clusters(doc.source, doc.value, counts, collector):
            try:
                row = _parse_cluster(record)
            except FieldProblem as problem:
                problem.reject(collector, counts, label, record)
                continue
            counts.read += 1
            row["source"] = label
            rows.append(row)
            raws.append(record)

    times: dict[str, pd.Series] = {}
    bad = np.zeros(len(rows), dtype=bool)
    problems: dict[int, FieldProblem] = {}
    for key, column in _TIMES.items():
        ns, failed = parse_utc([r[column] for r in rows])
        times[column] = pd.Series(ns.view("datetime64[ns]")).dt.tz_localize("UTC")
        for i in np.flatnonzero(failed & ~bad):
            problems[i] = FieldProblem("the time does not parse", field=key,
                                       expected=TIME_EXPECTED, got=rows[i][column])
        bad |= failed
    for i in sorted(problems):
        # Counted as read when parsed above.
        problems[i].reject(collector, counts, rows[i]["source"], raws[i], already_read=True)
    good = np.flatnonzero(~bad)
    rows = [rows[i] for i in good]
    times = {c: t.iloc[good].reset_index(drop=True) for c, t in times.items()}
    frame = _frame(rows, times) if rows else _empty_frame()
    frame = _latest(frame, counts)
    counts.accepted += len(frame)
    assert counts.is_balanced(), counts
    frame.attrs["counts"] = counts.as_dict()
    if collector.collecting:
        return frame, collector.frame()
    return frame


def _latest(frame: pd.DataFrame, counts: ReadCounts) -> pd.DataFrame:
    """One row per cluster id: highest MetaLockVersion, then latest UpdateTime, then first."""
    n = len(frame)
    version = frame["meta_lock_version"].fillna(-1).to_numpy(dtype=np.int64)
    # NaT is the smallest int64, so a missing time loses to any present one.
    updated = frame["update_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    position = np.arange(n)
    order = np.lexsort((-position, updated, version))
    ranked = frame["cluster_id"].to_numpy(dtype=object)[order]
    winners = order[~pd.Series(ranked).duplicated(keep="last").to_numpy()]
    counts.duplicates += n - len(winners)
    first_seen = pd.Series(position).groupby(frame["cluster_id"].to_numpy(dtype=object),
                                             sort=False).transform("min").to_numpy()
    winners = winners[np.argsort(first_seen[winners], kind="stable")]
    return frame.iloc[winners].reset_index(drop=True)
