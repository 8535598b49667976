"""Per-state memo of the expensive, state-derived arrays.

A ClusterState is immutable, so what is derived from it (cluster sums, the
per-face silhouette context, the truth contingency table) can be computed
once and reused by every metric and every candidate merge. Entries live as
long as the state: a weak reference drops them when the state goes away.
States are keyed by identity, never by ``==`` or hashing (a dataclass of
arrays may define neither usefully).
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, TypeVar

__all__ = ["memo", "peek", "seed", "clear"]

T = TypeVar("T")

_MEMO: dict[int, tuple[weakref.ref, dict[str, Any]]] = {}


def _entries(state: Any) -> dict[str, Any] | None:
    key = id(state)
    found = _MEMO.get(key)
    if found is not None and found[0]() is state:
        return found[1]
    try:
        ref = weakref.ref(state, lambda _ref, key=key: _forget(key, _ref))
    except TypeError:
        # Not weak-referenceable (e.g. a slotted class without __weakref__):
        # nothing is cached, every call recomputes.
        return None
    entries: dict[str, Any] = {}
    _MEMO[key] = (ref, entries)
    return entries


def _forget(key: int, ref: weakref.ref) -> None:
    found = _MEMO.get(key)
    if found is not None and found[0] is ref:
        del _MEMO[key]


def memo(state: Any, name: str, build: Callable[[], T]) -> T:
    """``build()`` once per state and name; later calls return the same object."""
    entries = _entries(state)
    if entries is None:
        return build()
    if name not in entries:
        entries[name] = build()
    return entries[name]


def peek(state: Any, name: str) -> Any:
    """The memoised entry, or None when there is none (nothing is built)."""
    found = _MEMO.get(id(state))
    if found is None or found[0]() is not state:
        return None
    return found[1].get(name)


def seed(state: Any, name: str, value: Any) -> None:
    """Memoise ``value`` as the entry, when there is none yet (an existing entry wins:
    callers may already hold it)."""
    entries = _entries(state)
    if entries is not None:
        entries.setdefault(name, value)


def clear() -> None:
    """Forget everything memoised (for tests and benchmarks that time a cold start)."""
    _MEMO.clear()
