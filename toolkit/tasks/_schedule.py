"""Weekly schedules of Huawei VIAS batch tasks and their run windows.

A VIAS ``TaskSchedule`` names a UTC offset (``"+08:00"``), the days of the
week (1 = Monday ... 7 = Sunday) and time windows ``{begin_at, end_at}``
(``hh:mm:ss``). The cloud documents the fields, not how they combine; the
engine reads them so (see :class:`WeeklySchedule`):

- ``periods`` holds one list of windows used on every scheduled day, or one
  list per entry of ``days_of_week``, paired by position;
- a window whose end is earlier than its begin runs past midnight into the
  next day; begin and end are never equal;
- a window written with a date (``2025-03-01T08:00:00``) happens once, on
  that date, whatever the days of the week;
- times are wall-clock times in the schedule's fixed UTC offset.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from ._clock import as_utc_datetime
from ._vias_validation import parse_clock_time, validate_batch_body

__all__ = ["WeeklySchedule"]

_WEEK = 7


class WeeklySchedule:
    """The recurring run windows of a VIAS batch task.

    Parameters
    ----------
    schedule : dict
        A VIAS ``TaskSchedule`` body: ``type`` ``"weekly"``, ``timezone``
        (``"±hh:mm"``), ``days_of_week`` (distinct integers 1-7, 1 = Monday)
        and ``periods`` (lists of ``{"begin_at", "end_at"}`` windows). It is
        checked with the same rules as a CreateBatchTask body.

    Attributes
    ----------
    tzinfo : datetime.timezone
        The schedule's fixed UTC offset; every window is expressed in it.

    Raises
    ------
    ViasError
        Status 400 when the schedule breaks a VIAS rule.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> s = WeeklySchedule({"type": "weekly", "timezone": "+08:00", "days_of_week": [1],
    ...                     "periods": [[{"begin_at": "07:30:00", "end_at": "19:00:00"}]]})
    >>> begin, end = s.next_windows(datetime(2025, 3, 1, tzinfo=timezone.utc), 1)[0]
    >>> begin.isoformat(), end.isoformat()
    ('2025-03-03T07:30:00+08:00', '2025-03-03T19:00:00+08:00')
    """

    def __init__(self, schedule: dict) -> None:
        if schedule is None:
            raise ValueError("`schedule` must be a TaskSchedule object, but None was passed.")
        # A body holding only the schedule reuses the one rule table.
        validate_batch_body({"schedule": schedule}, operation="update")
        self.schedule = schedule
        sign = -1 if schedule["timezone"][0] == "-" else 1
        hours, minutes = int(schedule["timezone"][1:3]), int(schedule["timezone"][4:6])
        self.tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
        days = list(schedule["days_of_week"])
        periods = schedule["periods"]
        per_day = [periods[0]] * len(days) if len(periods) == 1 else periods
        # weekday -> [(begin time, end time)]; dated windows kept apart.
        self._weekly: dict[int, list[tuple[time, time]]] = {}
        self._dated: list[tuple[datetime, datetime]] = []
        for day, windows in zip(days, per_day):
            for window in windows:
                begin_day, begin = parse_clock_time(window["begin_at"])
                end_day, end = parse_clock_time(window["end_at"])
                if begin_day is not None:
                    self._dated.append((datetime.combine(begin_day, begin, self.tzinfo),
                                        datetime.combine(end_day, end, self.tzinfo)))
                else:
                    self._weekly.setdefault(day, []).append((begin, end))

    def __repr__(self) -> str:
        tz, days = self.schedule["timezone"], sorted(self._weekly)
        return f"WeeklySchedule(timezone={tz!r}, days={days})"

    def _day_windows(self, day: date) -> list[tuple[datetime, datetime]]:
        out = []
        for begin, end in self._weekly.get(day.isoweekday(), []):
            start = datetime.combine(day, begin, self.tzinfo)
            stop = datetime.combine(day, end, self.tzinfo)
            if stop <= start:
                stop += timedelta(days=1)
            out.append((start, stop))
        return out

    def next_windows(self, after: Any, n: int) -> list[tuple[datetime, datetime]]:
        """The next ``n`` run windows that end after ``after``.

        Parameters
        ----------
        after : datetime or ISO 8601 string
            A timezone-aware time. A window already open at ``after`` counts
            (it still has run time left).
        n : int
            How many windows, ``n >= 0``.

        Returns
        -------
        list of (begin, end)
            Timezone-aware datetimes in the schedule's UTC offset, sorted by
            begin then end, without repeats. Fewer than ``n`` only when the
            schedule holds dated windows alone and they run out.
        """
        after = as_utc_datetime(after, "after")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"`n` must be a non-negative integer, but {n!r} was passed.")
        found = {w for w in self._dated if w[1] > after}
        if self._weekly:
            # Start a day early: yesterday's overnight window may still be open.
            day = after.astimezone(self.tzinfo).date() - timedelta(days=1)
            while True:
                if len(found) >= n:
                    horizon = sorted(found)[n - 1][0] if n else None
                    if horizon is None or datetime.combine(day, time(0), self.tzinfo) > horizon:
                        break
                found.update(w for w in self._day_windows(day) if w[1] > after)
                day += timedelta(days=1)
        return sorted(found)[:n]
