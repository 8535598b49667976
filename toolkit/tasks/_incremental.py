"""The work of a FaceClustering task: cluster the faces that are in no cluster, incrementally.

IMM's rule (Image management FAQ) is :func:`toolkit.reclustering.assign_incremental`:
a face joins the most similar group feature when similar enough, and a new group
needs at least 3 good faces. A run takes the dataset's faces in no cluster (the
reserved ids included) as the run's new faces, in row order, and keeps the
dataset's row order in the state it returns.
"""

from __future__ import annotations

from ..clustering import ClusterState

__all__ = ["cluster_unassigned"]


def cluster_unassigned(state: ClusterState, *, threshold: float | None) -> ClusterState:
    """One incremental clustering run over the faces in no cluster.

    Parameters
    ----------
    state : ClusterState
        The dataset now.
    threshold : float or None
        Cosine similarity in [-1, 1] a face needs to join a group; None lets
        :func:`~toolkit.reclustering.assign_incremental` derive it from the data.

    Returns
    -------
    ClusterState
        Same faces in the same rows; clustered faces keep their clusters, the
        others join a cluster, open a new one, or stay in no cluster.
    """
    from ..reclustering import assign_incremental

    new = state.labels < 0
    if not new.any():
        return state
    faceset = state.to_faceset()
    result = assign_incremental(ClusterState.from_faces(faceset.subset(~new)), faceset.subset(new),
                                threshold=threshold)
    by_face = dict(zip(result.state.face_ids.tolist(), result.state.face_cluster_ids().tolist()))
    return state.with_cluster_ids([by_face[f] for f in state.face_ids.tolist()])
