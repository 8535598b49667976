"""The merge ledger: an initial state, the merges applied to it, and JSON files."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import orjson
import pandas as pd
from tqdm.auto import tqdm

from ..errors import MergeError, RecordError
from ..faceset import FaceSet
from ._entry import LedgerEntry, LedgerError, thaw_json
from ._state import ClusterState

__all__ = ["Ledger"]

FORMAT = "toolkit-merge-ledger"
_CACHED_STATES = 4
VERSION = 1


def _fingerprint(face_ids: np.ndarray, embeddings: np.ndarray) -> str:
    """sha256 of the face ids (in order) and the exact float32 embedding bits."""
    h = hashlib.sha256()
    h.update(f"{embeddings.shape[0]}x{embeddings.shape[1]}\n".encode())
    h.update(orjson.dumps(face_ids.tolist()))
    h.update(np.ascontiguousarray(embeddings, dtype="<f4"))
    return "sha256:" + h.hexdigest()


def _array_digest(array: np.ndarray) -> str:
    return "sha256:" + hashlib.sha256(np.ascontiguousarray(array, dtype="<f8")).hexdigest()


def _entry_to_json(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "to": entry.to, "source_field": entry.source_field, "sources": list(entry.sources),
        "member_positions": [p.tolist() for p in entry.member_positions],
        "member_face_ids": [list(ids) for ids in entry.member_face_ids],
        "to_count_before": entry.to_count_before, "source_counts": list(entry.source_counts),
        # tolist() gives Python floats, which orjson writes as the shortest
        # text that reads back to the same bits.
        "to_sum_before": entry.to_sum_before.tolist(),
        "source_sums": entry.source_sums.tolist(),
        "feature_before": entry.feature_before.tolist(),
        "feature_after": entry.feature_after.tolist(),
        "at": entry.at.isoformat(), "user_data": entry.user_data,
        "tags": thaw_json(entry.tags), "task_id": entry.task_id,
    }


_ENTRY_KEYS = ("to", "source_field", "sources", "member_positions", "member_face_ids",
               "to_count_before", "source_counts", "to_sum_before", "source_sums",
               "feature_before", "feature_after", "at", "user_data", "tags", "task_id")


def _entry_from_json(raw: Any, source: str) -> LedgerEntry:
    if not isinstance(raw, dict):
        raise RecordError(source, "a ledger entry must be a JSON object", expected="an object",
                          got=raw)
    missing = [k for k in _ENTRY_KEYS if k not in raw]
    if missing:
        raise RecordError(source, "the ledger entry lacks a field", field=missing[0],
                          expected="present", got=None)
    at = raw["at"]
    try:
        at = datetime.fromisoformat(at)
    except (TypeError, ValueError):
        raise RecordError(source, "bad merge time", field="at",
                          expected="an ISO 8601 time with offset", got=at) from None
    try:
        return LedgerEntry(**{**{k: raw[k] for k in _ENTRY_KEYS}, "at": at})
    except (LedgerError, TypeError, ValueError) as exc:
        raise RecordError(source, f"the ledger entry is malformed ({exc})") from None


class Ledger:
    """An initial :class:`ClusterState` and the merges applied to it, in order.

    Building a ledger replays every entry from the initial state and checks
    each reproduces its record exactly (members, counts, sums and features
    bit for bit), so a ledger is always consistent with its faces.

    Parameters
    ----------
    initial : ClusterState
        The state before the first merge.
    entries : iterable of LedgerEntry, default=()
        Merges in the order they were applied.
    progress : bool, default=False
        Show a progress bar while replaying.

    Attributes
    ----------
    initial : ClusterState
    entries : tuple of LedgerEntry
    final : ClusterState
        The state after every entry.

    Raises
    ------
    LedgerError
        An entry does not reproduce on the state before it, or its request
        is not valid there (the :class:`~toolkit.errors.MergeError` is the
        ``__cause__``); the message names the step.

    Examples
    --------
    >>> import numpy as np
    >>> state = ClusterState.from_arrays(np.eye(3), ["a", "b", "c"])
    >>> ledger = Ledger(state).merge("a", from_="b").merge("a", from_="c")
    >>> len(ledger), ledger.final.cluster_ids.tolist()
    (2, ['a'])
    >>> ledger.state_at(1).cluster_ids.tolist()
    ['a', 'c']
    >>> ledger.undo_last().final.equals(ledger.state_at(1))
    True
    """

    def __init__(self, initial: ClusterState, entries: Iterable[LedgerEntry] = (), *,
                 progress: bool = False) -> None:
        if not isinstance(initial, ClusterState):
            raise TypeError(f"Ledger needs a ClusterState as its initial state, but "
                            f"{type(initial).__name__} was passed.")
        entries = tuple(entries)
        for i, entry in enumerate(entries):
            if not isinstance(entry, LedgerEntry):
                raise TypeError(f"entries[{i}] must be a LedgerEntry, but "
                                f"{type(entry).__name__} was passed.")
        state = initial
        for i, entry in enumerate(tqdm(entries, desc="replaying merges", unit="merge",
                                       disable=not progress)):
            state = self._replay(state, entry, i)
        self._set(initial, entries, state)

    @staticmethod
    def _replay(state: ClusterState, entry: LedgerEntry, i: int) -> ClusterState:
        try:
            return state.apply(entry)
        except LedgerError as exc:
            raise LedgerError(f"entries[{i}]: {exc}") from None
        except MergeError as exc:
            # The structured MergeError stays reachable as __cause__.
            raise LedgerError(f"entries[{i}]: {entry!r} is not a valid merge on the state "
                              f"before it: {exc}") from exc

    def _set(self, initial: ClusterState, entries: tuple[LedgerEntry, ...],
             final: ClusterState, states: Mapping[int, ClusterState] | None = None) -> None:
        d = self.__dict__
        d["initial"], d["entries"], d["final"] = initial, entries, final
        d["_states"] = {0: initial, len(entries): final}
        for i, state in (states or {}).items():
            self._remember(i, state)

    def _remember(self, i: int, state: ClusterState) -> None:
        # A few replayed states, so walking state_at(0), state_at(1), ... costs
        # one merge per step; bounded, because each state holds a (k, dim) array.
        cache = self._states
        if i in cache or i > len(self.entries):
            return
        cache[i] = state
        extra = [j for j in cache if j not in (0, len(self.entries))]
        if len(extra) > _CACHED_STATES:
            del cache[extra[0]]

    @classmethod
    def _trusted(cls, initial, entries, final, states=None) -> "Ledger":
        ledger = object.__new__(cls)
        ledger._set(initial, entries, final, states)
        return ledger

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Ledger is immutable: cannot set {name!r}; merge() and "
                             "undo_last() return new ledgers.")

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(self.entries)

    def __getitem__(self, i: int) -> LedgerEntry:
        return self.entries[i]

    def __repr__(self) -> str:
        return (f"Ledger({len(self)} merges; {self.initial.n_clusters} -> "
                f"{self.final.n_clusters} clusters over {self.initial.n_faces} faces)")

    def state_at(self, i: int) -> ClusterState:
        """The state after the first ``i`` merges: ``state_at(0)`` is ``initial``,
        ``state_at(len(ledger))`` is ``final``.

        Parameters
        ----------
        i : int
            0 to ``len(ledger)`` inclusive; negative counts from the end as
            in the list of all ``len(ledger) + 1`` states (``-1`` = ``final``,
            ``-2`` = before the last merge).
        """
        n = len(self.entries)
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool) or not -n - 1 <= i <= n:
            raise IndexError(f"The value for `i` must be an integer from {-n - 1} to {n}, but "
                             f"{i!r} was passed.")
        i = int(i) + (n + 1 if i < 0 else 0)
        start = max(j for j in self._states if j <= i)
        state = self._states[start]
        for j in range(start, i):
            state = self._replay(state, self.entries[j], j)
        self._remember(i, state)
        return state

    def merge(self, to: str, froms: Sequence[str] | None = None, from_: str | None = None, *,
              user_data: str | None = None, tags: Mapping[str, Any] | None = None,
              at: Any = None, task_id: str | None = None) -> "Ledger":
        """A new ledger with one more merge applied to ``final``.

        Takes the arguments of :meth:`ClusterState.merge`.
        """
        state, entry = self.final.merge(to, froms, from_, user_data=user_data, tags=tags,
                                        at=at, task_id=task_id)
        return self._trusted(self.initial, self.entries + (entry,), state, self._states)

    def undo_last(self) -> "Ledger":
        """A new ledger without its last merge (its final state undone exactly)."""
        if not self.entries:
            raise LedgerError("The ledger holds no merges to undo.")
        final = self.final.undo(self.entries[-1])
        n = len(self.entries) - 1
        states = {j: s for j, s in self._states.items() if j < n}
        return self._trusted(self.initial, self.entries[:-1], final, states)

    def to_frame(self) -> pd.DataFrame:
        """One row per merge, in order.

        Returns
        -------
        DataFrame
            ``step`` (1-based; ``state_at(step)`` is the state after it),
            ``at`` (UTC), ``task_id``, ``to``, ``source_field``, ``sources``
            (list), ``n_sources``, ``n_moved`` (faces that changed cluster),
            ``to_size_before``, ``to_size_after``, ``feature_similarity``
            (cosine between the destination's feature before and after, in
            [-1, 1]; 1 = unchanged), ``user_data``, ``tags`` (dict).
        """
        rows = [{"step": i + 1, "at": e.at, "task_id": e.task_id, "to": e.to,
                 "source_field": e.source_field, "sources": list(e.sources),
                 "n_sources": len(e.sources), "n_moved": e.n_moved,
                 "to_size_before": e.to_count_before, "to_size_after": e.to_count_after,
                 "feature_similarity": e.feature_similarity, "user_data": e.user_data,
                 "tags": thaw_json(e.tags)} for i, e in enumerate(self.entries)]
        columns = ["step", "at", "task_id", "to", "source_field", "sources", "n_sources",
                   "n_moved", "to_size_before", "to_size_after", "feature_similarity",
                   "user_data", "tags"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        for col in ("step", "n_sources", "n_moved", "to_size_before", "to_size_after"):
            frame[col] = frame[col].astype(np.int64)
        frame["feature_similarity"] = frame["feature_similarity"].astype(np.float64)
        return frame

    # ---- JSON -------------------------------------------------------------------------------

    def to_json(self, path: str | os.PathLike) -> None:
        """Save the ledger as JSON (one entry per line inside the ``entries`` array).

        The faces are not stored: only their ids, in order, and a fingerprint
        (sha256 of the ids and the float32 embedding bits) that
        :meth:`from_json` checks. The initial clustering is stored per face;
        its sums are stored too when they are not the ones a fresh state
        computes (an initial state that was itself merged). Floats are
        written as the shortest text that reads back to the same bits.

        Parameters
        ----------
        path : str or path-like
        """
        init = self.initial
        fresh = init.with_cluster_ids(init.face_cluster_ids())
        header = {
            "format": FORMAT, "version": VERSION,
            "faces": {"n_faces": init.n_faces, "dim": init.dim,
                      "fingerprint": _fingerprint(init.face_ids, init.embeddings)},
            "face_ids": init.face_ids.tolist(),
            "initial": {"cluster_ids": init.face_cluster_ids().tolist(),
                        "sums": None if np.array_equal(fresh.sums, init.sums)
                        else init.sums.tolist(),
                        "sums_digest": _array_digest(init.sums)},
        }
        head = orjson.dumps(header)
        parts = [head[:-1], b',"entries":[']
        body = b",\n".join(orjson.dumps(_entry_to_json(e)) for e in self.entries)
        parts += [b"\n", body, b"\n]}\n"] if self.entries else [b"]}\n"]
        with open(path, "wb") as fh:
            fh.write(b"".join(parts))

    @classmethod
    def from_json(cls, path: str | os.PathLike, faces: FaceSet, *,
                  progress: bool = False) -> "Ledger":
        """Load a ledger saved by :meth:`to_json` and replay it on ``faces``.

        Parameters
        ----------
        path : str or path-like
        faces : FaceSet
            The faces the ledger was saved with (same ids in the same order,
            same embeddings; checked by fingerprint).
        progress : bool, default=False
            Show a progress bar while replaying.

        Returns
        -------
        Ledger

        Raises
        ------
        FileNotFoundError
            No such file.
        toolkit.errors.RecordError
            The file is not a ledger or a field is malformed (names the file,
            the entry and the field).
        LedgerError
            The ledger was saved for other faces, or an entry does not
            reproduce on them.
        """
        label = str(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{label}: no such file")
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise RecordError(label, f"malformed JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise RecordError(label, "not a merge ledger file", field="format",
                              expected=repr(FORMAT),
                              got=doc.get("format") if isinstance(doc, dict) else doc)
        if doc.get("version") != VERSION:
            raise RecordError(label, "unsupported ledger version", field="version",
                              expected=str(VERSION), got=doc.get("version"))
        for key, kind in (("faces", dict), ("face_ids", list), ("initial", dict),
                          ("entries", list)):
            if not isinstance(doc.get(key), kind):
                raise RecordError(label, "missing or malformed section", field=key,
                                  expected=f"a JSON {'object' if kind is dict else 'array'}",
                                  got=doc.get(key))
        if not isinstance(faces, FaceSet):
            raise TypeError(f"Ledger.from_json needs the FaceSet the ledger was saved with, "
                            f"but {type(faces).__name__} was passed.")
        saved = doc["faces"]
        face_ids = faces.faces["face_id"].to_numpy(dtype=object)
        if (saved.get("n_faces"), saved.get("dim")) != (len(faces), faces.dim):
            raise LedgerError(f"{label}: the ledger was saved for {saved.get('n_faces')} faces "
                              f"of dim {saved.get('dim')}, but the FaceSet has {len(faces)} "
                              f"faces of dim {faces.dim}.")
        if doc["face_ids"] != face_ids.tolist():
            i = next(j for j, (a, b) in enumerate(zip(doc["face_ids"], face_ids)) if a != b)
            raise LedgerError(f"{label}: face ids differ from the FaceSet's (first at row {i}: "
                              f"{doc['face_ids'][i]!r} saved, {face_ids[i]!r} given); load "
                              "the ledger with the faces, in the order, it was saved with.")
        found = _fingerprint(face_ids, faces.embeddings)
        if saved.get("fingerprint") != found:
            raise LedgerError(f"{label}: the FaceSet's embeddings are not the ones the ledger "
                              f"was saved with (fingerprint {found} != "
                              f"{saved.get('fingerprint')}).")
        initial = cls._initial_from_json(doc["initial"], faces, label)
        entries = [_entry_from_json(raw, f"{label} entries[{i}]")
                   for i, raw in enumerate(doc["entries"])]
        try:
            return cls(initial, entries, progress=progress)
        except LedgerError as exc:
            raise LedgerError(f"{label}: {exc}") from None

    @staticmethod
    def _initial_from_json(raw: dict, faces: FaceSet, label: str) -> ClusterState:
        ids = raw.get("cluster_ids")
        if not isinstance(ids, list) or len(ids) != len(faces):
            raise RecordError(label, "the initial clustering needs one cluster id (or null) per "
                              "face", field="initial.cluster_ids",
                              expected=f"a list of {len(faces)}",
                              got=type(ids).__name__ if not isinstance(ids, list) else len(ids))
        state = ClusterState(faces, ids)
        if raw.get("sums") is not None:
            try:
                sums = np.array(raw["sums"], dtype=np.float64)
            except (TypeError, ValueError):
                sums = None
            if sums is None or sums.shape != state.sums.shape:
                raise RecordError(label, "malformed initial sums", field="initial.sums",
                                  expected=f"a float array of shape {state.sums.shape}",
                                  got=None if sums is None else sums.shape)
            state = ClusterState._from_parts(state, state.cluster_ids, state.labels.copy(),
                                             state.counts.copy(), sums)
        if _array_digest(state.sums) != raw.get("sums_digest"):
            raise LedgerError(f"{label}: the initial sums rebuilt from the faces differ from the "
                              "saved ones (digest mismatch).")
        return state
