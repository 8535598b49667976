"""``MergeAuditDashboard``: review an audit's merges, try merges on a working state, decide."""

from __future__ import annotations

import numbers
import os
from typing import Any

import ipywidgets as widgets
import numpy as np
import orjson
import pandas as pd
from traitlets import Dict, Int, TraitError, Tuple, Unicode, default, link, observe, validate

from .. import plots
from ..audit import AuditResult, audit_merges
from ..clustering import ClusterState, Ledger
from ..errors import MergeError
from ..faceset import FaceSet
from ..images._paths import check_image_root
from ..quality._carry import carry_context
from ._decisions import DECISIONS, check_decisions, export_decisions, plan_decisions
from ._html import field_table, html_table, note
from ._merge_view import (audit_summary_html, filter_merges, merge_details_html, merge_figures,
                          merge_label, merges_table_html, outcome_options, quality_figure,
                          step_caption_html, verdict_options)
from ._picklist import MirroredChoice, cluster_options
from ._render import OutputCache, figure_entry, new_figure, shows_errors, text_entry
from ._task_view import check_history, check_tasks
from ._thumbs import ThumbnailCache, thumbnail_groups, thumbnails_html
from ._working import (audit_thresholds, ledger_table_html, pick_problem_html, preview_html,
                       preview_pick, readable, state_row, working_caption_html, working_figure)

__all__ = ["MergeAuditDashboard"]

#: Seed of the 2-D projection of the faces; the HTML report uses the same, so the
#: dashboard and the report show the same picture.
PROJECTION_SEED = 0
#: Where the working state starts.
STARTS = ("initial", "final")
#: Working states kept with their caches (each holds a (clusters, dim) array of sums).
KEPT_STATES = 4
#: Tabs of the lower part, in order.
TABS = ("merge figures", "pick figures", "all merges", "audit quality", "export")
_PICK_FIGURES_TAB = TABS.index("pick figures")


