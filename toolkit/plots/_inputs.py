"""Checking the frames the plotters receive and turning them into drawable values.

The plotters take the frames the computing modules return (tasks frame, task
history, audit timeline, ...). A frame that does not fit gets a
:class:`~toolkit.errors.RecordError` naming the argument, the column, what was
expected and what came; a bad row is named by its ``source`` column when the
frame has one (``"tasks.jsonl:12"``), else by its position (``"object[3]"``).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import RecordError

__all__ = ["get_ax", "require_frame", "row_source", "check_values", "utc_naive",
           "date_numbers", "short_label", "check_choice", "as_series", "cluster_codes"]


def get_ax(ax: Any):
    """The Axes to draw on: ``ax`` itself, or the current Axes when None."""
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.gca()
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"`ax` must be a matplotlib Axes or None, but {type(ax).__name__} was "
                        "passed.")
    return ax


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """Raise the house error when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"The value for `{name}` must be one of {list(choices)}, "
                         f"but {value!r} was passed.")
    return value


def require_frame(frame: Any, columns: Iterable[str], *, arg: str, expected: str) -> pd.DataFrame:
    """Check that ``frame`` is a DataFrame holding ``columns``.

    Parameters
    ----------
    frame : object
        What the caller passed.
    columns : iterable of str
        Columns the plot needs.
    arg : str
        The argument's name, for the message (``"tasks"``).
    expected : str
        What the argument should be, in words (``"a tasks frame from read_tasks"``).
    """
    if not isinstance(frame, pd.DataFrame):
        raise RecordError("object", f"`{arg}` is not a DataFrame", field=arg,
                          expected=expected, got=type(frame).__name__)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RecordError("object", f"`{arg}` has no column {missing[0]!r}", field=missing[0],
                          expected=f"{expected} with columns {list(columns)}",
                          got=[str(c) for c in frame.columns])
    return frame


def row_source(frame: pd.DataFrame, pos: int) -> str:
    """Where row ``pos`` came from: its ``source`` value, else ``object[pos]``."""
    if "source" in frame.columns:
        value = frame["source"].iloc[pos]
        if isinstance(value, str) and value:
            return value
    return f"object[{pos}]"


def check_values(frame: pd.DataFrame, column: str, allowed: Sequence[str], *,
                 arg: str, allow_missing: bool = False) -> np.ndarray:
    """The column as an object array, after checking every value is in ``allowed``.

    Missing values are allowed only when ``allow_missing``; they come back as None.
    """
    values = frame[column].astype("object")
    missing = values.isna().to_numpy()
    if not allow_missing and missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise RecordError(row_source(frame, pos), f"`{arg}` has a missing {column}",
                          field=column, expected=f"one of {list(allowed)}", got=None)
    bad = ~missing & ~values.isin(list(allowed)).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise RecordError(row_source(frame, pos), f"`{arg}` has an unknown {column}",
                          field=column, expected=f"one of {list(allowed)}",
                          got=values.iloc[pos])
    out = values.to_numpy(dtype=object, copy=True)
    out[missing] = None
    return out


def utc_naive(frame: pd.DataFrame, column: str, *, arg: str) -> np.ndarray:
    """A datetime column as naive UTC ``datetime64[ns]`` values (NaT where missing).

    Timezone-aware values are converted to UTC; naive values are taken to be
    UTC already (the readers always give aware UTC times).
    """
    s = frame[column]
    if s.isna().all():
        return np.full(len(s), np.datetime64("NaT"), dtype="datetime64[ns]")
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        pos = int(np.flatnonzero(s.notna().to_numpy())[0])
        raise RecordError(row_source(frame, pos),
                          f"`{arg}` column {column!r} does not hold datetimes",
                          field=column, expected="datetime64[ns, UTC] values (as read_tasks gives)",
                          got=s.iloc[pos])
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.to_numpy(dtype="datetime64[ns]")


def date_numbers(values: np.ndarray) -> np.ndarray:
    """Matplotlib date numbers (days) of naive UTC ``datetime64`` values; NaN for NaT."""
    import matplotlib.dates as mdates

    values = np.asarray(values, dtype="datetime64[ns]")
    out = np.full(values.shape, np.nan)
    ok = ~np.isnat(values)
    if ok.any():
        out[ok] = mdates.date2num(values[ok])
    return out


def short_label(value: Any, limit: int = 24) -> str:
    """``str(value)`` cut to ``limit`` characters with an ellipsis, for tick labels."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def as_series(values: Any) -> pd.Series:
    """A Series of ``values``, keeping an array's dtype (integer labels stay integer)."""
    if isinstance(values, pd.Series):
        return values
    return pd.Series(values if hasattr(values, "dtype") else list(values))


def cluster_codes(labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Encode cluster ids as codes into their sorted unique ids.

    Never assumes ids are ``0..k-1``. A face is in no cluster (code ``-1``) when
    its id is missing, empty or one of IMM's reserved ids, or negative in
    integer labels (``ClusterState.labels`` and scikit-learn's noise label).

    Returns
    -------
    codes : ndarray of shape (n_faces,), int64
        Position of each face's id in ``ids``; -1 for faces in no cluster.
    ids : ndarray of shape (n_clusters,), object
        The distinct cluster ids, sorted (as text when they cannot be compared).
    """
    from ..faceset import NO_CLUSTER_IDS

    s = as_series(labels)
    integer = pd.api.types.is_integer_dtype(s.dtype)
    s = s.astype("object").reset_index(drop=True)
    none = (s.isna() | s.isin(NO_CLUSTER_IDS) | (s == "")).to_numpy(dtype=bool)
    if integer:
        none = none | (s.to_numpy(dtype=np.int64, na_value=-1) < 0)
    codes = np.full(len(s), -1, dtype=np.int64)
    kept = s[~none]
    try:
        sub_codes, ids = pd.factorize(kept, sort=True)
    except TypeError:  # ids of mixed types cannot be ordered; order them as text
        sub_codes, ids = pd.factorize(kept.astype(str), sort=True)
    codes[~none] = sub_codes
    return codes, np.asarray(ids, dtype=object)
