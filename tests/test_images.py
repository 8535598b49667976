"""toolkit.images: photo paths, which faces to show, thumbnails cut from hand-made photos."""

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, JpegImagePlugin

import toolkit as tk
from toolkit import FaceSet, RecordError
from toolkit.images import STATUSES, face_thumbnails, image_path, pick_thumbnail_faces
from toolkit.images._geometry import Box, face_boxes, letterbox_size, square_crop

COMMITTED = Path(__file__).resolve().parent.parent / "sample_data"
RED, BLUE, WHITE = (220, 20, 30), (20, 40, 200), (255, 255, 255)
GREY = (217, 217, 217)  # placeholder and letterbox background


# --- helpers --------------------------------------------------------------------------------

def decode(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB")).astype(int)


def centre(png: bytes) -> np.ndarray:
    pixels = decode(png)
    h, w, _ = pixels.shape
    return pixels[h // 2, w // 2]


def png_chunks(png: bytes) -> list[str]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + data)
        out.append(kind.decode())
        pos += 12 + length
    return out


def photo(path: Path, size=(400, 300), squares=(((100, 50, 60, 60), RED),), *, mode="RGB",
          background=WHITE, **save) -> Path:
    """A photo of ``size`` with coloured squares ``((left, top, width, height), colour)``."""
    image = Image.new("RGB", size, background)
    for (left, top, width, height), colour in squares:
        image.paste(colour, (left, top, left + width, top + height))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert(mode).save(path, **save)
    return path


def faces(uris, boxes=None, **columns) -> pd.DataFrame:
    n = len(uris)
    boxes = boxes if boxes is not None else [(100, 50, 60, 60)] * n
    frame = {"face_id": [f"f{i}" for i in range(n)], "cluster_id": ["C1"] * n, "uri": uris}
    for k, name in enumerate(("left", "top", "width", "height")):
        frame[f"boundary_{name}"] = [np.nan if b is None else b[k] for b in boxes]
    return pd.DataFrame({**frame, **columns})


# --- image_path -----------------------------------------------------------------------------

@pytest.fixture
def root(tmp_path):
    r = tmp_path / "photos"
    for rel in ("2024/a.jpg", "bkt/2024/b.jpg", "2024/c.jpg", "bkt/2024/c.jpg", "rel/d.png",
                "bkt2/odd?#.jpg", "with space.jpg"):
        (r / rel).parent.mkdir(parents=True, exist_ok=True)
        (r / rel).write_bytes(b"x")
    return r


@pytest.mark.parametrize("uri, expected", [
    ("oss://bkt/2024/a.jpg", "2024/a.jpg"),          # the key under the root
    ("oss://bkt/2024/b.jpg", "bkt/2024/b.jpg"),      # else bucket/key
    ("oss://bkt/2024/c.jpg", "2024/c.jpg"),          # both exist: the key wins
    ("obs://bkt/2024/b.jpg", "bkt/2024/b.jpg"),      # Huawei OBS, same rule
    ("OSS://bkt/2024/a.jpg", "2024/a.jpg"),          # schemes are case-insensitive
    ("oss://bkt2/odd?#.jpg", "bkt2/odd?#.jpg"),      # '?' and '#' belong to the key
    ("rel/d.png", "rel/d.png"),                       # a relative path joins the root
    ("oss://bkt/2024/none.jpg", None),
    ("oss://bkt", None),                              # no key
    ("oss://bkt/../../etc/passwd", None),             # never climbs out of the root
    ("../photos/rel/d.png", None),
    ("rel/missing.png", None),
])
def test_image_path_rules(root, uri, expected):
    found = image_path(uri, root)
    assert (None if found is None else found.relative_to(root).as_posix()) == expected


def test_absolute_paths_and_file_uris_need_no_root(root):
    absolute = root / "rel" / "d.png"
    assert image_path(str(absolute), None) == absolute
    assert image_path(absolute, root) == absolute            # a Path works too
    assert image_path(absolute.as_uri(), None) == absolute   # file:///...
    assert image_path((root / "with space.jpg").as_uri(), None) == root / "with space.jpg"
    assert image_path("file://otherhost/x.jpg", None) is None
    assert image_path(str(root / "nope.jpg"), None) is None
    # Without a root, keys and relative paths cannot be found.
    assert image_path("oss://bkt/2024/a.jpg", None) is None
    assert image_path("rel/d.png", None) is None


@pytest.mark.parametrize("uri", [None, np.nan, pd.NA, "", "   "])
def test_missing_uri_is_no_path(root, uri):
    assert image_path(uri, root) is None


def test_image_path_rejects_bad_arguments(root):
    with pytest.raises(TypeError, match="`uri` must be a string"):
        image_path(12, root)
    with pytest.raises(TypeError, match="`image_root` must be a directory path or None"):
        image_path("a.jpg", 3)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        image_path("a.jpg", root / "absent")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        image_path("a.jpg", root / "rel" / "d.png")


# --- pick_thumbnail_faces -------------------------------------------------------------------

def test_pick_orders_by_quality_then_face_id_missing_last():
    frame = pd.DataFrame({
        "face_id": ["e", "d", "c", "b", "a", "z"],
        "cluster_id": ["C1", "C1", "C1", "C1", "C1", "C2"],
        "face_quality": [0.5, np.nan, 0.9, 0.5, np.nan, 1.0],
    }, index=[10, 11, 12, 13, 14, 15])
    picked = pick_thumbnail_faces(frame, "C1")
    # 0.9 first; the two 0.5 by face_id (b before e); the missing ones last, by face_id.
    assert picked["face_id"].tolist() == ["c", "b", "e", "a", "d"]
    assert picked.index.tolist() == [12, 13, 10, 14, 11]      # rows of `frame`, labels kept
    pd.testing.assert_frame_equal(picked, frame.loc[picked.index])
    assert pick_thumbnail_faces(frame, "C1", n=2)["face_id"].tolist() == ["c", "b"]


def test_pick_without_quality_goes_by_face_id_and_takes_a_faceset():
    frame = pd.DataFrame({"face_id": ["f10", "f02", "f7"], "cluster_id": ["C", "C", "C"]})
    fs = FaceSet(frame, np.eye(3, dtype=np.float32))
    assert pick_thumbnail_faces(fs, "C", n=8)["face_id"].tolist() == ["f02", "f10", "f7"]


def test_pick_is_independent_of_row_order():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"face_id": [f"f{i:03d}" for i in range(60)],
                          "cluster_id": rng.choice(["A", "B"], 60),
                          "face_quality": rng.choice([0.5, 0.8, np.nan], 60)})
    shuffled = frame.sample(frac=1.0, random_state=1)
    for cluster in ("A", "B"):
        assert (pick_thumbnail_faces(frame, cluster)["face_id"].tolist()
                == pick_thumbnail_faces(shuffled, cluster)["face_id"].tolist())


