"""``AuditDashboard``: browse an audit's merges, look at each, decide, export."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import pandas as pd
from traitlets import Dict, Int, TraitError, Tuple, Unicode, default, link, observe, validate

from .. import plots
from ..audit import AuditResult
from ._decisions import DECISIONS, check_decisions, export_decisions, plan_decisions
from ._html import field_table, html_table, note
from ._merge_view import (audit_summary_html, filter_merges, merge_details_html, merge_figures,
                          merge_label, merges_table_html, outcome_options, quality_figure,
                          step_caption_html, verdict_options)
from ._picklist import MirroredSelect
from ._render import OutputCache, figure_entry, shows_errors, text_entry
from ._task_view import check_history, check_tasks

__all__ = ["AuditDashboard"]

#: Seed of the 2-D projection of the faces; the HTML report uses the same, so the
#: dashboard and the report show the same picture.
PROJECTION_SEED = 0


class AuditDashboard(widgets.VBox):
    """An ipywidgets dashboard to review the merges of an audit, one by one.

    From top to bottom: the audit's summary; filters by verdict and outcome, the
    list of merges that pass them, and the selected merge's details (verdict,
    reasons, figures) with buttons to accept or reject it; the merges as a table
    tinted by verdict; the selected merge's plots (impact before/after, its task's
    status history when ``history`` has it, the faces on a 2-D projection before
    and after); cluster quality over the merge sequence with a step slider; and
    the export of the decisions.

    Every piece of state is a trait, so a notebook (or a test) can drive the
    dashboard without a browser: assign ``selected``, ``verdicts``, ``step``,
    ``export_dir``, or call ``accept_button.click()``, then read the traits and
    the widgets' contents. Text from the records (UserData, task ids, reasons)
    is HTML-escaped wherever it is shown.

    Parameters
    ----------
    audit : AuditResult
        From :func:`toolkit.audit_merges` (or ``audit_directory(...).audit``).
    tasks : DataFrame, default=None
        The tasks frame (:func:`toolkit.read_tasks`); used for the
        ``ProjectName`` of exported merge requests when the audited dataset's
        merges name a single project.
    history : DataFrame, default=None
        The task history frame (:func:`toolkit.read_task_history`); a merge
        whose task it observed shows its status history.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=``...).

    Attributes
    ----------
    verdicts : tuple of str
        Verdicts shown in the list; ``"(no verdict)"`` stands for merges whose
        clusters did not exist. Default: all present.
    outcomes : tuple of str
        Outcomes shown (applied, failed, pending, vanished, no-parameters).
        Default: all present.
    selected : str or None
        Task id of the merge shown in detail; the first merge in the list by
        default, None when no merge passes the filters.
    decisions : dict of str to str
        Task id to ``"accepted"`` or ``"rejected"``, as recorded with the
        buttons (or assigned).
    step : int
        Merge step marked on the quality plot, 0 (the export) to the number
        of applied merges. Selecting an applied merge moves it to its step.
    export_dir : str
        Directory the export button writes to; ``"merge-audit-export"``
        (relative to the working directory) by default.
    exported : dict
        What the last export wrote: file name to number of records, and
        ``"directory"``. Read-only.
    error : str
        ``"TypeName: message"`` of the last exception raised in a callback
        (also shown in the Output area of that part), ``""`` after a callback
        that succeeded.
    merge_list, merge_table, details, merge_output, step_slider, quality_output,
    export_text, export_button, export_summary, export_output : Widget
        The parts, for tests and for re-arranging.

    Examples
    --------
    >>> from toolkit.report import audit_directory
    >>> inputs = audit_directory("sample_data")                          # doctest: +SKIP
    >>> board = AuditDashboard(inputs.audit, tasks=inputs.tasks,
    ...                        history=inputs.history)                    # doctest: +SKIP
    >>> board.verdicts = ("likely-wrong",)                                 # doctest: +SKIP
    >>> board.reject_button.click()                                        # doctest: +SKIP
    >>> board                                                              # doctest: +SKIP
    """

    verdicts = Tuple(help="Verdicts shown in the list of merges.")
    outcomes = Tuple(help="Outcomes shown in the list of merges.")
    selected = Unicode(None, allow_none=True, help="Task id of the merge shown in detail.")
    decisions = Dict(help="Task id -> 'accepted' or 'rejected'.")
    step = Int(0, help="Merge step marked on the quality plot.")
    export_dir = Unicode(help="Directory the export writes to.")
    exported = Dict(read_only=True, help="What the last export wrote.")
    error = Unicode("", help="The last error raised in a callback.")

    def __init__(self, audit: AuditResult, *, tasks: pd.DataFrame | None = None,
                 history: pd.DataFrame | None = None, **kwargs: Any) -> None:
        if not isinstance(audit, AuditResult):
            raise TypeError(f"`audit` must be an AuditResult (from toolkit.audit_merges), but "
                            f"{type(audit).__name__} was passed.")
        self.audit = audit
        self.tasks = None if tasks is None else check_tasks(tasks, arg="tasks")
        self.history = None if history is None else check_history(history)
        self._merges = audit.merges.reset_index(drop=True)
        self._task_ids = self._merges["task_id"].astype(object).tolist()
        self._verdict_options = verdict_options(self._merges)
        self._outcome_options = outcome_options(self._merges)
        self._projection = None
        self._merge_outputs = OutputCache()
        self._quality_outputs = OutputCache()
        self._callback_depth = 0
        self._ready = False  # observers wait until every part exists
        super().__init__(**kwargs)
        self._build()
        self._ready = True
        selected, step = self.selected, self.step
        self._refresh_list()
        # Draw what the first refresh did not already draw through the observers.
        if self.selected == selected:
            self._show_selected()
        if self.step == step:
            self._show_step()
        self._show_plan()

    # ----------------------------------------------------------------- traits
    @default("verdicts")
    def _default_verdicts(self) -> tuple:
        return self._verdict_options

    @default("outcomes")
    def _default_outcomes(self) -> tuple:
        return self._outcome_options

    @default("export_dir")
    def _default_export_dir(self) -> str:
        return "merge-audit-export"

    @validate("verdicts")
    def _check_verdicts(self, proposal: Any) -> tuple:
        return _check_options("verdicts", proposal.value, self._verdict_options)

    @validate("outcomes")
    def _check_outcomes(self, proposal: Any) -> tuple:
        return _check_options("outcomes", proposal.value, self._outcome_options)

    @validate("selected")
    def _check_selected(self, proposal: Any) -> str | None:
        value = proposal.value
        if value is not None and value not in self._task_ids:
            raise TraitError(f"The value for `selected` must be the task id of one of the "
                             f"audit's {len(self._task_ids)} merges (e.g. "
                             f"{self._task_ids[:2]}) or None, but {value!r} was passed.")
        return value

    @validate("decisions")
    def _check_decisions(self, proposal: Any) -> dict:
        try:
            return check_decisions(proposal.value, self._task_ids)
        except (TypeError, ValueError) as exc:
            raise TraitError(str(exc)) from None

    @validate("step")
    def _check_step(self, proposal: Any) -> int:
        last = len(self.audit.ledger)
        if not 0 <= proposal.value <= last:
            raise TraitError(f"The value for `step` must be between 0 (the export) and {last} "
                             f"(the last applied merge), but {proposal.value!r} was passed.")
        return proposal.value

    @property
    def visible(self) -> pd.DataFrame:
        """The merges that pass the verdict and outcome filters, in the audit's order."""
        return filter_merges(self._merges, verdicts=self.verdicts, outcomes=self.outcomes)

    @property
    def plan(self) -> pd.DataFrame:
        """What exporting the current decisions would do (:func:`plan_decisions`)."""
        return plan_decisions(self.audit, self.decisions)

    # ------------------------------------------------------------------ parts
    def _build(self) -> None:
        full = widgets.Layout(width="100%")
        self.summary = widgets.HTML(audit_summary_html(self.audit))
        self.verdict_filter = widgets.SelectMultiple(
            options=self._verdict_options, rows=len(self._verdict_options),
            description="verdict", layout=widgets.Layout(width="260px"))
        self.outcome_filter = widgets.SelectMultiple(
            options=self._outcome_options, rows=len(self._outcome_options),
            description="outcome", layout=widgets.Layout(width="260px"))
        link((self, "verdicts"), (self.verdict_filter, "value"))
        link((self, "outcomes"), (self.outcome_filter, "value"))
        self.merge_list = widgets.Select(options=[], rows=14,
                                         layout=widgets.Layout(width="560px"))
        self._picker = MirroredSelect(self.merge_list, lambda value: setattr(self, "selected", value))
        self.details = widgets.HTML(layout=widgets.Layout(width="auto", max_width="640px"))
        self.accept_button = widgets.Button(description="accept", icon="check",
                                            button_style="success",
                                            tooltip="Record that this merge is right")
        self.reject_button = widgets.Button(description="reject", icon="times",
                                            button_style="danger",
                                            tooltip="Record that this merge is wrong")
        self.clear_button = widgets.Button(description="clear", tooltip="Forget the decision")
        self.accept_button.on_click(lambda _: self._decide("accepted"))
        self.reject_button.on_click(lambda _: self._decide("rejected"))
        self.clear_button.on_click(lambda _: self._decide(None))
        self.merge_table = widgets.HTML(layout=full)
        self.merge_output = widgets.Output(layout=full)

        last = len(self.audit.ledger)
        self.step_slider = widgets.IntSlider(min=0, max=max(last, 0), description="step",
                                             continuous_update=False,
                                             layout=widgets.Layout(width="420px"))
        link((self, "step"), (self.step_slider, "value"))
        self.step_caption = widgets.HTML()
        self.quality_output = widgets.Output(layout=full)

        self.export_text = widgets.Text(description="directory",
                                        layout=widgets.Layout(width="480px"))
        link((self, "export_dir"), (self.export_text, "value"))
        self.export_button = widgets.Button(description="export", icon="download",
                                            tooltip="Write the undo plan, merge requests and "
                                                    "decisions into the directory")
        self.export_button.on_click(lambda _: self._export())
        self.export_summary = widgets.HTML(layout=full)
        self.export_output = widgets.Output(layout=full)

        filters = widgets.VBox([self.verdict_filter, self.outcome_filter])
        decide = widgets.HBox([self.accept_button, self.reject_button, self.clear_button])
        self.children = [
            self.summary,
            widgets.HBox([filters, self.merge_list, widgets.VBox([self.details, decide])]),
            self.merge_table,
            self.merge_output,
            widgets.HTML("<b>Cluster quality over the merges</b>"),
            widgets.HBox([self.step_slider, self.step_caption]),
            self.quality_output,
            widgets.HTML("<b>Export the decisions</b>"),
            widgets.HBox([self.export_text, self.export_button]),
            self.export_summary,
            self.export_output,
        ]

    # -------------------------------------------------------------- callbacks
    @observe("verdicts", "outcomes")
    def _on_filter(self, change: Any) -> None:
        if self._ready:
            self._refresh_list()

    @shows_errors("merge_output")
    def _refresh_list(self) -> None:
        visible = self.visible
        ids = visible["task_id"].astype(object).tolist()
        options = [(merge_label(row), row["task_id"]) for _, row in visible.iterrows()]
        self._picker.set_options(options, self.selected)
        if self.selected not in ids:
            self.selected = ids[0] if ids else None
        self._show_table()

    @observe("selected")
    def _on_selected(self, change: Any) -> None:
        if self._ready:
            self._show_selected()

    @shows_errors("merge_output")
    def _show_selected(self) -> None:
        selected = self.selected
        self._picker.show(selected)
        for button in (self.accept_button, self.reject_button, self.clear_button):
            button.disabled = selected is None
        self._show_table()
        if selected is None:
            self.details.value = note("No merge passes the filters.")
            self.merge_output.outputs = ()
            return
        row = self._row(selected)
        self.details.value = merge_details_html(row, self.decisions.get(selected))
        if not pd.isna(row["step"]):
            self.step = int(row["step"])
        self.merge_output.outputs = self._merge_outputs.get(selected,
                                                             lambda: self._draw_merge(row))

    def _draw_merge(self, row: pd.Series) -> tuple:
        if self._projection is None and isinstance(row["verdict"], str):
            # One projection serves every merge: merges change labels, not embeddings.
            self._projection = plots.project(self.audit.initial, random_state=PROJECTION_SEED)
        figures = merge_figures(self.audit, row, history=self.history,
                                projection=self._projection)
        if figures:
            return tuple(figure_entry(fig, alt=what) for fig, what in figures)
        return (text_entry(f"Nothing to draw for task {row['task_id']}: its clusters did not "
                           "exist when it ran and no status history of it was given."),)

    @shows_errors("merge_output")
    def _decide(self, decision: str | None) -> None:
        if self.selected is None:
            raise ValueError("Select a merge first: no merge passes the filters.")
        if decision is not None and decision not in DECISIONS:
            raise ValueError(f"A decision must be one of {list(DECISIONS)}, but {decision!r} "
                             "was passed.")
        updated = {k: v for k, v in self.decisions.items() if k != self.selected}
        if decision is not None:
            updated[self.selected] = decision
        # A new dict, so the trait sees a change and its observers run.
        self.decisions = updated

    @observe("decisions")
    def _on_decisions(self, change: Any) -> None:
        if self._ready:
            self._show_table()
            self._show_details()
            self._show_plan()

    def _show_details(self) -> None:
        if self.selected is not None:
            self.details.value = merge_details_html(self._row(self.selected),
                                                    self.decisions.get(self.selected))

    def _show_table(self) -> None:
        self.merge_table.value = merges_table_html(self.visible, self.decisions, self.selected)

    @shows_errors("export_output")
    def _show_plan(self) -> None:
        plan = self.plan
        if plan.empty:
            self.export_summary.value = note(
                "No decision yet. Rejecting an applied merge puts it in the undo plan; "
                "accepting a failed one writes a merge request to retry it.")
            return
        counts = plan["action"].value_counts()
        self.export_summary.value = (
            note(f"{len(plan)} decision(s): the export will write {counts.get('undo', 0)} "
                 f"merge(s) to undo and {counts.get('request', 0)} merge request(s).")
            + html_table(plan, ["task_id", "decision", "outcome", "verdict", "action", "note"],
                         max_height="200px"))

    @observe("step")
    def _on_step(self, change: Any) -> None:
        if self._ready:
            self._show_step()

    @shows_errors("quality_output")
    def _show_step(self) -> None:
        self.step_caption.value = step_caption_html(self.audit, self.step)
        step = self.step
        self.quality_output.outputs = self._quality_outputs.get(step, lambda: (figure_entry(
            quality_figure(self.audit, step), alt="cluster quality over the merges"),))

    @shows_errors("export_output")
    def _export(self) -> None:
        result = export_decisions(self.audit, self.decisions, self.export_dir,
                                  project_name=self._project_name())
        written = {"directory": str(result.directory), **result.files}
        self.set_trait("exported", written)
        files = [(str(result.directory / name), f"{n} record(s)")
                 for name, n in result.files.items()]
        self.export_summary.value = (
            note(f"Wrote {len(files)} files:") + field_table(files)
            + (html_table(result.plan, ["task_id", "decision", "action", "note"],
                          max_height="200px") if len(result.plan) else ""))
        self.export_output.outputs = ()

    # ---------------------------------------------------------------- helpers
    def _row(self, task_id: str) -> pd.Series:
        return self._merges.iloc[self._task_ids.index(task_id)]

    def _project_name(self) -> str | None:
        """The project of the audited merges, when the tasks frame names exactly one."""
        if self.tasks is None or "project" not in self.tasks.columns:
            return None
        mine = self.tasks[self.tasks["task_id"].astype(object).isin(self._task_ids)]
        names = mine["project"].dropna().unique().tolist()
        return str(names[0]) if len(names) == 1 else None


def _check_options(name: str, value: Any, options: tuple) -> tuple:
    value = tuple(value)
    for v in value:
        if v not in options:
            raise TraitError(f"The value for `{name}` must hold values among {list(options)}, "
                             f"but {v!r} was passed.")
    return value