class MergeAuditDashboard(widgets.VBox):
    """An ipywidgets dashboard to review audited merges and try merges on a working state.

    Two halves side by side at the top. Left, the audited merges: filters by
    verdict and outcome, the list of merges that pass them, and the selected
    merge's details (verdict, reasons, figures) with buttons to accept or
    reject it. Right, the *pick*: a destination and source clusters of the
    working state, set by selecting an audited merge or chosen freely, with its
    preview on the working state (verdict, reasons, impact figures,
    per-cluster quality before and after) and face thumbnails of its clusters;
    **apply** merges the pick into the working state, **undo** takes the last
    applied merge back. Below them, the working state's caption, its quality
    over the applied merges and its ledger; then tabs with the selected
    merge's figures (impact, its task's status history, projection before and
    after), the pick's figures, all merges as a table, quality over the
    audited merges with a step slider, and the export of the decisions.

    Every piece of state is a trait, so a notebook (or a test) can drive the
    dashboard without a browser: assign ``selected``, ``pick_to``,
    ``pick_froms``, ``verdicts``, ``step``, ``export_dir``, or call
    ``apply_button.click()``, then read the traits and the widgets' contents.
    Text from the records (UserData, task ids, cluster ids, reasons) is
    HTML-escaped wherever it is shown.

    Parameters
    ----------
    faces : FaceSet or ClusterState
        The faces with their clustering as exported *before* the merges
        (:func:`toolkit.read_faces`).
    tasks : DataFrame or source
        The tasks frame (:func:`toolkit.read_tasks`), or anything
        ``read_tasks`` takes (paths, dicts, SDK objects).
    history : DataFrame, default=None
        The task history frame (:func:`toolkit.read_task_history`); a merge
        whose task it observed shows its status history.
    audit : AuditResult, default=None
        The audit of ``faces`` and ``tasks`` when it was already run; by default
        the dashboard runs :func:`toolkit.audit_merges` itself.
    image_root : path, default=None
        Directory holding the photos the faces' URIs name (see
        :func:`toolkit.images.image_path`); None shows placeholders.
    thresholds : Thresholds or dict, default=None
        Verdict cuts for the audit (see :class:`toolkit.audit.Thresholds`); not
        with ``audit=``, which brings its own. The pick's verdicts use the same.
    dataset : str, default=None
        The dataset to audit when the faces hold several (see
        :func:`toolkit.audit_merges`).
    start : {"initial", "final"}, default="initial"
        Where the working state starts: the export before any merge (to
        re-apply the merges one agrees with), or the audit's final state after
        every applied merge.
    n_thumbnails : int, default=8
        Faces shown per cluster of the pick.
    **kwargs
        Passed to :class:`ipywidgets.VBox` (``layout=``...).

    Attributes
    ----------
    audit : AuditResult
        The audit shown.
    working : toolkit.clustering.Ledger
        The working state's ledger: ``working.final`` is the working state,
        ``working.initial`` where it started. Read-only; changed by apply and undo.
    working_step : int
        Merges applied to the working state (``len(working)``). Read-only.
    pick_to : str or None
        Destination cluster of the pick.
    pick_froms : tuple of str
        Source clusters of the pick, in request order.
    pick_preview : PickPreview or None
        The pick's preview on the working state; None when the pick is
        incomplete or breaks a merge rule (the preview area says which).
    verdicts, outcomes : tuple of str
        Verdicts and outcomes shown in the list; ``"(no verdict)"`` stands for
        merges whose clusters did not exist. Default: all.
    selected : str or None
        Task id of the audited merge shown in detail; selecting one sets the
        pick to its request (To, From/Froms).
    decisions : dict of str to str
        Task id to ``"accepted"`` or ``"rejected"``.
    step : int
        Merge step marked on the plot of quality over the audited merges.
    export_dir : str
        Directory the export button writes to; ``"merge-audit-export"`` by default.
    exported : dict
        What the last export wrote: file name to number of records, and
        ``"directory"``. Read-only.
    error : str
        ``"TypeName: message"`` of the last exception raised in a callback
        (also shown in the Output area of that part), ``""`` after a callback
        that succeeded.
    merge_list, pick_to_list, pick_froms_list, apply_button, undo_button, preview,
    thumbnails, working_caption, working_quality, working_table, merge_output,
    pick_output, thumbnails_output, pick_figures, working_output, merge_table, step_slider,
    quality_output, export_text, export_button, export_summary, export_output, tabs : Widget
        The parts, for tests and for re-arranging. They carry stable CSS
        classes (``tk-merge-list``, ``tk-pick-to``, ``tk-pick-froms``,
        ``tk-apply``, ``tk-undo``, ``tk-preview``, ``tk-thumbnails``,
        ``tk-working-caption``, ``tk-working-quality``).

    Examples
    --------
    >>> board = MergeAuditDashboard.from_directory(
    ...     "sample_data", image_root="sample_data/images")             # doctest: +SKIP
    >>> board.selected = board.audit.merges["task_id"].iloc[0]          # doctest: +SKIP
    >>> board.apply_button.click()                                       # doctest: +SKIP
    >>> board.working_step, board.working_caption.value                  # doctest: +SKIP
    >>> board                                                            # doctest: +SKIP
    """

    verdicts = Tuple(help="Verdicts shown in the list of merges.")
    outcomes = Tuple(help="Outcomes shown in the list of merges.")
    selected = Unicode(None, allow_none=True, help="Task id of the merge shown in detail.")
    decisions = Dict(help="Task id -> 'accepted' or 'rejected'.")
    step = Int(0, help="Merge step marked on the quality plot.")
    export_dir = Unicode(help="Directory the export writes to.")
    exported = Dict(read_only=True, help="What the last export wrote.")
    error = Unicode("", help="The last error raised in a callback.")
    pick_to = Unicode(None, allow_none=True, help="Destination cluster of the pick.")
    pick_froms = Tuple(help="Source clusters of the pick, in request order.")
    working_step = Int(0, read_only=True, help="Merges applied to the working state.")

    def __init__(self, faces: FaceSet | ClusterState, tasks: Any,
                 history: pd.DataFrame | None = None, *, audit: AuditResult | None = None,
                 image_root: str | os.PathLike | None = None, thresholds: Any = None,
                 dataset: str | None = None, start: str = "initial", n_thumbnails: int = 8,
                 **kwargs: Any) -> None:
        if not isinstance(faces, (FaceSet, ClusterState)):
            raise TypeError(f"`faces` must be a FaceSet or a ClusterState (the export before "
                            f"the merges, from toolkit.read_faces), but {type(faces).__name__} "
                            "was passed.")
        if start not in STARTS:
            raise ValueError(f"The value for `start` must be one of {list(STARTS)}, but "
                             f"{start!r} was passed.")
        if (not isinstance(n_thumbnails, numbers.Integral) or isinstance(n_thumbnails, bool)
                or n_thumbnails < 1):
            raise ValueError("The value for `n_thumbnails` must be an integer >= 1, but "
                             f"{n_thumbnails!r} was passed.")
        n_thumbnails = int(n_thumbnails)
        self.image_root = check_image_root(image_root)
        if not isinstance(tasks, pd.DataFrame):
            from ..io import read_tasks
            tasks = read_tasks(tasks)
        self.tasks = check_tasks(tasks, arg="tasks")
        self.history = None if history is None else check_history(history)
        if audit is None:
            audit = audit_merges(faces, self.tasks, thresholds=thresholds, dataset=dataset)
        else:
            _check_audit(audit, faces, thresholds=thresholds, dataset=dataset)
        self.audit = audit
        self.start = start
        self.n_thumbnails = n_thumbnails
        self._thresholds = audit_thresholds(audit.thresholds)
        self._truth = "identity" in audit.initial.faceset.faces.columns
        first = audit.initial if start == "initial" else audit.final
        self._working = Ledger(first)
        # The state objects of the last steps: undo rebuilds an equal state, but the
        # kept one carries merge_impact's per-state cache (one O(n·k·d) pass saved).
        self._kept_states = {0: first}
        self._working_rows = [state_row(first, 0, truth=self._truth)]

        self._merges = audit.merges.reset_index(drop=True)
        self._task_ids = self._merges["task_id"].astype(object).tolist()
        self._verdict_options = verdict_options(self._merges)
        self._outcome_options = outcome_options(self._merges)
        self._projection = None
        self._merge_outputs = OutputCache()
        self._quality_outputs = OutputCache()
        self._pick_outputs = OutputCache()
        self._previews = OutputCache()
        self._thumbs = ThumbnailCache(self.image_root)
        self._shown_pick: tuple | None = None
        self._pick_figures_key: tuple | None = None
        self._callback_depth = 0
        self._ready = False  # observers wait until every part exists
        super().__init__(**kwargs)
        self._build()
        self._ready = True
        # The first drawing is one action: an error in any part stays in `error`.
        self._callback_depth += 1
        try:
            selected, step = self.selected, self.step
            self._show_working()
            self._refresh_list()
            # Draw what the first refresh did not already draw through the observers.
            if self.selected == selected:
                self._show_selected()
            if self.step == step:
                self._show_step()
            self._show_pick()
            self._show_plan()
        finally:
            self._callback_depth -= 1

    @classmethod
    def from_directory(cls, path: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
                       **kwargs: Any) -> MergeAuditDashboard:
        """Read a data directory laid out like ``sample_data/``, audit it, and show it.

        Parameters
        ----------
        path : path
            The directory: ``faces.parquet`` (or ``faces.npz``), ``tasks/`` and
            optionally ``huawei/`` (see :func:`toolkit.report.audit_directory`;
            bad records are collected, not raised).
        image_root : path, default=None
            Directory holding the photos (``sample_data/images`` for the sample).
        **kwargs
            ``thresholds`` goes to the audit; the rest to the constructor.

        Returns
        -------
        MergeAuditDashboard

        Examples
        --------
        >>> board = MergeAuditDashboard.from_directory(
        ...     "../sample_data", image_root="../sample_data/images")      # doctest: +SKIP
        """
        from ..report import audit_directory

        inputs = audit_directory(path, thresholds=kwargs.pop("thresholds", None))
        return cls(inputs.audit.initial, inputs.tasks, inputs.history, audit=inputs.audit,
                   image_root=image_root, **kwargs)

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

    @validate("pick_froms")
    def _check_pick_froms(self, proposal: Any) -> tuple:
        value = proposal.value
        if isinstance(value, str):
            raise TraitError("The value for `pick_froms` must be a tuple of cluster ids, but "
                             f"the string {value!r} was passed; write ({value!r},).")
        return tuple(value)

    @property
    def working(self) -> Ledger:
        """The working state's ledger (read-only: apply and undo change it)."""
        return self._working

    @property
    def pick_preview(self):
        """The pick's :class:`PickPreview` on the working state, or None."""
        return self._preview_or_problem()[0]

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

        # Audited merges (left).
        self.verdict_filter = widgets.SelectMultiple(
            options=self._verdict_options, rows=len(self._verdict_options),
            description="verdict", layout=widgets.Layout(width="250px"))
        self.outcome_filter = widgets.SelectMultiple(
            options=self._outcome_options, rows=len(self._outcome_options),
            description="outcome", layout=widgets.Layout(width="250px"))
        link((self, "verdicts"), (self.verdict_filter, "value"))
        link((self, "outcomes"), (self.outcome_filter, "value"))
        self.merge_list = widgets.Select(options=[], rows=12,
                                         layout=widgets.Layout(width="100%"))
        self.merge_list.add_class("tk-merge-list")
        self._picker = MirroredChoice(self.merge_list,
                                      lambda value: setattr(self, "selected", value))
        self.details = widgets.HTML(layout=widgets.Layout(width="auto"))
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
        self.merge_output = widgets.Output(layout=full)

        # The pick and the working state (right).
        self.pick_to_list = widgets.Dropdown(options=[], description="into",
                                             layout=widgets.Layout(width="100%"))
        self.pick_to_list.add_class("tk-pick-to")
        self.pick_froms_list = widgets.SelectMultiple(options=[], rows=6, description="merge",
                                                      layout=widgets.Layout(width="100%"))
        self.pick_froms_list.add_class("tk-pick-froms")
        self._to_mirror = MirroredChoice(self.pick_to_list,
                                         lambda value: setattr(self, "pick_to", value))
        self._froms_mirror = MirroredChoice(self.pick_froms_list,
                                            lambda value: setattr(self, "pick_froms", value),
                                            multiple=True)
        self.apply_button = widgets.Button(description="apply", icon="compress",
                                           button_style="primary",
                                           tooltip="Merge the pick into the working state")
        self.apply_button.add_class("tk-apply")
        self.undo_button = widgets.Button(description="undo", icon="undo",
                                          tooltip="Take the last applied merge back")
        self.undo_button.add_class("tk-undo")
        self.apply_button.on_click(lambda _: self._apply())
        self.undo_button.on_click(lambda _: self._undo())
        self.preview = widgets.HTML(layout=widgets.Layout(width="auto"))
        self.preview.add_class("tk-preview")
        self.pick_output = widgets.Output(layout=full)
        self.thumbnails = widgets.HTML(layout=widgets.Layout(width="auto"))
        self.thumbnails.add_class("tk-thumbnails")
        self.thumbnails_output = widgets.Output(layout=full)
        self.working_output = widgets.Output(layout=full)
        self.working_caption = widgets.HTML()
        self.working_caption.add_class("tk-working-caption")
        self.working_quality = widgets.Output(layout=widgets.Layout(width="auto"))
        self.working_quality.add_class("tk-working-quality")
        self.working_table = widgets.HTML(layout=widgets.Layout(width="auto"))

        # The tabs below.
        self.pick_figures = widgets.Output(layout=full)
        self.merge_table = widgets.HTML(layout=full)
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
        self.tabs = widgets.Tab(children=[
            self.merge_output,
            self.pick_figures,
            self.merge_table,
            widgets.VBox([widgets.HBox([self.step_slider, self.step_caption]),
                          self.quality_output]),
            widgets.VBox([widgets.HBox([self.export_text, self.export_button]),
                          self.export_summary, self.export_output]),
        ], titles=TABS, layout=full)
        self.tabs.observe(self._on_tab, "selected_index")

        half = widgets.Layout(width="50%", min_width="420px", padding="0 8px 0 0")
        audited = widgets.VBox([
            _heading("Audited merges"),
            widgets.HBox([widgets.VBox([self.verdict_filter, self.outcome_filter]),
                          widgets.VBox([self.accept_button, self.reject_button,
                                        self.clear_button])]),
            self.merge_list,
            self.details,
        ], layout=half)
        pick = widgets.VBox([
            _heading("Pick a merge and try it on the working state"),
            self.pick_to_list,
            self.pick_froms_list,
            widgets.HBox([self.apply_button, self.undo_button]),
            self.working_output,
            self.preview,
            self.pick_output,
            _heading("Faces of the pick's clusters"),
            self.thumbnails,
            self.thumbnails_output,
        ], layout=half)
        self.children = [
            self.summary,
            widgets.HBox([audited, pick], layout=widgets.Layout(width="100%",
                                                                 flex_flow="row wrap")),
            _heading("Working state"),
            self.working_caption,
            widgets.HBox([self.working_quality, self.working_table],
                         layout=widgets.Layout(width="100%", flex_flow="row wrap")),
            self.tabs,
        ]

    # ------------------------------------------------------- audited merges
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
        self.details.value = readable(merge_details_html(row, self.decisions.get(selected)))
        if not pd.isna(row["step"]):
            self.step = int(row["step"])
        to, sources = row["merge_to"], _sources(row["merge_sources"])
        with self.hold_trait_notifications():
            self.pick_to = to if isinstance(to, str) else None
            self.pick_froms = sources
        self.merge_output.outputs = self._merge_outputs.get(selected,
                                                             lambda: self._draw_merge(row))

    def _draw_merge(self, row: pd.Series) -> tuple:
        figures = merge_figures(self.audit, row, history=self.history,
                                projection=self._project(isinstance(row["verdict"], str)))
        if figures:
            return tuple(figure_entry(fig, alt=what) for fig, what in figures)
        return (text_entry(f"Nothing to draw for task {row['task_id']}: its clusters did not "
                           "exist when it ran and no status history of it was given."),)

    def _project(self, needed: bool = True) -> Any:
        if self._projection is None and needed:
            # One projection serves every merge: merges change labels, not embeddings.
            self._projection = plots.project(self.audit.initial, random_state=PROJECTION_SEED)
        return self._projection

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
            self.details.value = readable(merge_details_html(self._row(self.selected),
                                                             self.decisions.get(self.selected)))

    def _show_table(self) -> None:
        self.merge_table.value = merges_table_html(self.visible, self.decisions, self.selected)

    # ------------------------------------------------------------------ pick
    def _working_key(self) -> tuple:
        """Names the working state by its merges: equal keys, equal states."""
        return (self.start,) + tuple((e.to, e.sources) for e in self._working.entries)

    def _preview_or_problem(self) -> tuple[Any, str | None]:
        """``(PickPreview, None)``, or ``(None, why there is none)``."""
        to, froms = self.pick_to, self.pick_froms
        if to is None or not froms:
            return None, ("Pick a destination and at least one source cluster, or select an "
                          "audited merge.")
        key = (self._working_key(), to, froms)

        def make() -> tuple:
            try:
                return preview_pick(self._working_state(), to, froms,
                                    thresholds=self._thresholds), None
            except MergeError as exc:
                entries = self._working.entries
                if entries and (entries[-1].to, entries[-1].sources) == (to, froms):
                    return None, (f"This pick is the merge just applied (step {len(entries)}); "
                                  f"undo takes it back. Applying it again would break a merge "
                                  f"rule: {exc}")
                return None, (f"This pick breaks a merge rule on the working state (step "
                              f"{self.working_step}): {exc}")
        return self._previews.get(key, make)

    @observe("pick_to", "pick_froms")
    def _on_pick(self, change: Any) -> None:
        if self._ready:
            self._show_pick()

    @shows_errors("pick_output")
    def _show_pick(self) -> None:
        key = (self._working_key(), self.pick_to, self.pick_froms)
        if key == self._shown_pick:
            return  # both traits changed together: one refresh is enough
        self._to_mirror.show(self.pick_to)
        self._froms_mirror.show(self.pick_froms)
        self.pick_output.outputs = ()
        preview, problem = self._preview_or_problem()
        self.apply_button.disabled = preview is None
        self.preview.value = (pick_problem_html(problem) if preview is None
                              else preview_html(preview, step=self.working_step))
        self._show_thumbnails()
        if self.tabs.selected_index == _PICK_FIGURES_TAB:
            self._show_pick_figures()
        self._shown_pick = key

    @shows_errors("thumbnails_output")
    def _show_thumbnails(self) -> None:
        self.thumbnails_output.outputs = ()
        groups, absent = thumbnail_groups(self._working_state(), self.pick_to,
                                          self.pick_froms, self._thumbs, n=self.n_thumbnails)
        self.thumbnails.value = readable(thumbnails_html(groups, absent,
                                                         image_root=self.image_root))

    def _on_tab(self, change: Any) -> None:
        if self._ready and change["new"] == _PICK_FIGURES_TAB:
            self._show_pick_figures()

    @shows_errors("pick_figures")
    def _show_pick_figures(self) -> None:
        key = (self._working_key(), self.pick_to, self.pick_froms)
        if key == self._pick_figures_key:
            return
        self._pick_figures_key = key
        preview, problem = self._preview_or_problem()
        if preview is None:
            self.pick_figures.outputs = (text_entry(problem),)
            return
        self.pick_figures.outputs = self._pick_outputs.get(key, lambda: self._draw_pick(preview))

    def _draw_pick(self, preview: Any) -> tuple:
        before = self._working_state()
        after, _ = before.merge(preview.to, froms=list(preview.froms))
        fig, ax = new_figure(6.0, 3.6)
        plots.plot_merge_impact(preview.impact, ax=ax)
        ax.title.set_fontsize(8)
        fig2, axes = new_figure(10.0, 4.2, ncols=2)
        plots.plot_merge_projection(before, after, preview.to, list(preview.froms),
                                    axes=list(axes), projection=self._project())
        return (figure_entry(fig, alt="pick impact on the working state"),
                figure_entry(fig2, alt="faces before and after the pick, 2-D projection"))

    # --------------------------------------------------------- working state
    def _working_state(self) -> ClusterState:
        """The working state: the kept object of this step, else the ledger's (equal) one."""
        return self._kept_states.get(len(self._working), self._working.final)

    def _user_data(self) -> str:
        """UserData of a merge applied here: where it came from, and which audited merge."""
        data = {"applied_by": "MergeAuditDashboard"}
        if self.selected is not None:
            row = self._row(self.selected)
            if (row["merge_to"] == self.pick_to
                    and tuple(_sources(row["merge_sources"])) == self.pick_froms):
                data["audited_task_id"] = self.selected
        return orjson.dumps(data).decode()

    @shows_errors("working_output")
    def _apply(self) -> None:
        to, froms = self.pick_to, self.pick_froms
        if to is None or not froms:
            raise ValueError("Nothing to apply: pick a destination and at least one source "
                             "cluster first.")
        try:
            preview, _ = self._preview_or_problem()
            ledger = self._working.merge(to, froms=list(froms), user_data=self._user_data())
        except MergeError as exc:
            raise ValueError(f"Cannot apply {', '.join(map(str, froms))} \u2192 {to} to the "
                             f"working state (step {self.working_step}): {exc}") from exc
        state = ledger.final
        carry_context(self._working_state(), state, to, list(froms))  # next pick: no full pass
        row = state_row(state, len(ledger), impact=preview.impact, verdict=preview.verdict,
                        truth=self._truth)
        self._working = ledger
        self._kept_states[len(ledger)] = state
        # Step 0 stays: its object is the audit's, cached already.
        for old in [i for i in self._kept_states if 0 < i <= len(ledger) - KEPT_STATES]:
            del self._kept_states[old]
        self._working_rows.append(row)
        self._working_changed()

    @shows_errors("working_output")
    def _undo(self) -> None:
        if not len(self._working):
            raise ValueError("Nothing to undo: no merge has been applied to the working state.")
        self._working = self._working.undo_last()
        self._kept_states.pop(len(self._working) + 1, None)
        self._working_rows.pop()
        self._working_changed()

    def _working_changed(self) -> None:
        self.set_trait("working_step", len(self._working))
        self.working_output.outputs = ()
        self._show_working()
        self._show_pick()

    def _show_working(self) -> None:
        state = self._working_state()
        self.undo_button.disabled = not len(self._working)
        options = cluster_options(state.cluster_ids, state.counts)
        self._to_mirror.set_options(options, self.pick_to)
        self._froms_mirror.set_options(options, self.pick_froms)
        self.working_caption.value = working_caption_html(self._working_rows, start=self.start)
        self.working_quality.outputs = (figure_entry(
            working_figure(self._working_rows, start=self.start),
            alt="working state quality over the applied merges"),)
        self.working_table.value = ledger_table_html(self._working)

    # ---------------------------------------------------------- audit quality
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

    # ----------------------------------------------------------------- export
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
        if "project" not in self.tasks.columns:
            return None
        mine = self.tasks[self.tasks["task_id"].astype(object).isin(self._task_ids)]
        names = mine["project"].dropna().unique().tolist()
        return str(names[0]) if len(names) == 1 else None


