"""What the audit dashboard shows, as plain functions of an audit.

Filtering, labels, escaped HTML and figures of one merge. No widget is
imported here; :class:`~toolkit.widgets.MergeAuditDashboard` calls these.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import plots
from ..audit import AuditResult
from ..quality import merge_impact
from ._html import bullet_list, cell_text, field_table, html_table, note
from ._render import new_figure

__all__ = ["NO_VERDICT", "OUTCOME_ORDER", "verdict_options", "outcome_options", "filter_merges",
           "merge_label", "merges_table_html", "merge_details_html", "figures_table_html",
           "merge_states",
           "merge_figures", "quality_figure", "step_caption_html", "audit_summary_html"]

#: Filter option for merges with no verdict (their clusters did not exist).
NO_VERDICT = "(no verdict)"
#: Outcomes of an audit, in the order the filter lists them.
OUTCOME_ORDER = ("applied", "failed", "pending", "vanished", "no-parameters")

_TABLE_COLUMNS = ["step", "task_id", "outcome", "verdict", "decision", "score", "merge_to",
                  "merge_sources", "user_data"]
_FIGURES = ("score", "stranger_level", "same_level", "cross_mean", "cross_min", "cross_median",
            "weakest_link", "drift", "cooccurrence", "at_risk", "silhouette_before",
            "silhouette_after", "cohesion_after", "delta_pairwise_f", "delta_bcubed_f")
# What each figure means, shown beside its value: the details pane teaches as it shows.
_FIGURE_NOTES = {
    "score": "0 = as far apart as strangers, 1 = as close as one person's faces",
    "stranger_level": "mean cosine of faces in different clusters (score 0)",
    "same_level": "cohesion of the merged clusters (score 1)",
    "cross_mean": "mean cosine between source and destination faces",
    "cross_min": "lowest per-source mean cosine",
    "cross_median": "lowest per-source median cosine",
    "weakest_link": "lowest source-to-destination centroid cosine",
    "drift": "cosine between the destination feature before and after",
    "cooccurrence": "photos holding faces of both sides",
    "at_risk": "faces nearer another cluster's feature after the merge",
    "silhouette_before": "global silhouette before (-1..1, higher is better)",
    "silhouette_after": "global silhouette after",
    "cohesion_after": "mean cosine within the merged cluster",
    "delta_pairwise_f": "change of pairwise F against ground truth",
    "delta_bcubed_f": "change of BCubed F against ground truth",
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def verdict_options(merges: pd.DataFrame) -> tuple[str, ...]:
    """The verdict filter's options: every verdict, then :data:`NO_VERDICT`.

    All are listed even when absent, so a filter set in one audit applies to
    the next; an unknown verdict in the frame is listed after them.
    """
    present = set(merges["verdict"].dropna().astype(str))
    return (tuple(plots.VERDICT_ORDER) + tuple(sorted(present - set(plots.VERDICT_ORDER)))
            + (NO_VERDICT,))


def outcome_options(merges: pd.DataFrame) -> tuple[str, ...]:
    """The outcome filter's options: every outcome in :data:`OUTCOME_ORDER`, then unknown ones."""
    present = set(merges["outcome"].dropna().astype(str))
    return OUTCOME_ORDER + tuple(sorted(present - set(OUTCOME_ORDER)))


def filter_merges(merges: pd.DataFrame, *, verdicts: Sequence[str],
                  outcomes: Sequence[str]) -> pd.DataFrame:
    """The merges whose verdict is in ``verdicts`` and outcome in ``outcomes``.

    A merge without a verdict passes when ``verdicts`` holds :data:`NO_VERDICT`.
    The audit's order is kept.
    """
    verdict = merges["verdict"].astype(object)
    keep_verdict = verdict.isin(list(verdicts)).to_numpy(dtype=bool)
    if NO_VERDICT in verdicts:
        keep_verdict = keep_verdict | verdict.isna().to_numpy(dtype=bool)
    keep = keep_verdict & merges["outcome"].astype(object).isin(list(outcomes)).to_numpy(dtype=bool)
    return merges[keep]


