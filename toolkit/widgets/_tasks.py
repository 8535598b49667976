"""``TaskDashboard``: filter the task records, see them in a table and in plots."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import pandas as pd
from traitlets import Int, TraitError, Tuple, Unicode, default, link, observe, validate

from ._html import note
from ._picklist import MirroredSelect
from ._render import OutputCache, figure_entry, shows_errors, text_entry
from ._task_view import (FILTER_COLUMNS, check_history, check_tasks, filter_options,
                         filter_tasks, history_figure, history_of, task_label, task_record_html,
                         task_figures, tasks_summary_html, tasks_table_html)

__all__ = ["TaskDashboard"]


class TaskDashboard(widgets.VBox):
    """An ipywidgets dashboard of asynchronous task records.

    Filters by provider, task type and state select the tasks shown in a
    table (tinted by state, every value escaped) and in four plots: a
    timeline, task counts per state over time, durations per task type and
    failure codes. Picking a task in the list shows its whole record and, when
    ``history`` observed it, its status history.

    Parameters
    ----------
    tasks : DataFrame
        A tasks frame from :func:`toolkit.read_tasks` (IMM and Huawei VIAS).
    history : DataFrame, default=None
        A task history frame from :func:`toolkit.read_task_history`; counts
        per state come from it when it observed the filtered tasks.
    max_rows : int, default=200
        Most rows of the table; the rest are counted.
    **kwargs
        Passed to :class:`ipywidgets.VBox`.

    Attributes
    ----------
    providers, task_types, states : tuple of str
        The values each filter lets through (``"(missing)"`` for a missing
        value). Default: every value present.
    selected : int or None
        Row number (0-based, in the order of ``tasks``) of the task shown in
        detail; the first task that passes the filters by default.
    error : str
        ``"TypeName: message"`` of the last exception raised in a callback
        (also shown in that part's Output area), ``""`` otherwise.
    provider_filter, task_type_filter, state_filter, table, plots_output, task_list,
    record, history_output : Widget
        The parts, for tests and for re-arranging.

    Examples
    --------
    >>> import toolkit as tk
    >>> tasks = tk.read_tasks(["sample_data/tasks", "sample_data/huawei"])   # doctest: +SKIP
    >>> board = TaskDashboard(tasks, tk.read_task_history("sample_data/tasks"))  # doctest: +SKIP
    >>> board.states = ("failed",)                                            # doctest: +SKIP
    >>> board                                                                  # doctest: +SKIP
    """

    providers = Tuple(help="Providers shown (imm, vias).")
    task_types = Tuple(help="Task types shown.")
    states = Tuple(help="Normalised states shown.")
    selected = Int(None, allow_none=True, help="Row number of the task shown in detail.")
    error = Unicode("", help="The last error raised in a callback.")

    def __init__(self, tasks: pd.DataFrame, history: pd.DataFrame | None = None, *,
                 max_rows: int = 200, **kwargs: Any) -> None:
        check_tasks(tasks)
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise ValueError(f"The value for `max_rows` must be an integer of at least 1, but "
                             f"{max_rows!r} was passed.")
        self.tasks = tasks.reset_index(drop=True)
        self.history = None if history is None else check_history(history)
        self.max_rows = max_rows
        self._options = {trait: filter_options(self.tasks, column)
                         for trait, column in FILTER_COLUMNS.items()}
        self._plot_outputs = OutputCache()
        self._history_outputs = OutputCache()
        self._callback_depth = 0
        self._ready = False
        super().__init__(**kwargs)
        self._build()
        self._ready = True
        selected = self.selected
        self._refresh()
        if self.selected == selected:
            self._show_selected()

    # ----------------------------------------------------------------- traits
    @default("providers")
    def _default_providers(self) -> tuple:
        return self._options["providers"]

    @default("task_types")
    def _default_task_types(self) -> tuple:
        return self._options["task_types"]

    @default("states")
    def _default_states(self) -> tuple:
        return self._options["states"]

    @validate("providers", "task_types", "states")
    def _check_filter(self, proposal: Any) -> tuple:
        name = proposal.trait.name
        value = tuple(proposal.value)
        for v in value:
            if v not in self._options[name]:
                raise TraitError(f"The value for `{name}` must hold values among "
                                 f"{list(self._options[name])}, but {v!r} was passed.")
        return value

    @validate("selected")
    def _check_selected(self, proposal: Any) -> int | None:
        value = proposal.value
        if value is not None and not 0 <= value < len(self.tasks):
            raise TraitError(f"The value for `selected` must be a row number from 0 to "
                             f"{len(self.tasks) - 1} or None, but {value!r} was passed.")
        return value

    @property
    def filtered(self) -> pd.DataFrame:
        """The tasks that pass the three filters, in the order of ``tasks``."""
        return filter_tasks(self.tasks, providers=self.providers, task_types=self.task_types,
                            states=self.states)

    # ------------------------------------------------------------------ parts
    def _build(self) -> None:
        full = widgets.Layout(width="100%")
        self.summary = widgets.HTML()
        filters = []
        for trait, label in (("providers", "provider"), ("task_types", "task type"),
                             ("states", "state")):
            options = self._options[trait]
            box = widgets.SelectMultiple(options=options, rows=min(max(len(options), 2), 8),
                                         description=label,
                                         layout=widgets.Layout(width="300px"))
            link((self, trait), (box, "value"))
            filters.append(box)
        self.provider_filter, self.task_type_filter, self.state_filter = filters
        self.table = widgets.HTML(layout=full)
        self.plots_output = widgets.Output(layout=full)
        self.task_list = widgets.Select(options=[], rows=12, layout=widgets.Layout(width="640px"))
        self._picker = MirroredSelect(self.task_list, lambda value: setattr(self, "selected", value))
        self.record = widgets.HTML(layout=widgets.Layout(width="auto", max_width="600px"))
        self.history_output = widgets.Output(layout=full)
        self.children = [
            widgets.HBox(filters),
            self.summary,
            self.table,
            self.plots_output,
            widgets.HTML("<b>One task</b>"),
            widgets.HBox([self.task_list, self.record]),
            self.history_output,
        ]

    # -------------------------------------------------------------- callbacks
    @observe("providers", "task_types", "states")
    def _on_filter(self, change: Any) -> None:
        if self._ready:
            self._refresh()

    @shows_errors("plots_output")
    def _refresh(self) -> None:
        shown = self.filtered
        rows = shown.index.tolist()
        self.summary.value = tasks_summary_html(self.tasks, shown)
        self._picker.set_options([(task_label(r), i) for i, r in shown.iterrows()], self.selected)
        if self.selected not in rows:
            self.selected = rows[0] if rows else None
        self.table.value = tasks_table_html(shown, self.selected, max_rows=self.max_rows)
        self.plots_output.outputs = self._plot_outputs.get(
            (self.providers, self.task_types, self.states), lambda: self._draw_tasks(shown))

    def _draw_tasks(self, shown: pd.DataFrame) -> tuple:
        figures = task_figures(shown, self.history)
        if not figures:
            return (text_entry("No task matches the filters."),)
        return tuple(figure_entry(f, alt=what) for f, what in figures)

    @observe("selected")
    def _on_selected(self, change: Any) -> None:
        if self._ready:
            self._show_selected()

    @shows_errors("history_output")
    def _show_selected(self) -> None:
        selected = self.selected
        self._picker.show(selected)
        self.table.value = tasks_table_html(self.filtered, selected, max_rows=self.max_rows)
        if selected is None:
            self.record.value = note("No task passes the filters.")
            self.history_output.outputs = ()
            return
        row = self.tasks.iloc[selected]
        self.record.value = task_record_html(row)
        self.history_output.outputs = self._history_outputs.get(
            selected, lambda: self._draw_history(row))

    def _draw_history(self, row: pd.Series) -> tuple:
        observed = history_of(self.history, row)
        if observed is None:
            return (text_entry(f"No status history of task {row['task_id']}: "
                               + ("no history was given." if self.history is None
                                  else "the history has no observation of it.")),)
        return (figure_entry(history_figure(observed, row["task_id"]),
                             alt="task status history"),)
