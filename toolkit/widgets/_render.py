"""Figures and errors as entries of an ``Output`` widget's ``outputs``.

The dashboards set ``Output.outputs`` to a tuple of these entries instead of
printing inside ``with output:``. Capturing with ``with output:`` needs a
running kernel; assigning the trait works the same in a notebook, in a script
and in a test, and replaces the whole area in one change (no flicker, no
stale plot left when a callback fails halfway).

Figures are built with :class:`matplotlib.figure.Figure`, never with pyplot,
so the notebook's inline backend does not also show them under the cell and
no global figure is left open.
"""

from __future__ import annotations

import base64
import functools
import io
import traceback
from collections import OrderedDict
from typing import Any, Callable, Hashable

__all__ = ["new_figure", "figure_entry", "text_entry", "error_entry", "shows_errors",
           "OutputCache"]

#: Resolution of the figures shown in the dashboards (dots per inch).
DPI = 80


def new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    """A pyplot-free Figure and its Axes (one Axes, or an array of them)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots(nrows, ncols)


def figure_entry(fig: Any, *, alt: str = "figure") -> dict:
    """A ``display_data`` output holding ``fig`` as a PNG image."""
    buf = io.BytesIO()
    # "tight" keeps legends placed beside the Axes (the task timeline's) in the picture.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                     "text/plain": f"<{alt}>"}}


def text_entry(text: str) -> dict:
    """A ``stream`` output holding plain text (rendered as text, never as HTML)."""
    return {"output_type": "stream", "name": "stdout", "text": text if text.endswith("\n")
            else text + "\n"}


def error_entry(exc: BaseException) -> dict:
    """An ``error`` output: the frontend shows it as a cell error with its traceback."""
    return {"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc),
            "traceback": traceback.format_exception(type(exc), exc, exc.__traceback__)}


def shows_errors(area: str) -> Callable:
    """Decorate a dashboard callback so an exception is shown, not lost.

    A widget callback runs in the kernel's comm handler: an exception raised
    there reaches no cell and the user sees nothing. Caught here, it replaces
    the contents of the Output widget named ``area`` and goes into the
    dashboard's ``error`` trait (``"TypeName: message"``). The first callback
    of a user action clears ``error``; callbacks it triggers keep what they find.
    """
    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            outermost = self._callback_depth == 0
            if outermost:
                self.error = ""
            self._callback_depth += 1
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown to the user, see the docstring
                getattr(self, area).outputs = (error_entry(exc),)
                self.error = f"{type(exc).__name__}: {exc}"
                return None
            finally:
                self._callback_depth -= 1
        return run
    return wrap


class OutputCache:
    """The last ``size`` rendered output tuples, by key (least recently used goes first).

    Drawing and encoding a figure costs far more than showing it, and a
    reviewer goes back and forth between the same merges: what a dashboard
    drew for a key it shows again at once. The inputs of a dashboard never
    change, so an entry never goes stale.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: OrderedDict = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], tuple]) -> tuple:
        """The outputs for ``key``, made by ``make()`` the first time."""
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = make()
        self._entries[key] = value
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value
