"""Generated portrait photos for the faces the demo shows as thumbnails.

Each photo is a plain background with, at every face's Boundary, a simple
drawn face (hair, head, eyes, brows, nose, mouth; glasses and masks where the
figure attributes say so). A person's colours and shapes come from their
identity alone, so one person looks alike in every photo; a look-alike
sibling starts from the other sibling's look with small changes. Photos vary
a little: light, clothes, where the eyes look. Blurred faces (low
``sharpness``) are drawn blurred. Photos are stored downscaled (longest side
:data:`STORED_SIDE` px) as JPEG; the records keep the full size, as a local
copy of a cloud album would.

Random draws come from generators of their own (seed, 200 + part, ...), never
from the streams the rest of the sample data is drawn from.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from ._faces import DATASET, World
from ._merges import MergeTask

__all__ = ["portrait_files", "thumbnail_photos", "STORED_SIDE", "IMAGES_DIR",
           "THUMBNAILS_PER_CLUSTER"]

#: Longest side of a stored photo, in pixels.
STORED_SIDE = 560
#: Where the photos go, relative to the sample data directory: ``images/<oss key>``.
IMAGES_DIR = "images"
#: Faces per cluster the demo shows (``pick_thumbnail_faces(..., n=8)``).
THUMBNAILS_PER_CLUSTER = 8
_JPEG_QUALITY = 70
_SUPERSAMPLE = 2  # drawn at twice the stored size, then reduced: smooth edges
# Independent streams: 200 + part (never the record streams 0-99 and 100-104).
_LOOK_STREAM, _FAMILY_STREAM, _PHOTO_STREAM = 200, 201, 202

_SKIN = np.array([[255, 224, 196], [241, 194, 160], [224, 172, 128], [198, 134, 96],
                  [161, 102, 66], [118, 74, 48]], dtype=float)
_HAIR = np.array([[30, 24, 20], [70, 45, 30], [120, 80, 45], [190, 150, 90], [150, 60, 30],
                  [40, 40, 45]], dtype=float)
_GREY_HAIR = np.array([175, 172, 168], dtype=float)
_EYES = np.array([[60, 40, 25], [70, 100, 140], [80, 110, 70], [40, 30, 25]], dtype=float)
_BACKDROPS = np.array([[214, 226, 236], [236, 226, 208], [222, 236, 220], [238, 220, 226],
                       [226, 224, 238], [206, 214, 214], [240, 236, 224]], dtype=float)


@dataclass(frozen=True)
class _Look:
    """What stays the same in every photo of one person (sizes relative to the face box)."""

    skin: np.ndarray
    hair: np.ndarray
    eyes: np.ndarray
    hair_style: int       # 0 short, 1 long, 2 receding, 3 bun
    head_width: float     # share of the box width the head fills
    eye_gap: float        # half the distance between the eyes, share of box width
    eye_size: float
    mouth_width: float
    brow_tilt: float


def _clip(colour: np.ndarray) -> np.ndarray:
    return np.clip(colour, 0, 255)


def _own_look(seed: int, row: int, family_skin: np.ndarray, age: int, gender: str) -> _Look:
    rng = np.random.default_rng([seed, _LOOK_STREAM, row])
    hair = _HAIR[rng.integers(len(_HAIR))] + rng.normal(0, 8, 3)
    if age >= 60:
        hair = 0.25 * hair + 0.75 * _GREY_HAIR
    long_share = 0.7 if gender == "female" else 0.15
    style = 1 if rng.random() < long_share else (2 if age >= 50 and rng.random() < 0.5
                                                 else int(rng.choice([0, 3])))
    return _Look(
        skin=_clip(family_skin + rng.normal(0, 7, 3)),
        hair=_clip(hair),
        eyes=_EYES[rng.integers(len(_EYES))],
        hair_style=style,
        head_width=float(rng.uniform(0.74, 0.9) + (0.05 if age < 12 else 0.0)),
        eye_gap=float(rng.uniform(0.15, 0.21)),
        eye_size=float(rng.uniform(0.055, 0.08)),
        mouth_width=float(rng.uniform(0.16, 0.26)),
        brow_tilt=float(rng.uniform(-0.03, 0.03)),
    )


def _sibling_look(seed: int, row: int, base: _Look) -> _Look:
    """The other sibling's look, slightly changed: similar, not the same."""
    rng = np.random.default_rng([seed, _LOOK_STREAM, row])
    return _Look(skin=_clip(base.skin + rng.normal(0, 5, 3)),
                 hair=_clip(base.hair + rng.normal(0, 12, 3)), eyes=base.eyes,
                 hair_style=base.hair_style,
                 head_width=base.head_width + float(rng.uniform(-0.04, 0.04)),
                 eye_gap=base.eye_gap + float(rng.uniform(-0.015, 0.015)),
                 eye_size=base.eye_size, mouth_width=base.mouth_width
                 + float(rng.uniform(-0.03, 0.03)), brow_tilt=-base.brow_tilt)


