"""The deterministic sample-data generator (toolkit.sampledata) and the committed sample_data/."""

import io
import json
import re
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.metrics.pairwise import cosine_similarity

from toolkit import FaceSet, NO_CLUSTER_IDS, read_faces
from toolkit.cli import main
from toolkit.images import face_thumbnails, pick_thumbnail_faces
from toolkit.sampledata import generate_faces, make_sample_data

COMMITTED = Path(__file__).resolve().parent.parent / "sample_data"
HUAWEI_ID = re.compile(r"^[a-z0-9-_]{4,36}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
SMALL = dict(n_faces=900, n_identities=30)


# --- helpers --------------------------------------------------------------------------------

def _read(path: Path):
    """A written file's content: parsed JSON, a list for JSON lines, frames for CSV/Parquet."""
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if path.suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        return frame.drop(columns=["embedding"]), np.stack(frame["embedding"].to_numpy())
    if path.suffix == ".jpg":
        return path.read_bytes()
    return path.read_text()


def _content(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): _read(p)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_same_content(a: dict, b: dict, *, atol: float = 0.0) -> None:
    assert sorted(a) == sorted(b)
    for rel in a:
        if rel.endswith(".parquet"):
            pd.testing.assert_frame_equal(a[rel][0], b[rel][0])
            np.testing.assert_allclose(a[rel][1].astype(np.float32),
                                       b[rel][1].astype(np.float32), rtol=2e-3, atol=atol)
        elif rel.endswith(".csv"):
            pd.testing.assert_frame_equal(a[rel], b[rel])
        elif rel.endswith(".jpg") and atol:
            # Another JPEG library may round differently: the pictures must still agree.
            pixels = [np.asarray(Image.open(io.BytesIO(a[rel])), dtype=float),
                      np.asarray(Image.open(io.BytesIO(b[rel])), dtype=float)]
            assert pixels[0].shape == pixels[1].shape, rel
            assert np.abs(pixels[0] - pixels[1]).mean() < 2, rel
        else:
            assert a[rel] == b[rel], rel


def _identity_sums(faces: pd.DataFrame, X: np.ndarray):
    codes, inv = np.unique(faces["identity"].to_numpy(dtype=str), return_inverse=True)
    sums = np.zeros((len(codes), X.shape[1]))
    np.add.at(sums, inv, X.astype(np.float64))
    return codes, inv, sums, np.bincount(inv)


def _mean_cosines(faces: pd.DataFrame, X: np.ndarray) -> tuple[float, float]:
    """Mean cosine over pairs of distinct faces of one person, and of different people.

    For unit rows, the sum of x_i . x_j over ordered pairs inside a group is
    |S|^2 - n (the n self-pairs contribute 1 each).
    """
    _, _, sums, n = _identity_sums(faces, X)
    sq = (sums ** 2).sum(axis=1)
    within = (sq - n).sum() / (n * (n - 1)).sum()
    total = sums.sum(axis=0)
    between = (total @ total - sq.sum()) / (len(X) ** 2 - (n ** 2).sum())
    return float(within), float(between)


def _majority(faces: pd.DataFrame) -> dict:
    clustered = faces[~faces["cluster_id"].isin(NO_CLUSTER_IDS)]
    counts = clustered.groupby(["cluster_id", "identity"]).size().rename("n").reset_index()
    counts = counts.sort_values(["cluster_id", "n", "identity"], ascending=[True, False, True])
    return dict(counts.drop_duplicates("cluster_id")[["cluster_id", "identity"]].to_numpy())


def _walk(value):
    """Every string inside a JSON value, decoding JSON text held in strings once."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    elif isinstance(value, str):
        yield value
        if value.startswith("{"):
            yield from _walk(json.loads(value))


def _holds_vector(value) -> bool:
    if isinstance(value, dict):
        return any(_holds_vector(v) for v in value.values())
    if isinstance(value, list):
        if len(value) >= 32 and all(isinstance(v, float) for v in value):
            return True
        return any(_holds_vector(v) for v in value)
    return False


@pytest.fixture(scope="module")
def small():
    faces, X, identities = generate_faces(**SMALL, dim=64, seed=11, return_identities=True)
    return faces, X, identities


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The default sample data (seed 0), written once for this module."""
    root = tmp_path_factory.mktemp("sample_data")
    manifest = make_sample_data(root, seed=0)
    return root, manifest, _content(root)


# --- generate_faces -------------------------------------------------------------------------

def test_generate_faces_returns_aligned_unit_float32_rows(small):
    faces, X, identities = small
    assert X.dtype == np.float32 and X.shape == (SMALL["n_faces"], 64)
    assert np.linalg.norm(X, axis=1) == pytest.approx(np.ones(len(X)), abs=1e-5)
    assert faces["face_id"].is_unique
    assert all(uuid.UUID(f).version == 4 for f in faces["face_id"])
    assert (faces["norm"] > 10).all() and (faces["norm"] < 35).all()
    assert len(FaceSet(faces, X)) == SMALL["n_faces"]
    assert len(identities) == SMALL["n_identities"]
    assert identities["n_faces"].sum() == SMALL["n_faces"]
    assert set(identities["identity"]) == set(faces["identity"])


def test_generate_faces_same_seed_same_output_and_other_seed_differs():
    a_faces, a_X = generate_faces(300, 12, dim=16, seed=4)
    b_faces, b_X = generate_faces(300, 12, dim=16, seed=4)
    c_faces, c_X = generate_faces(300, 12, dim=16, seed=5)
    pd.testing.assert_frame_equal(a_faces, b_faces)
    np.testing.assert_array_equal(a_X, b_X)
    assert not a_faces["face_id"].equals(c_faces["face_id"])
    assert not np.array_equal(a_X, c_X)


def test_identity_sizes_follow_a_power_law(small):
    _, _, identities = small
    sizes = np.sort(identities["n_faces"].to_numpy())[::-1]
    # Zipf-like with exponent 0.75: the largest of 30 people is about 30 ** 0.75 ~ 13 times the
    # smallest; the top 20% of people hold close to half of the faces.
    assert sizes[0] >= 6 * sizes[-1]
    assert sizes[: len(sizes) // 5].sum() >= 0.35 * sizes.sum()


@pytest.mark.parametrize("model", ["default", "anisotropic"])
@pytest.mark.parametrize("scale, between_range, min_gap", [
    ("standard", (-0.2, 0.2), 0.4),
    ("compressed", (0.8, 0.95), 0.05),
])
def test_similarity_scale(scale, between_range, min_gap, model):
    faces, X = generate_faces(600, 20, dim=128, seed=2, similarity_scale=scale, model=model)
    # scikit-learn as the independent computation of every pairwise cosine.
    sim = cosine_similarity(X)
    same = faces["identity"].to_numpy()[:, None] == faces["identity"].to_numpy()[None, :]
    off_diagonal = ~np.eye(len(X), dtype=bool)
    within, between = sim[same & off_diagonal].mean(), sim[~same].mean()
    assert between_range[0] < between < between_range[1]
    assert within > between + min_gap
    assert (within, between) == pytest.approx(_mean_cosines(faces, X), abs=1e-5)


def test_standard_scale_same_person_mostly_between_half_and_09(small):
    faces, X, _ = small
    good = faces["face_quality"].to_numpy() > 0.8
    sim = cosine_similarity(X[good])
    ident = faces["identity"].to_numpy()[good]
    same = (ident[:, None] == ident[None, :]) & ~np.eye(len(ident), dtype=bool)
    assert np.median(sim[same]) == pytest.approx(0.65, abs=0.1)
    assert np.quantile(sim[same], 0.9) < 0.9  # spread, not collapsed onto one point
    assert np.quantile(sim[~same], 0.99) < 0.4  # strangers stay low


@pytest.mark.parametrize("scale", ["standard", "compressed"])
def test_lookalike_pairs_between_strangers_and_same_person(scale):
    faces, X, identities = generate_faces(1200, 40, dim=128, seed=8, similarity_scale=scale,
                                          return_identities=True)
    codes, _, sums, n = _identity_sums(faces, X)
    means = (sums @ sums.T) / np.outer(n, n)  # mean cosine between two people's faces
    within = ((sums ** 2).sum(axis=1) - n) / (n * (n - 1))
    index = {c: i for i, c in enumerate(codes)}
    pairs = identities.dropna(subset=["lookalike_of"])
    assert len(pairs) >= 4  # 40 // 15 = 2 pairs, each listed from both sides
    strangers = means[~np.eye(len(codes), dtype=bool)]
    for a, b in zip(pairs["identity"], pairs["lookalike_of"]):
        i, j = index[a], index[b]
        assert means[i, j] > np.quantile(strangers, 0.99)
        assert means[i, j] < min(within[i], within[j])


def test_low_quality_faces_are_noisier_and_score_lower(small):
    faces, X, _ = small
    _, inv, sums, n = _identity_sums(faces, X)
    # Cosine of each face to its person's mean direction.
    to_centre = np.einsum("ij,ij->i", X, sums[inv] / np.linalg.norm(sums[inv], axis=1,
                                                                   keepdims=True))
    low = faces["face_quality"].to_numpy() < 0.8
    assert 0.02 < low.mean() < 0.12
    assert to_centre[low].mean() < to_centre[~low].mean() - 0.1
    assert (faces.loc[low, "cluster_id"].isin(NO_CLUSTER_IDS)).all()
    assert (faces.loc[low, "boundary_width"] < 75).all()


def test_one_person_at_most_once_per_photo_and_siblings_share_photos(small):
    faces, _, identities = small
    assert not faces.duplicated(["file_id", "identity"]).any()
    per_photo = faces.groupby("file_id")["identity"].agg(set)
    assert (per_photo.map(len) > 1).mean() > 0.2  # group photos exist: co-occurrence
    for a, b in zip(identities["identity"], identities["lookalike_of"]):
        if isinstance(b, str):
            assert per_photo.map(lambda s: a in s and b in s).any()


def test_clustering_before_merges(small):
    faces, _, identities = small
    ids = faces["cluster_id"]
    assert set(NO_CLUSTER_IDS) <= set(ids)
    real = ids[~ids.isin(NO_CLUSTER_IDS)].unique()
    assert all(c.startswith("Cluster-") and uuid.UUID(c[8:]).version == 4 for c in real)
    clustered = faces[~ids.isin(NO_CLUSTER_IDS)]
    per_person = clustered.groupby("identity")["cluster_id"].nunique()
    big = identities.loc[identities["n_faces"] >= 40, "identity"]
    # Most big identities are split into 2-4 fragments.
    assert per_person.reindex(big).between(2, 4).mean() > 0.6
    purity = clustered.groupby("cluster_id")["identity"].agg(
        lambda s: s.value_counts().iloc[0] / len(s))
    impure = purity[purity < 1].index
    assert len(impure) >= 1
    sibling = dict(zip(identities["identity"], identities["lookalike_of"]))
    for cid in impure:
        members = clustered.loc[clustered["cluster_id"] == cid, "identity"].value_counts()
        assert len(members) == 2 and sibling[members.index[0]] == members.index[1]
    # No face of a cluster id that occurs in a single face (IMM opens groups from 3 faces).
    assert clustered["cluster_id"].value_counts().min() >= 3


@settings(deadline=None, max_examples=15)
@given(n_identities=st.integers(2, 25), per_person=st.integers(2, 12), seed=st.integers(0, 2**32),
       dim=st.integers(8, 40))
def test_generated_faces_hold_their_invariants(n_identities, per_person, seed, dim):
    n = n_identities * per_person
    faces, X = generate_faces(n, n_identities, dim=dim, seed=seed)
    assert X.shape == (n, dim) and np.isfinite(X).all()
    assert faces["face_id"].is_unique
    assert faces["identity"].nunique() == n_identities
    assert not faces.duplicated(["file_id", "identity"]).any()
    assert faces["cluster_id"].notna().all()


def test_generate_faces_scales_to_benchmark_sizes():
    faces, X = generate_faces(20_000, 800, dim=32, seed=1, model="anisotropic")
    assert X.shape == (20_000, 32)
    assert faces["face_id"].is_unique and faces["identity"].nunique() == 800


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_faces=10, n_identities=6), ValueError, r"`n_faces` must be >= 12, but 10"),
    (dict(n_identities=1), ValueError, r"`n_identities` must be >= 2"),
    (dict(dim=4), ValueError, r"`dim` must be between 8 and 4096"),
    (dict(dim=16.0), TypeError, r"`dim` must be an integer"),
    (dict(seed=-1), ValueError, r"`seed` must be >= 0"),
    (dict(seed=True), TypeError, r"`seed` must be an integer"),
    (dict(similarity_scale="dlib"), ValueError,
     r"`similarity_scale` must be one of \['standard', 'compressed'\], but 'dlib' was passed"),
    (dict(model="arcface"), ValueError, r"`model` must be one of \['default', 'anisotropic'\]"),
    (dict(n_lookalike_pairs=100), ValueError, r"`n_lookalike_pairs` must be between 0 and 60"),
    (dict(low_quality_fraction=0.9), ValueError, r"`low_quality_fraction` must be between 0"),
])
def test_generate_faces_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        generate_faces(**kwargs)


