"""``face_thumbnails``: square PNG crops of faces from their photos, or a placeholder."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import RecordError
from ._frame import faces_frame
from ._geometry import Box, face_boxes, letterbox_size, recorded_sizes, square_crop
from ._paths import check_image_root, is_missing_uri, needs_root, resolve
from ._png import BACKGROUND, placeholder_png, png_bytes

__all__ = ["face_thumbnails", "STATUSES"]

#: Every value of the ``status`` column.
STATUSES = ("ok", "no-boundary", "no-image-root", "no-uri", "missing", "unreadable")
_MAX_SIZE = 4096
# EXIF Orientation values that turn the picture by 90 degrees (width and height swap).
_SWAPPING = (5, 6, 7, 8)
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class _Request:
    """One face to cut from a photo: its row, box and the photo size its record gives."""

    row: int
    box: Box | None
    recorded: tuple[float, float] | None


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) \
            or not 8 <= size <= _MAX_SIZE:
        raise ValueError(f"The value for `size` must be an integer from 8 to {_MAX_SIZE} (the "
                         f"thumbnail's side in pixels), but {size!r} was passed.")
    return int(size)


def _check_margin(margin) -> float:
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) \
            or not math.isfinite(margin) or not 0 <= margin <= 2:
        raise ValueError("The value for `margin` must be a number from 0 to 2 (the share of the "
                         f"face box's longer side added on each side), but {margin!r} was "
                         "passed.")
    return float(margin)


def _rgb(image):
    """The image as RGB; transparent parts become white."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _upright(size: tuple[int, int], orientation: int,
             recorded: tuple[float, float] | None) -> bool:
    """Whether to turn the photo upright by its EXIF orientation before cutting.

    Viewers show photos upright, and so, presumably, does the cloud; but when the
    recorded size only fits the stored (unturned) pixels, the boxes are in those.
    """
    if orientation not in _SWAPPING or recorded is None:
        return True
    width, height = size
    aspect = recorded[0] / recorded[1]
    return abs(math.log(aspect * width / height)) <= abs(math.log(aspect * height / width))


def _decode(path: Path, requests: list[_Request], size: int, margin: float):
    """The photo as upright RGB pixels (decoded once), and its full size in the boxes' frame."""
    from PIL import Image, ImageOps

    recorded = next((r.recorded for r in requests if r.recorded is not None), None)
    with Image.open(path) as image:
        stored = image.size
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
        upright = _upright(stored, orientation, recorded)
        turned = upright and orientation in _SWAPPING
        full = (stored[1], stored[0]) if turned else stored
        # Decode a JPEG at the smallest DCT scale that still gives every crop `size` pixels.
        sides = []
        for r in requests:
            ref = r.recorded or full
            if r.box is None:
                sides.append(max(full))
            else:
                x0, y0, x1, y1 = square_crop(r.box, ref[0], ref[1], margin)
                sides.append(min((x1 - x0) * full[0] / ref[0], (y1 - y0) * full[1] / ref[1]))
        reduce = max(1.0, min(sides) / size)
        if image.format == "JPEG" and reduce >= 2:
            image.draft("RGB", (math.ceil(stored[0] / reduce), math.ceil(stored[1] / reduce)))
        image.load()
        picture = ImageOps.exif_transpose(image) if upright and orientation != 1 else image
        picture = _rgb(picture)
        # Closing the file closes `image` too: keep pixels that outlive it.
        return (picture.copy() if picture is image else picture), full


def _cut_photo(picture, full: tuple[int, int], requests: list[_Request], size: int,
               margin: float) -> list[tuple[str, bytes]]:
    """``(status, png)`` per request, all cut from one decoded photo."""
    from PIL import Image
    from PIL.Image import Resampling

    width, height = picture.size
    out = []
    for r in requests:
        ref = r.recorded or full
        if r.box is None:
            fitted = picture.resize(letterbox_size(width, height, size), Resampling.LANCZOS)
            canvas = Image.new("RGB", (size, size), BACKGROUND)
            canvas.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
            out.append(("no-boundary", png_bytes(canvas)))
            continue
        # Squared in the recorded frame, then scaled per axis: a copy shrunk more along one
        # axis gives the same thumbnail as the original.
        sx, sy = width / ref[0], height / ref[1]
        x0, y0, x1, y1 = square_crop(r.box, ref[0], ref[1], margin)
        crop = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
        out.append(("ok", png_bytes(picture.resize((size, size), Resampling.LANCZOS, box=crop))))
    return out


def _unreadable_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image

    # OSError covers UnidentifiedImageError and truncated data; the others are what
    # damaged headers raise inside the decoders.
    return (OSError, ValueError, SyntaxError, EOFError, IndexError, Image.DecompressionBombError)


