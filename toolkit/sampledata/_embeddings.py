"""Face embeddings with a realistic similarity structure, drawn in chunks.

Each identity has a centre; each of its modes (the fragments the cloud will
split it into) a centre near it; a face sits at a chosen cosine ``c`` from its
mode centre, the rest of its length pointing in a random direction orthogonal
to the centre. So, in ``dim`` dimensions, two faces of one mode have cosine
about ``c1 * c2``, of two modes of one person ``c1 * c2 * 0.88``, of two
look-alike siblings ``c1 * c2 * 0.88 * rho`` (rho in [0.5, 0.65]) and of two
strangers about 0 (spread about 0.07: the centres vary most along a few
directions, as real face embeddings do).
"""

from __future__ import annotations

import numpy as np

from ._population import MAX_MODES, Population

__all__ = ["synthesize_embeddings", "COMPRESSED_SHARE"]

#: Share of every compressed-scale embedding along one common direction:
#: the cosine between strangers becomes about this value (dlib-like models).
COMPRESSED_SHARE = 0.85
# cos(mode centre, identity centre) = 1 / sqrt(1 + offset**2) ~ 0.94.
_MODE_OFFSET = 0.36
# Variance of the identity centres along axis j falls like (j + 1) ** -0.6.
_SPECTRUM_EXPONENT = 0.6
_NUISANCE_DIRECTIONS = 16
_CHUNK = 8192  # faces per block: bounds memory at 100,000 faces x 512 dims


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.einsum("...j,...j->...", x, x))[..., None]


def _orthogonal_unit(x: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Each row of ``x`` with its component along ``centre`` removed, normalised."""
    x = x - np.einsum("...j,...j->...", x, centre)[..., None] * centre
    return _unit(x)


def _identity_centres(rng: np.random.Generator, pop: Population, dim: int) -> np.ndarray:
    scale = (np.arange(dim) + 1.0) ** (-_SPECTRUM_EXPONENT / 2)
    centres = _unit(rng.standard_normal((pop.n_identities, dim)) * scale)
    a, b = pop.pairs[:, 0], pop.pairs[:, 1]
    away = _orthogonal_unit(rng.standard_normal((len(a), dim)) * scale, centres[a])
    rho = pop.pair_similarity[:, None]
    # cos(centre_b, centre_a) = rho exactly: b is a rotated towards a random direction.
    centres[b] = rho * centres[a] + np.sqrt(1.0 - rho ** 2) * away
    return centres


def _mode_centres(rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    k, dim = centres.shape
    centres = centres.astype(np.float32)[:, None, :]
    offsets = _orthogonal_unit(rng.standard_normal((k, MAX_MODES, dim), dtype=np.float32), centres)
    return _unit(centres + np.float32(_MODE_OFFSET) * offsets)


def _face_cosines(rng: np.random.Generator, pop: Population, model: str) -> np.ndarray:
    """Cosine of each face to its mode centre, in (0, 1): lower = noisier face."""
    n, ids = pop.n_faces, pop.face_identity
    good = 0.78 + 0.6 * (pop.face_quality - 0.8) + rng.normal(0.0, 0.035, n)
    low = 0.35 + 0.5 * pop.face_quality + rng.normal(0.0, 0.03, n)
    c = np.where(pop.low_quality, low, good)
    # Some people vary more across their photos than others.
    spread = rng.lognormal(0.0, 0.25, pop.n_identities)[ids]
    if model == "anisotropic":
        # Heavy tails: a few faces of everyone fall far from their centre.
        spread = spread * np.clip(np.abs(rng.standard_t(3.0, n)), 0.25, 4.0)
    return np.clip(1.0 - (1.0 - c) * spread, 0.15, 0.97)


def synthesize_embeddings(rng: np.random.Generator, pop: Population, *, dim: int,
                          similarity_scale: str, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Unit float32 embeddings and the norms a model would have given them.

    Returns
    -------
    embeddings : ndarray of shape (n_faces, dim), float32
        Unit rows.
    norms : ndarray of shape (n_faces,), float32
        L2 norm of the raw model output (about 14 to 29, higher for better
        faces, as with ArcFace-style models).
    """
    centres = _identity_centres(rng, pop, dim)
    modes = _mode_centres(rng, centres)
    cos = _face_cosines(rng, pop, model).astype(np.float32)[:, None]
    sin = np.sqrt(1.0 - cos ** 2)
    if model == "anisotropic":
        # Per-identity scales on shared nuisance directions (pose, light, age):
        # each person spreads along a different mix of them.
        k = min(_NUISANCE_DIRECTIONS, dim)
        basis = np.linalg.qr(rng.standard_normal((dim, k)))[0].T.astype(np.float32)
        scales = rng.lognormal(0.0, 0.8, (pop.n_identities, k)).astype(np.float32)
    common = _unit(rng.standard_normal(dim)).astype(np.float32)
    norms = (14.0 + 14.0 * pop.face_quality + rng.normal(0.0, 0.8, pop.n_faces)).astype(np.float32)

    out = np.empty((pop.n_faces, dim), dtype=np.float32)
    for start in range(0, pop.n_faces, _CHUNK):
        rows = slice(start, min(start + _CHUNK, pop.n_faces))
        ids = pop.face_identity[rows]
        centre = modes[ids, pop.face_mode[rows]]
        noise = rng.standard_normal((len(ids), dim), dtype=np.float32)
        if model == "anisotropic":
            weights = rng.standard_normal((len(ids), k), dtype=np.float32) * scales[ids]
            noise = weights @ basis + 0.15 * noise
        x = cos[rows] * centre + sin[rows] * _orthogonal_unit(noise, centre)
        if similarity_scale == "compressed":
            x = np.sqrt(COMPRESSED_SHARE) * common + np.sqrt(1.0 - COMPRESSED_SHARE) * x
        out[rows] = _unit(x)
    return out, norms
