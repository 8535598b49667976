"""Within-person whitening: a geometry where a person's own variation counts less.

Faces of one person vary along a few directions (pose, light, age, expression),
and a cluster of one person cut in two along them can look as far apart as two
people. The clusters themselves show those directions: each cluster's faces
spread around its mean. Along each principal direction ``v`` of the pooled
within-cluster scatter, the *typical* spread is the median, over the clusters
of two faces or more, of a cluster's mean squared deviation along ``v``. The
whitening divides each direction by the square root of that typical spread,
floored at its mean over the directions the faces spread in::

    y = (x - centre) V diag(1 / sqrt(max(s_v, mean(s)))) V^T,   then unit rows

so a direction in which most people vary a lot counts little, and no direction
counts more than in the plain geometry (relative to the others): on faces that
vary about equally in every direction nothing changes. The median, not the
pooled scatter, decides: a cluster holding two people varies a lot along the
direction between them, and with few clusters would otherwise teach the
whitening that this direction is a person's own variation. The faces are
centred on the mean of all clustered faces, so a component every face shares
(a compressed similarity scale) drops out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Whitening", "within_whitening"]

# Faces per chunk of the scatter: a (chunk, dim) float64 block of about 4 MiB.
_CHUNK_BYTES = 4 * 2**20


@dataclass(frozen=True)
class Whitening:
    """``y = (x - centre) @ transform``, rows then scaled to unit length.

    Attributes
    ----------
    centre : ndarray of shape (dim,)
        Mean of the clustered faces, float64.
    transform : ndarray of shape (dim, dim)
        Symmetric; the identity when the faces do not vary inside their clusters.
    spread_ratio : float
        Largest typical within-cluster variance of a direction over their mean,
        ``>= 1``: 1 when people vary alike in every direction (nothing is
        whitened), large when their variation sits in a few directions.
    """

    centre: np.ndarray
    transform: np.ndarray
    spread_ratio: float

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Whitened unit rows of ``x`` (shape (n, dim)), float64; a row that is the
        centre itself stays zero."""
        y = (np.asarray(x, dtype=np.float64) - self.centre) @ self.transform
        norms = np.sqrt(np.einsum("ij,ij->i", y, y))
        return y / np.where(norms > 0, norms, 1.0)[:, None]


def _residual_chunks(x: np.ndarray, labels: np.ndarray, means: np.ndarray, rows: np.ndarray):
    """Residuals ``x - mean of its cluster`` of ``rows`` (sorted by cluster), in
    chunks of whole clusters' faces where possible, with each chunk's labels."""
    step = max(1, _CHUNK_BYTES // (8 * max(1, x.shape[1])))
    for s in range(0, rows.size, step):
        chunk = rows[s:s + step]
        lab = labels[chunk]
        yield x[chunk].astype(np.float64) - means[lab], lab


def within_whitening(embeddings: np.ndarray, labels: np.ndarray,
                     sums: np.ndarray) -> Whitening:
    """The whitening of the faces' typical within-cluster spread (see the module notes).

    Parameters
    ----------
    embeddings : ndarray of shape (n_faces, dim)
        Face rows (float32 or float64).
    labels : ndarray of shape (n_faces,), int
        Cluster code per face in ``0..n_clusters-1``, ``-1`` for a face in no
        cluster (left out).
    sums : ndarray of shape (n_clusters, dim)
        Each cluster's sum of embeddings (a ``ClusterState``'s ``sums``).

    Returns
    -------
    Whitening

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((200, 3)) * [1.0, 1.0, 10.0]   # everyone varies along z
    >>> labels = np.repeat(np.arange(10), 20)
    >>> sums = np.stack([x[labels == c].sum(axis=0) for c in range(10)])
    >>> w = within_whitening(x, labels, sums)
    >>> # variances 1, 1, 100: z is divided by 10, x and y by the floor sqrt(34)
    >>> round(float(w.transform[2, 2] / w.transform[0, 0]), 1)
    0.6
    """
    x = np.asarray(embeddings)
    labels = np.asarray(labels)
    d = x.shape[1]
    sums = np.asarray(sums, dtype=np.float64)
    counts = np.bincount(labels[labels >= 0], minlength=sums.shape[0]).astype(np.float64)
    clustered = np.flatnonzero(labels >= 0)
    clustered = clustered[np.argsort(labels[clustered], kind="stable")]
    centre = sums.sum(axis=0) / max(clustered.size, 1)
    identity = Whitening(centre, np.eye(d), 1.0)
    many = counts >= 2
    if not many.any():
        return identity
    means = sums / np.maximum(counts, 1.0)[:, None]
    scatter = np.zeros((d, d))
    for r, _ in _residual_chunks(x, labels, means, clustered):
        scatter += r.T @ r
    if not np.trace(scatter) > 0:
        return identity
    _, vectors = np.linalg.eigh(scatter)
    # Each cluster's mean squared deviation along each principal direction.
    spread = np.zeros((sums.shape[0], d))
    for r, lab in _residual_chunks(x, labels, means, clustered):
        proj = r @ vectors
        heads = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
        spread[lab[heads]] += np.add.reduceat(proj * proj, heads, axis=0)
    typical = np.median(spread[many] / counts[many, None], axis=0)
    # The mean over the directions the faces spread in at all (a coordinate
    # every face shares spreads in none and must not lower it).
    spans = typical > 1e-12 * float(typical.max(initial=0.0))
    if not spans.any():
        return identity
    level = float(typical[spans].mean())
    scale = 1.0 / np.sqrt(np.maximum(typical, level))
    transform = (vectors * scale) @ vectors.T
    return Whitening(centre, transform, float(typical.max() / level))
