"""The merge audit: replay a recorded merge history, judge every merge, act on it.

Verdicts never assume one similarity scale: see :mod:`toolkit.audit._verdict`
for the score (0 = as far apart as strangers in this data, 1 = as close as the
members of one cluster) and the cut points.
"""

from ._export import export_merge_requests, export_undo_plan
from ._replay import MERGE_TASK_TYPE, AuditResult, audit_merges
from ._verdict import Thresholds

__all__ = ["audit_merges", "AuditResult", "Thresholds", "export_merge_requests",
           "export_undo_plan", "MERGE_TASK_TYPE"]
