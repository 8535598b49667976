"""The work of a FaceClustering task: cluster the faces that are in no cluster, incrementally.

The engine's own minimal version of IMM's incremental rule (IMM FAQ): a face
joins the most similar group feature when similar enough, and a new group
needs at least 3 faces of good quality. ``toolkit.reclustering`` offers the full
study of incremental assignment; this module only runs the task.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ..clustering import ClusterState

__all__ = ["cluster_unassigned", "good_quality", "MIN_FACES", "MIN_QUALITY"]

#: Faces a new group needs (IMM FAQ; SmartCluster's MinEntityCount default).
MIN_FACES = 3
#: FaceQuality a face needs to count towards a new group (IMM FAQ: > 0.8).
MIN_QUALITY = 0.8
_MIN_BOX_PX = 75
_MAX_POSE_DEG = 30.0
_INDEPENDENT = "figure-cluster-id-independent"
_CALIBRATION_QUANTILE = 0.05
_CHUNK_ROWS = 4096
# Bytes one block of a chunked product may take.
_BLOCK_BYTES = 64 * 2 ** 20


def good_quality(faces: pd.DataFrame) -> np.ndarray:
    """Boolean mask of faces good enough to found a group (IMM FAQ gates).

    ``face_quality > 0.8``; ``boundary_width`` and ``boundary_height`` over
    75 px; ``head_pose_pitch/roll/yaw`` within +-30 degrees. A gate whose
    column is absent is skipped; a missing value fails its gate.
    """
    mask = np.ones(len(faces), dtype=bool)
    if "face_quality" in faces:
        mask &= (faces["face_quality"].astype("float64") > MIN_QUALITY).to_numpy(na_value=False)
    for col in ("boundary_width", "boundary_height"):
        if col in faces:
            mask &= (faces[col].astype("float64") > _MIN_BOX_PX).to_numpy(na_value=False)
    for col in ("head_pose_pitch", "head_pose_roll", "head_pose_yaw"):
        if col in faces:
            mask &= (faces[col].astype("float64").abs() <= _MAX_POSE_DEG).to_numpy(na_value=False)
    return mask


def _own_similarity(state: ClusterState) -> np.ndarray:
    """Cosine of each clustered face to its own cluster's feature, chunked."""
    rows = np.flatnonzero(state.labels >= 0)
    out = np.empty(len(rows), dtype=np.float64)
    for lo in range(0, len(rows), _CHUNK_ROWS):
        idx = rows[lo:lo + _CHUNK_ROWS]
        out[lo:lo + len(idx)] = np.einsum(
            "ij,ij->i", state.embeddings[idx].astype(np.float64),
            state.features[state.labels[idx]])
    return out


def _otsu(values: np.ndarray) -> float:
    """The split of a 1-D sample that best separates two groups (Otsu's method)."""
    hist, edges = np.histogram(values, bins=64)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)[:-1]
    w1 = len(values) - w0
    s0 = np.cumsum(hist * centres)[:-1]
    m0 = s0 / np.maximum(w0, 1)
    m1 = (values.sum() - s0) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1:-1][int(np.argmax(between))])


def _nearest_other(x: np.ndarray) -> np.ndarray:
    """Each row's highest cosine to another row, chunked (never an m x m matrix)."""
    best = np.full(len(x), -np.inf)
    step = max(1, _BLOCK_BYTES // (8 * len(x)))
    for lo in range(0, len(x), step):
        block = x[lo:lo + step] @ x.T
        block[np.arange(len(block)), np.arange(lo, lo + len(block))] = -np.inf
        best[lo:lo + len(block)] = block.max(axis=1)
    return best


def derive_threshold(state: ClusterState, new_rows: np.ndarray) -> float:
    """The similarity a face needs to join a group, from the data at hand.

    With clusters of two or more faces: the 5th percentile of the clustered
    faces' similarity to their own cluster feature (95% of today's members
    would pass). Otherwise (a first run): Otsu's split of each new face's
    similarity to its nearest other new face.
    """
    if (state.counts >= 2).any():
        sims = _own_similarity(state)
        multi = state.counts[state.labels[state.labels >= 0]] >= 2
        return float(np.quantile(sims[multi], _CALIBRATION_QUANTILE))
    if len(new_rows) < 2:
        return 1.0
    x = state.embeddings[new_rows].astype(np.float64)
    return _otsu(_nearest_other(x))


def cluster_unassigned(state: ClusterState, *, threshold: float | None,
                       new_cluster_id: Callable[[], str],
                       min_faces: int = MIN_FACES) -> ClusterState:
    """One incremental clustering run over the faces in no cluster.

    Faces are taken in row order (arrival order). A face joins the cluster
    whose feature is most similar when the cosine reaches ``threshold``; the
    feature then moves (features update per face, as a group's does in the
    cloud). The others are grouped greedily among themselves with the same
    threshold against each group's running centroid; a group with at least
    ``min_faces`` good faces (:func:`good_quality`) becomes a new cluster,
    the rest become ``figure-cluster-id-independent``.

    Parameters
    ----------
    state : ClusterState
    threshold : float or None
        Cosine similarity in [-1, 1]; None derives it (:func:`derive_threshold`).
    new_cluster_id : callable
        Returns a fresh cluster id on each call.
    min_faces : int, default=3

    Returns
    -------
    ClusterState
        Same faces; clustered faces keep their clusters.
    """
    new_rows = np.flatnonzero(state.labels < 0)
    ids = state.face_cluster_ids().astype(object)
    if len(new_rows) == 0:
        return state
    if threshold is None:
        threshold = derive_threshold(state, new_rows)
    sums = state.sums.copy()
    feats = np.array(state.features, dtype=np.float64)
    good = good_quality(state.faceset.faces)
    pending_sums: list[np.ndarray] = []
    pending_rows: list[list[int]] = []
    for row in new_rows:
        x = state.embeddings[row].astype(np.float64)
        if len(feats):
            sims = feats @ x
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                ids[row] = state.cluster_ids[best]
                sums[best] += x
                feats[best] = sums[best] / max(np.linalg.norm(sums[best]), np.finfo(float).tiny)
                continue
        if pending_sums:
            centroids = np.array(pending_sums)
            centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True),
                                    np.finfo(float).tiny)
            sims = centroids @ x
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                pending_sums[best] = pending_sums[best] + x
                pending_rows[best].append(int(row))
                continue
        pending_sums.append(x.copy())
        pending_rows.append([int(row)])
    for rows in pending_rows:
        if int(good[rows].sum()) >= min_faces:
            ids[rows] = new_cluster_id()
        else:
            ids[rows] = _INDEPENDENT
    return state.with_cluster_ids(ids)
