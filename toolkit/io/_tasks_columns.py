"""Column batches: the accepted task records of the readers, column by column.

A *batch* is a dict of equal-length columns, one per key of
:data:`BATCH_KEYS`: strings and nullable integers as Arrow arrays (cheap to
build, validate, sort and hand to pandas), times as int64 nanoseconds
(``NaT`` = int64 min), parsed JSON values as numpy object arrays. ``seq`` is
each record's position in read order (1-based), which decides ties.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from ._tasks_records import ROW_KEYS, Row

__all__ = ["STR_KEYS", "INT_KEYS", "TIME_KEYS", "OBJECT_KEYS", "BATCH_KEYS", "NAT",
           "rows_to_batch", "concat_batches", "take_batch", "take_column", "str_array",
           "int_array", "object_array", "to_numpy"]

NAT = np.iinfo(np.int64).min
STR_KEYS = ("provider", "task_id", "task_type", "status", "state", "code", "message",
            "merge_to", "merge_from", "batch_id", "project", "dataset", "event_id",
            "request_id", "source")
INT_KEYS = ("progress", "total_count", "succeed_count", "failed_count")
TIME_KEYS = ("start_time", "end_time", "seen")
OBJECT_KEYS = ("user_data", "tags", "request", "merge_froms", "merge_sources")
BATCH_KEYS = STR_KEYS + INT_KEYS + TIME_KEYS + OBJECT_KEYS + ("is_batch", "seq")
_STR = pa.large_string()


def str_array(values: Sequence[Any]) -> pa.Array:
    return pa.array(values, type=_STR)


def int_array(values: Sequence[Any]) -> pa.Array:
    return pa.array(values, type=pa.int64())


def object_array(values: Sequence[Any]) -> np.ndarray:
    # np.fromiter keeps each element as it is: np.array would turn equal-length lists into 2-D.
    return np.fromiter(values, dtype=object, count=len(values))


def rows_to_batch(rows: list[Row], times: dict[str, np.ndarray], seqs: Sequence[int]) -> dict:
    """Rows (times already parsed to ``times``) to a batch."""
    columns = dict(zip(ROW_KEYS, zip(*rows))) if rows else dict.fromkeys(ROW_KEYS, ())
    batch: dict[str, Any] = {key: str_array(columns[key]) for key in STR_KEYS}
    batch.update({key: int_array(columns[key]) for key in INT_KEYS})
    batch.update({key: np.asarray(times[key], dtype=np.int64) for key in TIME_KEYS})
    batch.update({key: object_array(columns[key]) for key in OBJECT_KEYS})
    batch["is_batch"] = np.fromiter(columns["is_batch"], dtype=bool, count=len(rows))
    batch["seq"] = np.asarray(seqs, dtype=np.int64)
    return batch


def _empty_batch() -> dict:
    return rows_to_batch([], {key: () for key in TIME_KEYS}, ())


def _is_arrow(value: Any) -> bool:
    return isinstance(value, (pa.Array, pa.ChunkedArray))


def concat_batches(batches: list[dict]) -> dict:
    """One batch holding the rows of all, in the given order.

    Arrow columns become chunked arrays: no string is copied.
    """
    batches = [b for b in batches if len(b["seq"])]
    if not batches:
        return _empty_batch()
    if len(batches) == 1:
        return batches[0]
    out: dict[str, Any] = {}
    for key in BATCH_KEYS:
        parts = [b[key] for b in batches]
        if _is_arrow(parts[0]):
            chunks = [c for p in parts for c in (p.chunks if isinstance(p, pa.ChunkedArray)
                                                  else [p])]
            out[key] = pa.chunked_array(chunks, type=parts[0].type)
        else:
            out[key] = np.concatenate(parts)
    return out


def take_column(values: Any, indices: np.ndarray) -> Any:
    """The values at ``indices`` (int positions) of one column, in that order."""
    indices = np.asarray(indices, dtype=np.intp)
    if _is_arrow(values):
        return values.take(pa.array(indices, type=pa.int64()))
    return values[indices]


def take_batch(batch: dict, indices: np.ndarray) -> dict:
    """The rows at ``indices`` (int positions), in that order."""
    indices = np.asarray(indices, dtype=np.intp)
    arrow_indices = pa.array(indices, type=pa.int64())
    return {key: (value.take(arrow_indices) if _is_arrow(value) else value[indices])
            for key, value in batch.items()}


def to_numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow array (chunked or not, without nulls) as a numpy array."""
    if isinstance(values, pa.ChunkedArray):
        return values.to_numpy()
    return values.to_numpy(zero_copy_only=False)
