"""A small, deterministic, self-contained HTML document builder.

Everything that comes from records is escaped here, in one place: callers pass
plain strings and DataFrames, never markup. Figures are embedded as PNG data
URIs; nothing is loaded from the network.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Iterable

import pandas as pd

__all__ = ["HtmlDocument", "figure_png"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.7em;border-bottom:2px solid #444;padding-bottom:.2em}
h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #bbb}
h3{font-size:1.1em;margin-top:1.4em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict-likely-wrong{background:#f8d0cc}
.verdict-suspicious{background:#fbe7bf}
.verdict-likely-correct{background:#dcefd8}
.note{color:#555;font-size:.9em}
img{max-width:100%;height:auto;border:1px solid #ddd;margin:.5em 0}
code,pre{font-family:SFMono-Regular,Consolas,monospace;font-size:.85em;background:#f6f6f6}
pre{padding:.6em;overflow-x:auto}
""".strip()


def figure_png(fig: Any, *, dpi: int = 100) -> bytes:
    """Render a matplotlib Figure to PNG bytes, identical on every run.

    The ``Software`` text chunk (matplotlib's version) is dropped and no date
    is written, so the bytes depend only on what is drawn.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")
    return buf.getvalue()


def _fmt(value: Any) -> str:
    if value is None or (not isinstance(value, (list, dict, tuple)) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


class HtmlDocument:
    """Accumulate escaped sections; ``render()`` returns the whole page."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]

    def heading(self, text: str, level: int = 2, *, anchor: str | None = None) -> None:
        ident = f' id="{html.escape(anchor, quote=True)}"' if anchor else ""
        self._parts.append(f"<h{level}{ident}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str, *, css_class: str | None = None) -> None:
        cls = f' class="{css_class}"' if css_class else ""
        self._parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def bullets(self, items: Iterable[str]) -> None:
        body = "".join(f"<li>{html.escape(str(i))}</li>" for i in items)
        self._parts.append(f"<ul>{body}</ul>")

    def preformatted(self, text: str) -> None:
        self._parts.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, frame: pd.DataFrame, *, row_class: str | None = None, max_rows: int | None = None,
              caption: str | None = None) -> None:
        """A table of ``frame``; ``row_class`` names a column whose value styles the row."""
        shown = frame if max_rows is None else frame.head(max_rows)
        cols = list(shown.columns)
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        rows = []
        for _, rec in shown.iterrows():
            cls = ""
            if row_class is not None and isinstance(rec.get(row_class), str):
                cls = f' class="{html.escape(row_class)}-{html.escape(rec[row_class], quote=True)}"'
            cells = "".join(
                f'<td class="num">{html.escape(_fmt(rec[c]))}</td>'
                if isinstance(rec[c], (int, float)) and not isinstance(rec[c], bool)
                else f"<td>{html.escape(_fmt(rec[c]))}</td>" for c in cols)
            rows.append(f"<tr{cls}>{cells}</tr>")
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
                           "</tbody></table>")
        if max_rows is not None and len(frame) > max_rows:
            self.paragraph(f"{len(frame) - max_rows} more rows not shown.", css_class="note")

    def image(self, png: bytes, alt: str) -> None:
        data = base64.b64encode(png).decode("ascii")
        self._parts.append(f'<img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,{data}">')

    def figure(self, fig: Any, alt: str) -> None:
        """Embed a matplotlib Figure and close it."""
        import matplotlib.pyplot as plt

        self.image(figure_png(fig), alt)
        plt.close(fig)

    def render(self) -> str:
        body = "\n".join(self._parts)
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n"
                f"<body>\n{body}\n</body>\n</html>\n")