# --- make_sample_data: the written files ----------------------------------------------------

def test_every_file_parses(written):
    root, manifest, content = written
    assert sorted(manifest["file"]) == sorted(content)
    for rel in content:
        if rel.endswith(".jsonl"):
            assert content[rel] and all(isinstance(v, dict) for v in content[rel]), rel
        elif rel.endswith(".json"):
            assert isinstance(content[rel], dict), rel


def test_files_stay_within_the_size_budget(written):
    root, manifest, _ = written
    sizes = {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*")
             if p.is_file()}
    assert sum(sizes.values()) <= 10_000_000
    assert max(sizes.values()) <= 5_000_000
    assert all(size < 250_000 for rel, size in sizes.items()
               if rel not in ("faces.parquet", "imm/files.jsonl"))
    assert dict(zip(manifest["file"], manifest["bytes"])) == sizes


def test_readme_describes_every_file(written):
    _, manifest, content = written
    readme = content["README.md"]
    images = [rel for rel in content if rel.startswith("images/")]
    for rel in content:
        if rel != "README.md" and rel not in images:
            assert f"`{rel}`" in readme or f"`{rel.split('/')[-1]}`" in readme, rel
    # The photos are one line of the file table, with their count, faces and bytes.
    in_images = manifest[manifest["file"].str.startswith("images/")]
    assert (f"| `images/` ({len(images)} files) | {in_images['records'].sum():,} | "
            f"{in_images['bytes'].sum():,} |") in readme
    assert "### `images/`" in readme


