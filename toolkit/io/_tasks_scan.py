"""The scan shared by the task readers: documents to records to column batches.

Records are read in chunks. Within a chunk, IMM task records parsed from
JSON text go through the bulk route (``_tasks_bulk``), everything else through
the record parser (``_tasks_records``); times are parsed per chunk, all at
once. Rejections are held back until the end of the chunk and then handed to
the collector in read order, so with ``errors="raise"`` the first bad record
in the input is the one that raises, and with ``errors="collect"`` the
rejected frame lists records in the order they were read.

A JSON-lines file of IMM task records is first offered whole to Arrow's JSON
reader (``_tasks_arrow``); the file is read line by line when that route
declines it. Batches need not come in read order: each row carries its read
position ``seq``, which every later step orders by.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import pandas as pd

from ..errors import RecordError
from ._source import (Collector, Document, ReadCounts, is_json_lines, is_path_source,
                      iter_documents, iter_file, iter_files, read_file)
from ._tasks_arrow import LinesBatch, read_imm_lines
from ._tasks_bulk import bulk_imm_tasks, imm_fields
from ._tasks_columns import concat_batches, rows_to_batch
from ._tasks_records import (BAD, IMM_TASK, BadRecord, Row, imm_task_row, iter_records,
                             parse_record, row_times)

__all__ = ["scan_tasks", "Rejections", "gc_paused", "ScanResult"]

# Records per chunk: large enough for the bulk route to pay off, small enough that with
# errors="raise" a bad record is reported soon after it is read.
CHUNK = 50_000
# Whether JSON-lines files are offered to Arrow's reader first (tests switch it off to
# compare the two routes).
ARROW_LINES = True


class Rejections:
    """Rejected records held back per chunk and handed to the collector in read order."""

    def __init__(self, collector: Collector, counts: ReadCounts) -> None:
        self.collector = collector
        self.counts = counts
        self.pending: list[tuple[int, str, Any, BadRecord]] = []
        # Read position of each row of collector.rows, to put the rejected frame in read order.
        self.seqs: list[int] = []

    def sync(self) -> None:
        """Note the documents the document source rejected on its own (unparseable ones)."""
        missing = len(self.collector.rows) - len(self.seqs)
        if missing > 0:
            self.seqs.extend([self.counts.read] * missing)

    def add(self, seq: int, source: str, raw: Any, bad: BadRecord) -> None:
        self.pending.append((seq, source, raw, bad))

    def flush(self) -> None:
        """Count and hand over the pending rejections; with errors="raise" the first raises."""
        self.sync()
        pending, self.pending = sorted(self.pending, key=lambda p: p[0]), []
        for seq, source, raw, bad in pending:
            self.counts.rejected += 1
            self.collector.reject(source, bad.reason, raw, field=bad.field,
                                  expected=bad.expected, got=bad.got)
            self.seqs.append(seq)

    def frame(self) -> pd.DataFrame:
        """The rejected records in read order: ``source``, ``reason``, ``raw``."""
        self.sync()
        order = sorted(range(len(self.seqs)), key=self.seqs.__getitem__)
        rows = self.collector.rows
        return pd.DataFrame([rows[i] for i in order], columns=["source", "reason", "raw"])


@dataclass
class ScanResult:
    batch: dict
    unknown_states: set[str] = field(default_factory=set)
    skipped: int = 0


class _Chunk:
    """The records of one chunk, on their way to a column batch."""

    def __init__(self) -> None:
        self.bulk: list[dict] = []
        self.bulk_fields: list[tuple] = []
        self.bulk_sources: list[str] = []
        self.bulk_seqs: list[int] = []
        self.bulk_projects: dict[int, str] = {}  # position -> ProjectName of its ListTasks page
        self.rows: list[Row] = []
        self.row_raws: list[Any] = []
        self.row_seqs: list[int] = []

    def add_bulk(self, record: dict, source: str, project: Any, seq: int) -> None:
        if project is not None:
            self.bulk_projects[len(self.bulk)] = project
        self.bulk.append(record)
        self.bulk_fields.append(imm_fields(record))
        self.bulk_sources.append(source)
        self.bulk_seqs.append(seq)

    def add_row(self, row: Row, raw: Any, seq: int) -> None:
        self.rows.append(row)
        self.row_raws.append(raw)
        self.row_seqs.append(seq)

    def to_batches(self, rejections: Rejections) -> list[dict]:
        batches = []
        if self.bulk:
            projects = [None] * len(self.bulk)
            for i, project in self.bulk_projects.items():
                projects[i] = project
            batch, deferred = bulk_imm_tasks(self.bulk_fields, self.bulk_sources, projects,
                                             self.bulk_seqs)
            batches.append(batch)
            for i in deferred.tolist():
                raw, source, seq = self.bulk[i], self.bulk_sources[i], self.bulk_seqs[i]
                try:
                    self.add_row(imm_task_row(raw, source, project=projects[i]), raw, seq)
                except BadRecord as bad:
                    rejections.add(seq, source, raw, bad)
        if self.rows:
            times, bad_times = row_times(self.rows)
            if bad_times:
                for i, bad in bad_times.items():
                    rejections.add(self.row_seqs[i], self.rows[i].source, self.row_raws[i], bad)
                keep = [i for i in range(len(self.rows)) if i not in bad_times]
                self.rows = [self.rows[i] for i in keep]
                self.row_seqs = [self.row_seqs[i] for i in keep]
                times = {key: value[keep] for key, value in times.items()}
            batches.append(rows_to_batch(self.rows, times, self.row_seqs))
        return batches


def scan_tasks(source: Any, collector: Collector, counts: ReadCounts, rejections: Rejections, *,
               kinds: tuple[str, ...], observations: bool = False) -> ScanResult:
    """Read every record of ``source`` whose kind is in ``kinds`` into one column batch.

    Records of another known kind are not this reader's records: they are
    counted as *skipped* and not as read. Records of unknown shape are read
    and rejected. With ``observations=True`` a record without an observation
    time is rejected. ``counts.read`` and ``counts.rejected`` are kept up to
    date; accepted and duplicates are the reader's to fill in.
    """
    # Only values parsed from JSON text may take the bulk route (see _tasks_bulk).
    bulk = IMM_TASK in kinds and is_path_source(source)
    result = ScanResult(batch={})
    batches: list[dict] = []
    chunk = _Chunk()
    flush_at = CHUNK

    def flush() -> None:
        nonlocal chunk
        done, chunk = chunk, _Chunk()
        batches.extend(done.to_batches(rejections))
        rejections.flush()

    def appenders() -> tuple:
        return (chunk.bulk.append, chunk.bulk_fields.append, chunk.bulk_sources.append,
                chunk.bulk_seqs.append)

    # What follows runs once per JSON line: hence the bound methods and the inlined
    # chunk.add_bulk below.
    add_record, add_fields, add_source, add_seq = appenders()
    rejected_rows, rejected_seqs = collector.rows, rejections.seqs
    documents = (_files(source, collector, counts) if bulk and ARROW_LINES
                 else iter_documents(source, collector, counts))
    try:
        for doc in documents:
            if len(rejected_rows) != len(rejected_seqs):
                rejections.sync()
            if type(doc) is LinesBatch:
                counts.read += doc.records
                batches.append(doc.batch)
                if counts.read >= flush_at:
                    flush()
                    flush_at = counts.read + CHUNK
                    add_record, add_fields, add_source, add_seq = appenders()
                continue
            value = doc.value
            # One GetTask body per JSON line is the bulk of any large input: skip the shape
            # dispatch for it (iter_records would say IMM_TASK too: it has TaskId and Status).
            if bulk and type(value) is dict and "TaskId" in value and "Status" in value:
                counts.read += 1
                add_record(value)
                add_fields(imm_fields(value))
                add_source(doc.source)
                add_seq(counts.read)
            else:
                _dispatch(value, doc.source, chunk, kinds, bulk, observations, counts,
                          rejections, result)
            if counts.read >= flush_at:
                flush()
                flush_at = counts.read + CHUNK
                add_record, add_fields, add_source, add_seq = appenders()
    except RecordError as err:
        # errors="raise" and a document could not be parsed: a record read before it may be
        # bad too, and must be the one reported.
        source_error = err
    else:
        source_error = None
    flush()
    if source_error is not None:
        raise source_error
    result.batch = concat_batches(batches)
    return result


def _files(source: Any, collector: Collector,
           counts: ReadCounts) -> Iterator[Document | LinesBatch]:
    """The documents of each file, or the whole file as a batch when Arrow's route takes it."""
    for path in iter_files(source):
        content = read_file(path)
        if content.problem is None and is_json_lines(path):
            lines = read_imm_lines(content.data, str(path), counts.read + 1)
            if lines is not None:
                yield lines
                continue
        yield from iter_file(path, collector, counts, content)


def _dispatch(value: Any, source: str, chunk: _Chunk, kinds: tuple[str, ...], bulk: bool,
              observations: bool, counts: ReadCounts, rejections: Rejections,
              result: ScanResult) -> None:
    for kind, where, raw, context in iter_records(value, source):
        if kind != BAD and kind not in kinds:
            result.skipped += 1
            continue
        counts.read += 1
        if bulk and kind == IMM_TASK and type(raw) is dict:
            chunk.add_bulk(raw, where, context, counts.read)
            continue
        try:
            row = parse_record(kind, where, raw, context, result.unknown_states)
            if observations and row.seen in (None, ""):
                raise BadRecord("no observation time", field=row.time_fields[2],
                                expected="the envelope time (epoch ms) or the message's "
                                "EndTime", got=row.seen)
        except BadRecord as bad:
            rejections.add(counts.read, where, raw, bad)
            continue
        chunk.add_row(row, raw, counts.read)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while reading.

    Records are acyclic, and with hundreds of thousands of freshly parsed dicts
    alive every automatic collection would traverse them all again: pausing
    it cuts the reading time of a large file by a third or more.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
