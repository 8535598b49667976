"""Plots of clusterings, merges and tasks, in seaborn's manner.

Every function here draws on one matplotlib Axes (``ax=None`` means the current
Axes) and returns it, except :func:`plot_merge_projection`, which draws two
panels and returns their Figure. None of them calls ``plt.show()`` or changes
global style. They take the frames and states the computing modules return and
compute nothing themselves but, for :func:`plot_projection`, a 2-D projection
for display.

Reach them as ``toolkit.plots.<name>`` (``tk.plots.plot_silhouette``): the
top-level ``toolkit`` namespace stays for loading and computing.

Colours: each task state and each merge verdict has one colour-blind-safe
colour everywhere (:data:`STATE_COLORS`, :data:`VERDICT_COLORS`).

>>> import toolkit as tk
>>> ax = tk.plots.plot_task_timeline(tasks)                 # doctest: +SKIP
>>> ax = tk.plots.plot_quality_over_merges(audit_result)     # doctest: +SKIP
"""

from ._merges import plot_merge_impact, plot_quality_over_merges
from ._projection import plot_merge_projection, plot_projection, project
from ._silhouette import plot_silhouette
from ._style import STATE_COLORS, STATE_ORDER, VERDICT_COLORS, VERDICT_ORDER
from ._tasks import (plot_durations, plot_failure_codes, plot_state_counts, plot_task_history,
                     plot_task_timeline)

__all__ = [
    "plot_silhouette",
    "plot_projection",
    "plot_merge_projection",
    "project",
    "plot_quality_over_merges",
    "plot_merge_impact",
    "plot_task_timeline",
    "plot_state_counts",
    "plot_durations",
    "plot_failure_codes",
    "plot_task_history",
    "STATE_COLORS",
    "STATE_ORDER",
    "VERDICT_COLORS",
    "VERDICT_ORDER",
]
