"""Photos: which faces share a file, when it was taken, where each face sits.

Every family has a run of photo slots, as many as its most photographed
member has faces; each member's faces are spread over the run at distinct
slots, so a person appears at most once per photo and relatives (look-alike
siblings too) share many photos. Some faces get a photo of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._clock import HOUR, MINUTE, Timeline
from ._ids import hex_ids
from ._population import Population

__all__ = ["Photos", "take_photos", "BUCKET"]

BUCKET = "family-photos-bucket"
_SOLO_SHARE = 0.15
_RECENT_SHARE = 0.025  # photos added after the clustering run: faces not clustered yet
_IMAGE_SIZES = np.array([[4032, 3024], [3024, 4032], [1920, 1080]])
_IMAGE_SIZE_P = [0.6, 0.3, 0.1]


@dataclass(frozen=True)
class Photos:
    """Photo of each face, and the photos (in the order they were taken).

    Attributes
    ----------
    face_photo : ndarray of shape (n_faces,), int64
        Row of ``files`` holding each face.
    face_slot : ndarray of shape (n_faces,), int64
        Position of the face in its photo, left to right, from 0.
    files : DataFrame
        ``file_id``, ``uri``, ``width``, ``height``, ``created`` (int ns),
        ``recent`` (added after the clustering run), ``n_faces``.
    """

    face_photo: np.ndarray
    face_slot: np.ndarray
    files: pd.DataFrame


def _rank_within(groups: np.ndarray, key: np.ndarray) -> np.ndarray:
    """0-based rank of each element within its group, ordered by ``key``."""
    order = np.lexsort((key, groups))
    sorted_groups = groups[order]
    first = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]
    starts = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - starts
    return rank


def take_photos(rng: np.random.Generator, pop: Population, timeline: Timeline) -> Photos:
    n, ids = pop.n_faces, pop.face_identity
    sizes = pop.identities["n_faces"].to_numpy()
    family_of = pop.identities["family"].to_numpy()
    run = np.zeros(int(family_of.max()) + 1, dtype=np.int64)
    np.maximum.at(run, family_of, sizes)
    # Stretching ranks by run / size >= 1 keeps one person's slots distinct.
    stretch = run[family_of] / sizes
    rank = _rank_within(ids, rng.random(n))
    slot = np.floor((rank + rng.random(pop.n_identities)[ids]) * stretch[ids]).astype(np.int64)
    family = family_of[ids]
    solo = rng.random(n) < _SOLO_SHARE
    key = np.where(solo, -1 - np.arange(n), family * (int(slot.max()) + 1) + slot)
    _, photo = np.unique(key, return_inverse=True)
    n_photos = int(photo.max()) + 1

    recent = rng.random(n_photos) < _RECENT_SHARE
    old_time = timeline.photos_from + (rng.random(n_photos)
                                       * (timeline.clustering_start - HOUR - timeline.photos_from))
    span = timeline.export_at - timeline.clustering_end - 15 * MINUTE
    new_time = timeline.clustering_end + 10 * MINUTE + rng.random(n_photos) * span
    created = np.where(recent, new_time, old_time).astype(np.int64)
    # Photo rows in the order they were taken.
    by_time = np.argsort(created, kind="stable")
    new_index = np.empty(n_photos, dtype=np.int64)
    new_index[by_time] = np.arange(n_photos)
    photo = new_index[photo]
    created, recent = created[by_time], recent[by_time]

    image = _IMAGE_SIZES[rng.choice(len(_IMAGE_SIZES), n_photos, p=_IMAGE_SIZE_P)]
    stamp = pd.DatetimeIndex(pd.to_datetime(created, unit="ns", utc=True))
    names = pd.Series(stamp.strftime("%Y/%m/IMG_%Y%m%d_%H%M%S"), dtype="str")
    seq = pd.Series(np.arange(n_photos) % 10000, dtype="int64").astype("str").str.zfill(4)
    uri = f"oss://{BUCKET}/" + names + "_" + seq + ".jpg"
    files = pd.DataFrame({
        "file_id": pd.array(hex_ids(rng, n_photos), dtype="str"),
        "uri": pd.array(uri.to_numpy(), dtype="str"),
        "width": image[:, 0].astype(np.int64),
        "height": image[:, 1].astype(np.int64),
        "created": created,
        "recent": recent,
        "n_faces": np.bincount(photo, minlength=n_photos).astype(np.int64),
    })
    face_slot = _rank_within(photo, rng.random(n))
    return Photos(photo, face_slot, files)
