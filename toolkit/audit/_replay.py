"""Replay a recorded merge history on a faces export and judge every merge."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..clustering import ClusterState, Ledger
from ..errors import MergeError
from ..faceset import FaceSet
from ..quality import merge_impact, silhouette_score
from ..quality._carry import carry_context
from ._verdict import DataLevels, Thresholds, data_levels, judge

__all__ = ["AuditResult", "audit_merges", "MERGE_TASK_TYPE"]

#: IMM's TaskType for CreateFigureClustersMergingTask, inferred from the event name
#: ``imm:Task:FigureClustersMerging`` (the "Task types" page does not list merges).
MERGE_TASK_TYPE = "FigureClustersMerging"

_OUTCOME_OF_STATE = {"succeeded": "applied", "failed": "failed", "pending": "pending",
                     "running": "pending", "stopped": "failed", "other": "pending"}

MERGE_COLUMNS = [
    "task_id", "dataset", "status", "state", "start_time", "end_time", "merge_to", "merge_sources",
    "user_data", "outcome", "step", "silhouette_before", "silhouette_after", "cross_mean",
    "cross_min", "cross_median", "weakest_link", "drift", "cooccurrence", "at_risk",
    "cohesion_after", "delta_pairwise_f", "delta_bcubed_f", "stranger_level", "same_level",
    "score", "verdict", "reasons",
]


@dataclass(frozen=True, eq=False)
class AuditResult:
    """What :func:`audit_merges` found.

    Attributes
    ----------
    merges : DataFrame
        One row per merge task of the audited dataset, in replay order
        (applied merges by completion, then the others by time). ``outcome``
        is ``applied``, ``failed``, ``pending`` (still running),
        ``vanished`` (names a cluster that no longer exists, or never did) or
        ``no-parameters`` (neither a TaskRequestDefinition nor a merge request
        log line says what was merged);
        ``step`` is the 1-based position of an applied merge in the ledger.
        Impact figures (see :class:`toolkit.quality.MergeImpact`) and a
        ``verdict`` with its ``reasons`` are given for every merge whose
        clusters existed at its time, applied or not: for a failed merge they
        say whether retrying it would be wise.
    timeline : DataFrame
        One row per ledger step, step 0 being the export: ``step``,
        ``task_id``, ``silhouette``, ``n_clusters``, ``verdict`` and, with
        ground truth, ``pairwise_f`` and ``bcubed_f``.
    ledger : toolkit.clustering.Ledger
        The applied merges: ``ledger.state_at(step)`` is the clustering after
        ``step`` merges.
    thresholds : dict
        The verdict cuts used (see :class:`~toolkit.audit.Thresholds`) and the
        data levels measured on the export.
    dataset : str or None
        The audited dataset.
    other_datasets : dict
        Dataset name to the number of merge tasks that were not replayed
        because they belong to another dataset.

    Examples
    --------
    The audit of :func:`audit_merges`' example, one right and one wrong merge:

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
    >>> audit = tk.audit_merges(state, [merge("t1", 2, "c"), merge("t2", 4, "b")])
    >>> audit.timeline[["step", "n_clusters"]].values.tolist()
    [[0, 4], [1, 3], [2, 2]]
    >>> audit.flagged()["task_id"].tolist(), audit.final.cluster_ids.tolist()
    (['t2'], ['a', 'd'])
    """

    merges: pd.DataFrame
    timeline: pd.DataFrame
    ledger: Ledger
    thresholds: dict
    dataset: str | None
    other_datasets: dict = field(default_factory=dict)

    @property
    def initial(self) -> ClusterState:
        """The clustering of the export, before any replayed merge."""
        return self.ledger.initial

    @property
    def final(self) -> ClusterState:
        """The clustering after every applied merge."""
        return self.ledger.final

    def flagged(self) -> pd.DataFrame:
        """The applied merges judged suspicious or likely wrong.

        Merges that were not applied (failed, pending) also carry a verdict —
        whether applying them would be wise — but are not listed here.
        """
        m = self.merges
        return m[m["outcome"].eq("applied") & m["verdict"].isin(["suspicious", "likely-wrong"])]

    def to_csv(self, path: Any) -> None:
        """Write the merges table as CSV (lists and dicts as JSON text)."""
        from ._export import frame_for_files
        frame_for_files(self.merges).to_csv(path, index=False)

    def to_parquet(self, path: Any) -> None:
        """Write the merges table as Parquet (lists and dicts as JSON text)."""
        from ._export import frame_for_files
        frame_for_files(self.merges).to_parquet(path, index=False)

    def __repr__(self) -> str:
        counts = self.merges["verdict"].value_counts()
        parts = ", ".join(f"{counts.get(v, 0)} {v}" for v in ("likely-correct", "suspicious",
                                                               "likely-wrong"))
        return (f"AuditResult({len(self.merges)} merges of {self.dataset!r}: "
                f"{int((self.merges['outcome'] == 'applied').sum())} applied; {parts})")


def _merge_tasks(tasks: pd.DataFrame) -> pd.DataFrame:
    is_merge = tasks["task_type"].eq(MERGE_TASK_TYPE)
    if "merge_to" in tasks.columns:
        is_merge |= tasks["merge_to"].notna()
    return tasks[is_merge.fillna(False).astype(bool)]


def _faces_dataset(faces: FaceSet, dataset: str | None) -> str | None:
    if dataset is not None or "dataset" not in faces.faces.columns:
        return dataset
    names = sorted(faces.faces["dataset"].dropna().unique().tolist())
    if len(names) > 1:
        raise ValueError(f"The faces come from {len(names)} datasets {names}; clustering never "
                         "crosses datasets, so audit one at a time: pass `dataset=`.")
    return names[0] if names else None


def _replay_order(merges: pd.DataFrame) -> pd.DataFrame:
    # Succeeded merges in completion order; the others after them, by time, for reporting.
    key = merges.assign(
        _applied=np.where(merges["state"].eq("succeeded"), 0, 1),
        _end=merges["end_time"], _start=merges["start_time"])
    return key.sort_values(["_applied", "_end", "_start", "task_id"], na_position="last",
                           kind="stable").drop(columns=["_applied", "_end", "_start"])


def _sources_of(row: Any) -> list[str]:
    sources = row.merge_sources
    if sources is None or (not isinstance(sources, (list, tuple, np.ndarray)) and pd.isna(sources)):
        return []
    return [str(s) for s in sources]


def _truth_present(state: ClusterState) -> bool:
    return "identity" in state.faceset.faces.columns


def impact_columns(impact: Any) -> dict[str, Any]:
    """The figure columns of ``AuditResult.merges`` for one MergeImpact (the audit and the
    merge audit dashboard's preview show the same figures)."""
    cross = impact.cross_similarity_mean
    median = impact.cross_similarity_median
    row = {
        "silhouette_before": impact.silhouette_before,
        "silhouette_after": impact.silhouette_after,
        "cross_mean": min(cross.values()),
        "cross_min": min(cross.values()),
        "cross_median": min(median.values()),
        "weakest_link": impact.weakest_link,
        "drift": impact.feature_drift,
        "cooccurrence": impact.co_occurrence_files,
        "at_risk": impact.nearer_to_feature_after,
        "cohesion_after": impact.cohesion_after,
        "delta_pairwise_f": None, "delta_bcubed_f": None,
    }
    # The mean over all source faces, weighted by source size.
    sizes = np.array([impact.sizes[s] for s in impact.froms], dtype=np.float64)
    row["cross_mean"] = float(np.dot(sizes, [cross[s] for s in impact.froms]) / sizes.sum())
    if impact.pairwise_f_after is not None:
        row["delta_pairwise_f"] = impact.pairwise_f_after - impact.pairwise_f_before
        row["delta_bcubed_f"] = impact.bcubed_f_after - impact.bcubed_f_before
    return row


def audit_merges(faces: Any, tasks: Any, *, thresholds: Thresholds | Mapping[str, Any] | None = None,
                 dataset: str | None = None, progress: bool | None = None) -> AuditResult:
    """Replay the recorded merge tasks on a faces export and judge every merge.

    Parameters
    ----------
    faces : FaceSet or ClusterState
        The faces with their clustering as exported *before* the merges.
    tasks : DataFrame
        Task records as returned by :func:`toolkit.read_tasks`, or any source
        it accepts (a path, dicts, SDK objects). Merge tasks are those of
        TaskType ``FigureClustersMerging`` or with merge parameters.
    thresholds : Thresholds or dict, default=None
        Verdict cuts (``suspicious_below``, ``wrong_below``,
        ``cooccurrence_suspicious``); the defaults are documented in
        :mod:`toolkit.audit`.
    dataset : str, default=None
        The dataset to audit. By default the faces' own ``dataset`` column
        decides; merge tasks of other datasets are counted, not replayed.
        Tasks with no dataset are assumed to belong to the faces' dataset.
    progress : bool, default=None
        Show a progress bar; None shows one for histories of 50 merges or more.

    Returns
    -------
    AuditResult

    Notes
    -----
    Order: Succeeded merges are applied in completion order (EndTime, then
    StartTime, then TaskId). Failed (and stopped) ones are reported and not
    applied; Running ones are reported as pending. A merge that names a
    cluster that no longer exists (merged away by an earlier merge) or never
    existed in the export is reported as ``vanished`` and not applied.

    Examples
    --------
    Four clusters: ``c`` is more of ``a``'s person, ``b`` someone else. Merge
    ``t1`` joins ``c`` into ``a`` (right), ``t2`` joins ``b`` into ``a`` (wrong):

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
    >>> audit = audit_merges(state, [merge("t1", 2, "c"), merge("t2", 4, "b")])
    >>> audit.merges[["task_id", "step", "outcome", "verdict"]].values.tolist()
    [['t1', 1, 'applied', 'likely-correct'], ['t2', 2, 'applied', 'likely-wrong']]

    On the sample data:

    >>> audit = audit_merges(tk.read_faces("sample_data/faces.parquet"),
    ...                      tk.read_tasks("sample_data/tasks"))      # doctest: +SKIP
    >>> audit.flagged()[["task_id", "verdict", "score"]]               # doctest: +SKIP
    """
    cuts = Thresholds.coerce(thresholds)
    if isinstance(faces, ClusterState):
        state = faces
    elif isinstance(faces, FaceSet):
        state = ClusterState.from_faces(faces)
    else:
        raise TypeError(f"`faces` must be a FaceSet or a ClusterState, but {type(faces).__name__} "
                        "was passed; read one with toolkit.read_faces.")
    if not isinstance(tasks, pd.DataFrame):
        from ..io import read_tasks
        tasks = read_tasks(tasks)
    dataset = _faces_dataset(state.faceset, dataset)

    merges = _merge_tasks(tasks)
    other: dict[str, int] = {}
    if dataset is not None and "dataset" in merges.columns:
        foreign = merges["dataset"].notna() & merges["dataset"].ne(dataset)
        other = {str(k): int(v) for k, v in merges.loc[foreign, "dataset"].value_counts()
                 .sort_index().items()}
        merges = merges[~foreign]
    merges = _replay_order(merges)

    initial = state
    levels0 = data_levels(initial)
    truth = _truth_present(initial)
    ledger = Ledger(initial)
    gone: dict[str, str] = {}     # cluster id -> how it disappeared
    rows: list[dict[str, Any]] = []
    timeline = [_timeline_row(0, None, initial, silhouette_score(initial), truth, None, None)]
    show = progress if progress is not None else len(merges) >= 50
    for task in tqdm(list(merges.itertuples(index=False)), desc="auditing merges", unit="merge",
                     disable=not show):
        row = {c: getattr(task, c, None) for c in MERGE_COLUMNS[:9]}
        row["merge_sources"] = _sources_of(task)
        outcome = _OUTCOME_OF_STATE.get(task.state, "pending")
        current = ledger.final
        missing = _missing_clusters(current, task.merge_to, row["merge_sources"], gone, initial)
        if not row["merge_sources"] or task.merge_to is None or pd.isna(task.merge_to):
            row.update(outcome="no-parameters", reasons=["the merge's From/Froms/To are unknown: no "
                       "TaskRequestDefinition and no merge request log line for this task"])
            rows.append(row)
            continue
        if missing:
            row.update(outcome="vanished" if outcome == "applied" else outcome, reasons=missing)
            rows.append(row)
            continue
        try:
            impact = merge_impact(current, task.merge_to, row["merge_sources"])
        except MergeError as exc:
            # A request the cloud would refuse (e.g. To among Froms): report the broken rule.
            row.update(outcome="failed" if outcome == "applied" else outcome,
                       reasons=[f"the request breaks a merge rule: {exc}"])
            rows.append(row)
            continue
        levels = data_levels(current)
        judged = judge(impact, levels, cuts)
        row.update(impact_columns(impact))
        row.update(stranger_level=levels.stranger, same_level=judged["same_level"],
                   score=judged["score"], verdict=judged["verdict"], reasons=judged["reasons"])
        if outcome == "applied":
            ledger = ledger.merge(task.merge_to, froms=row["merge_sources"], task_id=task.task_id,
                                  user_data=None, at=_when(task))
            row["step"] = len(ledger)
            # The next merge's impact needs the merged state's silhouette context:
            # derived exactly from this state's, instead of an O(n·k·d) pass.
            carry_context(current, ledger.final, task.merge_to, row["merge_sources"])
            for src in row["merge_sources"]:
                gone[src] = f"merged into {task.merge_to} by task {task.task_id} (step {len(ledger)})"
            timeline.append(_timeline_row(len(ledger), task.task_id, ledger.final,
                                          impact.silhouette_after, truth, impact, judged["verdict"]))
        else:
            row["reasons"] = [f"not applied: the task is {task.state}"] + row["reasons"]
        row["outcome"] = outcome
        rows.append(row)

    frame = pd.DataFrame(rows, columns=MERGE_COLUMNS)
    frame["step"] = frame["step"].astype("Int64")
    frame["reasons"] = frame["reasons"].map(lambda r: "; ".join(r) if isinstance(r, list) else r)
    used = {**cuts.as_dict(), "stranger_level_export": levels0.stranger,
            "typical_cohesion_export": levels0.typical_cohesion}
    return AuditResult(frame, pd.DataFrame(timeline), ledger, used, dataset, other)


def _when(task: Any) -> Any:
    for value in (task.end_time, task.start_time):
        if value is not None and not pd.isna(value):
            return value.to_pydatetime(warn=False)
    return None


def _missing_clusters(state: ClusterState, to: Any, sources: list[str], gone: dict[str, str],
                      initial: ClusterState) -> list[str]:
    live = set(state.cluster_ids.tolist())
    known = set(initial.cluster_ids.tolist())
    out = []
    for role, cid in [("destination", to)] + [("source", s) for s in sources]:
        if cid is None or (isinstance(cid, float) and math.isnan(cid)) or cid in live:
            continue
        if cid in gone:
            out.append(f"{role} {cid} no longer exists: it was {gone[cid]}")
        elif cid not in known:
            out.append(f"{role} {cid} is not a cluster of the faces export")
        else:
            out.append(f"{role} {cid} no longer exists")
    return out


def _timeline_row(step: int, task_id: str | None, state: ClusterState, silhouette: float,
                  truth: bool, impact: Any, verdict: str | None) -> dict[str, Any]:
    row = {"step": step, "task_id": task_id, "silhouette": silhouette,
           "n_clusters": state.n_clusters, "verdict": verdict}
    if truth:
        if impact is None:
            from ..quality import compare_to_truth
            cmp = compare_to_truth(state.face_cluster_ids(), state.faceset.faces["identity"])
            row["pairwise_f"], row["bcubed_f"] = cmp.pairwise_f, cmp.bcubed_f
        else:
            row["pairwise_f"], row["bcubed_f"] = impact.pairwise_f_after, impact.bcubed_f_after
    return row
