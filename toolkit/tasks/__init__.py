"""The local task engine: IMM face-clustering tasks and Huawei VIAS batch tasks.

>>> from toolkit.tasks import TaskEngine, ManualClock
>>> engine = TaskEngine(ManualClock())            # doctest: +SKIP
>>> engine.add_dataset("proj", "photos", faces)   # doctest: +SKIP
>>> r = engine.create_figure_clusters_merging_task("proj", "photos", "Cluster-a",
...                                                froms=["Cluster-b"])  # doctest: +SKIP
>>> engine.wait(r["TaskId"])                      # doctest: +SKIP
>>> engine.history()                              # doctest: +SKIP
"""

from ._clock import ManualClock, SystemClock
from ._engine import TaskEngine
from ._schedule import WeeklySchedule
from ._vias import ViasService
from ._vias_validation import RULES as VIAS_RULES
from ._vias_validation import Rule as ViasRule

__all__ = ["TaskEngine", "ManualClock", "SystemClock", "ViasService", "WeeklySchedule",
           "VIAS_RULES", "ViasRule"]
