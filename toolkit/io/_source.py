"""Turning any supported source into a stream of JSON documents.

Shared by every reader. A *document* is one parsed JSON value with the place
it came from: ``"file.jsonl:12"`` for a JSONL line, ``"file.json"`` for a whole
JSON file, ``"object"`` / ``"object[3]"`` for in-memory input. Readers split
documents into *records* (a ListTasks page holds many) and extend the source
label (``"page.json Tasks[3]"``).

Problems are routed through a :class:`Collector`: with ``errors="raise"`` the
first one raises :class:`~toolkit.errors.RecordError`; with ``errors="collect"``
it is kept as a rejected row ``(source, reason, raw)`` and reading goes on.

:func:`iter_documents` is built from :func:`iter_files` (the files of a path
source, in order), :func:`read_file` (one file's bytes) and :func:`iter_file`
(its documents); a reader that can take a whole file at once (``read_tasks``
hands JSON-lines files to Arrow) uses them to look at each file first.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

import orjson
import pandas as pd

from ..errors import RecordError

__all__ = ["Collector", "ReadCounts", "Document", "FileContent", "iter_documents", "iter_files",
           "iter_file", "read_file", "is_path_source", "is_json_lines", "to_plain", "JSON_SUFFIXES"]

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
ERRORS_VALUES = ("raise", "collect")


@dataclass
class ReadCounts:
    """Conservation of records: ``read == accepted + duplicates + rejected``.

    Attributes
    ----------
    read : int
        Records seen (every element carrying a task, observation, face or
        cluster, plus every document that could not be parsed at all).
    accepted : int
        Records that became a row of the result.
    duplicates : int
        Records folded into a row that another record had already created.
    rejected : int
        Records returned in the rejected frame (``errors="collect"``).

    Examples
    --------
    >>> counts = ReadCounts(read=5, accepted=3, duplicates=1, rejected=1)
    >>> counts.is_balanced(), counts.as_dict()
    (True, {'read': 5, 'accepted': 3, 'duplicates': 1, 'rejected': 1})
    """

    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        """The four counts as a plain dict (what ``frame.attrs["counts"]`` holds)."""
        return {"read": self.read, "accepted": self.accepted,
                "duplicates": self.duplicates, "rejected": self.rejected}

    def is_balanced(self) -> bool:
        """Whether ``read == accepted + duplicates + rejected``."""
        return self.read == self.accepted + self.duplicates + self.rejected


def _check_errors(errors: str) -> str:
    if errors not in ERRORS_VALUES:
        raise ValueError(f"The value for `errors` must be one of {list(ERRORS_VALUES)}, "
                         f"but {errors!r} was passed.")
    return errors


class Collector:
    """Routes bad records: raise at once, or keep them with their reason.

    Parameters
    ----------
    errors : {"raise", "collect"}, default="raise"
        ``"raise"``: :meth:`reject` raises :class:`~toolkit.errors.RecordError`
        at the first bad record. ``"collect"``: it keeps the record and goes on.

    Attributes
    ----------
    rows : list of dict
        The rejected records so far, each ``{"source", "reason", "raw"}``.

    Examples
    --------
    >>> collector = Collector("collect")
    >>> collector.reject("tasks.jsonl:2", "not a JSON object", raw="[1]")
    >>> collector.frame().to_dict("records")
    [{'source': 'tasks.jsonl:2', 'reason': 'tasks.jsonl:2: not a JSON object', 'raw': '[1]'}]
    >>> Collector().reject("object", "empty record")
    Traceback (most recent call last):
    ...
    toolkit.errors.RecordError: object: empty record
    """

    def __init__(self, errors: str = "raise") -> None:
        self.errors = _check_errors(errors)
        self.rows: list[dict[str, Any]] = []

    @property
    def collecting(self) -> bool:
        """Whether bad records are kept (``errors="collect"``) rather than raised."""
        return self.errors == "collect"

    def reject(self, source: str, reason: str, raw: Any = None, *, field: str | None = None,
               expected: str | None = None, got: Any = None) -> None:
        """Raise (``errors="raise"``) or record one rejected record."""
        err = RecordError(source, reason, field=field, expected=expected, got=got)
        if not self.collecting:
            raise err
        self.rows.append({"source": source, "reason": str(err), "raw": raw})

    def frame(self) -> pd.DataFrame:
        """The rejected records: columns ``source``, ``reason``, ``raw``."""
        return pd.DataFrame(self.rows, columns=["source", "reason", "raw"])


class Document(NamedTuple):
    """One parsed JSON value and where it came from (``"file.jsonl:12"``, ``"object[3]"``)."""

    source: str
    value: Any


def to_plain(obj: Any) -> Any:
    """Official SDK model objects to plain dicts; unwrap ``{headers, statusCode, body}``.

    Alibaba ``TeaModel``/``DaraModel`` objects expose ``to_map()`` (wire keys);
    Huawei responses expose ``to_json_object()`` and models ``to_dict()``.
    """
    if hasattr(obj, "to_json_object"):
        obj = obj.to_json_object()
    elif hasattr(obj, "to_map"):
        obj = obj.to_map()
    elif hasattr(obj, "to_dict") and not isinstance(obj, (dict, pd.DataFrame)):
        obj = {k: v for k, v in obj.to_dict().items() if v is not None}
    if isinstance(obj, dict) and "body" in obj and ("statusCode" in obj or "headers" in obj):
        obj = obj["body"]
    return obj


def _is_json_file(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(JSON_SUFFIXES)


def _list_dir(path: Path) -> list[Path]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and _is_json_file(p))
    if not files:
        raise ValueError(f"{path}: the directory holds no {'/'.join(JSON_SUFFIXES)} files")
    return files


class FileContent(NamedTuple):
    """What a file holds: its bytes (decompressed for ``.gz``) and what went wrong reading them.

    ``problem`` is ``None`` for a complete file; for a gzip file that is not
    valid or is cut short it says so, and ``data`` holds what decompressed.
    """

    data: bytes
    problem: str | None = None


def read_file(path: Path) -> FileContent:
    """The whole content of one file; for gzip, as much as decompresses."""
    raw = path.read_bytes()
    if not path.name.lower().endswith(".gz"):
        return FileContent(raw)
    out = zlib.decompressobj(wbits=31)
    try:
        data = out.decompress(raw)
    except zlib.error as exc:
        return FileContent(b"", f"not a valid gzip file ({exc})")
    if not out.eof:
        return FileContent(data, "truncated gzip stream: the file ends before the compressed "
                                 "data does (records up to the cut were read)")
    return FileContent(data)


def is_json_lines(path: Path) -> bool:
    """Whether the file name says JSON lines (``.jsonl`` / ``.ndjson``, optionally ``.gz``)."""
    return path.name.lower().removesuffix(".gz").endswith((".jsonl", ".ndjson"))


def iter_file(path: Path, collector: Collector, counts: ReadCounts,
              content: FileContent | None = None) -> Iterator[Document]:
    """The documents of one file (``content``: the file as :func:`read_file` gave it, if read)."""
    label = str(path)
    data, problem = read_file(path) if content is None else content
    if problem is not None:
        collector.reject(label, problem, None)
        counts.read += 1
        counts.rejected += 1
        if data:
            # Keep every whole line before the cut; the partial last line is lost with the cut.
            data = data[: data.rfind(b"\n") + 1]
    if not data.strip():
        if problem is None:
            counts.read += 1
            counts.rejected += 1
            collector.reject(label, "the file is empty", None)
        return
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".json") and problem is None:
        try:
            yield Document(label, orjson.loads(data))
            return
        except orjson.JSONDecodeError:
            if data.count(b"\n") <= 1 or not data.lstrip().startswith(b"{"):
                counts.read += 1
                counts.rejected += 1
                collector.reject(label, "malformed JSON", data[:2000].decode("utf-8", "replace"))
                return
            # A .json file holding JSON lines: read it line by line below.
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        # isspace() stops at the first non-blank byte; strip() would copy every line.
        if not line or line.isspace():
            continue
        try:
            value = loads(line)
        except decode_error as exc:
            counts.read += 1
            counts.rejected += 1
            collector.reject(f"{label}:{lineno}", f"malformed JSON line ({exc})",
                             line.decode("utf-8", "replace"))
            continue
        yield Document(f"{label}:{lineno}", value)


def is_path_source(source: Any) -> bool:
    """Whether ``source`` names files: a path, or a non-empty list of paths."""
    if isinstance(source, (str, os.PathLike)):
        return True
    return bool(isinstance(source, (list, tuple)) and source and all(
        isinstance(s, (str, os.PathLike)) for s in source))


def iter_files(source: Any) -> Iterator[Path]:
    """The files of a path source, in reading order, found as they are reached.

    A missing path raises :class:`FileNotFoundError` and a directory without
    JSON files :class:`ValueError` only when the reading gets to it, after
    the files before it.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory")
        yield from (_list_dir(path) if path.is_dir() else [path])
        return
    for item in source:
        yield from iter_files(item)


def iter_documents(source: Any, collector: Collector, counts: ReadCounts) -> Iterator[Document]:
    """Yield the JSON documents of ``source``.

    Parameters
    ----------
    source : path, list of paths, dict, list of dicts, SDK model object(s)
        A path is a ``.json`` / ``.jsonl`` / ``.ndjson`` file (optionally
        ``.gz``) or a directory searched recursively for them, in sorted order.
    collector, counts
        Where unparseable documents go; they count as read and rejected.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        The directory holds no JSON files.
    """
    if is_path_source(source):
        for file in iter_files(source):
            yield from iter_file(file, collector, counts)
        return
    source = to_plain(source)
    if isinstance(source, dict):
        yield Document("object", source)
    elif isinstance(source, (list, tuple)):
        for i, item in enumerate(source):
            yield Document(f"object[{i}]", to_plain(item))
    else:
        raise TypeError(f"Cannot read {type(source).__name__!r}: expected a path, a dict, a list "
                        "of dicts, or an SDK model object with to_map()")


def iter_paths(paths: Iterable[Any]) -> list[Path]:
    """Existing files of ``paths`` (directories expanded), for hashing in provenance."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        out.extend(_list_dir(p) if p.is_dir() else [p])
    return out