def face_thumbnails(faces, image_root, *, size: int = 96, margin: float = 0.2) -> pd.DataFrame:
    """Square PNG thumbnails of faces, cut from their photos by the face box.

    Each face's box (IMM's ``Boundary``: ``boundary_left``, ``boundary_top``,
    ``boundary_width``, ``boundary_height``, pixels of the photo as recorded)
    is enlarged by ``margin`` of its longer side on each side, made square
    around its centre, shrunk to the photo's shorter side if larger and moved
    inside the photo (never squeezed), then resized to ``size`` x ``size``
    (Lanczos). The photo is found with :func:`image_path` from the ``uri``
    column; each photo is opened and decoded once per call, however many of
    its faces are asked for (a JPEG is decoded at a reduced DCT scale when
    every crop still gets ``size`` pixels).

    Downscaled local copies: when the frame has ``image_width`` /
    ``image_height`` (the photo's size as recorded) and the file's size
    differs, the square is laid out in the recorded frame and scaled by file
    size / recorded size on each axis, so a copy shrunk more along one axis
    still gives the thumbnail the original would. Without them the box is
    taken in the file's own pixels. A photo with an
    EXIF orientation is turned upright first, unless the recorded size only
    fits the stored, unturned pixels.

    Parameters
    ----------
    faces : DataFrame or FaceSet
        A faces frame (``FaceSet.faces``, or a selection such as
        :func:`pick_thumbnail_faces` returns) with ``face_id``; ``uri``,
        the box columns (or ``boundary_polygon``, whose bounding box is used
        when the box columns are missing), ``image_width`` and
        ``image_height`` when known.
    image_root : str, path-like or None
        The directory holding local copies of the photos, see
        :func:`image_path`. ``None``: only absolute paths and ``file://``
        URIs can be shown.
    size : int, default=96
        The thumbnails' side in pixels, 8 to 4096.
    margin : float, default=0.2
        Share of the box's longer side added on each side, 0 to 2 (0.2: the
        square is 1.4 times the box's longer side).

    Returns
    -------
    thumbnails : DataFrame of shape (n_faces, 4)
        One row per row of ``faces``, same order, index 0..n-1:

        - ``face_id`` (str);
        - ``path`` (str, or None when no file was found): the photo used;
        - ``status`` (str): ``"ok"`` (the crop); ``"no-boundary"`` (the face
          has no usable box: the whole photo, fitted inside the square on
          grey); ``"no-image-root"`` (the URI needs ``image_root`` and it is
          None); ``"no-uri"`` (no URI); ``"missing"`` (no such file);
          ``"unreadable"`` (the file is not an image PIL can decode);
        - ``png`` (bytes): always a valid ``size`` x ``size`` RGB PNG, the
          thumbnail or a grey placeholder naming the reason. The same inputs
          give the same bytes.

    Raises
    ------
    ValueError
        ``size`` or ``margin`` out of range.
    RecordError
        ``faces`` has no ``face_id`` column; a ``uri`` that is not a string;
        box or size values that are not numbers.
    FileNotFoundError, NotADirectoryError
        ``image_root`` does not exist or is not a directory.

    Examples
    --------
    >>> import os, tempfile, pandas as pd
    >>> from PIL import Image
    >>> from toolkit.images import face_thumbnails
    >>> root = tempfile.mkdtemp()
    >>> Image.new("RGB", (400, 300), "white").save(os.path.join(root, "a.jpg"))
    >>> faces = pd.DataFrame({"face_id": ["f1", "f2"], "uri": ["oss://bkt/a.jpg", None],
    ...                       "boundary_left": [100, 10], "boundary_top": [50, 10],
    ...                       "boundary_width": [80, 20], "boundary_height": [100, 20]})
    >>> thumbs = face_thumbnails(faces, root, size=64)
    >>> thumbs["status"].tolist()
    ['ok', 'no-uri']
    >>> Image.open(__import__("io").BytesIO(thumbs["png"][0])).size
    (64, 64)
    """
    frame = faces_frame(faces, ("face_id",))
    size = _check_size(size)
    margin = _check_margin(margin)
    root = check_image_root(image_root)
    n = len(frame)
    uris = frame["uri"].to_numpy(dtype=object) if "uri" in frame.columns else np.full(n, None)
    boxes = face_boxes(frame)
    widths, heights = recorded_sizes(frame)

    status: list[str | None] = [None] * n
    paths: list[str | None] = [None] * n
    pngs: list[bytes | None] = [None] * n
    photos: dict[str, list[_Request]] = {}
    for i, uri in enumerate(uris):
        if is_missing_uri(uri):
            status[i] = "no-uri"
            continue
        if not isinstance(uri, str):
            raise RecordError(f"object row {i}", "wrong type", field="uri",
                              expected="a URI string or missing", got=uri)
        if root is None and needs_root(uri):
            status[i] = "no-image-root"
            continue
        path = resolve(uri, root)
        if path is None:
            status[i] = "missing"
            continue
        paths[i] = str(path)
        known = math.isfinite(widths[i]) and math.isfinite(heights[i])
        photos.setdefault(paths[i], []).append(
            _Request(i, boxes[i], (float(widths[i]), float(heights[i])) if known else None))

    if photos:
        errors = _unreadable_errors()
        for path, requests in photos.items():
            try:
                picture, full = _decode(Path(path), requests, size, margin)
            except errors:
                cut = [("unreadable", None)] * len(requests)
            else:
                cut = _cut_photo(picture, full, requests, size, margin)
            for r, (state, png) in zip(requests, cut):
                status[r.row], pngs[r.row] = state, png

    placeholders: dict[str, bytes] = {}
    for i in range(n):
        if pngs[i] is None:
            if status[i] not in placeholders:
                placeholders[status[i]] = placeholder_png(status[i], size)
            pngs[i] = placeholders[status[i]]
    return pd.DataFrame({
        "face_id": pd.Series(frame["face_id"].to_numpy(dtype=object), dtype="str"),
        "path": pd.Series(paths, dtype=object),
        "status": pd.Series(status, dtype="str"),
        "png": pd.Series(pngs, dtype=object),
    }, index=pd.RangeIndex(n))
