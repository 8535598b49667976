"""The FaceSet: a faces frame and its embedding matrix, aligned row for row."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FaceSet", "NO_CLUSTER_IDS", "is_clustered", "PARQUET_METADATA_KEY"]

#: Parquet schema metadata key marking a file written by :meth:`FaceSet.to_parquet`:
#: its ``embedding`` rows are unit length already and ``norm`` holds the raw norms.
PARQUET_METADATA_KEY = b"toolkit.faceset"

#: IMM's reserved ``FigureClusterId`` values: the face is in no cluster.
#: ``figure-cluster-id-independent``: no suitable group yet;
#: ``figure-cluster-id-unavailable``: not clustered yet.
NO_CLUSTER_IDS = frozenset({"figure-cluster-id-independent", "figure-cluster-id-unavailable"})


def is_clustered(cluster_ids: Any) -> np.ndarray:
    """Boolean mask: True where a face belongs to a real cluster.

    Missing values, empty strings and IMM's reserved ids
    (:data:`NO_CLUSTER_IDS`) mean "in no cluster".

    Parameters
    ----------
    cluster_ids : array-like of shape (n_faces,)
        Cluster ids as read (strings, possibly missing).

    Returns
    -------
    mask : ndarray of shape (n_faces,), bool
        True where the face is in a real cluster.

    Examples
    --------
    >>> is_clustered(["Cluster-a", None, "", "figure-cluster-id-independent"]).tolist()
    [True, False, False, False]
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

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> faces = pd.DataFrame({"face_id": ["f1", "f2", "f3"],
    ...                       "cluster_id": ["Cluster-a", "Cluster-a", None]})
    >>> fs = FaceSet(faces, np.eye(3, dtype=np.float32))
    >>> fs
    FaceSet(3 faces, dim=3, 1 clusters, 1 in no cluster)
    >>> fs.clustered.tolist()
    [True, True, False]
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

    def equals(self, other: Any) -> bool:
        """Whether ``other`` is a FaceSet with an equal frame (values, dtypes, column
        order) and a bit-identical embedding matrix. ``counts`` are not compared."""
        return (isinstance(other, FaceSet)
                and self.faces.equals(other.faces)
                and list(self.faces.columns) == list(other.faces.columns)
                and (self.faces.dtypes == other.faces.dtypes).all()
                and self.embeddings.shape == other.embeddings.shape
                and np.array_equal(self.embeddings, other.embeddings))

    def to_parquet(self, path: str | os.PathLike, *, compression: str = "zstd") -> None:
        """Write the faces frame and the embeddings to one Parquet file.

        The file has the frame's columns (dtypes kept through pandas' Parquet
        metadata) plus ``embedding``, a fixed-size list of ``dim`` float32
        values per row. :func:`toolkit.read_faces` reads it back equal: the
        unit rows are taken as they are (not normalised again) and ``norm``
        keeps the norms measured when the embeddings were first read.

        Parameters
        ----------
        path : str or path-like
            Where to write (overwritten if it exists).
        compression : str, default="zstd"
            Parquet codec: ``"zstd"``, ``"snappy"``, ``"gzip"``, ``"none"``...

        Examples
        --------
        >>> fs.to_parquet("faces.parquet")                    # doctest: +SKIP
        >>> tk.read_faces("faces.parquet").equals(fs)         # doctest: +SKIP
        True
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        if "embedding" in self.faces.columns:
            raise ValueError("FaceSet.faces has a column 'embedding'; the Parquet file stores "
                             "the embeddings under that name. Rename the column first.")
        table = pa.Table.from_pandas(self.faces, preserve_index=False)
        n, dim = self.embeddings.shape
        values = pa.array(np.ascontiguousarray(self.embeddings).reshape(-1))
        if dim > 0:
            column = pa.FixedSizeListArray.from_arrays(values, dim)
        else:
            # Arrow has no fixed-size list of size 0.
            column = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), values)
        table = table.append_column("embedding", column)
        marker = json.dumps({"version": 1, "normalized": True, "dim": dim}).encode()
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               PARQUET_METADATA_KEY: marker})
        pq.write_table(table, os.fspath(path), compression=compression)