def test_embeddings_stored_once_as_float16_raw_vectors(written):
    root, _, content = written
    faces, raw = content["faces.parquet"]
    assert raw.dtype == np.float16 and raw.shape == (3000, 512)
    ref_faces, ref_X = generate_faces(seed=0)
    pd.testing.assert_series_equal(faces["face_id"], ref_faces["face_id"])
    norms = np.linalg.norm(raw.astype(np.float32), axis=1)
    assert norms == pytest.approx(ref_faces["norm"].to_numpy(), rel=2e-3)
    unit = raw.astype(np.float32) / norms[:, None]
    assert np.abs(unit - ref_X).max() < 2e-3
    assert "norm" not in faces.columns and "identity" in faces.columns
    # Stored once: no JSON record carries a vector.
    assert not any(_holds_vector(v) for rel, v in content.items()
                   if rel.endswith((".json", ".jsonl")))


def test_file_records_match_the_faces(written):
    _, _, content = written
    faces = content["faces.parquet"][0].set_index("face_id")
    figures = [(f, rec) for rec in content["imm/files.jsonl"] for f in rec["Figures"]]
    assert len(figures) == len(faces)
    for fig, rec in figures:
        row = faces.loc[fig["FigureId"]]
        assert fig["FigureClusterId"] == row["cluster_id"]
        assert rec["ObjectId"] == row["file_id"] and rec["URI"] == row["uri"]
        assert fig["FaceQuality"] == row["face_quality"]
        assert fig["Boundary"]["Width"] == row["boundary_width"]
        assert fig["HeadPose"]["Yaw"] == row["head_pose_yaw"]
        assert ("FigureClusterConfidence" in fig) == (row["cluster_id"] not in NO_CLUSTER_IDS)
    assert all(rec["FigureCount"] == len(rec["Figures"]) for rec in content["imm/files.jsonl"])