def merge_label(row: Any) -> str:
    """One line naming a merge in the selection list: step, outcome, verdict, score, task id.

    >>> merge_label({"step": 3, "outcome": "applied", "verdict": "suspicious", "score": 0.64,
    ...              "task_id": "t-1"})
    '  3 · applied · suspicious · +0.64 · t-1'
    """
    step = row["step"]
    step_text = f"{int(step):>3}" if not pd.isna(step) else "  -"
    verdict = _text(row["verdict"]) or "no verdict"
    score = row["score"]
    score_text = f"{score:+.2f}" if not pd.isna(score) else "n/a"
    return f"{step_text} · {row['outcome']} · {verdict} · {score_text} · {row['task_id']}"


def merges_table_html(merges: pd.DataFrame, decisions: dict[str, str],
                      selected: str | None = None, *, max_height: str = "260px") -> str:
    """The merges as an escaped HTML table, each row tinted by its verdict."""
    frame = merges.assign(decision=merges["task_id"].map(lambda t: decisions.get(t, "")))
    colors = [plots.VERDICT_COLORS.get(v) if isinstance(v, str) else None
              for v in frame["verdict"].astype(object)]
    bold = (frame["task_id"] == selected).to_numpy(dtype=bool).tolist()
    if frame.empty:
        return note("No merge matches the filters.")
    return html_table(frame, _TABLE_COLUMNS, row_colors=colors, bold_rows=bold,
                      max_height=max_height)


def merge_details_html(row: pd.Series, decision: str | None = None) -> str:
    """The selected merge: verdict, outcome, what was merged, reasons and figures, escaped."""
    verdict = _text(row["verdict"])
    color = plots.VERDICT_COLORS.get(verdict, plots.STATE_COLORS["other"])
    sources = row["merge_sources"]
    sources = list(sources) if isinstance(sources, (list, tuple, np.ndarray)) else []
    reasons = str(row["reasons"]).split("; ") if _text(row["reasons"]) else []
    head = (f'<div style="border-left:6px solid {color};padding-left:8px">'
            f"<b>{html.escape(verdict or 'no verdict')}</b> &middot; "
            f"{html.escape(str(row['outcome']))}"
            + (f" &middot; step {int(row['step'])}" if not pd.isna(row["step"]) else "")
            + (f" &middot; your decision: <b>{html.escape(decision)}</b>" if decision else "")
            + f"<br><code>{html.escape(str(row['task_id']))}</code></div>")
    what = field_table([("to", row["merge_to"]), ("from", ", ".join(map(str, sources))),
                        ("status", row["status"]), ("start", row["start_time"]),
                        ("end", row["end_time"]), ("UserData", row["user_data"])])
    table = (figures_table_html(row) or
             note("No figures: the merge could not be judged (see the reasons)."))
    return (head + what + "<b>Reasons</b>" + (bullet_list(reasons) if reasons else note("none"))
            + "<b>Figures</b>" + table)


def figures_table_html(values: Any) -> str:
    """A merge's figures (the audit's columns: score, cross_mean, ...) with what each means.

    ``values`` is a row of the audit's merges or a dict with those keys; missing
    and NaN figures are left out. Empty string when there is none.
    """
    figures = [(name, values[name]) for name in _FIGURES
               if name in values and not pd.isna(values[name])]
    rows = "".join(
        f'<tr><th style="text-align:left;padding:1px 8px 1px 0">{html.escape(n)}</th>'
        f'<td style="text-align:right;padding:1px 8px">{html.escape(cell_text(v))}</td>'
        f'<td style="color:#555;padding:1px 0">{html.escape(_FIGURE_NOTES.get(n, ""))}</td></tr>'
        for n, v in figures)
    return f'<table style="border-collapse:collapse;font-size:12px">{rows}</table>' if rows else ""


def merge_states(audit: AuditResult, row: pd.Series) -> tuple[Any, Any, bool] | None:
    """The clustering just before and after a merge, and whether it was applied.

    An applied merge is read from the ledger (``state_at(step - 1)`` and
    ``state_at(step)``). A merge that was judged but not applied (failed,
    pending) was judged on the final state, after every applied merge; its
    "after" is what applying it now would give. None when the merge has no
    figures (its clusters did not exist).
    """
    sources = row["merge_sources"]
    # Every merge whose clusters existed was judged; the others have nothing to draw.
    if not isinstance(row["verdict"], str):
        return None
    if not isinstance(sources, (list, tuple, np.ndarray)) or not len(sources):
        return None
    if not pd.isna(row["step"]):
        step = int(row["step"])
        return audit.ledger.state_at(step - 1), audit.ledger.state_at(step), True
    before = audit.final
    after, _ = before.merge(row["merge_to"], froms=[str(s) for s in sources])
    return before, after, False


