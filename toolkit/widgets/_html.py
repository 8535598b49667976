"""Escaped HTML fragments for the dashboards' HTML widgets.

Every value that can come from a record (task ids, UserData, Tags, messages,
reasons) goes through :func:`cell_text` and :func:`html.escape` here; callers
pass plain values and frames, never markup. Pure string functions: no widget
is imported, so they are tested without a kernel.
"""

from __future__ import annotations

import html
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import orjson
import pandas as pd

__all__ = ["cell_text", "tint", "html_table", "field_table", "bullet_list", "note", "json_block",
           "alert"]

#: How much of a state's or verdict's colour shows under a table row's text:
#: enough to tell the rows apart, little enough to keep black text readable.
_TINT = 0.3


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return isinstance(value, (np.datetime64, np.timedelta64)) and np.isnat(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def cell_text(value: Any, *, digits: int = 4) -> str:
    """The text shown for one value, not yet escaped.

    Missing values (None, NaN, NA, NaT) are empty; floats keep ``digits``
    significant digits; timestamps are ISO 8601; lists, tuples and dicts are
    compact JSON with sorted keys, so a UserData object reads as it was sent.
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple, dict)):
        return orjson.dumps(value, default=_json_default,
                            option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    if _is_missing(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def tint(color: str) -> str:
    """A light background made from a ``#rrggbb`` colour, mixed with white."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(255 - _TINT * (255 - c)) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def html_table(frame: pd.DataFrame, columns: Sequence[str] | None = None, *,
               row_colors: Sequence[str | None] | None = None,
               bold_rows: Sequence[bool] | None = None, max_rows: int | None = None,
               max_height: str | None = None) -> str:
    """An HTML table of ``frame`` with every header and cell escaped.

    Parameters
    ----------
    frame : DataFrame
    columns : list of str, default=None
        Columns to show, in order; those the frame lacks are skipped. All when None.
    row_colors : list of str or None, default=None
        A ``#rrggbb`` colour per row, shown as a light background; None leaves a row plain.
    bold_rows : list of bool, default=None
        Rows to set in bold (the selected one).
    max_rows : int, default=None
        Show at most this many rows and say how many more there are.
    max_height : str, default=None
        A CSS height (``"320px"``) past which the table scrolls.

    Returns
    -------
    str
        HTML markup.
    """
    cols = [c for c in (columns if columns is not None else frame.columns) if c in frame.columns]
    n = len(frame) if max_rows is None else min(len(frame), max_rows)
    head = "".join(f'<th style="text-align:left;padding:2px 6px">{html.escape(str(c))}</th>'
                   for c in cols)
    rows = []
    values = {c: frame[c].astype(object).to_numpy()[:n] for c in cols}
    for i in range(n):
        style = []
        if row_colors is not None and row_colors[i]:
            style.append(f"background:{html.escape(tint(row_colors[i]), quote=True)}")
        if bold_rows is not None and bold_rows[i]:
            style.append("font-weight:bold")
        cells = []
        for c in cols:
            v = values[c][i]
            align = "right" if _is_number(v) else "left"
            cells.append(f'<td style="text-align:{align};padding:2px 6px;vertical-align:top">'
                         f"{html.escape(cell_text(v))}</td>")
        attr = f' style="{";".join(style)}"' if style else ""
        rows.append(f"<tr{attr}>{''.join(cells)}</tr>")
    table = (f'<table style="border-collapse:collapse;font-size:12px"><thead><tr>{head}</tr>'
             f"</thead><tbody>{''.join(rows)}</tbody></table>")
    if n < len(frame):
        table += note(f"{len(frame) - n:,} more rows not shown.")
    if max_height:
        table = (f'<div style="max-height:{html.escape(max_height, quote=True)};overflow:auto">'
                 f"{table}</div>")
    return table


def field_table(fields: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """A two-column table of names and values (a record, a merge's figures), escaped."""
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    rows = "".join(
        f'<tr><th style="text-align:left;padding:1px 8px 1px 0;vertical-align:top">'
        f'{html.escape(str(k))}</th><td style="padding:1px 0;word-break:break-all">'
        f"{html.escape(cell_text(v))}</td></tr>" for k, v in pairs)
    return f'<table style="border-collapse:collapse;font-size:12px">{rows}</table>'


def bullet_list(items: Iterable[Any]) -> str:
    """An escaped ``<ul>`` of ``items``."""
    body = "".join(f"<li>{html.escape(cell_text(i))}</li>" for i in items)
    return f'<ul style="margin:2px 0 2px 1.2em;padding:0">{body}</ul>'


def note(text: str) -> str:
    """An escaped grey paragraph."""
    return f'<p style="color:#555;font-size:12px;margin:2px 0">{html.escape(text)}</p>'


def json_block(value: Any) -> str:
    """``value`` as indented JSON with sorted keys in an escaped ``<pre>`` block.

    A string is shown as it is (a request kept as text when it was not JSON).
    """
    if isinstance(value, str):
        text = value
    else:
        if isinstance(value, np.ndarray):
            value = value.tolist()
        text = orjson.dumps(value, default=_json_default,
                            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
                            | orjson.OPT_NON_STR_KEYS).decode()
    return ('<pre style="font-size:12px;margin:2px 0;max-height:320px;overflow:auto;'
            f'white-space:pre-wrap;word-break:break-all">{html.escape(text)}</pre>')


def alert(title: str, fields: Mapping[str, Any] | Iterable[tuple[str, Any]], *,
          color: str) -> str:
    """A box drawing the eye: ``title`` in bold over a :func:`field_table`, escaped.

    ``color`` (``#rrggbb``) draws the border and, lightened by :func:`tint`, the background.
    """
    return (f'<div style="border:2px solid {html.escape(color, quote=True)};'
            f'background:{html.escape(tint(color), quote=True)};padding:4px 8px;margin:2px 0">'
            f"<b>{html.escape(title)}</b>{field_table(fields)}</div>")
