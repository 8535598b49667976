"""The ledger entry: everything needed to undo or replay one merge exactly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LedgerEntry", "LedgerError"]


class LedgerError(ValueError):
    """A merge cannot be undone or replayed, or a saved ledger does not fit.

    Raised when an undo is asked of a state the merge's effects are no
    longer separable from, when a recorded entry does not reproduce on the
    faces it is replayed on, and when a ledger file is malformed or was saved
    for other faces.

    Examples
    --------
    >>> import numpy as np
    >>> from toolkit.clustering import ClusterState, Ledger
    >>> Ledger(ClusterState.from_arrays(np.eye(2), ["a", "b"])).undo_last()
    Traceback (most recent call last):
    ...
    toolkit.clustering._entry.LedgerError: The ledger holds no merges to undo.
    """


def freeze_json(value: Any) -> Any:
    """A read-only copy of a JSON value: mappings become read-only, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze_json(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze_json(v) for v in value)
    return value


def thaw_json(value: Any) -> Any:
    """Plain ``dict`` / ``list`` copy of a value made by :func:`freeze_json`."""
    if isinstance(value, Mapping):
        return {k: thaw_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw_json(v) for v in value]
    return value


def check_time(at: Any) -> datetime:
    """A timezone-aware UTC ``datetime`` for ``at`` (default: now)."""
    if at is None:
        return datetime.now(timezone.utc)
    if isinstance(at, pd.Timestamp):
        at = at.to_pydatetime()
    if not isinstance(at, datetime):
        raise TypeError(f"The value for `at` must be a timezone-aware datetime, but "
                        f"{type(at).__name__} {at!r} was passed.")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"The value for `at` must be timezone-aware, but the naive datetime "
                         f"{at.isoformat()} was passed; use datetime(..., tzinfo=timezone.utc).")
    return at.astimezone(timezone.utc)


def check_task_id(task_id: Any) -> str | None:
    if task_id is None or (isinstance(task_id, str) and task_id):
        return task_id
    raise ValueError(f"The value for `task_id` must be a non-empty string or None, but "
                     f"{task_id!r} was passed.")


def readonly(array: np.ndarray) -> np.ndarray:
    """Mark an array this module owns read-only and return it."""
    array.flags.writeable = False
    return array


def _frozen_array(value: Any, dtype: type) -> np.ndarray:
    """A read-only array of ``dtype``; copies unless it already is one."""
    owned = not isinstance(value, np.ndarray)
    array = np.asarray(value)
    if array.dtype != dtype:
        if dtype is np.int64 and array.size == 0:
            array = array.astype(dtype)
        elif not np.can_cast(array.dtype, dtype, casting="safe"):
            raise LedgerError(f"LedgerEntry: expected {np.dtype(dtype)} values, got {array.dtype}")
        array = array.astype(dtype)
    elif array.flags.writeable and not owned:
        array = array.copy()
    return readonly(array)


_ARRAY_FIELDS = ("to_sum_before", "source_sums", "feature_before", "feature_after")