def merge_figures(audit: AuditResult, row: pd.Series, *, history: pd.DataFrame | None = None,
                  projection: Any = None) -> list[tuple[Any, str]]:
    """The figures of one merge, as ``(Figure, description)`` pairs.

    Its impact (before/after bars of :func:`toolkit.quality.merge_impact`)
    with its task's status history beside it when ``history`` has the task,
    then the 2-D projection of the faces before and after.
    """
    states = merge_states(audit, row)
    in_history = (history is not None and len(history)
                  and bool((history["task_id"].astype(object) == row["task_id"]).any()))
    out = []
    if states is None and not in_history:
        return out
    ncols = int(states is not None) + int(bool(in_history))
    fig, axes = new_figure(6.0 * ncols, 3.6, ncols=ncols)
    axes = list(np.atleast_1d(axes))
    if states is not None:
        before, after, applied = states
        sources = [str(s) for s in row["merge_sources"]]
        ax = plots.plot_merge_impact(merge_impact(before, row["merge_to"], sources), ax=axes[0])
        if not applied:
            ax.set_title(ax.get_title() + "\n(not applied: as if applied to the final state)",
                         fontsize="small")
    if in_history:
        plots.plot_task_history(history, row["task_id"], ax=axes[-1])
    for ax in axes:
        ax.title.set_fontsize(8)
    drawn = [what for what, shown in (("merge impact", states is not None),
                                      ("task status history", in_history)) if shown]
    out.append((fig, " and ".join(drawn)))
    if states is not None:
        fig, axes = new_figure(10.0, 4.2, ncols=2)
        plots.plot_merge_projection(before, after, row["merge_to"], sources, axes=list(axes),
                                    projection=projection)
        out.append((fig, "faces before and after the merge, 2-D projection"))
    return out


def quality_figure(audit: AuditResult, step: int):
    """Cluster quality over the merge sequence with ``step`` marked by a vertical line."""
    fig, ax = new_figure(8.0, 3.8)
    plots.plot_quality_over_merges(audit.timeline, audit.merges, ax=ax)
    ax.axvline(step, color="#555555", linestyle=":", linewidth=1.5, zorder=0,
               label=f"step {step}")
    ax.legend(fontsize="small")
    return fig


def step_caption_html(audit: AuditResult, step: int) -> str:
    """The timeline row of ``step``: which merge, its verdict and the quality after it."""
    timeline = audit.timeline
    row = timeline[timeline["step"] == step]
    if row.empty:
        return note(f"Step {step} is not in the timeline.")
    row = row.iloc[0]
    task = row["task_id"] if step else "(the export, before any merge)"
    fields = [("step", step), ("task", task), ("verdict", row.get("verdict")),
              ("silhouette", row["silhouette"]),
              ("clusters", row["n_clusters"])]
    for name in ("pairwise_f", "bcubed_f"):
        if name in row.index:
            fields.append((name.replace("_", " "), row[name]))
    return field_table(fields)


def audit_summary_html(audit: AuditResult) -> str:
    """One escaped paragraph: what was audited, the outcomes, verdicts and the cuts used."""
    m = audit.merges
    outcomes = m["outcome"].value_counts()
    verdicts = m["verdict"].value_counts()
    cuts = ", ".join(f"{k} = {cell_text(v)}" for k, v in audit.thresholds.items())
    text = (f"Dataset {audit.dataset!r}: {len(m)} merge tasks ("
            + ", ".join(f"{outcomes[o]} {o}" for o in outcome_options(m) if o in outcomes)
            + "); verdicts: "
            + ", ".join(f"{verdicts.get(v, 0)} {v}" for v in plots.VERDICT_ORDER) + ".")
    return (f"<b>{html.escape(text)}</b>"
            + note("Score: 0 = the sides are as far apart as strangers in this data, 1 = as "
                   "close as one person's faces. Cuts used: " + cuts + "."))
