"""Face thumbnails of the clusters a pick involves, as escaped HTML.

The faces come from :mod:`toolkit.images`: which to show
(``pick_thumbnail_faces``) and their crops (``face_thumbnails``, always a PNG:
the crop, or a placeholder that says why not). Each cluster is taken as it is
in the working state, so a cluster grown by earlier merges shows its new
members. No widget is imported here.
"""

from __future__ import annotations

import base64
import html
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..clustering import ClusterState
from ._html import note

__all__ = ["THUMBNAIL_SIZE", "ThumbnailCache", "pick_clusters", "cluster_faces",
           "thumbnail_groups", "thumbnails_html"]

#: Side of a thumbnail PNG in pixels; shown at :data:`_SHOWN` CSS pixels, so
#: they stay sharp on high-density screens.
THUMBNAIL_SIZE = 96
_SHOWN = 72


def pick_clusters(state: ClusterState, to: Any, froms: Sequence[Any]) -> tuple[list, list]:
    """The pick's clusters in display order, and those the state lacks.

    Returns
    -------
    present : list of (str, str)
        ``(role, cluster id)``: the destination first, then each source, for
        the clusters ``state`` has; a cluster named twice is shown once.
    absent : list of (str, object)
        The same for named clusters ``state`` does not have.
    """
    present, absent, seen = [], [], set()
    live = set(state.cluster_ids.tolist())
    named = ([("destination", to)] if to is not None else []) + [("source", s) for s in froms]
    for role, cid in named:
        key = cid if isinstance(cid, str) else repr(cid)
        if key in seen:
            continue
        seen.add(key)
        (present if isinstance(cid, str) and cid in live else absent).append((role, cid))
    return present, absent


def cluster_faces(state: ClusterState, cluster_ids: Sequence[str]) -> pd.DataFrame:
    """The faces frame rows of ``cluster_ids`` with ``cluster_id`` as in ``state``.

    The FaceSet's own ``cluster_id`` column is the export's clustering; a
    working state may have merged clusters since.
    """
    parts = [state.members(c) for c in cluster_ids]
    positions = np.concatenate(parts) if parts else np.array([], dtype=np.int64)
    frame = state.faceset.faces.iloc[positions].reset_index(drop=True)
    return frame.assign(cluster_id=pd.array(state.face_cluster_ids()[positions].tolist(),
                                            dtype="str"))


class ThumbnailCache:
    """Crops by face id, so going back and forth between picks reads each photo once.

    Parameters
    ----------
    image_root : path or None
        Passed to :func:`toolkit.images.face_thumbnails`.
    size : int, default=THUMBNAIL_SIZE
        Side of the PNGs, in pixels.
    max_faces : int, default=4000
        Crops kept (least recently used go first).
    """

    def __init__(self, image_root: Any, *, size: int = THUMBNAIL_SIZE,
                 max_faces: int = 4000) -> None:
        self.image_root = image_root
        self.size = size
        self.max_faces = max_faces
        self._crops: OrderedDict = OrderedDict()

    def get(self, faces: pd.DataFrame) -> pd.DataFrame:
        """``face_id``, ``status``, ``png`` for the rows of ``faces``, in order."""
        from .. import images

        ids = faces["face_id"].astype(object).tolist()
        todo = [i for i, face in enumerate(ids) if face not in self._crops]
        if todo:
            made = images.face_thumbnails(faces.iloc[todo], self.image_root, size=self.size)
            for face, status, png in zip(made["face_id"].astype(object),
                                         made["status"].astype(object), made["png"]):
                self._crops[face] = (status, png)
        rows = []
        for face in ids:
            self._crops.move_to_end(face)
            status, png = self._crops[face]
            rows.append({"face_id": face, "status": status, "png": png})
        while len(self._crops) > self.max_faces:
            self._crops.popitem(last=False)
        return pd.DataFrame(rows, columns=["face_id", "status", "png"])


def thumbnail_groups(state: ClusterState, to: Any, froms: Sequence[Any], cache: ThumbnailCache,
                     *, n: int) -> tuple[list[dict], list]:
    """The thumbnails to show for a pick, one group per cluster.

    Returns
    -------
    groups : list of dict
        ``role``, ``cluster_id``, ``size`` (faces in the cluster) and
        ``thumbs`` (frame of ``face_id``, ``status``, ``png``; at most ``n``
        rows, chosen by :func:`toolkit.images.pick_thumbnail_faces`).
    absent : list of (str, object)
        Named clusters the state does not have.
    """
    from .. import images

    present, absent = pick_clusters(state, to, froms)
    frame = cluster_faces(state, [cid for _, cid in present])
    groups = []
    for role, cid in present:
        shown = images.pick_thumbnail_faces(frame, cid, n=n)
        groups.append({"role": role, "cluster_id": cid,
                       "size": int(state.counts[state.cluster_index(cid)]),
                       "thumbs": cache.get(shown)})
    return groups, absent


def _img(face_id: Any, status: Any, png: bytes) -> str:
    title = html.escape(f"{face_id} ({status})", quote=True)
    data = base64.b64encode(png).decode("ascii")
    # A placeholder for want of an image_root is no fault of the data: no warning colour.
    border = "#cccccc" if status in ("ok", "no-image-root") else "#D55E00"
    return (f'<img src="data:image/png;base64,{data}" width="{_SHOWN}" height="{_SHOWN}" '
            f'title="{title}" alt="{title}" style="margin:1px;border:1px solid {border}">')


def thumbnails_html(groups: Sequence[dict], absent: Sequence[tuple], *, image_root: Any) -> str:
    """One labelled row of thumbnails per cluster, escaped, with notes on what is missing.

    A face's id and crop status are in its image's tooltip; placeholders get a
    vermillion border (grey for all when ``image_root`` is None, with one note saying how
    to see the faces).
    """
    parts = []
    if image_root is None:
        parts.append(note("No image_root was given, so the faces show as placeholders: pass "
                          "image_root= (the directory holding the photos) to see them."))
    for group in groups:
        thumbs = group["thumbs"]
        label = (f"{group['role']} {group['cluster_id']}: {len(thumbs)} of {group['size']} "
                 f"face{'s' if group['size'] != 1 else ''}")
        bad = thumbs["status"].astype(object).ne("ok")
        if image_root is not None and bad.any():
            counts = thumbs.loc[bad, "status"].astype(str).value_counts().sort_index()
            label += " (placeholders: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")"
        images_ = "".join(_img(f, s, p) for f, s, p in
                          zip(thumbs["face_id"], thumbs["status"], thumbs["png"]))
        parts.append(f'<div style="margin:2px 0"><div style="font-size:12px">'
                     f"{html.escape(label)}</div>{images_}</div>")
    for role, cid in absent:
        parts.append(note(f"{role} {cid} is not a cluster of the working state: no faces to "
                          "show."))
    if not groups and not absent:
        parts.append(note("Pick a destination and sources to see their faces."))
    return "".join(parts)