def test_pick_rejects_unknown_cluster_and_bad_arguments():
    frame = pd.DataFrame({"face_id": ["a"], "cluster_id": ["C1"], "face_quality": ["high"]})
    with pytest.raises(ValueError, match="No face is in cluster 'Cluster-x'"):
        pick_thumbnail_faces(frame, "Cluster-x")
    for n in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="`n` must be an integer of at least 1"):
            pick_thumbnail_faces(frame, "C1", n=n)
    with pytest.raises(RecordError, match="object row 0: wrong type; field 'face_quality'"):
        pick_thumbnail_faces(frame, "C1")
    with pytest.raises(RecordError, match="object: missing required column; field 'cluster_id'"):
        pick_thumbnail_faces(frame.drop(columns="cluster_id"), "C1")
    with pytest.raises(TypeError, match="`faces` must be a faces frame"):
        pick_thumbnail_faces([{"face_id": "a"}], "C1")


# --- geometry -------------------------------------------------------------------------------

@pytest.mark.parametrize("box, image, expected", [
    # side = 60 * (1 + 2 * 0.2) = 84 around the centre (130, 80): 130 - 42 = 88, 80 - 42 = 38.
    (Box(100, 50, 60, 60), (400, 300), (88, 38, 172, 122)),
    # At the left edge the square moves right instead of leaving the photo: side 70 at (0, 0).
    (Box(0, 0, 50, 50), (400, 300), (0, 0, 70, 70)),
    # Larger than the photo: shrunk to its shorter side (200), centred on x = 150.
    (Box(0, 0, 300, 300), (400, 200), (50, 0, 250, 200)),
    # A tall box: its longer side rules, 80 * 1.4 = 112 around (100, 80).
    (Box(80, 40, 40, 80), (200, 300), (44, 24, 156, 136)),
])
def test_square_crop_hand_worked(box, image, expected):
    assert square_crop(box, *image, margin=0.2) == pytest.approx(expected)


