"""Readers: task records, task histories, faces with embeddings, clusters."""

from ._source import Collector, ReadCounts
from ._history import read_task_history, task_transitions
from ._tasks import read_tasks
from ._time import to_utc
from ._faces import read_faces
from ._clusters import read_clusters

__all__ = ["Collector", "ReadCounts", "read_tasks", "read_task_history", "task_transitions",
           "to_utc", "read_faces", "read_clusters"]