def _looks(world: World) -> dict[str, _Look]:
    """Look of every identity; siblings derive from the first-listed of their pair."""
    ids = world.population.identities
    names = ids["identity"].to_numpy(dtype=str)
    row_of = {name: i for i, name in enumerate(names)}
    families = ids["family"].to_numpy()
    skins = {int(f): _SKIN[np.random.default_rng([world.seed, _FAMILY_STREAM, int(f)])
                           .integers(len(_SKIN))] for f in np.unique(families)}
    looks: dict[str, _Look] = {}
    for i, name in enumerate(names):
        looks[name] = _own_look(world.seed, i, skins[int(families[i])], int(ids["age"].iloc[i]),
                                str(ids["gender"].iloc[i]))
    for i, (name, other) in enumerate(zip(names, ids["lookalike_of"].to_numpy(dtype=object))):
        if isinstance(other, str) and row_of[other] < i:
            looks[name] = _sibling_look(world.seed, i, looks[other])
    return looks


def _rgb(colour: np.ndarray, light: float = 1.0) -> tuple[int, int, int]:
    return tuple(int(round(v)) for v in _clip(np.asarray(colour) * light))


def _draw_face(draw, box: tuple[float, float, float, float], look: _Look, face: dict,
               rng: np.random.Generator, light: float, bottom: float) -> None:
    x, y, w, h = box
    cx = x + w / 2
    # The head turns: features shift sideways with the yaw (degrees), at most a fifth of the box.
    shift = float(np.clip(face["head_pose_yaw"] / 90.0, -1, 1)) * 0.2 * w
    skin, hair = _rgb(look.skin, light), _rgb(look.hair, light)
    shirt = _rgb(rng.uniform(40, 220, 3), light)
    half = look.head_width * w / 2
    # Shoulders and neck first, so the head covers them.
    draw.chord((cx - 1.25 * w, y + 0.92 * h, cx + 1.25 * w, y + 2.3 * h), 180, 360, fill=shirt)
    draw.rectangle((cx - 1.25 * w, y + 1.61 * h, cx + 1.25 * w, bottom), fill=shirt)
    draw.rectangle((cx - 0.17 * w, y + 0.8 * h, cx + 0.17 * w, y + 1.05 * h),
                   fill=_rgb(look.skin, 0.9 * light))
    if look.hair_style == 1:  # long hair falls behind the head
        draw.rounded_rectangle((cx - half * 1.18, y - 0.02 * h, cx + half * 1.18, y + 1.12 * h),
                               radius=0.45 * w, fill=hair)
    if look.hair_style == 3:  # a bun on top
        draw.ellipse((cx - 0.2 * w, y - 0.2 * h, cx + 0.2 * w, y + 0.12 * h), fill=hair)
    draw.ellipse((cx - half, y + 0.04 * h, cx + half, y + 0.98 * h), fill=skin)
    ear = 0.09 * w
    for side in (-1, 1):
        ex = cx + side * half
        draw.ellipse((ex - ear, y + 0.42 * h, ex + ear, y + 0.6 * h), fill=skin)
    top = {0: 0.36, 1: 0.34, 2: 0.22, 3: 0.34}[look.hair_style]
    draw.chord((cx - half * 1.04, y - 0.02 * h, cx + half * 1.04, y + 2 * top * h), 180, 360,
               fill=hair)

    ey = y + 0.46 * h + rng.uniform(-0.01, 0.01) * h
    r = look.eye_size * w
    gaze = rng.uniform(-0.3, 0.3) * r
    for side in (-1, 1):
        ex = cx + shift + side * look.eye_gap * w
        draw.ellipse((ex - 1.5 * r, ey - r, ex + 1.5 * r, ey + r), fill=(250, 250, 250))
        draw.ellipse((ex + gaze - 0.8 * r, ey - 0.8 * r, ex + gaze + 0.8 * r, ey + 0.8 * r),
                     fill=_rgb(look.eyes))
        tilt = side * look.brow_tilt * h
        draw.line((ex - 1.8 * r, ey - 2.1 * r - tilt, ex + 1.8 * r, ey - 2.1 * r + tilt),
                  fill=hair, width=max(1, int(0.35 * r)))
    draw.line((cx + 1.3 * shift, ey + 0.5 * r, cx + 1.3 * shift - 0.03 * w, y + 0.66 * h),
              fill=_rgb(look.skin, 0.75 * light), width=max(1, int(0.3 * r)))

    my, half_mouth = y + 0.78 * h, look.mouth_width * w / 2
    lips = _rgb(np.array([170, 70, 70]), light)
    if face["emotion"] == "happiness":
        draw.arc((cx + shift - half_mouth, my - 0.08 * h, cx + shift + half_mouth, my + 0.05 * h),
                 15, 165, fill=lips, width=max(1, int(0.35 * r)))
    else:
        draw.line((cx + shift - half_mouth, my, cx + shift + half_mouth, my), fill=lips,
                  width=max(1, int(0.3 * r)))

    if face["glasses"] in ("glasses", "sunglasses"):
        dark = face["glasses"] == "sunglasses"
        for side in (-1, 1):
            ex = cx + shift + side * look.eye_gap * w
            draw.ellipse((ex - 2 * r, ey - 1.6 * r, ex + 2 * r, ey + 1.6 * r),
                         fill=(25, 25, 30) if dark else None, outline=(30, 30, 30),
                         width=max(1, int(0.3 * r)))
        draw.line((cx + shift - look.eye_gap * w + 2 * r, ey, cx + shift + look.eye_gap * w
                   - 2 * r, ey), fill=(30, 30, 30), width=max(1, int(0.3 * r)))
    if face["mask"] == "mask":
        draw.rounded_rectangle((cx - half * 0.92, y + 0.6 * h, cx + half * 0.92, y + 0.94 * h),
                               radius=0.1 * w, fill=(190, 215, 235))