def test_faces_carry_the_recorded_photo_size(written):
    _, _, content = written
    faces = content["faces.parquet"][0]
    sizes = {rec["ObjectId"]: (rec["ImageWidth"], rec["ImageHeight"])
             for rec in content["imm/files.jsonl"]}
    assert list(faces.columns[4:7]) == ["dataset", "image_width", "image_height"]
    assert list(zip(faces["image_width"], faces["image_height"])) == [
        sizes[f] for f in faces["file_id"]]


def _merged_clusters(content: dict, faces: pd.DataFrame) -> list[str]:
    merges = content["truth/merges.csv"]
    named = set(merges["to_cluster"]) | {c for s in merges["source_clusters"] for c in s.split(";")}
    return sorted(named & set(faces["cluster_id"]))


def test_images_are_the_photos_of_the_thumbnail_faces(written):
    root, manifest, content = written
    faces = read_faces(root / "faces.parquet").faces
    picked = pd.concat([pick_thumbnail_faces(faces, c, n=8)
                        for c in _merged_clusters(content, faces)])
    keys = {"images/" + uri.split("/", 3)[3] for uri in picked["uri"]}
    images = {rel: data for rel, data in content.items() if rel.startswith("images/")}
    assert set(images) == keys
    assert sum(len(data) for data in images.values()) < 3_000_000
    recorded = faces.drop_duplicates("uri").set_index("uri")
    for rel, data in images.items():
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.mode == "RGB" and max(image.size) == 560
        row = recorded.loc[f"oss://family-photos-bucket/{rel[len('images/'):]}"]
        # Downscaled, same shape: the recorded size is larger, the aspect the same.
        assert image.size[0] / image.size[1] == pytest.approx(
            row["image_width"] / row["image_height"], rel=0.01)
    # Each image's records count is the number of faces drawn: every face of the photo.
    per_photo = faces.groupby("uri").size()
    drawn = manifest.set_index("file")["records"]
    assert all(drawn[rel] == per_photo[f"oss://family-photos-bucket/{rel[7:]}"] for rel in images)
    thumbs = face_thumbnails(picked, root / "images", size=32)
    assert (thumbs["status"] == "ok").all()