def test_letterbox_size_keeps_the_aspect():
    assert letterbox_size(400, 200, 96) == (96, 48)
    assert letterbox_size(30, 3000, 96) == (1, 96)


def test_boxes_from_columns_or_polygon():
    frame = pd.DataFrame({"boundary_left": [1, np.nan, 5, 0], "boundary_top": [2, 3, 5, 0],
                          "boundary_width": [3, 4, 0, np.nan], "boundary_height": [4, 5, 5, 1],
                          "boundary_polygon": [None, '[{"X": 10, "Y": 20}, {"X": 30, "Y": 60}]',
                                               "not json", '[{"X": 1, "Y": 1}]']})
    # Row 0 from the columns; row 1 from the polygon's bounding box; a zero width or a
    # one-point polygon is no box.
    assert face_boxes(frame) == [Box(1, 2, 3, 4), Box(10, 20, 20, 40), None, None]


# --- face_thumbnails ------------------------------------------------------------------------

@pytest.mark.parametrize("size", [8, 33, 96])
@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_crop_centre_shows_the_boxed_square(tmp_path, size, fmt):
    photo(tmp_path / f"p.{fmt}", quality=95)
    out = face_thumbnails(faces([f"oss://bkt/p.{fmt}"]), tmp_path, size=size)
    assert out["status"].tolist() == ["ok"]
    assert out["path"].tolist() == [str(tmp_path / f"p.{fmt}")]
    assert decode(out["png"][0]).shape == (size, size, 3)
    assert np.abs(centre(out["png"][0]) - RED).max() <= 12
    # The 84 px square holds the 60 px face and 12 px of white on each side: corners are white.
    assert np.abs(decode(out["png"][0])[0, 0] - WHITE).max() <= 12


@pytest.mark.parametrize("copy_size", [(200, 150), (200, 300), (800, 600)])
def test_downscaled_copy_gives_the_same_crop(tmp_path, copy_size):
    # Recorded: 400 x 300, a red face at (100, 50, 60, 60) and a blue one beside it.
    squares = (((100, 50, 60, 60), RED), ((170, 50, 60, 60), BLUE))
    photo(tmp_path / "full" / "p.png", squares=squares)
    Image.open(tmp_path / "full" / "p.png").resize(copy_size, Image.Resampling.LANCZOS).save(
        photo(tmp_path / "copy" / "p.png", squares=squares))
    frame = faces(["p.png"], image_width=[400], image_height=[300])
    full = decode(face_thumbnails(frame, tmp_path / "full", size=48)["png"][0])
    copy = decode(face_thumbnails(frame, tmp_path / "copy", size=48)["png"][0])
    assert np.abs(full - copy).mean() < 6
    assert np.abs(copy[24, 24] - RED).max() <= 20
    # Without the recorded size the box is read in the copy's own pixels: another place.
    unscaled = face_thumbnails(frame.drop(columns=["image_width", "image_height"]),
                               tmp_path / "copy", size=48)
    assert np.abs(decode(unscaled["png"][0]) - full).mean() > 20


