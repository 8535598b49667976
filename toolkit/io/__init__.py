"""Readers: task records, task histories, faces with embeddings, clusters."""

from ._source import Collector, ReadCounts

__all__ = ["Collector", "ReadCounts"]