def test_a_person_looks_alike_across_photos(written):
    root, _, content = written
    faces = read_faces(root / "faces.parquet").faces
    picked = pd.concat([pick_thumbnail_faces(faces, c, n=8)
                        for c in _merged_clusters(content, faces)]).drop_duplicates("face_id")
    thumbs = face_thumbnails(picked, root / "images", size=16, margin=0.0)
    # The mean colour of the face's middle (skin, eyes, mouth): set by who it is.
    middle = np.array([np.asarray(Image.open(io.BytesIO(p)), float)[4:12, 4:12].mean(axis=(0, 1))
                       for p in thumbs["png"]])
    ident = picked["identity"].to_numpy()
    dist = np.abs(middle[:, None, :] - middle[None, :, :]).sum(axis=2)
    same = (ident[:, None] == ident[None, :]) & ~np.eye(len(ident), dtype=bool)
    assert np.median(dist[same]) < 0.5 * np.median(dist[~same & ~np.eye(len(ident), dtype=bool)])
    # Look-alike siblings are drawn alike too: closer than strangers.
    identities = content["truth/identities.csv"]
    sibling = dict(zip(identities["identity"], identities["lookalike_of"]))
    pairs = np.array([[sibling.get(a) == b for b in ident] for a in ident])
    assert pairs.any()
    assert np.median(dist[pairs]) < np.median(dist[~same & ~pairs & ~np.eye(len(ident),
                                                                           dtype=bool)])


