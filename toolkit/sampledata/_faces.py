"""``generate_faces``: the synthetic face set, in memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._attributes import ATTRIBUTE_COLUMNS, figure_attributes
from ._clock import Timeline, make_timeline
from ._clustering import Clustering, cluster_faces
from ._embeddings import synthesize_embeddings
from ._ids import uuid4s
from ._params import MODELS, SIMILARITY_SCALES, check_choice, check_fraction, check_int
from ._photos import Photos, take_photos
from ._population import MIN_FACES_PER_IDENTITY, Population, make_population

__all__ = ["generate_faces", "World", "build_world", "DATASET", "FACE_COLUMNS"]

DATASET = "family-photos"
FACE_COLUMNS = ("face_id", "cluster_id", "norm", "file_id", "uri", "dataset", "image_width",
                "image_height", "identity", "figure_cluster_confidence") + ATTRIBUTE_COLUMNS

# One independent random stream per part: changing how photos are drawn does
# not change the embeddings of the same seed.
_STREAMS = ("timeline", "population", "embeddings", "photos", "attributes", "clustering", "ids")


@dataclass(frozen=True)
class World:
    """Everything the generator draws for one seed (faces in photo order)."""

    faces: pd.DataFrame
    embeddings: np.ndarray
    population: Population
    photos: Photos
    clustering: Clustering
    timeline: Timeline
    seed: int


def _streams(seed: int) -> dict[str, np.random.Generator]:
    return {name: np.random.default_rng([seed, i]) for i, name in enumerate(_STREAMS)}


def build_world(n_faces: int, n_identities: int, *, dim: int, seed: int, similarity_scale: str,
                model: str, n_lookalike_pairs: int | None, low_quality_fraction: float) -> World:
    """Validate the arguments and draw the world (see :func:`generate_faces`)."""
    n_identities = check_int("n_identities", n_identities, low=2)
    n_faces = check_int("n_faces", n_faces, low=MIN_FACES_PER_IDENTITY * n_identities)
    dim = check_int("dim", dim, low=8, high=4096)
    seed = check_int("seed", seed, low=0)
    similarity_scale = check_choice("similarity_scale", similarity_scale, SIMILARITY_SCALES)
    model = check_choice("model", model, MODELS)
    if n_lookalike_pairs is None:
        n_lookalike_pairs = max(1, n_identities // 15)
    n_lookalike_pairs = check_int("n_lookalike_pairs", n_lookalike_pairs, low=0,
                                  high=n_identities // 2)
    low_quality_fraction = check_fraction("low_quality_fraction", low_quality_fraction, high=0.5)

    rng = _streams(seed)
    timeline = make_timeline(rng["timeline"])
    pop = make_population(rng["population"], n_faces, n_identities, n_pairs=n_lookalike_pairs,
                          low_quality_fraction=low_quality_fraction)
    embeddings, norms = synthesize_embeddings(rng["embeddings"], pop, dim=dim,
                                              similarity_scale=similarity_scale, model=model)
    photos = take_photos(rng["photos"], pop, timeline)
    attributes = figure_attributes(rng["attributes"], pop, photos)
    recent_face = photos.files["recent"].to_numpy()[photos.face_photo]
    clustering = cluster_faces(rng["clustering"], pop, recent_face,
                               n_impure=max(1, len(pop.pairs) // 3) if len(pop.pairs) else 0)

    files = photos.files
    faces = pd.DataFrame({
        "face_id": pd.array(uuid4s(rng["ids"], n_faces), dtype="str"),
        "cluster_id": pd.array(clustering.cluster_id, dtype="str"),
        "norm": norms,
        "file_id": pd.array(files["file_id"].to_numpy()[photos.face_photo], dtype="str"),
        "uri": pd.array(files["uri"].to_numpy()[photos.face_photo], dtype="str"),
        "dataset": pd.array(np.full(n_faces, DATASET, dtype=object), dtype="str"),
        # The photo's size as the File record gives it (ImageWidth / ImageHeight).
        "image_width": files["width"].to_numpy()[photos.face_photo],
        "image_height": files["height"].to_numpy()[photos.face_photo],
        "identity": pd.array(pop.identities["identity"].to_numpy()[pop.face_identity],
                             dtype="str"),
        "figure_cluster_confidence": clustering.confidence,
    })
    faces = pd.concat([faces, attributes], axis=1)
    # Rows in the order the photos were taken, faces left to right: the order an
    # export walks the files in, unrelated to identity.
    order = np.lexsort((photos.face_slot, photos.face_photo))
    faces = faces.iloc[order].reset_index(drop=True)
    embeddings = np.ascontiguousarray(embeddings[order])
    return World(faces, embeddings, pop, photos, clustering, timeline, seed)


def generate_faces(n_faces: int = 3000, n_identities: int = 120, *, dim: int = 512, seed: int = 0,
                   similarity_scale: str = "standard", model: str = "default",
                   n_lookalike_pairs: int | None = None, low_quality_fraction: float = 0.06,
                   return_identities: bool = False):
    """Generate synthetic faces, their clustering before merges, and embeddings.

    Identity sizes follow a power law; a few identity pairs are look-alike
    siblings (more similar than strangers, less than the same person) who
    share family photos; some faces are low quality (noisier embedding, lower
    ``face_quality``, not clustered). The clustering is what IMM would have
    exported: people split into fragments, a few sibling fragments clustered
    together, unclustered faces under the reserved ids. Vectorised: 100,000
    faces take seconds.

    Parameters
    ----------
    n_faces : int, default=3000
        Number of faces, at least ``2 * n_identities``.
    n_identities : int, default=120
        Number of people, at least 2.
    dim : int, default=512
        Embedding dimension, 8 to 4096.
    seed : int, default=0
        Seed of every random draw; the same seed gives the same output.
    similarity_scale : {"standard", "compressed"}, default="standard"
        ``"standard"``: ArcFace-like; cosine of two faces of different people
        averages about 0, of one person about 0.5-0.8. ``"compressed"``:
        dlib-like; every cosine is ``0.85 + 0.15 * (standard cosine)`` roughly,
        so different people average above 0.8.
    model : {"default", "anisotropic"}, default="default"
        ``"default"``: isotropic spread around each person. ``"anisotropic"``:
        each person spreads along their own mix of a few nuisance directions,
        with heavy tails (a few faces far from their centre); use it to test
        on an embedding model the tests were not tuned on.
    n_lookalike_pairs : int, optional
        Number of look-alike sibling pairs; default ``max(1, n_identities // 15)``.
    low_quality_fraction : float, default=0.06
        Share of low-quality faces, 0 to 0.5.
    return_identities : bool, default=False
        Also return the identities frame.

    Returns
    -------
    faces : DataFrame of shape (n_faces, 26)
        One row per face, in photo order: ``face_id`` (UUID), ``cluster_id``
        (``Cluster-<uuid>``, ``figure-cluster-id-independent`` or
        ``figure-cluster-id-unavailable``), ``norm`` (L2 norm of the raw
        embedding, about 14-29), ``file_id``, ``uri``, ``dataset``,
        ``image_width``, ``image_height`` (the photo's size in pixels, the
        frame of the boundary columns), ``identity`` (ground truth),
        ``figure_cluster_confidence`` (NaN when in no cluster),
        ``face_quality``, ``figure_confidence``, ``sharpness`` (all in
        [0, 1]), ``boundary_left/top/width/height`` (px),
        ``head_pose_pitch/roll/yaw`` (degrees), ``age``, ``gender``,
        ``emotion``, ``glasses``, ``mask``.
    embeddings : ndarray of shape (n_faces, dim), float32
        Unit rows aligned with ``faces``; the raw embedding is
        ``embeddings * faces["norm"]``. ``FaceSet(faces, embeddings)`` works.
    identities : DataFrame of shape (n_identities, 6)
        Only when ``return_identities``: ``identity``, ``n_faces``,
        ``family``, ``lookalike_of`` (missing unless a sibling), ``gender``,
        ``age``.

    Examples
    --------
    >>> from toolkit.sampledata import generate_faces
    >>> faces, X = generate_faces(600, 30, dim=64, seed=1)
    >>> X.shape, X.dtype
    ((600, 64), dtype('float32'))
    >>> int(faces["identity"].nunique())
    30
    """
    world = build_world(n_faces, n_identities, dim=dim, seed=seed,
                        similarity_scale=similarity_scale, model=model,
                        n_lookalike_pairs=n_lookalike_pairs,
                        low_quality_fraction=low_quality_fraction)
    if return_identities:
        return world.faces, world.embeddings, world.population.identities.copy()
    return world.faces, world.embeddings
