"""The FaceSet: a faces frame and its embedding matrix, aligned row for row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FaceSet", "NO_CLUSTER_IDS", "is_clustered"]

#: IMM's reserved ``FigureClusterId`` values: the face is in no cluster.
#: ``figure-cluster-id-independent``: no suitable group yet;
#: ``figure-cluster-id-unavailable``: not clustered yet.
NO_CLUSTER_IDS = frozenset({"figure-cluster-id-independent", "figure-cluster-id-unavailable"})


def is_clustered(cluster_ids: Any) -> np.ndarray:
    """Boolean mask: True where a face belongs to a real cluster.

    Missing values and IMM's reserved ids mean "in no cluster".
    """
    s = pd.Series(cluster_ids, dtype="object")
    return (s.notna() & ~s.isin(NO_CLUSTER_IDS) & (s != "")).to_numpy(dtype=bool)


@dataclass(frozen=True, eq=False)
class FaceSet:
    """Faces and their L2-normalised embeddings.

    Attributes
    ----------
    faces : DataFrame of shape (n_faces, ...)
        One row per face. Always ``face_id`` (unique strings) and
        ``cluster_id`` (string; missing or a reserved id in
        :data:`NO_CLUSTER_IDS` means "in no cluster") and ``norm`` (the
        embedding's L2 norm before normalisation). Optional: ``file_id``,
        ``uri``, ``dataset``, ``identity`` (ground truth), the IMM figure
        attributes (``face_quality``, ``boundary_width``, ``head_pose_yaw``, ...).
    embeddings : ndarray of shape (n_faces, dim), float32
        Row ``i`` is the unit-length embedding of ``faces.iloc[i]``.
    counts : dict
        The reader's record counts (``read``, ``accepted``, ``duplicates``,
        ``rejected``); empty for a FaceSet built in memory.
    """

    faces: pd.DataFrame
    embeddings: np.ndarray
    counts: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        emb = self.embeddings
        if not isinstance(emb, np.ndarray) or emb.ndim != 2:
            raise ValueError("FaceSet.embeddings must be a 2-D array of shape (n_faces, dim)")
        if emb.dtype != np.float32:
            raise ValueError(f"FaceSet.embeddings must be float32, got {emb.dtype}")
        if len(self.faces) != emb.shape[0]:
            raise ValueError(f"FaceSet: {len(self.faces)} face rows but {emb.shape[0]} "
                             "embedding rows; they must align row for row")
        for col in ("face_id", "cluster_id"):
            if col not in self.faces.columns:
                raise ValueError(f"FaceSet.faces must have a {col!r} column")
        if not self.faces["face_id"].is_unique:
            dup = self.faces["face_id"][self.faces["face_id"].duplicated()].iloc[0]
            raise ValueError(f"FaceSet.faces: face_id {dup!r} occurs more than once")

    def __len__(self) -> int:
        return len(self.faces)

    def __repr__(self) -> str:
        k = self.faces.loc[self.clustered, "cluster_id"].nunique()
        return (f"FaceSet({len(self)} faces, dim={self.dim}, {k} clusters, "
                f"{int((~self.clustered).sum())} in no cluster)")

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.embeddings.shape[1])

    @property
    def clustered(self) -> np.ndarray:
        """Boolean mask of faces that belong to a real cluster."""
        return is_clustered(self.faces["cluster_id"])

    @property
    def has_truth(self) -> bool:
        """Whether a ground-truth ``identity`` column is present."""
        return "identity" in self.faces.columns

    def subset(self, mask: Any) -> "FaceSet":
        """A new FaceSet of the rows selected by a boolean mask or positions."""
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)
        return FaceSet(self.faces.iloc[idx].reset_index(drop=True),
                       np.ascontiguousarray(self.embeddings[idx]), dict(self.counts))
