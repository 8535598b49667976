"""The audit report: one self-contained, reproducible HTML file.

Sections: summary; the merges with verdicts and reasons; cluster quality
before and after (table, quality over the merge sequence, silhouette plots);
one section per suspicious or likely-wrong merge (its figures, its reasons, its
task's status history); the task history (timeline, state counts, durations,
failure codes, failures table); provenance (input hashes, parameters,
thresholds, seed, package versions).

Same inputs give the same bytes: no wall-clock time is written, every table is
in a stable order, PNGs carry no software version or date, and the one random
step (the 2-D projection) has a fixed seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .. import plots  # noqa: E402
from ..audit import AuditResult  # noqa: E402
from ..quality import (calinski_harabasz, compare_to_truth, davies_bouldin, merge_impact,
                       silhouette_report)  # noqa: E402
from ._html import HtmlDocument  # noqa: E402
from ._provenance import file_hashes, provenance_frame  # noqa: E402

__all__ = ["ReportInputs", "build_report", "write_report", "PROJECTION_SEED"]

#: Seed of the only random step in a report (the 2-D projection of embeddings).
PROJECTION_SEED = 0

_MERGE_TABLE = ["step", "task_id", "outcome", "verdict", "score", "cross_mean", "silhouette_before",
                "silhouette_after", "cooccurrence", "delta_pairwise_f", "merge_to", "merge_sources",
                "end_time", "user_data"]


@dataclass
class ReportInputs:
    """What a report is made of.

    Attributes
    ----------
    audit : AuditResult
    tasks : DataFrame
        Every task record (IMM and Huawei), as :func:`toolkit.read_tasks` returns.
    history : DataFrame or None
        Task status observations (:func:`toolkit.read_task_history`).
    rejected : DataFrame or None
        Records the readers rejected (``source``, ``reason``).
    files : list of Path
        Input files and directories, hashed in the provenance block.
    root : Path or None
        Paths in the provenance block are shown relative to it.
    parameters : dict
        Anything else the reader of the report needs to re-run it.

    Examples
    --------
    The audit of :func:`toolkit.audit_merges`' example, with its task records:

    >>> import json
    >>> import toolkit as tk
    >>> X = [[1, .1, 0, 0], [1, 0, .1, 0], [0, 1, .1, 0], [0, 1, 0, .1],
    ...      [1, 0, 0, .1], [1, .1, .1, 0], [0, 0, 1, .1], [0, .1, 1, 0]]
    >>> state = tk.ClusterState.from_arrays(X, ["a", "a", "b", "b", "c", "c", "d", "d"])
    >>> def merge(task_id, end, source):   # a merge task record, as GetTask returns it
    ...     return {"TaskId": task_id, "TaskType": "FigureClustersMerging",
    ...             "Status": "Succeeded", "StartTime": f"2025-03-01T00:00:0{end - 1}Z",
    ...             "EndTime": f"2025-03-01T00:00:0{end}Z",
    ...             "TaskRequestDefinition": json.dumps({"From": source, "To": "a"})}
    >>> tasks = tk.read_tasks([merge("t1", 2, "c"), merge("t2", 4, "b")])
    >>> inputs = ReportInputs(audit=tk.audit_merges(state, tasks), tasks=tasks)
    >>> inputs.history is None, inputs.files
    (True, [])

    :func:`toolkit.report.audit_directory` builds one from a data directory.
    """

    audit: AuditResult
    tasks: pd.DataFrame
    history: pd.DataFrame | None = None
    rejected: pd.DataFrame | None = None
    files: list[Path] = field(default_factory=list)
    root: Path | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def _figure(width: float = 8.0, height: float = 4.0, ncols: int = 1):
    return plt.subplots(1, ncols, figsize=(width, height), dpi=100)


def _quality_summary(audit: AuditResult) -> pd.DataFrame:
    rows = []
    for label, state in (("before (export)", audit.initial), ("after replay", audit.final)):
        report = silhouette_report(state)
        row = {"state": label, "clusters": state.n_clusters, "faces in no cluster": state.n_unclustered,
               "silhouette": report.score, "Davies-Bouldin": davies_bouldin(state),
               "Calinski-Harabasz": calinski_harabasz(state)}
        if "identity" in state.faceset.faces.columns:
            cmp = compare_to_truth(state.face_cluster_ids(), state.faceset.faces["identity"])
            row.update({"pairwise F": cmp.pairwise_f, "BCubed F": cmp.bcubed_f, "ARI": cmp.ari})
        rows.append(row)
    return pd.DataFrame(rows)


def _summary(doc: HtmlDocument, inputs: ReportInputs) -> None:
    audit = inputs.audit
    m = audit.merges
    verdicts = m["verdict"].value_counts()
    outcomes = m["outcome"].value_counts()
    doc.heading("Summary")
    doc.bullets([
        f"Dataset audited: {audit.dataset}; faces: {audit.initial.n_faces}; clusters in the "
        f"export: {audit.initial.n_clusters}; after replay: {audit.final.n_clusters}.",
        "Merge tasks: " + ", ".join(f"{outcomes.get(k, 0)} {k}" for k in
                                    ("applied", "failed", "pending", "vanished", "no-parameters")) + ".",
        "Verdicts: " + ", ".join(f"{verdicts.get(k, 0)} {k}" for k in
                                 ("likely-correct", "suspicious", "likely-wrong")) + ".",
        "Merge tasks of other datasets, not replayed: " + (
            ", ".join(f"{k}: {v}" for k, v in audit.other_datasets.items()) or "none") + ".",
        f"Task records: {len(inputs.tasks)}; status observations: "
        f"{0 if inputs.history is None else len(inputs.history)}; rejected records: "
        f"{0 if inputs.rejected is None else len(inputs.rejected)}.",
    ])
    doc.paragraph("How merges are judged: each merge's cross-similarity is placed on a scale "
                  "measured in the same data, from the mean similarity of faces in different "
                  "clusters (strangers, score 0) to the cohesion of the merged clusters (one "
                  "person, score 1), so the verdicts hold for any embedding model's similarity "
                  "scale. Cuts used: " + ", ".join(f"{k} = {_num(v)}" for k, v in
                                                   audit.thresholds.items()) + ".", css_class="note")


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _merges_section(doc: HtmlDocument, audit: AuditResult) -> None:
    doc.heading("Merges", anchor="merges")
    table = audit.merges[[c for c in _MERGE_TABLE if c in audit.merges.columns]]
    doc.table(table, row_class="verdict")
    doc.heading("Reasons", 3)
    doc.table(audit.merges[["task_id", "verdict", "reasons"]], row_class="verdict")


def _quality_section(doc: HtmlDocument, audit: AuditResult) -> None:
    doc.heading("Cluster quality before and after", anchor="quality")
    doc.table(_quality_summary(audit))
    fig, ax = _figure(8, 4)
    plots.plot_quality_over_merges(audit.timeline, audit.merges, ax=ax)
    doc.figure(fig, "Cluster quality over the merge sequence")
    fig, axes = _figure(12, 6, ncols=2)
    for ax, (label, state) in zip(axes, (("before", audit.initial), ("after", audit.final))):
        report = silhouette_report(state)
        plots.plot_silhouette(report.samples, state.face_cluster_ids(), ax=ax, max_clusters=30)
        ax.set_title(f"Silhouette {label} (mean {report.score:.3f})\n" + ax.get_title().split("\n")[-1],
                     fontsize=9)
    doc.figure(fig, "Silhouette of each cluster before and after the merges")


def _flagged_section(doc: HtmlDocument, inputs: ReportInputs) -> None:
    audit = inputs.audit
    flagged = audit.flagged()
    doc.heading("Suspicious and likely-wrong merges", anchor="flagged")
    if flagged.empty:
        doc.paragraph("No merge was flagged.")
        return
    history = inputs.history
    # One projection of the faces serves every merge: merges change labels, not embeddings.
    projection = plots.project(audit.initial, random_state=PROJECTION_SEED)
    for row in flagged.itertuples(index=False):
        doc.heading(f"{row.verdict}: task {row.task_id}", 3)
        doc.paragraph(f"Merged {', '.join(row.merge_sources)} into {row.merge_to} "
                      f"(outcome: {row.outcome}; ended {row.end_time}).")
        doc.bullets(str(row.reasons).split("; "))
        if not (isinstance(row.user_data, float) and math.isnan(row.user_data)) and row.user_data:
            doc.paragraph(f"UserData: {row.user_data}")
        figures = pd.DataFrame([{k: getattr(row, k) for k in
                                 ("score", "stranger_level", "same_level", "cross_mean", "cross_median",
                                  "weakest_link", "drift", "cooccurrence", "at_risk", "cohesion_after",
                                  "silhouette_before", "silhouette_after", "delta_pairwise_f",
                                  "delta_bcubed_f")}])
        doc.table(figures)
        before = audit.ledger.state_at(int(row.step) - 1)
        after = audit.ledger.state_at(int(row.step))
        ncols = 2 if history is not None and (history["task_id"] == row.task_id).any() else 1
        fig, axes = _figure(6 * ncols, 3.6, ncols=ncols)
        axes = [axes] if ncols == 1 else list(axes)
        plots.plot_merge_impact(merge_impact(before, row.merge_to, list(row.merge_sources)),
                                ax=axes[0])
        if ncols == 2:
            plots.plot_task_history(history, row.task_id, ax=axes[1])
        for ax in axes:
            ax.title.set_fontsize(8)
        doc.figure(fig, f"Impact and status history of task {row.task_id}")
        fig = plots.plot_merge_projection(before, after, row.merge_to, list(row.merge_sources),
                                          projection=projection)
        fig.set_size_inches(10, 4.2)
        doc.figure(fig, f"Faces before and after task {row.task_id}, 2-D projection")


def _tasks_section(doc: HtmlDocument, inputs: ReportInputs) -> None:
    tasks = inputs.tasks
    doc.heading("Task history", anchor="tasks")
    counts = (tasks.groupby(["provider", "task_type", "state"], observed=True).size()
              .rename("tasks").reset_index())
    doc.table(counts)
    fig, ax = _figure(10, max(3.0, min(12.0, 0.18 * len(tasks) + 1)))
    plots.plot_task_timeline(tasks, ax=ax)
    doc.figure(fig, "Task timeline")
    fig, axes = _figure(14, 4, ncols=3)
    plots.plot_state_counts(inputs.history if inputs.history is not None and len(inputs.history)
                            else tasks, ax=axes[0])
    plots.plot_durations(tasks, ax=axes[1])
    plots.plot_failure_codes(tasks, ax=axes[2])
    doc.figure(fig, "Task states over time, durations per task type, failure codes")
    failures = tasks[tasks["state"].isin(["failed", "stopped"])]
    doc.heading("Failures", 3)
    cols = [c for c in ("provider", "task_id", "task_type", "status", "code", "message", "end_time",
                        "failed_count", "source") if c in failures.columns]
    doc.table(failures[cols])
    if inputs.rejected is not None and len(inputs.rejected):
        doc.heading("Rejected records", 3)
        doc.table(inputs.rejected[["source", "reason"]])


def _provenance_section(doc: HtmlDocument, inputs: ReportInputs) -> None:
    doc.heading("Provenance", anchor="provenance")
    doc.paragraph("Re-running the same command on files with these hashes, with these package "
                  "versions, gives this report byte for byte.", css_class="note")
    if inputs.files:
        doc.table(file_hashes(inputs.files, root=inputs.root))
    params = {**inputs.parameters, "projection seed": PROJECTION_SEED,
              **{f"threshold: {k}": v for k, v in inputs.audit.thresholds.items()}}
    doc.table(provenance_frame(params))


def build_report(inputs: ReportInputs, *, title: str = "Face-cluster merge audit") -> str:
    """The audit report as one self-contained HTML string.

    Sections: summary; the merges with verdicts and reasons; cluster quality
    before and after; one section per suspicious or likely-wrong merge; the
    task history; provenance. Every record string is escaped; images are
    inline PNGs. The same inputs give the same string.

    Parameters
    ----------
    inputs : ReportInputs
        The audit, the task records and what else the report shows.
    title : str, default="Face-cluster merge audit"
        The page title and top heading (escaped).

    Returns
    -------
    str
        A complete HTML document (``<!DOCTYPE html>`` ...).

    Examples
    --------
    >>> import json
    >>> import toolkit as tk
    >>> X = [[1, .1, 0, 0], [1, 0, .1, 0], [0, 1, .1, 0], [0, 1, 0, .1],
    ...      [1, 0, 0, .1], [1, .1, .1, 0], [0, 0, 1, .1], [0, .1, 1, 0]]
    >>> state = tk.ClusterState.from_arrays(X, ["a", "a", "b", "b", "c", "c", "d", "d"])
    >>> def merge(task_id, end, source):   # a merge task record, as GetTask returns it
    ...     return {"TaskId": task_id, "TaskType": "FigureClustersMerging",
    ...             "Status": "Succeeded", "StartTime": f"2025-03-01T00:00:0{end - 1}Z",
    ...             "EndTime": f"2025-03-01T00:00:0{end}Z",
    ...             "TaskRequestDefinition": json.dumps({"From": source, "To": "a"})}
    >>> tasks = tk.read_tasks([merge("t1", 2, "c"), merge("t2", 4, "b")])
    >>> inputs = ReportInputs(audit=tk.audit_merges(state, tasks), tasks=tasks)
    >>> html = build_report(inputs, title="Tiny audit")
    >>> html.startswith("<!DOCTYPE html>"), "<title>Tiny audit</title>" in html
    (True, True)
    """
    doc = HtmlDocument(title)
    _summary(doc, inputs)
    _merges_section(doc, inputs.audit)
    _quality_section(doc, inputs.audit)
    _flagged_section(doc, inputs)
    _tasks_section(doc, inputs)
    _provenance_section(doc, inputs)
    return doc.render()


def write_report(inputs: ReportInputs, path: str | Path, *, title: str = "Face-cluster merge audit") -> Path:
    """Write the audit report (:func:`build_report`) to an HTML file.

    Parameters
    ----------
    inputs : ReportInputs
        The audit, the task records and what else the report shows.
    path : str or path-like
        The file to write (UTF-8); replaced if it exists.
    title : str, default="Face-cluster merge audit"
        The page title and top heading.

    Returns
    -------
    Path
        ``path``, as a :class:`pathlib.Path`.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> import toolkit as tk
    >>> X = [[1, .1, 0, 0], [1, 0, .1, 0], [0, 1, .1, 0], [0, 1, 0, .1],
    ...      [1, 0, 0, .1], [1, .1, .1, 0], [0, 0, 1, .1], [0, .1, 1, 0]]
    >>> state = tk.ClusterState.from_arrays(X, ["a", "a", "b", "b", "c", "c", "d", "d"])
    >>> def merge(task_id, end, source):   # a merge task record, as GetTask returns it
    ...     return {"TaskId": task_id, "TaskType": "FigureClustersMerging",
    ...             "Status": "Succeeded", "StartTime": f"2025-03-01T00:00:0{end - 1}Z",
    ...             "EndTime": f"2025-03-01T00:00:0{end}Z",
    ...             "TaskRequestDefinition": json.dumps({"From": source, "To": "a"})}
    >>> tasks = tk.read_tasks([merge("t1", 2, "c"), merge("t2", 4, "b")])
    >>> inputs = ReportInputs(audit=tk.audit_merges(state, tasks), tasks=tasks)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_report(inputs, Path(tmp) / "report.html")
    ...     text = path.read_text(encoding="utf-8")
    >>> path.name, text.startswith("<!DOCTYPE html>")
    ('report.html', True)

    From the command line: ``python -m toolkit audit sample_data --out report.html``.
    """
    path = Path(path)
    path.write_text(build_report(inputs, title=title), encoding="utf-8")
    return path