def _heading(text: str) -> widgets.HTML:
    return widgets.HTML(f'<b style="font-size:14px">{text}</b>')


def _sources(value: Any) -> tuple:
    """An audited merge's ``merge_sources`` as a tuple of ids (empty when unknown)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return tuple(str(s) for s in value) if isinstance(value, (list, tuple)) else ()


def _check_options(name: str, value: Any, options: tuple) -> tuple:
    value = tuple(value)
    for v in value:
        if v not in options:
            raise TraitError(f"The value for `{name}` must hold values among {list(options)}, "
                             f"but {v!r} was passed.")
    return value


def _check_audit(audit: Any, faces: FaceSet | ClusterState, *, thresholds: Any,
                 dataset: str | None) -> None:
    """Refuse an audit that is not of these faces, or options it would ignore."""
    if not isinstance(audit, AuditResult):
        raise TypeError(f"`audit` must be an AuditResult (from toolkit.audit_merges), but "
                        f"{type(audit).__name__} was passed.")
    if thresholds is not None:
        raise ValueError("`thresholds` cannot be given with `audit=`: the audit was judged with "
                         "its own cuts (audit.thresholds). Pass them to toolkit.audit_merges, "
                         "or leave out `audit=`.")
    if dataset is not None and dataset != audit.dataset:
        raise ValueError(f"`dataset` is {dataset!r}, but the audit given is of dataset "
                         f"{audit.dataset!r}.")
    initial = audit.initial
    if faces is initial or faces is initial.faceset:
        return
    state = faces if isinstance(faces, ClusterState) else ClusterState.from_faces(faces)
    if not state.equals(initial):
        raise ValueError("`audit` is not an audit of these faces: its initial clustering "
                         f"({initial.n_faces} faces, {initial.n_clusters} clusters) differs "
                         f"from `faces` ({state.n_faces} faces, {state.n_clusters} clusters). "
                         "Pass the faces the audit was run on, or leave out `audit=`.")
