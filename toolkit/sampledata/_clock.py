"""The sample data's timeline and the timestamp spellings the clouds use.

Instants are int nanoseconds since the epoch (UTC) throughout the generator and
are spelled only when a record is written: IMM writes RFC 3339 with 0 to 9
fraction digits and ``Z`` or ``+08:00``; Huawei writes epoch milliseconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

__all__ = ["Timeline", "make_timeline", "rfc3339", "epoch_ms", "NS", "MINUTE", "HOUR", "DAY"]

NS = 1_000_000_000
MINUTE = 60 * NS
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# The face clustering run that produced the exported clusters starts here (plus jitter).
_ANCHOR = int(dt.datetime(2025, 3, 1, 1, 30, tzinfo=dt.timezone.utc).timestamp()) * NS
ZONES = ("Z", "+08:00")
_OFFSETS = {"Z": 0, "+08:00": 8 * HOUR}


@dataclass(frozen=True)
class Timeline:
    """The instants every record hangs on (int ns, UTC).

    Photos are taken before ``clustering_start`` except the few added after the
    run (their faces are not clustered yet); the clusters are exported at
    ``export_at``; merges start after ``merges_start``.
    """

    photos_from: int
    clustering_start: int
    clustering_end: int
    export_at: int
    merges_start: int


def make_timeline(rng: np.random.Generator) -> Timeline:
    start = _ANCHOR + int(rng.integers(0, 20 * MINUTE))
    end = start + int(rng.integers(95 * NS, 240 * NS))
    export_at = end + 2 * HOUR + int(rng.integers(0, 30 * MINUTE))
    return Timeline(photos_from=start - 640 * DAY, clustering_start=start, clustering_end=end,
                    export_at=export_at, merges_start=export_at + 3 * HOUR)


def rfc3339(ns: int, *, digits: int, zone: str = "Z") -> str:
    """``ns`` spelled as RFC 3339 with ``digits`` (0-9) fraction digits, truncated.

    >>> rfc3339(1_740_792_604_118_233_911, digits=3, zone="+08:00")
    '2025-03-01T09:30:04.118+08:00'
    """
    local = int(ns) + _OFFSETS[zone]
    seconds, fraction = divmod(local, NS)
    text = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{fraction:09d}"[:digits]
    return text + zone


def epoch_ms(ns: int) -> int:
    """``ns`` as whole epoch milliseconds (Huawei's and the notifications' unit)."""
    return int(ns) // 1_000_000
