"""Who is in the photos: identities, their sizes, look-alike siblings, families.

Everything here is ground truth the cloud never sees; the embeddings, photos
and clustering are drawn from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Population", "make_population", "MAX_MODES", "MIN_FACES_PER_IDENTITY"]

#: Most fragments (embedding modes: age, glasses, lighting) one identity splits into.
MAX_MODES = 4
MIN_FACES_PER_IDENTITY = 2
# Identity sizes follow rank ** -_SIZE_EXPONENT (Zipf-like): a few people fill
# most photos, many appear a handful of times.
_SIZE_EXPONENT = 0.75
# Siblings are drawn from people with at least this many faces, so both have clusters.
_SIBLING_MIN_FACES = 12
_FAMILY_SIZES = (2, 7)  # members per family, upper bound exclusive


@dataclass(frozen=True)
class Population:
    """Ground truth of the generated faces.

    Attributes
    ----------
    identities : DataFrame of shape (n_identities, 6)
        ``identity`` (str), ``n_faces``, ``family`` (int: people photographed
        together), ``lookalike_of`` (the sibling's identity or missing),
        ``gender``, ``age`` (typical age in the photos).
    face_identity : ndarray of shape (n_faces,), int64
        Row of ``identities`` for each face; faces are grouped by identity.
    face_mode : ndarray of shape (n_faces,), int64
        Which of the identity's embedding modes the face comes from, in
        ``[0, n_modes[identity])``; the cloud clusters each mode apart.
    n_modes : ndarray of shape (n_identities,), int64
        Number of modes per identity, 1 to :data:`MAX_MODES`.
    low_quality : ndarray of shape (n_faces,), bool
        Blurred, small or turned-away faces.
    face_quality : ndarray of shape (n_faces,), float64
        IMM ``FaceQuality`` in [0, 1] (3 decimals); above 0.8 for good faces.
    pairs : ndarray of shape (n_pairs, 2), int64
        Look-alike sibling pairs (identity rows).
    pair_similarity : ndarray of shape (n_pairs,), float64
        Cosine between the pair's identity centres, in [0.5, 0.65].
    """

    identities: pd.DataFrame
    face_identity: np.ndarray
    face_mode: np.ndarray
    n_modes: np.ndarray
    low_quality: np.ndarray
    face_quality: np.ndarray
    pairs: np.ndarray
    pair_similarity: np.ndarray

    @property
    def n_faces(self) -> int:
        return int(self.face_identity.shape[0])

    @property
    def n_identities(self) -> int:
        return len(self.identities)


def _identity_sizes(rng: np.random.Generator, n_faces: int, n_identities: int) -> np.ndarray:
    """Power-law sizes summing to ``n_faces``, each at least the minimum, in random order."""
    weights = np.arange(1, n_identities + 1) ** -_SIZE_EXPONENT * rng.lognormal(0.0, 0.25,
                                                                               n_identities)
    extra = n_faces - MIN_FACES_PER_IDENTITY * n_identities
    share = weights / weights.sum() * extra
    sizes = np.floor(share).astype(np.int64)
    # Largest remainders get the faces the floor left over, so the total is exact.
    left = extra - int(sizes.sum())
    sizes[np.argsort(-(share - sizes), kind="stable")[:left]] += 1
    return MIN_FACES_PER_IDENTITY + sizes[rng.permutation(n_identities)]


def _sibling_pairs(rng: np.random.Generator, sizes: np.ndarray, n_pairs: int) -> np.ndarray:
    candidates = np.flatnonzero(sizes >= _SIBLING_MIN_FACES)
    if len(candidates) < 2 * n_pairs:
        candidates = np.argsort(-sizes, kind="stable")[: 2 * n_pairs]
    return np.sort(rng.choice(candidates, 2 * n_pairs, replace=False).reshape(n_pairs, 2), axis=1)


def _families(rng: np.random.Generator, n_identities: int, pairs: np.ndarray) -> np.ndarray:
    """Family number per identity; siblings share a family (so share photos)."""
    paired = np.zeros(n_identities, dtype=bool)
    paired[pairs.ravel()] = True
    units = [list(p) for p in pairs.tolist()] + [[i] for i in np.flatnonzero(~paired).tolist()]
    family = np.empty(n_identities, dtype=np.int64)
    current, filled = 0, 0
    target = int(rng.integers(*_FAMILY_SIZES))
    for u in rng.permutation(len(units)).tolist():
        if filled >= target:
            current, filled = current + 1, 0
            target = int(rng.integers(*_FAMILY_SIZES))
        family[units[u]] = current
        filled += len(units[u])
    return family


def _modes(rng: np.random.Generator, sizes: np.ndarray, face_identity: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    k = len(sizes)
    # Draw every candidate for every identity, then pick: the stream does not depend on sizes.
    few, many = rng.integers(1, 3, k), rng.integers(2, MAX_MODES + 1, k)
    n_modes = np.where(sizes >= 20, many, np.where(sizes >= 8, few, 1)).astype(np.int64)
    # Dirichlet(2, ..., 2) shares per identity, zero beyond its n_modes.
    shares = rng.gamma(2.0, size=(k, MAX_MODES)) * (np.arange(MAX_MODES) < n_modes[:, None])
    cum = np.cumsum(shares / shares.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(face_identity))
    mode = (u[:, None] > cum[face_identity]).sum(axis=1)
    return np.minimum(mode, n_modes[face_identity] - 1), n_modes


def make_population(rng: np.random.Generator, n_faces: int, n_identities: int, *,
                    n_pairs: int, low_quality_fraction: float) -> Population:
    """Draw identities, siblings, families and per-face truth."""
    sizes = _identity_sizes(rng, n_faces, n_identities)
    pairs = _sibling_pairs(rng, sizes, n_pairs) if n_pairs else np.empty((0, 2), np.int64)
    family = _families(rng, n_identities, pairs)

    gender = np.where(rng.random(n_identities) < 0.5, "female", "male").astype(object)
    age = rng.integers(4, 80, n_identities)
    twin_age = rng.integers(-3, 4, n_identities)
    a, b = pairs[:, 0], pairs[:, 1]
    gender[b] = gender[a]  # look-alike siblings: same gender, close in age
    age[b] = np.maximum(age[a] + twin_age[b], 1)

    width = max(3, len(str(n_identities - 1)))
    names = np.array([f"person-{i:0{width}d}" for i in range(n_identities)], dtype=object)
    lookalike = np.full(n_identities, None, dtype=object)
    lookalike[a], lookalike[b] = names[b], names[a]
    identities = pd.DataFrame({
        "identity": pd.array(names, dtype="str"),
        "n_faces": sizes,
        "family": family,
        "lookalike_of": pd.array(lookalike, dtype="str"),
        "gender": pd.array(gender, dtype="str"),
        "age": age.astype(np.int64),
    })

    face_identity = np.repeat(np.arange(n_identities, dtype=np.int64), sizes)
    face_mode, n_modes = _modes(rng, sizes, face_identity)
    low = rng.random(n_faces) < low_quality_fraction
    good_q = 0.81 + 0.18 * rng.beta(2.0, 1.6, n_faces)
    low_q = 0.15 + 0.5 * rng.beta(2.0, 2.0, n_faces)
    quality = np.round(np.where(low, low_q, good_q), 3)
    similarity = rng.uniform(0.5, 0.65, len(pairs))
    return Population(identities, face_identity, face_mode, n_modes, low, quality, pairs,
                      similarity)
