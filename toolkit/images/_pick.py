"""``pick_thumbnail_faces``: which faces of a cluster to show, best first."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ._frame import faces_frame, numeric_column

__all__ = ["pick_thumbnail_faces"]


def pick_thumbnail_faces(faces, cluster_id, *, n: int = 8) -> pd.DataFrame:
    """The faces of one cluster to show as thumbnails, in display order.

    Best faces first: highest ``face_quality`` (IMM's FaceQuality, 0-1, higher
    is better for recognition), faces without a quality last, ties broken by
    ``face_id`` so the choice never depends on row order. Without a
    ``face_quality`` column the faces come by ``face_id``.

    Parameters
    ----------
    faces : DataFrame or FaceSet
        A faces frame (``FaceSet.faces``) with ``face_id`` and ``cluster_id``.
    cluster_id : str
        The cluster whose faces to pick (a reserved id such as
        ``figure-cluster-id-independent`` picks among the faces holding it).
    n : int, default=8
        How many faces at most, >= 1; a smaller cluster gives all its faces.

    Returns
    -------
    picked : DataFrame of shape (min(n, cluster size), n_columns)
        The chosen rows of ``faces``, every column, in display order, with
        their index labels from ``faces`` (so ``faces.loc[picked.index]``
        finds them again).

    Raises
    ------
    ValueError
        No face of ``faces`` is in ``cluster_id``; ``n`` is not a positive
        integer.
    RecordError
        ``faces`` has no ``face_id`` or ``cluster_id`` column, or a
        ``face_quality`` that is not a number.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.images import pick_thumbnail_faces
    >>> faces = pd.DataFrame({"face_id": ["d", "c", "b", "a"],
    ...                       "cluster_id": ["C1", "C1", "C1", "C2"],
    ...                       "face_quality": [0.7, None, 0.9, 0.8]})
    >>> pick_thumbnail_faces(faces, "C1", n=2)["face_id"].tolist()
    ['b', 'd']
    """
    frame = faces_frame(faces, ("face_id", "cluster_id"))
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"The value for `n` must be an integer of at least 1, but {n!r} was "
                         "passed.")
    members = np.flatnonzero((frame["cluster_id"] == cluster_id).fillna(False).to_numpy(bool))
    if len(members) == 0:
        raise ValueError(f"No face is in cluster {cluster_id!r}: `cluster_id` must be a value of "
                         f"the faces frame's 'cluster_id' column ({len(frame)} faces, "
                         f"{frame['cluster_id'].nunique()} distinct ids).")
    face_ids = frame["face_id"].iloc[members].astype("str").fillna("").to_numpy(dtype=str)
    _, id_rank = np.unique(face_ids, return_inverse=True)
    if "face_quality" in frame.columns:
        quality = numeric_column(frame, "face_quality", "a number (0-1) or missing").iloc[members]
        # NaN sorts last: -inf would tie with a real -inf, so the missing flag is its own key.
        missing = quality.isna().to_numpy()
        keys = (id_rank, -quality.fillna(0.0).to_numpy(), missing)
    else:
        keys = (id_rank,)
    order = np.lexsort(keys)[:int(n)]
    return frame.iloc[members[order]]