def test_cluster_pages_match_the_faces(written):
    _, _, content = written
    faces = content["faces.parquet"][0]
    pages = content["imm/clusters.jsonl"]
    clusters = [c for page in pages for c in page["FigureClusters"]]
    clustered = faces[~faces["cluster_id"].isin(NO_CLUSTER_IDS)]
    assert all(len(p["FigureClusters"]) <= 100 for p in pages)
    assert [p["NextToken"] == "" for p in pages] == [False] * (len(pages) - 1) + [True]
    assert {p["TotalCount"] for p in pages} == {len(clusters)}
    assert len(clusters) == clustered["cluster_id"].nunique()
    ids = [c["ObjectId"] for c in clusters]
    assert ids == sorted(ids)
    counts = clustered.groupby("cluster_id").agg(faces=("face_id", "size"),
                                                 images=("file_id", "nunique"))
    for c in clusters:
        assert (c["FaceCount"], c["ImageCount"]) == tuple(counts.loc[c["ObjectId"]])
        assert c["Cover"]["Figures"][0]["FigureClusterId"] == c["ObjectId"]
        assert c["ObjectType"] == "figure-cluster" and c["DatasetName"] == "family-photos"


def test_merge_truth_is_consistent_with_the_identities(written):
    _, _, content = written
    faces = content["faces.parquet"][0]
    truth = content["truth/merges.csv"]
    identities = content["truth/identities.csv"]
    sibling = dict(zip(identities["identity"], identities["lookalike_of"]))
    majority = _majority(faces)
    kinds = truth["kind"].value_counts()
    assert 5 <= kinds["lookalike"] <= 8 and 1 <= kinds["unrelated"] <= 2
    assert kinds["running"] == 1 and kinds["vanished"] == 1 and kinds["failed"] >= 2
    assert kinds["fragment"] > len(truth) / 2
    merged_away = set()
    for row in truth.itertuples():
        named = [row.to_cluster, *row.source_clusters.split(";")]
        people = {majority.get(c) for c in named}
        if row.kind in ("fragment", "running"):
            assert len(people) == 1 and None not in people, row.task_id
        elif row.kind == "lookalike":
            a, b = majority[named[0]], majority[named[1]]
            assert a != b and sibling[a] == b
        elif row.kind == "unrelated":
            a, b = majority[named[0]], majority[named[1]]
            assert a != b and sibling[a] != b
        elif row.kind == "failed":
            assert None in people or row.to_cluster in named[1:]
        elif row.kind == "vanished":
            assert set(named[1:]) <= merged_away and row.status == "Succeeded"
        assert row.correct == (row.kind in ("fragment", "running"))
        assert row.to_identity == (majority.get(named[0]) or "")
        if row.status == "Succeeded":
            merged_away.update(named[1:])


def test_merge_history_records(written):
    _, _, content = written
    gettask = content["tasks/gettask.jsonl"]
    log = {line["Response"]["TaskId"]: line for line in content["tasks/merge_requests.jsonl"]}
    truth = content["truth/merges.csv"].set_index("task_id")
    merges = [t for t in gettask if t["TaskType"] == "FigureClustersMerging"]
    assert [t["TaskType"] for t in gettask].count("FaceClustering") == 1
    assert {t["Status"] for t in merges} == {"Succeeded", "Failed", "Running"}
    assert {t["Code"] for t in merges if t["Status"] == "Failed"} == {"ResourceNotFound",
                                                                      "InvalidArgument"}
    assert all(t["Message"] for t in merges if t["Status"] == "Failed")
    running = [t for t in merges if t["Status"] == "Running"]
    assert len(running) == 1 and running[0]["EndTime"] == "" and 0 < running[0]["Progress"] < 100
    with_definition = [t for t in merges if "TaskRequestDefinition" in t]
    assert 0 < len(with_definition) < len(merges)
    datasets = set()
    for t in merges:
        if "TaskRequestDefinition" in t:
            request = json.loads(t["TaskRequestDefinition"])
        else:
            request = log[t["TaskId"]]["Request"]  # its only source
        assert ("From" in request) != ("Froms" in request) and request["To"].startswith("Cluster-")
        datasets.add(request["DatasetName"])
        if request["DatasetName"] == "family-photos":
            assert truth.loc[t["TaskId"], "status"] == t["Status"]
    assert datasets == {"family-photos", "work-photos"}
    assert sum(truth.index.isin([t["TaskId"] for t in merges])) == len(truth)
    # Merges run one after another, seconds each, EndTime increasing.
    done = [t for t in merges if t["EndTime"]]
    times = pd.DataFrame({
        "start": pd.to_datetime([t["StartTime"] for t in done], format="ISO8601", utc=True),
        "end": pd.to_datetime([t["EndTime"] for t in done], format="ISO8601", utc=True),
    }).sort_values("start")
    assert times["end"].is_monotonic_increasing
    durations = (times["end"] - times["start"]).dt.total_seconds()
    assert durations.between(0.1, 60).all()
    user_data = [t["UserData"] for t in merges]
    assert any("<script>alert(1)</script>" in u for u in user_data)
    parsed = [json.loads(u) for u in user_data if u.startswith("{")]
    assert parsed and all({"ticket", "by"} <= set(p) for p in parsed)
    froms = [json.loads(t["TaskRequestDefinition"]).get("Froms") for t in with_definition]
    assert any(isinstance(f, list) and 2 <= len(f) <= 3 for f in froms)
    assert any(isinstance(f, str) for f in froms)  # Froms spelled as JSON text, as on the wire


