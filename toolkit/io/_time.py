"""Timestamps of cloud records to timezone-aware UTC, vectorised.

IMM writes RFC 3339 strings with 0 to 9 fraction digits and either ``Z`` or an
offset (``2021-12-24T03:01:49.480109219Z``, ``2022-01-14T10:10:52.83948013+08:00``);
Huawei VIAS writes epoch milliseconds, as integers (batches) or digit strings
(task lists), and ISO strings elsewhere. :func:`to_utc` reads all of them into
``datetime64[ns, UTC]`` without losing nanoseconds.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import RecordError

__all__ = ["to_utc", "parse_utc", "TIME_EXPECTED"]

TIME_EXPECTED = ("an RFC 3339 timestamp (0-9 fraction digits, 'Z' or an offset such as '+08:00') "
                 "or epoch milliseconds (integer or digit string)")

_NAT = np.iinfo(np.int64).min
# Largest |epoch ms| whose nanoseconds still fit in int64 (pandas' ns range, 1677-2262).
_MAX_MS = (np.iinfo(np.int64).max - 1) // 1_000_000
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_TO_UTC_ERRORS = ("raise", "coerce")


def _parse_strings(strings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ISO strings to int64 ns; the second array flags values that did not parse."""
    parsed = pd.to_datetime(strings, format="ISO8601", utc=True, errors="coerce")
    # pandas 3 infers the unit from the strings (s, ms, us or ns): bring every value to ns,
    # flagging those outside the ns range instead of letting the cast overflow.
    raw = parsed.asi8
    nat = raw == _NAT
    factor = _NS_PER_UNIT[parsed.unit]
    if factor == 1:
        return raw, nat
    limit = np.iinfo(np.int64).max // factor
    out_of_range = ~nat & (np.abs(raw) > limit)
    ns = np.where(nat | out_of_range, _NAT, raw * np.where(out_of_range, 0, factor))
    return ns, nat | out_of_range


