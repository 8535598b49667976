"""Recluster faces, assign new faces incrementally, suggest merges and splits.

Average linkage in cosine similarity, exact from cluster sums and restricted to
an exact k-nearest-neighbour graph; thresholds derived from the data (or
calibrated on labelled faces) so any embedding scale works.

>>> from toolkit import FaceSet
>>> from toolkit.reclustering import recluster
>>> from toolkit.sampledata import generate_faces
>>> faces, X = generate_faces(600, 30, dim=64, seed=1)
>>> result = recluster(FaceSet(faces, X))
>>> result.params["threshold_source"]
'estimated'
"""

from ._cannot_link import CannotLink
from ._compare import CHANGES, LabelingComparison, compare_labelings
from ._incremental import GATES, IncrementalResult, assign_incremental, assignment_stability
from ._knn import nearest_neighbors
from ._recluster import COHESION_RATIO, METHODS, ReclusterResult, recluster
from ._suggest import MERGE_COLUMNS, SPLIT_COLUMNS, suggest_merges, suggest_splits
from ._threshold import Calibration, ThresholdEstimate, calibrate_threshold, estimate_threshold

__all__ = [
    "recluster", "ReclusterResult", "METHODS", "COHESION_RATIO",
    "estimate_threshold", "ThresholdEstimate", "calibrate_threshold", "Calibration",
    "compare_labelings", "LabelingComparison", "CHANGES",
    "assign_incremental", "IncrementalResult", "assignment_stability", "GATES",
    "suggest_merges", "suggest_splits", "MERGE_COLUMNS", "SPLIT_COLUMNS", "CannotLink",
    "nearest_neighbors",
]
