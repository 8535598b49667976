"""Exact, fast cluster quality and merge impact, on cosine similarity.

Every function takes a :class:`~toolkit.clustering.ClusterState` or an
embedding array with one label per row. Rows are L2-normalised in float64;
everything follows from per-cluster sums of the unit rows, computed in
chunks under a memory budget (``chunk_bytes``, 64 MiB by default), never
from a faces × faces matrix. Results equal scikit-learn's where it has the
metric. On a ClusterState the expensive faces × clusters pass is done once
and reused by every metric and every :func:`merge_impact` call.

>>> import numpy as np
>>> from toolkit.quality import silhouette_score
>>> X = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
>>> round(silhouette_score(X, ["a", "a", "b", "b"]), 4)
0.7802
"""

from ._clusters import calinski_harabasz, cluster_quality, davies_bouldin
from ._impact import MergeImpact, merge_impact, merge_impact_frame
from ._silhouette import SilhouetteReport, silhouette_report, silhouette_samples, silhouette_score
from ._truth import TruthComparison, compare_to_truth

__all__ = [
    "silhouette_samples", "silhouette_score", "silhouette_report", "SilhouetteReport",
    "cluster_quality", "davies_bouldin", "calinski_harabasz",
    "compare_to_truth", "TruthComparison",
    "merge_impact", "merge_impact_frame", "MergeImpact",
]
