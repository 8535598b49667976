"""Interactive dashboards for Jupyter, built on ipywidgets.

- :class:`MergeAuditDashboard`: review an audit's merges one by one (verdict,
  reasons, figures, plots), pick a merge (audited or free) and preview it,
  apply and undo it on a working state, see the faces of its clusters, record
  a decision per merge, export the undo plan and merge requests.
- :class:`TaskHistoryDashboard`: filter task records by provider, type, state
  and time; see them in a table and in plots (a timeline among them), and drill
  into one task's status history, request and error.
- :func:`export_decisions` / :func:`plan_decisions`: the export the audit
  dashboard's button runs, as plain functions.

Reach them as ``toolkit.widgets.<name>``. ipywidgets is imported on first use
of a dashboard, so ``import toolkit`` stays light where no notebook runs.

>>> import toolkit as tk
>>> tk.widgets.MergeAuditDashboard(faces, tasks, history)     # doctest: +SKIP
>>> tk.widgets.TaskHistoryDashboard(tasks, history)           # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MergeAuditDashboard", "TaskHistoryDashboard", "export_decisions", "plan_decisions",
           "DecisionExport"]

# Name -> private module defining it; loaded on first access (PEP 562).
_WHERE = {
    "MergeAuditDashboard": "._merge_audit",
    "TaskHistoryDashboard": "._tasks",
    "export_decisions": "._decisions",
    "plan_decisions": "._decisions",
    "DecisionExport": "._decisions",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