def test_timestamps_mix_fraction_digits_and_zones(written):
    _, _, content = written
    spelled = [s for rel, value in content.items() if rel.startswith(("tasks/", "imm/"))
               for s in _walk(value) if RFC3339.match(s)]
    digits = {len(RFC3339.match(s).group(1) or "") for s in spelled}
    zones = {RFC3339.match(s).group(2) for s in spelled}
    assert digits == set(range(10)) and zones == {"Z", "+08:00"}
    parsed = pd.to_datetime(pd.Series(spelled), format="ISO8601", utc=True)
    assert parsed.notna().all()


def test_notifications(written):
    _, _, content = written
    notes = content["tasks/notifications.jsonl"]
    gettask = {t["TaskId"]: t for t in content["tasks/gettask.jsonl"]}
    lines = [json.dumps(n, sort_keys=True) for n in notes]
    assert len(lines) - len(set(lines)) == 1  # delivered at least once: one duplicate
    kinds = {"FigureClustersMerging": "imm:Task:FigureClustersMerging",
             "FaceClustering": "imm:Task:FigureClustering"}
    for note in notes:
        assert set(note) == {"id", "source", "type", "subject", "time", "content"}
        body = json.loads(note["content"])
        task = gettask[body["TaskId"]]
        assert note["source"] == "acs.imm" and note["type"] == kinds[body["TaskType"]]
        assert note["subject"].endswith(f"audit-proj/{note['type']}")
        assert note["id"] == task["EventId"]
        assert body["Status"] == task["Status"] and body["EndTime"] == task["EndTime"]
        lag = int(note["time"]) - pd.Timestamp(body["EndTime"]).value // 1_000_000
        assert 0 <= lag < 2000  # EndTime is truncated to its spelled digits (< 1 s)
    assert {json.loads(n["content"])["TaskId"] for n in notes} == {
        t for t, body in gettask.items() if body["Status"] != "Running"}


def test_polling_snapshots(written):
    _, _, content = written
    polls = pd.DataFrame([(p["Response"]["TaskId"], pd.Timestamp(p["ObservedAt"]),
                           p["Response"]["Status"], p["Response"].get("Progress"))
                          for p in content["tasks/polling.jsonl"]],
                         columns=["task_id", "at", "status", "progress"])
    assert polls.groupby("task_id").size().min() >= 2
    assert set(polls["status"]) == {"Running", "Succeeded", "Failed"}
    for _, obs in polls.groupby("task_id"):
        assert obs["at"].is_monotonic_increasing
        running = obs[obs["status"] == "Running"]
        assert running["progress"].is_monotonic_increasing
        # Running first, then (unless still running) exactly one final snapshot.
        finals = obs["status"] != "Running"
        assert finals.sum() <= 1 and (not finals.any() or finals.iloc[-1])


def test_listtasks_pages(written):
    _, _, content = written
    pages = [content["tasks/listtasks_page1.json"], content["tasks/listtasks_page2.json"]]
    gettask = {t["TaskId"] for t in content["tasks/gettask.jsonl"]}
    assert pages[0]["NextToken"] == pages[0]["Tasks"][-1]["TaskId"] and pages[1]["NextToken"] == ""
    listed = []
    for page in pages:
        assert page["MaxResults"] == str(len(page["Tasks"]))
        assert page["ProjectName"] == "audit-proj" and page["RequestId"]
        for info in page["Tasks"]:
            assert not {"ProjectName", "EventId", "RequestId"} & set(info)
            listed.append(info["TaskId"])
    assert listed == sorted(listed) and set(listed) == gettask