def test_large_jpeg_decoded_at_reduced_scale_matches_full_decode(tmp_path, monkeypatch):
    # 2400 x 1800 with a 300 px face: the 420 px square needs only 48 px, so the JPEG
    # decoder may scale by 1/8 (300 x 225, the 420 px square becomes 52 px >= 48).
    squares = (((900, 600, 300, 300), RED), ((1000, 700, 100, 100), BLUE))
    photo(tmp_path / "big.jpg", (2400, 1800), squares, quality=95)
    photo(tmp_path / "big.png", (2400, 1800), squares)
    drafted = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def draft(self, mode, size):
        result = real_draft(self, mode, size)
        drafted.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    frame = faces(["big.jpg", "big.png"], [(900, 600, 300, 300)] * 2)
    jpg, png = face_thumbnails(frame, tmp_path, size=48)["png"]
    assert drafted == [(300, 225)]
    assert np.abs(decode(jpg) - decode(png)).mean() < 4
    assert np.abs(decode(jpg)[24, 24] - BLUE).max() <= 25


@pytest.mark.parametrize("recorded, box", [
    ((300, 400), (100, 200, 60, 60)),   # recorded upright: the box in upright pixels
    ((400, 300), (200, 140, 60, 60)),   # recorded as stored: the box in stored pixels
])
def test_exif_orientation(tmp_path, recorded, box):
    # Upright the photo is 300 x 400 with the face at (100, 200); it is stored turned
    # (400 x 300) with EXIF Orientation 6 (turn 90 degrees clockwise to view): the stored
    # pixel (x, y) shows upright (300 - 1 - y, x), so the face sits at (200, 140) stored.
    upright = Image.new("RGB", (300, 400), WHITE)
    upright.paste(RED, (100, 200, 160, 260))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "turned.jpg", quality=95, exif=exif)
    assert Image.open(tmp_path / "turned.jpg").size == (400, 300)
    frame = faces(["turned.jpg"], [box], image_width=[recorded[0]], image_height=[recorded[1]])
    out = face_thumbnails(frame, tmp_path, size=32)
    assert out["status"].tolist() == ["ok"]
    assert np.abs(centre(out["png"][0]) - RED).max() <= 15


def test_statuses_and_placeholders(tmp_path):
    photo(tmp_path / "ok.png")
    (tmp_path / "corrupt.jpg").write_bytes(b"not an image at all")
    good = io.BytesIO()
    Image.new("RGB", (400, 300), RED).save(good, format="JPEG")
    (tmp_path / "truncated.jpg").write_bytes(good.getvalue()[:300])
    frame = faces(["ok.png", "gone.png", "corrupt.jpg", "truncated.jpg", None, "ok.png"],
                  [(100, 50, 60, 60)] * 5 + [None])
    out = face_thumbnails(frame, tmp_path, size=64)
    assert out["status"].tolist() == ["ok", "missing", "unreadable", "unreadable", "no-uri",
                                      "no-boundary"]
    assert set(out["status"]) <= set(STATUSES)
    assert out["path"].tolist() == [str(tmp_path / "ok.png"), None, str(tmp_path / "corrupt.jpg"),
                                    str(tmp_path / "truncated.jpg"), None,
                                    str(tmp_path / "ok.png")]
    pixels = [decode(png) for png in out["png"]]
    assert all(p.shape == (64, 64, 3) for p in pixels)
    # Placeholders: grey, one per reason (they say different words), the same for one reason.
    for i in (1, 2, 4):
        assert tuple(pixels[i][2, 32]) == GREY
    assert out["png"][2] == out["png"][3]
    assert len({out["png"][1], out["png"][2], out["png"][4]}) == 3
    # No boundary: the whole 400 x 300 photo fitted in the square (64 x 48), grey above and below.
    assert tuple(pixels[5][2, 32]) == GREY and tuple(pixels[5][61, 32]) == GREY
    assert np.abs(pixels[5][32, 32] - WHITE).max() <= 3


