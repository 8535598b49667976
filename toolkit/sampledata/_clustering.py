"""The clustering as IMM exported it before any merge.

IMM splits people: each embedding mode of an identity became its own cluster
(fragments, to be merged). It needs three good faces to open a group, so
low-quality faces and faces of modes with fewer good faces are left
``figure-cluster-id-independent``; faces of photos added after the run are
``figure-cluster-id-unavailable``. For a few look-alike sibling pairs the
smaller fragment of one sibling was clustered into the other's largest
cluster (impure clusters, for split suggestions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._ids import uuid4s
from ._population import MAX_MODES, Population

__all__ = ["Clustering", "cluster_faces", "INDEPENDENT", "UNAVAILABLE", "MIN_CLUSTER_FACES"]

INDEPENDENT = "figure-cluster-id-independent"
UNAVAILABLE = "figure-cluster-id-unavailable"
MIN_CLUSTER_FACES = 3


@dataclass(frozen=True)
class Clustering:
    """Cluster of each face and the clusters.

    Attributes
    ----------
    cluster_id : ndarray of shape (n_faces,), object
        ``Cluster-<uuid4>`` or one of the reserved ids.
    confidence : ndarray of shape (n_faces,), float64
        IMM ``FigureClusterConfidence`` in [0, 1]; NaN for faces in no cluster.
    clusters : DataFrame
        One row per cluster, sorted by ``cluster_id``: ``cluster_id``,
        ``identity`` (the majority identity), ``n_faces``, ``purity`` (share of
        the majority identity, in (0.5, 1]).
    """

    cluster_id: np.ndarray
    confidence: np.ndarray
    clusters: pd.DataFrame


def _merge_sibling_fragments(rng: np.random.Generator, pop: Population, key: np.ndarray,
                             counts: np.ndarray, n_impure: int) -> np.ndarray:
    """Relabel, for ``n_impure`` sibling pairs, b's smallest fragment as a's largest cluster."""
    intruder = np.zeros(len(key), dtype=bool)
    done = 0
    for row in rng.permutation(len(pop.pairs)).tolist():
        if done == n_impure:
            break
        a, b = pop.pairs[row][rng.permutation(2)]
        keys_a = a * MAX_MODES + np.flatnonzero(counts[a * MAX_MODES:(a + 1) * MAX_MODES])
        keys_b = b * MAX_MODES + np.flatnonzero(counts[b * MAX_MODES:(b + 1) * MAX_MODES])
        if len(keys_a) == 0 or len(keys_b) < 2:
            continue  # b must keep a cluster of its own
        host = keys_a[np.argmax(counts[keys_a])]
        guest = keys_b[np.argmin(counts[keys_b])]
        if counts[guest] >= counts[host]:
            continue  # the host identity must stay the majority
        moved = key == guest
        key[moved] = host
        intruder |= moved
        counts[host] += counts[guest]
        counts[guest] = 0
        done += 1
    return intruder


def cluster_faces(rng: np.random.Generator, pop: Population, recent_face: np.ndarray, *,
                  n_impure: int) -> Clustering:
    """The pre-merge clustering of ``pop``; ``recent_face`` marks faces not yet clustered."""
    n = pop.n_faces
    eligible = ~pop.low_quality & ~recent_face
    key = np.where(eligible, pop.face_identity * MAX_MODES + pop.face_mode, -1)
    counts = np.bincount(key[eligible], minlength=pop.n_identities * MAX_MODES)
    too_small = eligible & (counts[np.maximum(key, 0)] < MIN_CLUSTER_FACES)
    key[too_small] = -1
    counts[counts < MIN_CLUSTER_FACES] = 0
    intruder = _merge_sibling_fragments(rng, pop, key, counts, n_impure)

    live = np.flatnonzero(counts)
    names = np.char.add("Cluster-", uuid4s(rng, len(live))).astype(object)
    lookup = np.full(pop.n_identities * MAX_MODES, None, dtype=object)
    lookup[live] = names
    cluster_id = np.where(recent_face, UNAVAILABLE, INDEPENDENT).astype(object)
    cluster_id[key >= 0] = lookup[key[key >= 0]]

    confidence = np.where(intruder, rng.uniform(0.55, 0.8, n), rng.uniform(0.8, 0.99, n))
    confidence = np.where(key >= 0, np.round(confidence, 3), np.nan)

    members = pd.DataFrame({"cluster_id": cluster_id[key >= 0],
                            "identity": pop.identities["identity"].to_numpy()[
                                pop.face_identity[key >= 0]]})
    table = members.groupby(["cluster_id", "identity"]).size().rename("n").reset_index()
    table = table.sort_values(["cluster_id", "n", "identity"], ascending=[True, False, True])
    majority = table.drop_duplicates("cluster_id").set_index("cluster_id")
    size = table.groupby("cluster_id")["n"].sum()
    clusters = pd.DataFrame({
        "cluster_id": pd.array(majority.index.to_numpy(), dtype="str"),
        "identity": pd.array(majority["identity"].to_numpy(), dtype="str"),
        "n_faces": size.loc[majority.index].to_numpy().astype(np.int64),
        "purity": (majority["n"] / size.loc[majority.index]).to_numpy(),
    })
    return Clustering(cluster_id, confidence, clusters)
