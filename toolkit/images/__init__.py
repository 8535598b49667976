"""Face thumbnails: find the photos of face records on disk and cut each face out.

- :func:`image_path`: where the photo a record's URI names lies under a local
  ``image_root`` (``oss://`` / ``obs://`` keys with or without the bucket
  folder, relative and absolute paths, ``file://`` URIs).
- :func:`pick_thumbnail_faces`: which faces of a cluster to show, best first.
- :func:`face_thumbnails`: square PNG thumbnails cut by the face box, or a
  placeholder saying why there is none.

Reach them as ``toolkit.images.<name>``. Pillow is imported only when a
thumbnail is drawn, so ``import toolkit`` stays light.

>>> import toolkit as tk
>>> picked = tk.images.pick_thumbnail_faces(faces.faces, "Cluster-1")   # doctest: +SKIP
>>> thumbs = tk.images.face_thumbnails(picked, "photos/")               # doctest: +SKIP
"""

from ._paths import image_path
from ._pick import pick_thumbnail_faces
from ._thumbnails import STATUSES, face_thumbnails

__all__ = ["image_path", "pick_thumbnail_faces", "face_thumbnails", "STATUSES"]
