"""The pick and the working state of the merge audit dashboard, as plain functions.

A *pick* is a merge request (a destination and source clusters) not yet
applied. Its preview is computed on the *working state* — the last state of a
:class:`~toolkit.clustering.Ledger` the reviewer applies picks to — with the
audit's own machinery: :func:`toolkit.quality.merge_impact` for the figures
and the audit's judge and cuts for the verdict, so a pick of an audited merge
on the state it ran on shows the audit's numbers. No widget is imported here;
:class:`~toolkit.widgets.MergeAuditDashboard` calls these.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import plots
from ..audit import Thresholds
from ..audit._replay import impact_columns
from ..audit._verdict import DataLevels, data_levels, judge
from ..clustering import ClusterState, Ledger
from ..quality import MergeImpact, compare_to_truth, merge_impact, silhouette_score
from ._html import bullet_list, html_table, note
from ._merge_view import figures_table_html
from ._render import new_figure

__all__ = ["PickPreview", "preview_pick", "pick_cluster_table", "preview_html", "readable",
           "pick_problem_html", "state_row",
           "working_caption_html", "working_figure", "ledger_table_html", "audit_thresholds"]

#: Neighbouring clusters (whose nearest other cluster is merged) listed in the
#: preview's table, those whose mean silhouette moves most first.
MAX_NEIGHBOURS = 8

_CLUSTER_COLUMNS = ["cluster_id", "role", "size_before", "size_after", "cohesion_before",
                    "cohesion_after", "silhouette_before", "silhouette_after"]
_LEDGER_COLUMNS = ["step", "to", "sources", "n_moved", "to_size_before", "to_size_after",
                   "feature_similarity", "at", "user_data"]


def audit_thresholds(thresholds: dict) -> Thresholds:
    """The verdict cuts an audit used (its ``thresholds`` also hold data levels)."""
    return Thresholds(**{name: thresholds[name] for name in Thresholds.__dataclass_fields__
                         if name in thresholds})


@dataclass(frozen=True, eq=False)
class PickPreview:
    """What merging a pick into the working state would do.

    Attributes
    ----------
    to : str
        Destination cluster.
    froms : tuple of str
        Source clusters, in request order.
    impact : toolkit.quality.MergeImpact
        The exact before/after figures.
    levels : DataLevels
        Stranger level and typical cohesion of the state (the score's 0 and 1).
    verdict : str
        ``likely-correct``, ``suspicious`` or ``likely-wrong``, by the audit's cuts.
    reasons : tuple of str
        Why, in sentences.
    figures : dict
        The audit's figure columns for this merge (``score``, ``cross_mean``,
        ``silhouette_before``, ...), as in :attr:`AuditResult.merges`.
    clusters : DataFrame
        Per-cluster quality before and after (:func:`pick_cluster_table`).
    """

    to: str
    froms: tuple
    impact: MergeImpact
    levels: DataLevels
    verdict: str
    reasons: tuple
    figures: dict
    clusters: pd.DataFrame


def preview_pick(state: ClusterState, to: str, froms: Sequence[str], *,
                 thresholds: Thresholds) -> PickPreview:
    """Figures, verdict and per-cluster quality of merging ``froms`` into ``to`` on ``state``.

    Parameters
    ----------
    state : ClusterState
        The working state.
    to : str
        Destination cluster id.
    froms : sequence of str
        Source cluster ids, in request order.
    thresholds : Thresholds
        The verdict cuts (the audit's).

    Returns
    -------
    PickPreview

    Raises
    ------
    toolkit.errors.MergeError
        The pick breaks a CreateFigureClustersMergingTask rule (unknown
        cluster, destination among the sources, ...).
    """
    impact = merge_impact(state, to, list(froms))
    levels = data_levels(state)
    judged = judge(impact, levels, thresholds)
    figures = {**impact_columns(impact), "stranger_level": levels.stranger,
               "same_level": judged["same_level"], "score": judged["score"]}
    return PickPreview(impact.to, tuple(impact.froms), impact, levels, judged["verdict"],
                       tuple(judged["reasons"]), figures, pick_cluster_table(impact, state))


def pick_cluster_table(impact: MergeImpact, state: ClusterState) -> pd.DataFrame:
    """Per-cluster quality of the clusters a merge touches, before and after.

    One row for the destination (after = the merged cluster), one per source
    (merged away: size 0 after, no cohesion or silhouette), and up to
    :data:`MAX_NEIGHBOURS` neighbouring clusters whose members' nearest other
    cluster was merged (their size and cohesion do not change; their mean
    silhouette does), those that move most first.

    Returns
    -------
    DataFrame
        ``cluster_id``, ``role`` (destination, source, neighbour),
        ``size_before``, ``size_after`` (faces), ``cohesion_before``,
        ``cohesion_after`` (mean cosine over pairs of distinct members, in
        [-1, 1]; NaN for a singleton), ``silhouette_before``,
        ``silhouette_after`` (mean silhouette of the members, in [-1, 1]).
    """
    rows = [{"cluster_id": impact.to, "role": "destination",
             "size_before": impact.sizes[impact.to], "size_after": impact.merged_size,
             "cohesion_before": impact.cohesion_before[impact.to],
             "cohesion_after": impact.cohesion_after,
             "silhouette_before": impact.cluster_silhouette_before[impact.to],
             "silhouette_after": impact.merged_silhouette_after}]
    for src in impact.froms:
        rows.append({"cluster_id": src, "role": "source", "size_before": impact.sizes[src],
                     "size_after": 0, "cohesion_before": impact.cohesion_before[src],
                     "cohesion_after": math.nan,
                     "silhouette_before": impact.cluster_silhouette_before[src],
                     "silhouette_after": math.nan})
    moved = sorted(impact.neighbour_silhouette.items(),
                   key=lambda kv: (-abs(kv[1][1] - kv[1][0]), kv[0]))[:MAX_NEIGHBOURS]
    for cid, (before, after) in moved:
        size = int(state.counts[state.cluster_index(cid)])
        rows.append({"cluster_id": cid, "role": "neighbour", "size_before": size,
                     "size_after": size, "cohesion_before": math.nan, "cohesion_after": math.nan,
                     "silhouette_before": before, "silhouette_after": after})
    frame = pd.DataFrame(rows, columns=_CLUSTER_COLUMNS)
    for col in ("size_before", "size_after"):
        frame[col] = frame[col].astype(np.int64)
    return frame


def preview_html(preview: PickPreview, *, step: int) -> str:
    """The pick's verdict, reasons, figures and per-cluster table, escaped."""
    color = plots.VERDICT_COLORS.get(preview.verdict, plots.STATE_COLORS["other"])
    what = f"{', '.join(preview.froms)} \u2192 {preview.to}"
    head = (f'<div style="border-left:6px solid {color};padding-left:8px">'
            f"<b>{html.escape(preview.verdict)}</b> &middot; merge "
            f"<code>{html.escape(what)}</code> on the working state at step {int(step)}</div>")
    return readable(
        head + "<b>Reasons</b>" + bullet_list(preview.reasons)
        + "<b>Figures</b>" + figures_table_html(preview.figures)
        + "<b>Clusters before and after</b>"
        + html_table(preview.clusters, _CLUSTER_COLUMNS, max_height="240px")
        + note("Cohesion: mean cosine between members; silhouette: mean over the members "
               "(-1..1, higher is better). Neighbours: clusters whose faces had a merged "
               "cluster as their nearest other one."))


def readable(markup: str) -> str:
    """``markup`` in a block that wraps long ids and keeps lines close together.

    An HTML widget sets the line height of a one-line control; long cluster and
    task ids have no break opportunity of their own. Zero width stretched to the
    widget's keeps a wide table from widening the widget (its own box scrolls).
    """
    return ('<div style="width:0;min-width:100%;line-height:1.35;overflow-wrap:break-word">'
            f"{markup}</div>")


def pick_problem_html(problem: str) -> str:
    """Why a pick has no preview, as an escaped note."""
    return readable(note(problem))


def state_row(state: ClusterState, step: int, *, impact: MergeImpact | None = None,
              verdict: str | None = None, truth: bool = False) -> dict[str, Any]:
    """One step of the working timeline: ``step``, ``silhouette``, ``n_clusters``, ``verdict``.

    ``silhouette`` is :func:`toolkit.quality.silhouette_score` of ``state``
    (NaN where undefined: fewer than 2 clusters, or every clustered face alone).
    With ``truth``, ``pairwise_f`` and ``bcubed_f`` against the faces'
    ``identity``: from ``impact`` (the merge that made this state) when given.
    """
    clustered = int((state.labels >= 0).sum())
    defined = 1 < state.n_clusters < clustered
    row = {"step": int(step), "silhouette": silhouette_score(state) if defined else math.nan,
           "n_clusters": int(state.n_clusters), "verdict": verdict}
    if truth:
        if impact is not None and impact.pairwise_f_after is not None:
            row["pairwise_f"], row["bcubed_f"] = impact.pairwise_f_after, impact.bcubed_f_after
        else:
            cmp = compare_to_truth(state.face_cluster_ids(), state.faceset.faces["identity"])
            row["pairwise_f"], row["bcubed_f"] = cmp.pairwise_f, cmp.bcubed_f
    return row


def _number(value: float) -> str:
    return "undefined" if math.isnan(value) else f"{value:.4f}"


def working_caption_html(rows: Sequence[dict], *, start: str) -> str:
    """``"working state, step 1: 211 clusters, silhouette 0.1234 (was 0.1201)"``.

    "was" is the silhouette one step earlier, so the caption of a step does not
    depend on how it was reached (applying, or undoing back to it).
    """
    last = rows[-1]
    text = (f"working state, step {last['step']}: {last['n_clusters']} clusters, "
            f"silhouette {_number(last['silhouette'])}")
    if len(rows) > 1:
        text += f" (was {_number(rows[-2]['silhouette'])})"
    origin = "the export, before any merge" if start == "initial" else \
        "the audit's final state, after every applied merge"
    return (f"<b>{html.escape(text)}</b>"
            + note(f"Step 0 is {origin}; apply adds a merge, undo takes the last one back."))


def working_figure(rows: Sequence[dict], *, start: str):
    """Global silhouette (and F against truth) and number of clusters over the working steps.

    The quality lines and verdict markers are :func:`toolkit.plots.plot_quality_over_merges`
    (a marker's colour is the verdict the preview gave when the merge was
    applied); the number of clusters is a grey line on a second y-axis.
    """
    from matplotlib.ticker import MaxNLocator

    frame = pd.DataFrame(list(rows))
    fig, ax = new_figure(7.5, 3.6)
    plots.plot_quality_over_merges(frame, ax=ax)
    other = ax.twinx()
    other.plot(frame["step"], frame["n_clusters"], color="#999999", linestyle="-.", marker="x",
               linewidth=1.0, label="clusters (right axis)")
    other.set_ylabel("clusters")
    other.yaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = other.get_legend_handles_labels()
    ax.legend(handles + more, labels + more_labels, fontsize="small", loc="best")
    n = len(rows) - 1
    # One step alone would get an axis of fractions around 0.
    ax.set_xlim(-0.3, max(n, 1) + 0.3)
    origin = "from the export" if start == "initial" else "from the audit's final state"
    ax.set_title(f"Working state: quality over {n} applied merge{'s' if n != 1 else ''} "
                 f"({origin})", fontsize=9)
    return fig


def ledger_table_html(ledger: Ledger) -> str:
    """The working ledger (:meth:`Ledger.to_frame`) as an escaped table."""
    if not len(ledger):
        return note("No merge applied to the working state yet.")
    return readable(html_table(ledger.to_frame(), _LEDGER_COLUMNS, max_height="220px"))