def _photo_jpeg(faces: list[dict], width: int, height: int, looks: dict[str, _Look],
                seed: int, photo_row: int) -> bytes:
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng([seed, _PHOTO_STREAM, photo_row])
    scale = STORED_SIDE / max(width, height)
    stored = (max(1, round(width * scale)), max(1, round(height * scale)))
    big = (stored[0] * _SUPERSAMPLE, stored[1] * _SUPERSAMPLE)
    light = float(rng.uniform(0.88, 1.06))
    backdrop = _rgb(_BACKDROPS[rng.integers(len(_BACKDROPS))] + rng.normal(0, 6, 3), light)
    image = Image.new("RGB", big, backdrop)
    draw = ImageDraw.Draw(image)
    s = scale * _SUPERSAMPLE
    for face in faces:
        box = (face["boundary_left"] * s, face["boundary_top"] * s,
               face["boundary_width"] * s, face["boundary_height"] * s)
        _draw_face(draw, box, looks[face["identity"]], face, rng, light, big[1])
    # A 2x2 box average: smooth edges at a fraction of a Lanczos resize's cost.
    image = image.reduce(_SUPERSAMPLE)
    for face in faces:
        # Low sharpness: the face is blurred in the photo too.
        blur = (0.7 - float(face["sharpness"])) * 6.0
        if blur > 0.3:
            x0 = max(0, int(face["boundary_left"] * scale) - 4)
            y0 = max(0, int(face["boundary_top"] * scale) - 4)
            x1 = min(stored[0], int((face["boundary_left"] + face["boundary_width"]) * scale) + 5)
            y1 = min(stored[1], int((face["boundary_top"] + face["boundary_height"]) * scale) + 5)
            if x1 > x0 and y1 > y0:
                region = image.crop((x0, y0, x1, y1)).filter(ImageFilter.GaussianBlur(blur))
                image.paste(region, (x0, y0))
    buffer = io.BytesIO()
    # Baseline, not progressive: smaller for these flat pictures.
    image.save(buffer, format="JPEG", quality=_JPEG_QUALITY, optimize=True, subsampling=2)
    return buffer.getvalue()


def thumbnail_photos(world: World, merges: list[MergeTask]) -> list[str]:
    """The ``file_id`` of every photo holding a face the demo shows for a merged cluster.

    The clusters are those named (as destination or source) by a merge task of
    the album's dataset that exist in the faces; the faces, those
    ``pick_thumbnail_faces(faces, cluster, n=8)`` returns. Photos in the order
    they were taken.
    """
    from ..images import pick_thumbnail_faces

    faces = world.faces
    present = set(faces["cluster_id"].dropna())
    named = dict.fromkeys(c for t in merges if t.dataset == DATASET for c in [t.to, *t.sources])
    wanted: set[str] = set()
    for cluster in named:
        if cluster in present:
            picked = pick_thumbnail_faces(faces, cluster, n=THUMBNAILS_PER_CLUSTER)
            wanted.update(picked["file_id"])
    files = world.photos.files["file_id"].to_numpy(dtype=str)
    return [f for f in files if f in wanted]


def portrait_files(world: World, merges: list[MergeTask]) -> dict[str, tuple[bytes, int]]:
    """``images/<key>`` -> (JPEG bytes, faces drawn) for :func:`thumbnail_photos`."""
    files = world.photos.files
    chosen = set(thumbnail_photos(world, merges))
    faces = world.faces.to_dict("records")
    rows_of: dict[str, list[dict]] = {}
    for face in faces:
        rows_of.setdefault(face["file_id"], []).append(face)
    looks = _looks(world)
    out: dict[str, tuple[bytes, int]] = {}
    for row, (file_id, uri, width, height) in enumerate(zip(
            files["file_id"].to_numpy(dtype=str), files["uri"].to_numpy(dtype=str),
            files["width"].to_numpy(), files["height"].to_numpy())):
        if file_id not in chosen:
            continue
        records = rows_of[file_id]
        key = uri.split("://", 1)[1].split("/", 1)[1]
        out[f"{IMAGES_DIR}/{key}"] = (_photo_jpeg(records, int(width), int(height), looks,
                                                  world.seed, row), len(records))
    return out