def test_huawei_records(written):
    _, _, content = written
    batches = content["huawei/batch_tasks.json"]
    assert batches["count"] == len(batches["batch_task_list"]) >= 2
    for batch in batches["batch_task_list"]:
        assert HUAWEI_ID.match(batch["id"]) and isinstance(batch["created_at"], int)
        page = content[f"huawei/tasks_{batch['id']}.json"]
        assert page["batch_id"] == batch["id"] and page["count"] == len(page["tasks"])
        assert batch["num_task"] == len(page["tasks"])
        states = pd.Series([t["state"] for t in page["tasks"]])
        assert (states == states.str.upper()).all()
        assert batch["batch_task_status_info"] == states.str.lower().value_counts().to_dict()
        for task in page["tasks"]:
            assert HUAWEI_ID.match(task["id"]) and "batch_id" not in task
            assert isinstance(task["created_at"], str) and task["created_at"].isdigit()
    detail = content["huawei/task_detail.json"]
    assert HUAWEI_ID.match(detail["id"]) and RFC3339.match(detail["created_at"])
    assert set(detail["error"]) == {"code", "message"}
    update = content["huawei/update_response.json"]
    assert HUAWEI_ID.match(update["id"]) and update["failed_count"] > 0
    assert update["total_count"] == update["succeed_count"] + update["failed_count"]
    assert len(update["error_list"]) == update["failed_count"]


# --- make_sample_data: determinism, arguments, command line ----------------------------------

def test_make_sample_data_same_seed_same_content_other_seed_differs(tmp_path):
    make_sample_data(tmp_path / "a", seed=3, **SMALL, dim=32)
    make_sample_data(tmp_path / "b", seed=3, **SMALL, dim=32)
    a, b = _content(tmp_path / "a"), _content(tmp_path / "b")
    _assert_same_content(a, b)
    # Rewriting a directory with another seed replaces its files, stale batch pages included.
    rewritten = make_sample_data(tmp_path / "a", seed=4, **SMALL, dim=32)
    c = _content(tmp_path / "a")
    # Photos of the first seed go too (their folders with them): only this seed's remain.
    assert sorted(c) == sorted(rewritten["file"])
    assert sum(rel.startswith("images/") for rel in c) > 10
    assert all(any(f.iterdir()) for f in (tmp_path / "a" / "images").rglob("*") if f.is_dir())
    assert any(rel.startswith("images/") and rel not in c for rel in a)
    for rel in ("tasks/gettask.jsonl", "imm/files.jsonl", "huawei/batch_tasks.json"):
        assert c[rel] != a[rel]
    assert not c["faces.parquet"][0]["face_id"].equals(a["faces.parquet"][0]["face_id"])


def test_committed_sample_data_is_the_generator_output(written):
    _, _, content = written
    # Arithmetic below the float16 step may differ between machines; the records may not.
    _assert_same_content(_content(COMMITTED), content, atol=1e-2)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_faces=60, n_identities=12), ValueError, "too few to plan every kind of merge"),
    (dict(similarity_scale="wide"), ValueError, "`similarity_scale` must be one of"),
])
def test_make_sample_data_rejects_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        make_sample_data(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_make_sample_data_refuses_a_file_or_a_non_path(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        make_sample_data(target)
    with pytest.raises(TypeError, match="`out_dir` must be a path"):
        make_sample_data(3)


def test_command_line_writes_the_compressed_variant(tmp_path, capsys):
    out = tmp_path / "compressed"
    code = main(["sample-data", str(out), "--seed", "2", "--similarity-scale", "compressed",
                 "--n-faces", "900", "--n-identities", "30", "--dim", "32"])
    assert code == 0 and "faces.parquet" in capsys.readouterr().out
    faces, raw = _read(out / "faces.parquet")
    X = raw.astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    assert _mean_cosines(faces, X)[1] > 0.8
    with pytest.raises(SystemExit):
        main(["sample-data", str(out), "--similarity-scale", "huge"])
