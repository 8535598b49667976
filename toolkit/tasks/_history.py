"""The engine's own record of every status change: the task-history frame.

Both halves of the engine (IMM tasks and VIAS member tasks) write here. The
frame has the columns of ``read_task_history`` (docs/architecture.md): one row
per observation, sorted by ``task_id`` then ``observed_at`` (stable, so two
changes at one instant keep the order they happened in).
"""

from __future__ import annotations

import threading
from datetime import datetime

import pandas as pd

from ..io._history import HISTORY_COLUMNS
from ..io._tasks_states import imm_state, vias_state

__all__ = ["HistoryLog"]


class HistoryLog:
    """A thread-safe list of observations, turned into a frame on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[tuple] = []

    def record(self, provider: str, task_id: str, task_type: str, at: datetime, status: str,
               progress: int | None) -> None:
        """Append one observation (``at`` timezone-aware)."""
        state = imm_state(status) if provider == "imm" else vias_state(status)
        with self._lock:
            self._rows.append((task_id, at, status, state, progress, "engine", provider,
                               task_type))

    def frame(self) -> pd.DataFrame:
        """The observations so far: columns :data:`HISTORY_COLUMNS`."""
        with self._lock:
            rows = list(self._rows)
        frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
        frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True).astype(
            "datetime64[ns, UTC]")
        frame["progress"] = frame["progress"].astype("Int64")
        for col in ("task_id", "status", "state", "source", "provider", "task_type"):
            frame[col] = frame[col].astype("str")
        frame = frame.sort_values(["task_id", "observed_at"], kind="stable")
        return frame.reset_index(drop=True)
