"""The candidate graph: each face's exact nearest neighbours, as undirected pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._agglomerate import neighbor_pairs
from ._knn import DEFAULT_MEMORY_BUDGET, nearest_neighbors

__all__ = ["NeighbourGraph", "neighbour_graph"]


@dataclass(frozen=True, eq=False)
class NeighbourGraph:
    """Exact cosine k-nearest-neighbour graph of a set of unit rows.

    Attributes
    ----------
    indices : ndarray of shape (n_faces, k), int64
        Neighbours of each face, most similar first.
    similarities : ndarray of shape (n_faces, k)
        Their cosine similarities (the embeddings' dtype).
    pairs : ndarray of shape (n_pairs, 2), int64
        The undirected edges ``(i, j)``, ``i < j``, each once.
    """

    indices: np.ndarray
    similarities: np.ndarray
    pairs: np.ndarray


def neighbour_graph(embeddings: np.ndarray, n_neighbors: int, *, memory_budget: int | None = None,
                    progress=None) -> NeighbourGraph:
    """Build the graph (see :func:`~toolkit.reclustering._knn.nearest_neighbors`)."""
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget
    idx, sims = nearest_neighbors(embeddings, n_neighbors, memory_budget=budget,
                                  progress=progress)
    return NeighbourGraph(idx, sims, neighbor_pairs(idx))
