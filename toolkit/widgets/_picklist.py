"""A Select widget that mirrors a dashboard's ``selected`` trait.

Both dashboards list rows in a Select and keep the chosen one in a
``selected`` trait. Changes flow both ways: a click in the list sets
``selected``; setting ``selected`` (or refiltering) moves the list. The
mirror writes to the list quietly, so its own writes never come back as
clicks.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

__all__ = ["MirroredSelect"]


class MirroredSelect:
    """Keep ``select`` and a ``selected`` value in step.

    Parameters
    ----------
    select : ipywidgets.Select
        The list; its option values are what ``selected`` holds.
    on_pick : callable
        Called with the value the user clicked (never with None, never for
        the mirror's own writes).
    """

    def __init__(self, select: Any, on_pick: Callable[[Any], None]) -> None:
        self.select = select
        self._on_pick = on_pick
        self._quiet = False
        select.observe(self._picked, "value")

    def _picked(self, change: Any) -> None:
        if not self._quiet and change["new"] is not None:
            self._on_pick(change["new"])

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def set_options(self, options: Sequence[tuple[str, Any]], selected: Any) -> None:
        """Replace the options, keeping ``selected`` chosen when it is still listed."""
        values = [value for _, value in options]
        with self._quietly():
            # With no index, new options do not select their first entry by themselves.
            self.select.index = None
            self.select.options = options
            self.select.value = selected if selected in values else None

    def show(self, selected: Any) -> None:
        """Move the list to ``selected`` when it is listed."""
        listed = [value for _, value in self.select.options]
        if self.select.value != selected and selected in listed:
            with self._quietly():
                self.select.value = selected
