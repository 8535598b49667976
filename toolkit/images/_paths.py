"""``image_path``: where the photo a record names lies on the local disk."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import pandas as pd

__all__ = ["image_path", "resolve", "check_image_root", "needs_root", "is_missing_uri"]

# "oss://", "obs://", "s3://", "file://"...: at least two letters, so a Windows drive
# ("C:\\photos") is never taken for a scheme.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")


def is_missing_uri(uri: Any) -> bool:
    """True for ``None``, NaN, ``pd.NA`` and blank strings."""
    if uri is None:
        return True
    if isinstance(uri, str):
        return not uri.strip()
    try:
        return bool(pd.isna(uri))
    except (TypeError, ValueError):
        return False


def check_image_root(image_root: Any) -> Path | None:
    """``image_root`` as a Path (``None`` stays ``None``); a wrong one raises."""
    if image_root is None:
        return None
    if not isinstance(image_root, (str, os.PathLike)):
        raise TypeError(f"The value for `image_root` must be a directory path or None, but "
                        f"{image_root!r} ({type(image_root).__name__}) was passed.")
    root = Path(image_root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such directory (the `image_root` under which the "
                                "photos are looked up)")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a directory; `image_root` must be the directory "
                                 "the photos are under")
    return root


def _text(uri: Any) -> str:
    if isinstance(uri, os.PathLike):
        return os.fspath(uri)
    if not isinstance(uri, str):
        raise TypeError(f"The value for `uri` must be a string (a URI or a path), but {uri!r} "
                        f"({type(uri).__name__}) was passed.")
    return uri.strip()


def needs_root(uri: Any) -> bool:
    """True when ``uri`` can only be found under an image root (not an absolute local path)."""
    text = _text(uri)
    scheme = _SCHEME.match(text)
    if scheme:
        return scheme.group(1).lower() != "file"
    return not Path(text).is_absolute()


def _relative(parts: str) -> PurePosixPath | None:
    """A key as a relative path, or None when it is empty or climbs out (``..``)."""
    rel = PurePosixPath(parts.lstrip("/"))
    if not rel.parts or ".." in rel.parts:
        return None
    return rel


def _first_file(candidates: list[Path]) -> Path | None:
    for path in candidates:
        if path.is_file():
            return path
    return None


def image_path(uri, image_root=None) -> Path | None:
    """Where the photo named by a record's URI lies on the local disk.

    Cloud records name photos by object-storage URIs; a local copy of the
    bucket may be mirrored with or without the bucket's name as the first
    folder. The rules, in order:

    - ``scheme://bucket/key`` (``oss://`` for Alibaba Cloud, ``obs://`` for
      Huawei; any scheme but ``file``): ``image_root/key``, then
      ``image_root/bucket/key``; the first that is a file wins.
    - ``file://`` URI: the local path it names, as it is (percent-escapes
      decoded); ``image_root`` is not used.
    - an absolute local path: used as it is; ``image_root`` is not used.
    - a relative path: ``image_root/path``.

    A key or relative path that climbs out of ``image_root`` (a ``..``
    part) is never followed.

    Parameters
    ----------
    uri : str or path-like
        The record's URI (the faces frame's ``uri`` column, IMM's ``URI``).
    image_root : str or path-like, default=None
        The directory holding the local copies. With ``None`` only absolute
        paths and ``file://`` URIs can be found.

    Returns
    -------
    path : Path or None
        The photo's file, or ``None`` when the URI is missing (``None``, NaN,
        blank), names no existing file under these rules, or needs
        ``image_root`` and none was given.

    Raises
    ------
    TypeError
        ``uri`` is neither missing, a string nor a path; ``image_root`` is
        not a path.
    FileNotFoundError, NotADirectoryError
        ``image_root`` does not exist or is not a directory.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from toolkit.images import image_path
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "bucket" / "2024").mkdir(parents=True)
    >>> _ = (root / "bucket" / "2024" / "a.jpg").write_bytes(b"...")
    >>> image_path("oss://bucket/2024/a.jpg", root).relative_to(root).as_posix()
    'bucket/2024/a.jpg'
    >>> image_path("oss://bucket/2024/b.jpg", root) is None
    True
    """
    return resolve(uri, check_image_root(image_root))


def resolve(uri, root: Path | None) -> Path | None:
    """:func:`image_path` with ``root`` already checked."""
    if is_missing_uri(uri):
        return None
    text = _text(uri)
    scheme = _SCHEME.match(text)
    if scheme and scheme.group(1).lower() == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            return None  # a file on another host
        return _first_file([Path(url2pathname(unquote(parts.path)))])
    if scheme:
        if root is None:
            return None
        # Split by hand: an object key may hold '?' or '#', which urlsplit would cut off.
        bucket_text, _, key_text = text[scheme.end():].partition("/")
        key = _relative(key_text)
        if key is None:
            return None
        bucket = _relative(bucket_text)
        candidates = [root / key]
        if bucket is not None:
            candidates.append(root / bucket / key)
        return _first_file(candidates)
    local = Path(text)
    if local.is_absolute():
        return _first_file([local])
    if root is None:
        return None
    rel = _relative(local.as_posix())
    return None if rel is None else _first_file([root / rel])
