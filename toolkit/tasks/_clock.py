"""Clocks for the task engine: real UTC time, or a manual clock that tests advance.

The engine never reads the time itself: it asks its clock. A task's simulated
run is a sequence of sleeps on that clock, so under a :class:`ManualClock`
time moves only when the caller moves it and every recorded time is exact.

A manual clock keeps a count of *busy* workers (a worker holding work that is
neither finished nor asleep on the clock). :meth:`ManualClock.advance` waits
until that count is zero before it moves time, and moves it one wake-up at a
time, so a task always sees the clock stop at its own deadlines. That is what
makes start and end times deterministic when several threads are involved.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from datetime import datetime, timedelta, timezone

__all__ = ["SystemClock", "ManualClock", "as_utc_datetime", "as_timedelta", "iso_ms", "epoch_ms"]

_EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)


def as_utc_datetime(value: object, name: str) -> datetime:
    """A timezone-aware datetime converted to UTC; naive values are refused."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"`{name}` must be an ISO 8601 time with a UTC offset, "
                             f"but {value!r} was passed.") from None
    if not isinstance(value, datetime):
        raise TypeError(f"`{name}` must be a timezone-aware datetime, "
                        f"but {type(value).__name__} was passed.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"`{name}` must be timezone-aware (e.g. tzinfo=timezone.utc), "
                         f"but the naive datetime {value.isoformat()!r} was passed.")
    return value.astimezone(timezone.utc)


def as_timedelta(value: object, name: str) -> timedelta:
    """Seconds (int/float) or a timedelta, checked to be non-negative."""
    if isinstance(value, bool) or not isinstance(value, (int, float, timedelta)):
        raise TypeError(f"`{name}` must be a number of seconds or a timedelta, "
                        f"but {value!r} was passed.")
    delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if delta < timedelta(0):
        raise ValueError(f"`{name}` must not be negative, but {value!r} was passed.")
    return delta


class SystemClock:
    """Real UTC time; sleeping blocks for real.

    Examples
    --------
    >>> SystemClock().now().tzinfo
    datetime.timezone.utc
    """

    manual = False

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(timezone.utc)

    # The engine brackets its work with these; only a manual clock needs them.
    def _hold(self) -> None:
        return None

    def _release(self) -> None:
        return None

    def _sleep_until(self, deadline: datetime) -> None:
        remaining = (deadline - self.now()).total_seconds()
        if remaining > 0:
            threading.Event().wait(remaining)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that stands still until it is advanced.

    Parameters
    ----------
    start : datetime, default 2025-01-01T00:00:00Z
        The initial time; must be timezone-aware.
    settle_timeout : float, default 60.0
        Real seconds :meth:`advance` waits for busy workers to finish or fall
        asleep before it gives up with a ``RuntimeError`` (a guard against a
        worker stuck outside the clock; never reached by a healthy engine).

    Notes
    -----
    Workers sleeping on the clock wake in deadline order (ties in the order
    they fell asleep). :meth:`advance` stops at every deadline on the way and
    waits until the woken workers are busy no more before going on, so a task
    whose simulated run ends at 10:00:02 records exactly 10:00:02, whatever the
    step the caller asked for.

    Examples
    --------
    >>> from datetime import timedelta
    >>> clock = ManualClock()
    >>> clock.now().isoformat()
    '2025-01-01T00:00:00+00:00'
    >>> clock.advance(timedelta(seconds=90)).isoformat()
    '2025-01-01T00:01:30+00:00'
    """

    manual = True

    def __init__(self, start: datetime | None = None, *, settle_timeout: float = 60.0) -> None:
        self._now = _EPOCH if start is None else as_utc_datetime(start, "start")
        self.settle_timeout = float(settle_timeout)
        self._cond = threading.Condition()
        self._busy = 0
        self._sleepers: list[tuple[datetime, int, list[bool]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        """The current simulated time, timezone-aware UTC."""
        with self._cond:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move time forward by ``delta`` (a timedelta or seconds); return the new time."""
        delta = as_timedelta(delta, "delta")
        with self._cond:
            target = self._now + delta
        return self.advance_to(target)

    def advance_to(self, when: datetime) -> datetime:
        """Move time forward to ``when``, stopping at every sleeper's deadline on the way."""
        when = as_utc_datetime(when, "when")
        with self._cond:
            if when < self._now:
                raise ValueError(f"A clock only moves forward: `when` {when.isoformat()} is "
                                 f"before the current time {self._now.isoformat()}.")
            while True:
                self._wait_settled()
                if self._sleepers and self._sleepers[0][0] <= when:
                    self._wake_next()
                    continue
                self._now = when
                return self._now

    def settle(self) -> None:
        """Block until no worker is busy: each is asleep on the clock or has finished."""
        with self._cond:
            self._wait_settled()

    def next_deadline(self) -> datetime | None:
        """Wait until no worker is busy; the earliest sleeper's deadline, or None."""
        with self._cond:
            self._wait_settled()
            return self._sleepers[0][0] if self._sleepers else None

    def _wait_settled(self) -> None:
        if not self._cond.wait_for(lambda: self._busy == 0, timeout=self.settle_timeout):
            raise RuntimeError(f"ManualClock: {self._busy} worker(s) still busy after "
                               f"{self.settle_timeout} s; the clock cannot move while work "
                               "that is not asleep on it is running (do not advance the clock "
                               "from inside a task or a notification callback).")

    def _wake_next(self) -> None:
        deadline = self._sleepers[0][0]
        self._now = max(self._now, deadline)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, flag = heapq.heappop(self._sleepers)
            flag[0] = True
            # The woken worker owns this token from now on; it is counted busy
            # before it even runs, so the next settle waits for it.
            self._busy += 1
        self._cond.notify_all()

    def _hold(self) -> None:
        with self._cond:
            self._busy += 1

    def _release(self) -> None:
        with self._cond:
            self._busy -= 1
            if self._busy < 0:
                raise RuntimeError("ManualClock: released more work than was held")
            self._cond.notify_all()

    def _sleep_until(self, deadline: datetime) -> None:
        with self._cond:
            if deadline <= self._now:
                return
            flag = [False]
            heapq.heappush(self._sleepers, (deadline, next(self._order), flag))
            self._busy -= 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: flag[0])

    def __repr__(self) -> str:
        return f"ManualClock({self.now().isoformat()!r})"


def iso_ms(when: datetime) -> str:
    """RFC 3339 UTC with milliseconds, the clouds' own form: ``2025-03-02T08:16:40.902Z``."""
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def epoch_ms(when: datetime) -> int:
    """Milliseconds since 1970-01-01T00:00:00Z (floor)."""
    delta = when.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return delta // timedelta(milliseconds=1)
