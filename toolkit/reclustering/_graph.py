"""The candidate graph: each face's exact nearest neighbours, as undirected pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._agglomerate import unique_pairs
from ._knn import DEFAULT_MEMORY_BUDGET, exact_neighbors

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
        The undirected edges ``(i, j)``, ``i < j``, each once, sorted.
    pair_similarities : ndarray of shape (n_pairs,), float64
        Each edge's similarity, bit for bit what the average linkage
        computes for two single faces (so it need not compute them again).
    """

    indices: np.ndarray
    similarities: np.ndarray
    pairs: np.ndarray
    pair_similarities: np.ndarray


def neighbour_graph(embeddings: np.ndarray, n_neighbors: int, *, memory_budget: int | None = None,
                    progress=None) -> NeighbourGraph:
    """Build the graph (see :func:`~toolkit.reclustering._knn.nearest_neighbors`)."""
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget
    idx, sims = exact_neighbors(embeddings, n_neighbors, memory_budget=budget,
                                progress=progress)
    pairs, first = unique_pairs(idx)
    dtype = np.float32 if np.asarray(embeddings).dtype == np.float32 else np.float64
    return NeighbourGraph(idx, sims.astype(dtype), pairs, sims.ravel()[first])
