"""Lists that mirror a dashboard trait: the merge list, the task list, the cluster pickers.

A trait may hold a value its list does not show (a merge hidden by the
filters, a pick naming clusters the working state no longer has): the list
then shows what it can (nothing, or the listed part of a tuple) and the
dashboard says what is wrong. A user's click in a list sets the trait; the
mirror's own writes never come back as clicks.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

__all__ = ["MirroredChoice", "cluster_options"]


def cluster_options(cluster_ids: Sequence[str], counts: Sequence[int]) -> list[tuple[str, str]]:
    """``(label, cluster id)`` per cluster, largest first, ties by id.

    Labels read ``"id (n faces)"``.

    >>> cluster_options(["b", "a", "c"], [2, 5, 2])
    [('a (5 faces)', 'a'), ('b (2 faces)', 'b'), ('c (2 faces)', 'c')]
    """
    order = sorted(range(len(cluster_ids)), key=lambda i: (-int(counts[i]), str(cluster_ids[i])))
    return [(f"{cluster_ids[i]} ({int(counts[i])} face{'s' if counts[i] != 1 else ''})",
             str(cluster_ids[i])) for i in order]


class MirroredChoice:
    """Keep a Select or Dropdown (one value) or a SelectMultiple (a tuple) in step with a trait.

    Parameters
    ----------
    widget : ipywidgets.Select, ipywidgets.Dropdown or ipywidgets.SelectMultiple
        The list; its option values are what the trait holds.
    on_pick : callable
        Called with what the user chose: an id (never None) for a Dropdown, a
        tuple of ids for a SelectMultiple.
    multiple : bool, default=False
        Whether ``widget`` holds several values.
    """

    def __init__(self, widget: Any, on_pick: Callable[[Any], None], *,
                 multiple: bool = False) -> None:
        self.widget = widget
        self.multiple = multiple
        self._on_pick = on_pick
        self._quiet = False
        self._listed: set = set()
        widget.observe(self._picked, "value")

    def _picked(self, change: Any) -> None:
        if self._quiet or (change["new"] is None and not self.multiple):
            return
        self._on_pick(tuple(change["new"]) if self.multiple else change["new"])

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _is_listed(self, value: Any) -> bool:
        try:
            return value in self._listed
        except TypeError:  # an unhashable value is never an option
            return False

    def _shown(self, value: Any) -> Any:
        if self.multiple:
            return tuple(v for v in (value or ()) if self._is_listed(v))
        return value if self._is_listed(value) else None

    def set_options(self, options: Sequence[tuple[str, Any]], value: Any) -> None:
        """Replace the options and show ``value`` (what of it is listed)."""
        self._listed = {v for _, v in options}
        with self._quietly():
            # Clear the choice first: new options must not pick their first entry.
            if self.multiple:
                self.widget.value = ()
            else:
                self.widget.index = None
            self.widget.options = list(options)
            self.widget.value = self._shown(value)

    def show(self, value: Any) -> None:
        """Show ``value``: the listed part of it, or nothing."""
        shown = self._shown(value)
        if self.widget.value != shown:
            with self._quietly():
                self.widget.value = shown