def test_image_root_none_shows_only_absolute_paths(tmp_path):
    absolute = photo(tmp_path / "abs.png")
    out = face_thumbnails(faces(["oss://bkt/abs.png", str(absolute), absolute.as_uri()]), None)
    assert out["status"].tolist() == ["no-image-root", "ok", "ok"]


def test_each_photo_is_opened_once(tmp_path, monkeypatch):
    photo(tmp_path / "group.png", squares=(((20, 20, 50, 50), RED), ((200, 20, 50, 50), BLUE)))
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(fp) or real_open(fp, *a,
                                                                                         **k))
    # Two URIs naming the same file (key, then bucket-less relative path) count as one photo.
    frame = faces(["oss://bkt/group.png", "group.png", "oss://bkt/group.png"],
                  [(20, 20, 50, 50), (200, 20, 50, 50), (20, 20, 50, 50)])
    out = face_thumbnails(frame, tmp_path, size=24)
    assert len(opened) == 1
    assert [tuple(centre(p)) for p in out["png"]] == [RED, BLUE, RED]


def test_same_input_same_bytes_and_no_ancillary_chunks(tmp_path):
    # A JPEG carrying dpi, an ICC profile and EXIF: none of it may reach the PNG.
    exif = Image.Exif()
    exif[0x0132] = "2024:01:01 10:00:00"  # DateTime
    photo(tmp_path / "meta.jpg", dpi=(300, 300), icc_profile=b"\0" * 128, exif=exif, quality=90)
    frame = faces(["meta.jpg", "missing.jpg", "meta.jpg"], [(100, 50, 60, 60), None, None])
    first = face_thumbnails(frame, tmp_path)
    second = face_thumbnails(frame, tmp_path)
    pd.testing.assert_frame_equal(first, second)
    for png in first["png"]:
        assert set(png_chunks(png)) == {"IHDR", "IDAT", "IEND"}


def test_other_image_modes(tmp_path):
    # RGBA: the transparent part becomes white; L (grey) and P (palette) become RGB.
    rgba = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    rgba.paste((220, 20, 30, 255), (100, 50, 160, 110))
    rgba.save(tmp_path / "alpha.png")
    photo(tmp_path / "grey.png", mode="L")
    photo(tmp_path / "palette.gif", mode="P")
    out = face_thumbnails(faces(["alpha.png", "grey.png", "palette.gif"], [(100, 50, 60, 60),
                                                                          (100, 50, 60, 60),
                                                                          (100, 50, 60, 60)]),
                          tmp_path, size=40)
    assert out["status"].tolist() == ["ok"] * 3
    assert np.abs(decode(out["png"][0])[0, 0] - WHITE).max() <= 3
    assert np.abs(centre(out["png"][0]) - RED).max() <= 3
    grey = int(round(0.299 * RED[0] + 0.587 * RED[1] + 0.114 * RED[2]))   # ITU-R 601-2 luma
    assert np.abs(centre(out["png"][1]) - grey).max() <= 3
    assert np.abs(centre(out["png"][2]) - RED).max() <= 40  # the GIF palette quantises


