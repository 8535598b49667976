"""A reviewer's decisions on audited merges, turned into files to act on.

Plain functions: the :class:`~toolkit.widgets.MergeAuditDashboard` calls them, and a
script can too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import orjson
import pandas as pd

from ..audit import AuditResult, export_merge_requests, export_undo_plan

__all__ = ["DECISIONS", "DecisionExport", "plan_decisions", "export_decisions", "check_decisions",
           "UNDO_PLAN_FILE", "MERGE_REQUESTS_FILE", "DECISIONS_FILE"]

#: The decisions a reviewer can record for a merge.
DECISIONS = ("accepted", "rejected")

UNDO_PLAN_FILE = "undo_plan.jsonl"
MERGE_REQUESTS_FILE = "merge_requests.jsonl"
DECISIONS_FILE = "decisions.json"

_PLAN_COLUMNS = ["task_id", "decision", "outcome", "verdict", "action", "note"]


def check_decisions(decisions: Any, task_ids: Any) -> dict[str, str]:
    """``decisions`` as a plain dict, or a ValueError naming the bad entry.

    Parameters
    ----------
    decisions : mapping of str to str
        Task id to ``"accepted"`` or ``"rejected"``.
    task_ids : collection of str
        The task ids of the audit's merges.
    """
    if not isinstance(decisions, Mapping):
        raise TypeError(f"`decisions` must be a dict of task id to one of {list(DECISIONS)}, "
                        f"but {type(decisions).__name__} was passed.")
    known = set(task_ids)
    for task_id, decision in decisions.items():
        if task_id not in known:
            example = sorted(known)[:3]
            raise ValueError(f"`decisions` names task {task_id!r}, which is not a merge of the "
                             f"audit (e.g. {example}).")
        if decision not in DECISIONS:
            raise ValueError(f"The decision for task {task_id!r} must be one of "
                             f"{list(DECISIONS)}, but {decision!r} was passed.")
    return dict(decisions)


def _action(decision: str, row: Any) -> tuple[str, str]:
    """What a decision on one merge calls for: ``(action, note)``.

    ``action`` is ``"undo"`` (the merge goes into the undo plan), ``"request"``
    (a merge request is written) or ``"none"``; ``note`` says why.
    """
    outcome = row.outcome
    judged = isinstance(row.verdict, str)
    if decision == "rejected":
        if outcome == "applied":
            return "undo", "applied and rejected: its faces go back to their source clusters"
        return "none", f"not applied ({outcome}): nothing to undo"
    if outcome == "applied":
        return "none", "already applied"
    if outcome == "pending":
        return "none", "still running: it applies by itself when it succeeds"
    if outcome == "failed" and judged:
        return "request", "failed but accepted: a new merge request retries it"
    # Vanished, no parameters, or failed on clusters that did not exist / a broken rule:
    # a new request would fail the same way.
    return "none", f"{outcome}: a new request would fail the same way ({row.reasons})"


def plan_decisions(audit: AuditResult, decisions: Mapping[str, str]) -> pd.DataFrame:
    """What each decision calls for, without writing anything.

    Parameters
    ----------
    audit : AuditResult
    decisions : mapping of str to str
        Task id to ``"accepted"`` or ``"rejected"``.

    Returns
    -------
    DataFrame
        One row per decision, in the audit's merge order: ``task_id``,
        ``decision``, ``outcome``, ``verdict``, ``action`` (``"undo"``: an
        applied merge that was rejected goes into the undo plan;
        ``"request"``: a failed merge that was accepted gets a new merge
        request; ``"none"``) and ``note`` (why).

    Examples
    --------
    The audit of :func:`toolkit.audit_merges`' example (``t1`` right, ``t2``
    wrong, both applied):

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
    >>> plan = plan_decisions(audit, {"t1": "accepted", "t2": "rejected"})
    >>> plan[["task_id", "decision", "action"]].values.tolist()
    [['t1', 'accepted', 'none'], ['t2', 'rejected', 'undo']]
    """
    if not isinstance(audit, AuditResult):
        raise TypeError(f"`audit` must be an AuditResult, but {type(audit).__name__} was passed.")
    merges = audit.merges
    decisions = check_decisions(decisions, merges["task_id"])
    rows = []
    for row in merges.itertuples(index=False):
        if row.task_id in decisions:
            action, why = _action(decisions[row.task_id], row)
            verdict = row.verdict if isinstance(row.verdict, str) else None
            rows.append([row.task_id, decisions[row.task_id], row.outcome, verdict, action, why])
    return pd.DataFrame(rows, columns=_PLAN_COLUMNS)


@dataclass(frozen=True)
class DecisionExport:
    """What :func:`export_decisions` wrote.

    Attributes
    ----------
    directory : Path
        Where the files are.
    files : dict of str to int
        File name to the number of records it holds: ``undo_plan.jsonl``
        (merges to undo), ``merge_requests.jsonl`` (requests to send),
        ``decisions.json`` (decisions recorded).
    plan : DataFrame
        :func:`plan_decisions` of the decisions written.

    Examples
    --------
    The audit of :func:`toolkit.audit_merges`' example; the reviewer rejects
    the wrong merge ``t2``:

    >>> import json, tempfile
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
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = export_decisions(audit, {"t2": "rejected"}, tmp)
    >>> out.files
    {'undo_plan.jsonl': 1, 'merge_requests.jsonl': 0, 'decisions.json': 1}
    >>> out.plan[["task_id", "action"]].values.tolist()
    [['t2', 'undo']]
    """

    directory: Path
    files: dict
    plan: pd.DataFrame


def export_decisions(audit: AuditResult, decisions: Mapping[str, str], directory: Any, *,
                     project_name: str | None = None) -> DecisionExport:
    """Write the files a review calls for into ``directory``.

    Three files are always written, so the directory never mixes this review
    with an earlier one:

    - ``undo_plan.jsonl``: :func:`toolkit.export_undo_plan` lines for the
      applied merges that were rejected (their faces to move back);
    - ``merge_requests.jsonl``: CreateFigureClustersMergingTask bodies
      (:func:`toolkit.export_merge_requests`) for the failed merges that were
      accepted and whose clusters existed;
    - ``decisions.json``: the dataset and every decision, to reload or re-run.

    Accepted merges that are still running, vanished or lack parameters get no
    request (see the plan's ``note``).

    Parameters
    ----------
    audit : AuditResult
    decisions : mapping of str to str
        Task id to ``"accepted"`` or ``"rejected"``.
    directory : path-like
        Created if missing.
    project_name : str, default=None
        ``ProjectName`` of the merge requests.

    Returns
    -------
    DecisionExport

    Examples
    --------
    The audit of :func:`toolkit.audit_merges`' example; the reviewer rejects
    the wrong merge ``t2``:

    >>> import json, tempfile
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
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = export_decisions(audit, {"t2": "rejected"}, Path(tmp) / "review")
    ...     written = sorted(p.name for p in out.directory.iterdir())
    >>> out.files
    {'undo_plan.jsonl': 1, 'merge_requests.jsonl': 0, 'decisions.json': 1}
    >>> written
    ['decisions.json', 'merge_requests.jsonl', 'undo_plan.jsonl']
    """
    plan = plan_decisions(audit, decisions)
    if isinstance(directory, str) and not directory.strip():
        raise ValueError("The value for `directory` must name a directory to write to, but an "
                         "empty string was passed.")
    root = Path(os.fspath(directory)).expanduser()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root}: exists and is not a directory; choose another "
                                 "export directory.")
    root.mkdir(parents=True, exist_ok=True)
    merges = audit.merges
    undo_ids = set(plan.loc[plan["action"].eq("undo"), "task_id"])
    request_ids = set(plan.loc[plan["action"].eq("request"), "task_id"])
    # The reviewer's decision, not the verdict, chooses the merges to undo.
    n_undo = export_undo_plan(audit, root / UNDO_PLAN_FILE, task_ids=undo_ids)
    n_requests = export_merge_requests(merges[merges["task_id"].isin(request_ids)],
                                       root / MERGE_REQUESTS_FILE, project_name=project_name,
                                       dataset_name=audit.dataset)
    record = {"dataset": audit.dataset,
              "decisions": {r.task_id: r.decision for r in plan.itertuples(index=False)}}
    (root / DECISIONS_FILE).write_bytes(
        orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n")
    files = {UNDO_PLAN_FILE: n_undo, MERGE_REQUESTS_FILE: n_requests, DECISIONS_FILE: len(plan)}
    return DecisionExport(root, files, plan)
