"""JSON-lines files of IMM task records, parsed by Arrow in one go.

The common large input is a file of GetTask bodies, one per line. Parsing it
line by line makes a Python dict per line and a Python object per field, and
that alone costs more than everything else the reader does. Arrow's JSON
reader parses the whole file on all cores straight into typed columns, and
the column checks of ``_tasks_bulk`` take those columns as they are.

This route only takes a file when it can vouch that the result is the one
the line-by-line route (``_source`` + ``_tasks_scan``) would give; otherwise
:func:`read_imm_lines` returns ``None`` and the file is read line by line.
What it checks, and why:

- every non-blank line starts with ``{`` and ends with ``}``, and Arrow finds
  as many records as there are such lines, so record *i* is the *i*-th of
  them (its line number goes into ``source``);
- the bytes are valid UTF-8 (Arrow does not check; orjson rejects the line);
- every key is one of :data:`~toolkit.io._tasks_bulk.BULK_KEYS`, once (Arrow
  refuses a repeated key): an unknown key might hold what Arrow accepts and
  orjson refuses (``NaN``), and it would be invisible here;
- ``TaskId`` and ``Status`` are on every line, not null (a line without them
  may be another shape of record);
- the string fields hold JSON strings and ``Progress`` an integer: Arrow's
  explicit schema refuses anything else, and so the whole file;
- ``Tags`` objects: Arrow only says which lines hold one; their text is cut
  out of the line and parsed by orjson, so keys, their order and values are
  orjson's. ``UserData`` and ``TaskRequestDefinition`` are parsed by the bulk
  checks, as on the other route.

A record the column checks doubt (``Status`` ``"RUNNING"``, a ``Tags`` text
that cannot be cut out...) is parsed from its line by orjson and the record
parser, as the bulk route does. If any record of the file is bad, the whole
file goes back to the line-by-line route, so that rejections, their order,
their ``file:line`` and the counts stay exactly what that route gives.
"""

from __future__ import annotations

import re
from typing import Iterator, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ._tasks_bulk import BULK_KEYS, imm_task_columns, loads_each
from ._tasks_columns import concat_batches, rows_to_batch
from ._tasks_records import BadRecord, imm_task_row, row_times

__all__ = ["read_imm_lines", "LinesBatch"]

_STR = pa.large_string()
# Tags is left to inference: a struct whose validity says which lines hold an object.
_SCHEMA = pa.schema([(key, pa.int64() if key == "Progress" else _STR)
                     for key in BULK_KEYS if key != "Tags"])
_PARSE = pj.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="infer")
_KNOWN = frozenset(BULK_KEYS)
_BLOCK = 1 << 22
# A "Tags" key followed by an object without objects inside. Outside Tags objects no key
# "Tags" can hold an object but the top-level one (no other top-level value is an object,
# and a quote inside a string is escaped).
_TAGS = re.compile(rb'"Tags"[ \t\r\n]*:[ \t\r\n]*(?P<tags>\{[^{}]*\})')
_NEWLINE, _CR, _OPEN, _CLOSE = ord("\n"), ord("\r"), ord("{"), ord("}")


class LinesBatch(NamedTuple):
    """The records of one file as a column batch; ``records`` of them were read."""

    batch: dict
    records: int


class _Lines(NamedTuple):
    text: pa.LargeStringArray  # each record's line (with its line break)
    starts: np.ndarray  # byte offset of each record's line in the file
    ends: np.ndarray
    numbers: np.ndarray  # 1-based line numbers


def _line_breaks(buf: np.ndarray, step: int = 1 << 22) -> Iterator[np.ndarray]:
    """Positions just after each line break, a few MB at a time.

    A mask of the whole file would be as large as the file: fresh memory, slow to fault in.
    """
    mask = np.empty(min(step, len(buf)), dtype=bool)
    for begin in range(0, len(buf), step):
        part = buf[begin:begin + step]
        found = mask[:len(part)]
        np.equal(part, _NEWLINE, out=found)
        yield np.flatnonzero(found) + (begin + 1)