@dataclass(frozen=True, eq=False)
class LedgerEntry:
    """One merge as applied to a :class:`ClusterState`.

    Built by :meth:`ClusterState.merge`; holds what :meth:`ClusterState.undo`
    needs to restore the prior state bit for bit (the destination's and every
    source's exact float64 sums, not differences) and what replay needs to
    check it reproduces the same result.

    Attributes
    ----------
    to : str
        Destination cluster id; it keeps its id.
    sources : tuple of str
        Source cluster ids in request order; they no longer exist after the merge.
    source_field : {"From", "Froms"}
        Which request field named the sources.
    member_positions : tuple of ndarray of int64
        Per source, the positions (rows of the FaceSet) of its faces, ascending.
    member_face_ids : tuple of tuple of str
        Per source, the ``face_id`` of those faces.
    to_count_before : int
        Faces in the destination before the merge.
    source_counts : tuple of int
        Faces in each source.
    to_sum_before : ndarray of shape (dim,), float64
        The destination's sum of member vectors before the merge.
    source_sums : ndarray of shape (n_sources, dim), float64
        Each source's sum of member vectors.
    feature_before, feature_after : ndarray of shape (dim,), float64
        The destination's group feature (unit centroid) before and after; the
        vector IMM updates on a merge.
    at : datetime
        When the merge was applied (timezone-aware UTC).
    user_data : str or None
        The request's ``UserData``.
    tags : mapping or None
        The request's ``Tags``, frozen (read-only mappings, lists as tuples).
    task_id : str or None
        The recorded task this merge replays, when known.

    Notes
    -----
    Entries compare equal (``==``) when every field is identical, arrays bit
    for bit.

    Examples
    --------
    >>> import numpy as np
    >>> from toolkit.clustering import ClusterState
    >>> state = ClusterState.from_arrays(np.eye(3), ["a", "a", "b"])
    >>> after, entry = state.merge("a", from_="b")
    >>> entry.to, entry.sources, entry.to_count_before, entry.source_counts
    ('a', ('b',), 2, (1,))
    >>> after.undo(entry).equals(state)
    True
    """

    to: str
    sources: tuple[str, ...]
    source_field: str
    member_positions: tuple[np.ndarray, ...]
    member_face_ids: tuple[tuple[str, ...], ...]
    to_count_before: int
    source_counts: tuple[int, ...]
    to_sum_before: np.ndarray
    source_sums: np.ndarray
    feature_before: np.ndarray
    feature_after: np.ndarray
    at: datetime
    user_data: str | None = None
    tags: Mapping[str, Any] | None = None
    task_id: str | None = None

    def __post_init__(self) -> None:
        def bad(name: str, expected: str, got: Any) -> LedgerError:
            return LedgerError(f"LedgerEntry: field {name!r} must be {expected}, got {got!r}")

        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if not isinstance(self.to, str):
            raise bad("to", "a cluster id string", self.to)
        put("sources", tuple(self.sources))
        m = len(self.sources)
        if m == 0 or not all(isinstance(s, str) for s in self.sources):
            raise bad("sources", "a non-empty tuple of cluster id strings", self.sources)
        if self.source_field not in ("From", "Froms") or (self.source_field == "From" and m != 1):
            raise bad("source_field", "'From' (one source) or 'Froms'", self.source_field)
        positions = tuple(_frozen_array(p, np.int64) for p in self.member_positions)
        if len(positions) != m or any(p.ndim != 1 for p in positions):
            raise bad("member_positions", f"{m} 1-D arrays of face positions",
                      self.member_positions)
        put("member_positions", positions)
        put("member_face_ids", tuple(tuple(ids) for ids in self.member_face_ids))
        if [len(ids) for ids in self.member_face_ids] != [p.size for p in positions]:
            raise bad("member_face_ids", "one face id per member position", self.member_face_ids)
        put("source_counts", tuple(int(c) for c in self.source_counts))
        if list(self.source_counts) != [p.size for p in positions]:
            raise bad("source_counts", "the number of members of each source",
                      self.source_counts)
        put("to_count_before", int(self.to_count_before))
        if self.to_count_before < 0:
            raise bad("to_count_before", "a count >= 0", self.to_count_before)
        for name in _ARRAY_FIELDS:
            put(name, _frozen_array(getattr(self, name), np.float64))
        dim = self.to_sum_before.shape[-1] if self.to_sum_before.ndim else -1
        shapes = {"to_sum_before": (dim,), "source_sums": (m, dim),
                  "feature_before": (dim,), "feature_after": (dim,)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise bad(name, f"a float64 array of shape {shape}", getattr(self, name).shape)
        if not isinstance(self.at, datetime) or self.at.utcoffset() is None:
            raise bad("at", "a timezone-aware datetime", self.at)
        if self.user_data is not None and not isinstance(self.user_data, str):
            raise bad("user_data", "a string or None", self.user_data)
        if self.tags is not None:
            put("tags", freeze_json(self.tags))
        if self.task_id is not None and not isinstance(self.task_id, str):
            raise bad("task_id", "a string or None", self.task_id)

    @property
    def n_moved(self) -> int:
        """Faces that changed cluster: the sum of ``source_counts``."""
        return int(sum(self.source_counts))

    @property
    def to_count_after(self) -> int:
        """Faces in the destination after the merge."""
        return self.to_count_before + self.n_moved

    def to_sum_after(self) -> np.ndarray:
        """The destination's sum after the merge, added in the order merge adds it.

        ``to_sum_before + source_sums[0] + source_sums[1] + ...``, left to
        right, so the bits equal the merged state's row.
        """
        acc = self.to_sum_before.copy()
        for row in self.source_sums:
            acc = acc + row
        return acc

    @property
    def feature_similarity(self) -> float:
        """Cosine between the destination's feature before and after, in [-1, 1].

        1 means the merge left the group feature where it was; lower values
        mean the merge moved it (and so moves later incremental clustering).
        Zero when either feature is zero.
        """
        return float(np.dot(self.feature_before, self.feature_after))

    def request(self) -> dict[str, Any]:
        """The merge request in IMM wire keys: ``To``, ``From`` or ``Froms``,
        and ``UserData`` / ``Tags`` when given."""
        req: dict[str, Any] = {"To": self.to}
        if self.source_field == "From":
            req["From"] = self.sources[0]
        else:
            req["Froms"] = list(self.sources)
        if self.user_data is not None:
            req["UserData"] = self.user_data
        if self.tags is not None:
            req["Tags"] = thaw_json(self.tags)
        return req

    def differences(self, other: "LedgerEntry", *, feature_atol: float = 0.0) -> list[str]:
        """Names of the fields where ``other`` differs.

        Arrays are compared bit for bit, except ``feature_before`` and
        ``feature_after`` when ``feature_atol`` > 0: they are computed with
        numpy's reductions, whose last bit may vary between builds and CPUs,
        while sums are plain IEEE additions done in a fixed order.
        """
        out = []
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name in ("feature_before", "feature_after") and feature_atol > 0:
                same = a.shape == b.shape and np.allclose(a, b, rtol=0, atol=feature_atol)
            elif f.name in _ARRAY_FIELDS:
                same = a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
            elif f.name == "member_positions":
                same = len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
            elif f.name == "tags":
                same = thaw_json(a) == thaw_json(b)
            else:
                same = a == b
            if not same:
                out.append(f.name)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LedgerEntry):
            return NotImplemented
        return not self.differences(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        src = self.sources[0] if self.source_field == "From" else list(self.sources)
        task = f", task_id={self.task_id!r}" if self.task_id else ""
        return (f"LedgerEntry(to={self.to!r}, {self.source_field.lower()}={src!r}, "
                f"moved={self.n_moved}, at={self.at.isoformat()}{task})")