def test_frame_shape_and_polygon_boxes(tmp_path):
    photo(tmp_path / "p.png")
    frame = pd.DataFrame({
        "face_id": ["a", "b"], "uri": ["p.png", "p.png"],
        "boundary_polygon": ['[{"X": 100, "Y": 50}, {"X": 160, "Y": 110}]', None],
    }, index=[7, 3])
    out = face_thumbnails(frame, tmp_path, size=16)
    assert list(out.columns) == ["face_id", "path", "status", "png"]
    assert isinstance(out.index, pd.RangeIndex) and out["face_id"].tolist() == ["a", "b"]
    assert out["status"].tolist() == ["ok", "no-boundary"]
    assert np.abs(centre(out["png"][0]) - RED).max() <= 3
    empty = face_thumbnails(frame.iloc[:0], tmp_path)
    assert list(empty.columns) == ["face_id", "path", "status", "png"] and len(empty) == 0


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(size=7), ValueError, "`size` must be an integer from 8"),
    (dict(size=96.0), ValueError, "`size` must be an integer from 8"),
    (dict(size=True), ValueError, "`size` must be an integer from 8"),
    (dict(size="96"), ValueError, "`size` must be an integer from 8"),
    (dict(size=5000), ValueError, "`size` must be an integer from 8"),
    (dict(margin=-0.1), ValueError, "`margin` must be a number from 0 to 2"),
    (dict(margin=np.nan), ValueError, "`margin` must be a number from 0 to 2"),
])
def test_bad_options(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        face_thumbnails(faces(["p.png"]), tmp_path, **kwargs)


def test_bad_faces(tmp_path):
    with pytest.raises(RecordError, match="object: missing required column; field 'face_id'; "
                                          "expected a column of face ids"):
        face_thumbnails(pd.DataFrame({"uri": ["a.jpg"]}), tmp_path)
    with pytest.raises(RecordError, match="object row 1: wrong type; field 'uri'"):
        face_thumbnails(faces(["a.jpg", 5]), tmp_path)
    with pytest.raises(RecordError, match="object row 0: wrong type; field 'boundary_width'"):
        face_thumbnails(faces(["a.jpg"]).assign(boundary_width=["wide"]), tmp_path)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        face_thumbnails(faces(["a.jpg"]), tmp_path / "absent")


@settings(deadline=None, max_examples=30)
@given(left=st.integers(-50, 450), top=st.integers(-50, 350), width=st.integers(1, 600),
       height=st.integers(1, 600), size=st.integers(8, 70), margin=st.floats(0, 2))
def test_any_box_gives_a_square_png_of_the_size(tmp_path_factory, left, top, width, height,
                                                 size, margin):
    root = tmp_path_factory.getbasetemp() / "hypothesis_photos"
    if not (root / "p.png").exists():
        photo(root / "p.png")
    out = face_thumbnails(faces(["p.png"], [(left, top, width, height)]), root, size=size,
                          margin=margin)
    assert out["status"].tolist() == ["ok"]
    assert decode(out["png"][0]).shape == (size, size, 3)


# --- package --------------------------------------------------------------------------------

def test_import_toolkit_does_not_import_pil():
    code = ("import sys, toolkit; assert 'PIL' not in sys.modules, 'PIL imported'; "
            "toolkit.images.face_thumbnails; assert 'PIL' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_images_namespace():
    assert tk.images.face_thumbnails is face_thumbnails
    assert sorted(tk.images.__all__) == ["STATUSES", "face_thumbnails", "image_path",
                                         "pick_thumbnail_faces"]


# --- the committed sample data --------------------------------------------------------------

def test_sample_data_thumbnails_of_merged_clusters_are_all_ok():
    if not (COMMITTED / "images").is_dir():
        pytest.fail("sample_data/images is missing: regenerate with "
                    "`python -m toolkit sample-data sample_data --seed 0`")
    fs = tk.read_faces(COMMITTED / "faces.parquet")
    merges = pd.read_csv(COMMITTED / "truth" / "merges.csv", keep_default_na=False)
    named = set(merges["to_cluster"]) | {c for s in merges["source_clusters"] for c in s.split(";")}
    clusters = sorted(named & set(fs.faces["cluster_id"]))
    assert len(clusters) > 40
    picked = pd.concat([pick_thumbnail_faces(fs.faces, c, n=8) for c in clusters])
    out = face_thumbnails(picked, COMMITTED / "images", size=48)
    assert (out["status"] == "ok").all(), out["status"].value_counts()
    # The stored photos are downscaled copies: the recorded size is larger than the file.
    first = Image.open(out["path"][0])
    assert max(first.size) < picked["image_width"].iloc[0]
    # A thumbnail's centre is the drawn face, not the photo's plain background.
    corners = np.array([decode(p)[[0, 0, -1, -1], [0, -1, 0, -1]] for p in out["png"][:40]])
    centres = np.array([centre(p) for p in out["png"][:40]])
    assert (np.abs(centres - corners[:, 0]).sum(axis=1) > 30).mean() > 0.8
