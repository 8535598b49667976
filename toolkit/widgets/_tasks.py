"""``TaskHistoryDashboard``: filter the task records, see them in a table and in plots, and
drill into one task's status history, request and error."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import pandas as pd
from traitlets import Any as AnyTrait
from traitlets import Int, TraitError, Tuple, Unicode, default, link, observe, validate

from ._html import note
from ._picklist import MirroredChoice
from ._render import OutputCache, figure_entry, shows_errors, text_entry
from ._task_view import (FILTER_COLUMNS, check_history, check_tasks, check_time_range, covers,
                         filter_options, filter_tasks, history_figure, history_of, task_error_html,
                         task_figures, task_label, task_record_html, task_request_html, task_times,
                         tasks_summary_html, tasks_table_html, time_grid, time_labels,
                         transitions_html)

__all__ = ["TaskHistoryDashboard"]


class TaskHistoryDashboard(widgets.VBox):
    """An ipywidgets dashboard of asynchronous task records and their status histories.

    Filters by provider, task type, state and time select the tasks shown in
    a table (tinted by state, every value escaped) and in four plots: a
    timeline, task counts per state over time, durations per task type and
    failure codes. Picking a task in the list drills into it: its error (code
    and message highlighted when it failed), its whole record, its request as
    JSON, and, when ``history`` observed it, its status history as a plot and
    a table of state changes.

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
    time_range : (Timestamp, Timestamp) or None
        The time window, two timezone-aware instants (start <= end), both ends
        included, kept in UTC; None (default) lets every task through. A task
        passes when it overlaps the window: it starts at or before the
        window's end and ends at or after its start. A missing end time is open
        (running and pending tasks, and Huawei tasks, whose records give no
        end), so is a missing start; a task with neither time passes only when
        ``time_range`` is None. A window that holds every task time is the
        full range and reads back as None.
    selected : int or None
        Row number (0-based, in the order of ``tasks``) of the task shown in
        detail; the first task that passes the filters by default.
    error : str
        ``"TypeName: message"`` of the last exception raised in a callback
        (also shown in that part's Output area), ``""`` otherwise.
    time_grid : DatetimeIndex
        The instants the time slider steps through (UTC): the tasks' distinct
        start and end times, at most 500 of them.
    provider_filter, task_type_filter, state_filter, time_filter, summary, table,
    plots_output, task_list, error_view, record, request_view, history_output,
    transitions : Widget
        The parts, for tests and for re-arranging. The controls carry the CSS
        classes ``tk-provider-filter``, ``tk-type-filter``, ``tk-state-filter``,
        ``tk-time-filter`` and ``tk-task-list``; the box of the selected task's
        details ``tk-task-record``.

    Examples
    --------
    >>> import toolkit as tk
    >>> tasks = tk.read_tasks([
    ...     {"TaskId": "t1", "TaskType": "FigureClustersMerging", "Status": "Succeeded",
    ...      "StartTime": "2025-03-02T08:00:00Z", "EndTime": "2025-03-02T08:01:00Z"},
    ...     {"TaskId": "t2", "TaskType": "FigureClustersMerging", "Status": "Failed",
    ...      "StartTime": "2025-03-02T09:00:00Z", "EndTime": "2025-03-02T09:00:02Z",
    ...      "Code": "ResourceNotFound", "Message": "no such cluster"}])
    >>> board = TaskHistoryDashboard(tasks)
    >>> board.time_range = ("2025-03-02T08:30Z", "2025-03-02T10:00Z")
    >>> board.filtered["task_id"].tolist()
    ['t2']
    >>> board.time_filter.label          # the slider: the instants holding the window
    ('2025-03-02 08:01:00Z', '2025-03-02 09:00:02Z')
    >>> board                            # doctest: +SKIP

    On the sample data, with the polling history:

    >>> tasks = tk.read_tasks(["sample_data/tasks", "sample_data/huawei"])   # doctest: +SKIP
    >>> history = tk.read_task_history("sample_data/tasks")                   # doctest: +SKIP
    >>> TaskHistoryDashboard(tasks, history)                                  # doctest: +SKIP
    """

    providers = Tuple(help="Providers shown (imm, vias).")
    task_types = Tuple(help="Task types shown.")
    states = Tuple(help="Normalised states shown.")
    time_range = AnyTrait(None, allow_none=True,
                          help="(start, end) UTC Timestamps of the time window, or None for all.")
    selected = Int(None, allow_none=True, help="Row number of the task shown in detail.")
    error = Unicode("", help="The last error raised in a callback.")

    def __init__(self, tasks: pd.DataFrame, history: pd.DataFrame | None = None, *,
                 max_rows: int = 200, **kwargs: Any) -> None:
        check_tasks(tasks)
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise ValueError(f"The value for `max_rows` must be an integer of at least 1, but "
                             f"{max_rows!r} was passed.")
        self.tasks = tasks.reset_index(drop=True)
        task_times(self.tasks)  # refuses time columns that hold no datetimes, before any widget
        self.history = None if history is None else check_history(history)
        self.max_rows = max_rows
        self._options = {trait: filter_options(self.tasks, column)
                         for trait, column in FILTER_COLUMNS.items()}
        self.time_grid = time_grid(self.tasks)
        self._plot_outputs = OutputCache()
        self._history_outputs = OutputCache()
        self._callback_depth = 0
        self._quiet_slider = False
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

    @validate("time_range")
    def _check_time_range(self, proposal: Any) -> tuple | None:
        try:
            window = check_time_range(proposal.value)
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        # One value for "everything": timeless tasks then pass whichever way the
        # full range was reached (trait or slider).
        return None if covers(window, self.time_grid) else window

    @validate("selected")
    def _check_selected(self, proposal: Any) -> int | None:
        value = proposal.value
        if value is not None and not 0 <= value < len(self.tasks):
            raise TraitError(f"The value for `selected` must be a row number from 0 to "
                             f"{len(self.tasks) - 1} or None, but {value!r} was passed.")
        return value

    @property
    def filtered(self) -> pd.DataFrame:
        """The tasks that pass the four filters, in the order of ``tasks``."""
        return filter_tasks(self.tasks, providers=self.providers, task_types=self.task_types,
                            states=self.states, time_range=self.time_range)

    # ------------------------------------------------------------------ parts
    def _build(self) -> None:
        full = widgets.Layout(width="100%")
        self.summary = widgets.HTML()
        filters = []
        for trait, label, css in (("providers", "provider", "tk-provider-filter"),
                                  ("task_types", "task type", "tk-type-filter"),
                                  ("states", "state", "tk-state-filter")):
            options = self._options[trait]
            box = widgets.SelectMultiple(options=options, rows=min(max(len(options), 2), 8),
                                         description=label,
                                         layout=widgets.Layout(width="300px"))
            box.add_class(css)
            link((self, trait), (box, "value"))
            filters.append(box)
        self.provider_filter, self.task_type_filter, self.state_filter = filters
        self.time_filter = self._time_slider()
        self.table = widgets.HTML(layout=full)
        self.plots_output = widgets.Output(layout=full)
        self.task_list = widgets.Select(options=[], rows=12, layout=widgets.Layout(width="640px"))
        self.task_list.add_class("tk-task-list")
        self._picker = MirroredChoice(self.task_list, lambda value: setattr(self, "selected", value))
        self.error_view = widgets.HTML()
        self.record = widgets.HTML(layout=widgets.Layout(width="auto", max_width="600px"))
        self.request_view = widgets.HTML(layout=widgets.Layout(width="auto", max_width="600px"))
        details = widgets.VBox([self.error_view, widgets.HBox([
            widgets.VBox([widgets.HTML("<b>Record</b>"), self.record]),
            widgets.VBox([widgets.HTML("<b>Request</b>"), self.request_view])])])
        details.add_class("tk-task-record")
        self.history_output = widgets.Output(layout=full)
        self.transitions = widgets.HTML()
        self.children = [
            widgets.HBox(filters),
            self.time_filter,
            self.summary,
            self.table,
            self.plots_output,
            widgets.HTML("<b>One task</b>"),
            widgets.HBox([self.task_list, details]),
            widgets.HTML("<b>Status history</b>"),
            self.history_output,
            self.transitions,
        ]

    def _time_slider(self) -> widgets.SelectionRangeSlider:
        grid = self.time_grid
        layout = widgets.Layout(width="95%")
        style = {"description_width": "initial"}
        if len(grid) == 0:
            # A range slider needs options; with no time to choose from it stays disabled.
            slider = widgets.SelectionRangeSlider(options=[("no task times", None)], index=(0, 0),
                                                  description="time (UTC)", disabled=True,
                                                  layout=layout, style=style)
        else:
            slider = widgets.SelectionRangeSlider(
                options=list(zip(time_labels(grid), grid)), index=(0, len(grid) - 1),
                description="time (UTC)", continuous_update=False, layout=layout, style=style)
            slider.observe(self._on_time_slider, "index")
        slider.add_class("tk-time-filter")
        return slider

    # -------------------------------------------------------------- callbacks
    def _on_time_slider(self, change: Any) -> None:
        if self._quiet_slider:
            return
        lo, hi = change["new"]
        self.time_range = (self.time_grid[lo], self.time_grid[hi])

    def _show_time_range(self) -> None:
        """Move the slider to the smallest span of its instants holding ``time_range``."""
        grid = self.time_grid
        if len(grid) == 0:
            return
        if self.time_range is None:
            index = (0, len(grid) - 1)
        else:
            start, end = self.time_range
            index = (max(int(grid.searchsorted(start, side="right")) - 1, 0),
                     min(int(grid.searchsorted(end, side="left")), len(grid) - 1))
        if self.time_filter.index != index:
            self._quiet_slider = True
            try:
                self.time_filter.index = index
            finally:
                self._quiet_slider = False

    @observe("providers", "task_types", "states", "time_range")
    def _on_filter(self, change: Any) -> None:
        if not self._ready:
            return
        if change["name"] == "time_range":
            self._show_time_range()
        self._refresh()

    @shows_errors("plots_output")
    def _refresh(self) -> None:
        shown = self.filtered
        rows = shown.index.tolist()
        self.summary.value = tasks_summary_html(self.tasks, shown, self.time_range)
        self._picker.set_options([(task_label(r), i) for i, r in shown.iterrows()], self.selected)
        if self.selected not in rows:
            self.selected = rows[0] if rows else None
        self.table.value = tasks_table_html(shown, self.selected, max_rows=self.max_rows)
        self.plots_output.outputs = self._plot_outputs.get(
            (self.providers, self.task_types, self.states, self.time_range),
            lambda: self._draw_tasks(shown))

    def _draw_tasks(self, shown: pd.DataFrame) -> tuple:
        figures = task_figures(shown, self.history, time_range=self.time_range)
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
            nothing = note("No task passes the filters.")
            self.error_view.value = self.record.value = self.request_view.value = nothing
            self.transitions.value = ""
            self.history_output.outputs = ()
            return
        row = self.tasks.iloc[selected]
        self.error_view.value = task_error_html(row)
        self.record.value = task_record_html(row)
        self.request_view.value = task_request_html(row)
        observed = history_of(self.history, row)
        # Cleared first: if drawing fails, no table of another task stays under the error.
        self.transitions.value = ""
        self.history_output.outputs = self._history_outputs.get(
            selected, lambda: self._draw_history(row, observed))
        if observed is not None:
            self.transitions.value = transitions_html(observed)

    def _draw_history(self, row: pd.Series, observed: pd.DataFrame | None) -> tuple:
        if observed is None:
            return (text_entry(f"No status history of task {row['task_id']}: "
                               + ("no history was given." if self.history is None
                                  else "the history has no observation of it.")),)
        return (figure_entry(history_figure(observed, row["task_id"]),
                             alt="task status history"),)