def _lines(data: bytes) -> _Lines | None:
    """The non-blank lines, when each of them starts with ``{`` and ends with ``}``.

    Arrow's parser does not stop at line breaks: a record cut over two lines
    would be one record to it. A line that starts with ``{`` cannot continue
    a record whose previous line ended with ``}`` (JSON strings hold no raw
    line break), so with both ends checked, one record per line is one line
    per record, and the record count tells the rest.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    starts = np.concatenate([np.zeros(1, dtype=np.int64), *_line_breaks(buf)])
    ends = np.append(starts[1:], len(buf))
    # The content of each line, without its "\n" (every line but the last has one) and "\r".
    stop = ends - 1
    stop[-1] = len(buf)
    stop -= (stop > starts) & (buf[np.maximum(stop - 1, 0)] == _CR)
    blank = stop == starts
    first = buf[np.where(blank, 0, starts)]
    last = buf[np.where(blank, 0, stop - 1)]
    if not (blank | ((first == _OPEN) & (last == _CLOSE))).all():
        return None
    numbers = np.arange(1, len(starts) + 1)
    # The usual blank line is the empty one after the last line break: cut it off rather
    # than copy every line through a filter.
    count = len(starts)
    while count and blank[count - 1]:
        count -= 1
    if not count:
        return None
    starts, ends, numbers, blank = starts[:count], ends[:count], numbers[:count], blank[:count]
    text = pa.LargeStringArray.from_buffers(count, pa.py_buffer(np.append(starts, ends[-1:])),
                                            pa.py_buffer(data))
    if blank.any():
        keep = ~blank
        text = text.filter(pa.array(keep))
        starts, ends, numbers = starts[keep], ends[keep], numbers[keep]
    if not data.isascii():
        try:
            text.validate(full=True)  # UTF-8 of every line
        except pa.ArrowInvalid:
            return None
    return _Lines(text, starts, ends, numbers)


def _holds_objects(kind: pa.DataType) -> bool:
    if pa.types.is_struct(kind):
        return True
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _holds_objects(kind.value_type)
    return False


def _tags(column: pa.ChunkedArray, data: bytes, lines: _Lines,
          deferred: np.ndarray) -> list | None:
    """Tags of every record (dict or None); records whose text cannot be cut out are deferred.

    Without objects inside Tags objects, a line holds at most one match of
    :data:`_TAGS`, on its top-level key; the match is the object's text unless a
    string inside it holds a brace, and then it is no JSON. When there are as
    many matches in the file as lines with Tags, each of those lines has its
    own; otherwise they are looked for line by line.
    """
    n = len(column)
    if pa.types.is_null(column.type):
        return [None] * n
    if not pa.types.is_struct(column.type):
        return None  # e.g. Tags as JSON text on every line: the record parser reads those
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    tags: list = [None] * n
    if any(_holds_objects(child.type) for child in column.type):
        # A "Tags" key inside could pass for the top-level one: every record by its line.
        deferred |= valid
        return tags
    positions = np.flatnonzero(valid)
    found: list = _TAGS.findall(data)
    if len(found) != len(positions):  # some Tags key is written with escapes
        text = lines.text if len(positions) == n else lines.text.take(pa.array(positions))
        found = [b"" if t is None else t for t in
                 pc.extract_regex(text, _TAGS.pattern.decode()).field("tags").to_pylist()]
    parsed, not_json = loads_each(found)
    deferred[positions[not_json]] = True
    if len(positions) == n:
        return parsed
    for i, value in zip(positions.tolist(), parsed):
        tags[i] = value
    return tags


def _first_line_is_ours(data: bytes) -> bool:
    """Cheap look at the first line, so that files of other records are not parsed twice."""
    end = data.find(b"\n")
    try:
        first = orjson.loads(data[: end if end >= 0 else len(data)])
    except orjson.JSONDecodeError:
        return False
    return (type(first) is dict and "TaskId" in first and "Status" in first
            and _KNOWN.issuperset(first))


def read_imm_lines(data: bytes, label: str, first_seq: int) -> LinesBatch | None:
    """A JSON-lines file of IMM task records as a column batch, or ``None`` when not ours.

    Parameters
    ----------
    data : bytes
        The whole file (decompressed).
    label : str
        The file's source label; records get ``label:line``.
    first_seq : int
        Read position (1-based) of the file's first record.

    Returns
    -------
    LinesBatch or None
        The batch (see ``toolkit.io._tasks_columns``) and the number of
        records read, each accepted; ``None`` when the file holds anything
        this route does not vouch for (see the module notes), including any
        bad record.
    """
    if not _first_line_is_ours(data):
        return None
    lines = _lines(data)
    if lines is None:
        return None
    # Arrow wants every line inside one block: blocks of a few MB, more for a longer line.
    longest = int((lines.ends - lines.starts).max())
    options = pj.ReadOptions(block_size=max(_BLOCK, 2 * longest))
    try:
        table = pj.read_json(pa.BufferReader(data), read_options=options, parse_options=_PARSE)
    except (pa.ArrowException, ValueError):
        return None
    n = table.num_rows
    if (n != len(lines.text) or not _KNOWN.issuperset(table.column_names)
            or table.column("TaskId").null_count or table.column("Status").null_count):
        return None
    deferred = np.zeros(n, dtype=bool)
    columns: dict = {key: table.column(key) for key in BULK_KEYS if key != "Tags"}
    if "Tags" in table.column_names:
        columns["Tags"] = _tags(table.column("Tags"), data, lines, deferred)
        if columns["Tags"] is None:
            return None
    else:
        columns["Tags"] = [None] * n
    columns["TaskRequestDefinition"] = columns["TaskRequestDefinition"].to_pylist()
    numbers = pa.array(lines.numbers).cast(_STR)
    sources = pc.binary_join_element_wise(pa.scalar(f"{label}:", _STR), numbers,
                                          pa.scalar("", _STR))
    seqs = np.arange(first_seq, first_seq + n, dtype=np.int64)
    batch, doubted = imm_task_columns(columns, n, sources, None, seqs, deferred=deferred,
                                      tags_checked=True)
    if not len(doubted):
        return LinesBatch(batch, n)
    # As the bulk route: the doubted records parsed one by one, here from their line.
    rows = []
    for i in doubted.tolist():
        try:
            value = orjson.loads(data[lines.starts[i]:lines.ends[i]])
        except orjson.JSONDecodeError:
            return None
        if type(value) is not dict or "TaskId" not in value or "Status" not in value:
            return None
        try:
            rows.append(imm_task_row(value, f"{label}:{lines.numbers[i]}"))
        except BadRecord:
            return None
    times, bad_times = row_times(rows)
    if bad_times:
        return None
    return LinesBatch(concat_batches([batch, rows_to_batch(rows, times, seqs[doubted])]), n)