def _scalar_ns(value: Any) -> int | None:
    """One non-string value to ns since the epoch; ``None`` when it is not a time."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        ms = int(value)
        return ms * 1_000_000 if abs(ms) <= _MAX_MS else None
    if isinstance(value, (float, np.floating)):
        ms = float(value)
        if not math.isfinite(ms) or abs(ms) > _MAX_MS:
            return None
        # Whole and fractional milliseconds apart: ms * 1e6 in floating point would lose
        # the last digits (1686027880205.5 ms -> ...205499904 ns).
        whole = math.floor(ms)
        return whole * 1_000_000 + round((ms - whole) * 1_000_000)
    if isinstance(value, (_dt.datetime, np.datetime64)):
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, OverflowError):
            return None
        if stamp is pd.NaT:
            return _NAT
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        try:
            return int(stamp.as_unit("ns").value)
        except (ValueError, OverflowError):
            return None
    return None


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def parse_utc(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Parse time values to nanoseconds since the epoch, flagging the bad ones.

    The engine behind :func:`to_utc`, for readers that reject bad records one
    by one instead of raising.

    Parameters
    ----------
    values : sequence of str, int, float, datetime or None, or Arrow string array
        See :func:`to_utc` for the accepted forms.

    Returns
    -------
    ns : ndarray of int64, shape (n,)
        Nanoseconds since 1970-01-01T00:00:00Z; missing and bad values hold
        ``numpy.iinfo(numpy.int64).min`` (pandas' NaT).
    bad : ndarray of bool, shape (n,)
        True where a non-empty value is not a time.
    """
    n = len(values)
    ns = np.full(n, _NAT, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            _parse_text(values, ns, bad)
            return ns, bad
        values = values.to_pylist()
    try:
        text = pa.array(values, type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        text = None  # not all strings / None: sort them out one by one below
    if text is not None:
        _parse_text(text, ns, bad)
        return ns, bad
    str_pos: list[int] = []
    strs: list[str] = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            if value:
                str_pos.append(i)
                strs.append(str(value))
        elif not _is_missing(value):
            one = _scalar_ns(value)
            if one is None:
                bad[i] = True
            else:
                ns[i] = one
    if strs:
        pos = np.asarray(str_pos, dtype=np.intp)
        sub_ns, sub_bad = ns[pos], bad[pos]
        _parse_text(pa.array(strs, type=pa.large_string()), sub_ns, sub_bad)
        ns[pos], bad[pos] = sub_ns, sub_bad
    return ns, bad


def _mask(values: pa.Array) -> np.ndarray:
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _parse_text(text: pa.Array | pa.ChunkedArray, ns: np.ndarray, bad: np.ndarray) -> None:
    """Strings (nulls and "" are missing) into ``ns`` / ``bad`` in place, in bulk.

    Arrow does the work: a large file's time strings lie scattered in memory, and
    every pass of Python over them costs more than Arrow's whole parse.
    """
    present = _mask(pc.greater(pc.binary_length(text), 0))
    # Digit strings are epoch milliseconds (Huawei task lists), never compact ISO dates.
    digits = present & _mask(pc.match_substring_regex(text, r"^[0-9]+$"))
    iso = present & ~digits
    if digits.any():
        pos = np.flatnonzero(digits)
        try:
            ms = pc.cast(text.filter(pa.array(digits)), pa.int64()).to_numpy()
        except (pa.ArrowInvalid, OverflowError):  # more digits than int64 holds
            ms = np.array([min(int(t), _MAX_MS + 1) for t in
                           text.filter(pa.array(digits)).to_pylist()], dtype=np.int64)
        over = np.abs(ms) > _MAX_MS
        ns[pos] = np.where(over, _NAT, ms * np.where(over, 0, 1_000_000))
        bad[pos] = over
    if iso.any():
        pos = np.flatnonzero(iso)
        strings = text.filter(pa.array(iso))
        try:
            # RFC 3339 with a zone: Arrow's parser reads 0-9 fraction digits, Z and offsets.
            parsed = strings.cast(pa.timestamp("ns", "UTC")).cast(pa.int64()).to_numpy()
            failed = np.zeros(len(pos), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # Something Arrow refuses (no zone, out of range, not a time): pandas tells which.
            parsed, failed = _parse_strings(np.asarray(strings.to_pylist(), dtype=object))
        ns[pos] = parsed
        bad[pos] = failed


def _as_datetimes(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def to_utc(values: Any, *, field: str = "time", sources: Sequence[str] | None = None,
           errors: str = "raise") -> pd.Series | pd.DatetimeIndex | pd.Timestamp:
    """Convert cloud timestamps to timezone-aware UTC datetimes, keeping nanoseconds.

    Accepted forms, freely mixed:

    - RFC 3339 / ISO 8601 strings with 0 to 9 fraction digits and ``Z`` or an
      offset (``+08:00``, ``+0800``); a string without a zone is taken as UTC
      (IMM documents its times as UTC);
    - epoch milliseconds as integers, floats or digit strings
      (``1686027880205``, ``"1686027880205"``): a string of digits is always
      epoch milliseconds, never a compact ISO date;
    - ``datetime`` / ``Timestamp`` / ``datetime64`` objects (naive ones are
      taken as UTC);
    - ``None``, ``""``, ``NaN`` and ``NaT`` are missing and become ``NaT``.

    Parameters
    ----------
    values : scalar, list-like or Series
        The values to convert.
    field : str, default="time"
        Name of the field the values come from, used in error messages.
    sources : sequence of str, optional
        Where each value came from (``"file.jsonl:12"``), same length as
        ``values``; used in error messages. Defaults to ``"object[i]"``.
    errors : {"raise", "coerce"}, default="raise"
        ``"raise"``: a non-empty value that is not a time raises
        :class:`~toolkit.errors.RecordError` naming its source and ``field``.
        ``"coerce"``: it becomes ``NaT``.

    Returns
    -------
    Series, DatetimeIndex or Timestamp
        ``datetime64[ns, UTC]`` values: a Series with the same index for a
        Series, a DatetimeIndex for other list-likes, a Timestamp (or NaT)
        for a scalar.

    Raises
    ------
    RecordError
        With ``errors="raise"``, for the first value that is not a time
        (a non-ASCII or non-digit epoch string, a malformed date, a year
        outside 1677-2262, a boolean...).

    Examples
    --------
    >>> from toolkit.io import to_utc
    >>> times = to_utc(["2022-01-14T10:10:52.83948013+08:00", "1686027880205", None])
    >>> [str(t) for t in times]
    ['2022-01-14 02:10:52.839480130+00:00', '2023-06-06 05:04:40.205000+00:00', 'NaT']
    >>> times.dtype
    datetime64[ns, UTC]
    """
    if errors not in _TO_UTC_ERRORS:
        raise ValueError(f"The value for `errors` must be one of {list(_TO_UTC_ERRORS)}, "
                         f"but {errors!r} was passed.")
    scalar = values is None or isinstance(values, (str, bytes, int, float, _dt.datetime,
                                                   np.generic))
    if scalar:
        seq: Sequence[Any] = [values]
    elif isinstance(values, pd.Series):
        seq = values.tolist()
    else:
        seq = list(values)
    if sources is not None and len(sources) != len(seq):
        raise ValueError(f"`sources` has {len(sources)} labels for {len(seq)} values; "
                         "pass one label per value.")
    ns, bad = parse_utc(seq)
    if errors == "raise" and bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = sources[i] if sources is not None else ("object" if scalar else f"object[{i}]")
        raise RecordError(where, "value is not a timestamp", field=field, expected=TIME_EXPECTED,
                          got=seq[i])
    result = _as_datetimes(ns)
    if scalar:
        return result[0]
    if isinstance(values, pd.Series):
        return pd.Series(result, index=values.index, name=values.name)
    return result
