"""Cannot-link decisions ("not the same person"), kept in a JSON file.

A rejected pair is remembered by the faces each side held when it was
rejected, not only by the cluster ids: after a merge or a reclustering the
ids change, but two clusters that contain those faces are still the same two
people, and the pair must not come back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import orjson

from ..errors import RecordError

__all__ = ["CannotLink"]

_VERSION = 1


@dataclass(frozen=True)
class _Rule:
    a: str
    b: str
    faces_a: tuple[str, ...]
    faces_b: tuple[str, ...]
    note: str | None


class CannotLink:
    """A list of cluster pairs judged "not the same person".

    Each rule keeps the two cluster ids and, when a state is given to
    :meth:`add`, the face ids each cluster held at that time. A pair of
    clusters is blocked when it is a recorded id pair, or when one cluster
    holds a face of a rule's first side and the other a face of its second.

    Parameters
    ----------
    pairs : iterable of (str, str), optional
        Cluster id pairs to start with (no faces recorded).

    Examples
    --------
    >>> cl = CannotLink([("Cluster-a", "Cluster-b")])
    >>> cl.blocks("Cluster-b", "Cluster-a")
    True
    >>> len(cl)
    1
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] | None = None) -> None:
        self._rules: list[_Rule] = []
        for pair in pairs or ():
            try:
                a, b = pair
            except (TypeError, ValueError) as exc:
                raise ValueError(f"CannotLink: each pair must be (cluster_id, cluster_id), "
                                 f"but {pair!r} was passed.") from exc
            self.add(a, b)

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        return f"CannotLink({len(self)} pairs)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CannotLink) and self._rules == other._rules

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The recorded cluster id pairs, each sorted, in the order added."""
        return [(r.a, r.b) for r in self._rules]

    def add(self, a: str, b: str, *, state: Any = None, note: str | None = None) -> "CannotLink":
        """Record that clusters ``a`` and ``b`` are different people.

        Parameters
        ----------
        a, b : str
            Cluster ids.
        state : ClusterState, optional
            When given, both must be live clusters of it, and their member
            face ids are recorded so the rule survives later id changes.
        note : str, optional
            Why (kept in the file).

        Returns
        -------
        CannotLink
            ``self``, for chaining.
        """
        for name, value in (("a", a), ("b", b)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"CannotLink.add: `{name}` must be a cluster id string, but "
                                 f"{value!r} was passed.")
        if a == b:
            raise ValueError(f"CannotLink.add: a cluster cannot be kept apart from itself "
                             f"({a!r}).")
        if note is not None and not isinstance(note, str):
            raise ValueError(f"CannotLink.add: `note` must be a string, but {note!r} was passed.")
        faces_a: tuple[str, ...] = ()
        faces_b: tuple[str, ...] = ()
        if state is not None:
            faces_a = tuple(sorted(str(f) for f in state.face_ids[state.members(a)]))
            faces_b = tuple(sorted(str(f) for f in state.face_ids[state.members(b)]))
        if b < a:
            a, b, faces_a, faces_b = b, a, faces_b, faces_a
        rule = _Rule(a, b, faces_a, faces_b, note)
        if rule not in self._rules:
            self._rules.append(rule)
        return self

    def blocks(self, a: str, b: str) -> bool:
        """Whether the cluster id pair itself was recorded (faces not considered)."""
        lo, hi = (a, b) if a <= b else (b, a)
        return any(r.a == lo and r.b == hi for r in self._rules)

    def blocked_pairs(self, state: Any) -> set[tuple[int, int]]:
        """Cluster code pairs ``(i, j)``, ``i < j``, of ``state`` that a rule keeps apart."""
        out: set[tuple[int, int]] = set()
        index = {cid: i for i, cid in enumerate(state.cluster_ids.tolist())}
        face_pos = None
        for rule in self._rules:
            sides = []
            for cid, faces in ((rule.a, rule.faces_a), (rule.b, rule.faces_b)):
                codes = {index[cid]} if cid in index else set()
                if faces:
                    if face_pos is None:
                        face_pos = {f: i for i, f in enumerate(state.face_ids.tolist())}
                    pos = [face_pos[f] for f in faces if f in face_pos]
                    labels = state.labels[np.asarray(pos, dtype=np.int64)] if pos else []
                    codes |= {int(c) for c in labels if c >= 0}
                sides.append(codes)
            for i in sides[0]:
                for j in sides[1]:
                    if i != j:
                        out.add((min(i, j), max(i, j)))
        return out

    # ---- JSON file ---------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The JSON document: ``{"version": 1, "pairs": [...]}``."""
        return {"version": _VERSION, "pairs": [
            {"a": r.a, "b": r.b, "faces_a": list(r.faces_a), "faces_b": list(r.faces_b),
             **({"note": r.note} if r.note is not None else {})} for r in self._rules]}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the list as JSON (sorted keys, so the same list gives the same bytes)."""
        path = Path(path)
        path.write_bytes(orjson.dumps(self.to_dict(),
                                      option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n")
        return path

    @classmethod
    def from_dict(cls, doc: Any, *, source: str = "object") -> "CannotLink":
        """Rebuild from :meth:`to_dict`'s document; bad entries raise RecordError."""
        if not isinstance(doc, dict) or not isinstance(doc.get("pairs"), list):
            raise RecordError(source, "not a cannot-link document", field="pairs",
                              expected='{"version": 1, "pairs": [...]}', got=doc)
        if doc.get("version") != _VERSION:
            raise RecordError(source, "unsupported cannot-link file version", field="version",
                              expected=str(_VERSION), got=doc.get("version"))
        out = cls()
        for i, entry in enumerate(doc["pairs"]):
            where = f"{source} pairs[{i}]"
            if not isinstance(entry, dict):
                raise RecordError(where, "a pair must be an object", expected="an object",
                                  got=entry)
            for key in ("a", "b"):
                if not isinstance(entry.get(key), str) or not entry[key]:
                    raise RecordError(where, "missing cluster id", field=key,
                                      expected="a non-empty string", got=entry.get(key))
            for key in ("faces_a", "faces_b"):
                faces = entry.get(key, [])
                if not isinstance(faces, list) or not all(isinstance(f, str) for f in faces):
                    raise RecordError(where, "face ids must be a list of strings", field=key,
                                      expected="a list of strings", got=faces)
            note = entry.get("note")
            if note is not None and not isinstance(note, str):
                raise RecordError(where, "the note must be a string", field="note",
                                  expected="a string", got=note)
            if entry["a"] == entry["b"]:
                raise RecordError(where, "a pair names the same cluster twice", field="b",
                                  expected="a different cluster id", got=entry["b"])
            a, b = entry["a"], entry["b"]
            fa = tuple(sorted(entry.get("faces_a", [])))
            fb = tuple(sorted(entry.get("faces_b", [])))
            if b < a:
                a, b, fa, fb = b, a, fb, fa
            rule = _Rule(a, b, fa, fb, note)
            if rule not in out._rules:
                out._rules.append(rule)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CannotLink":
        """Read a file written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            No such file.
        toolkit.errors.RecordError
            The file is not valid JSON or not a cannot-link document (names
            the file and the entry).
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such cannot-link file")
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise RecordError(str(path), f"malformed JSON ({exc})") from exc
        return cls.from_dict(doc, source=str(path))
