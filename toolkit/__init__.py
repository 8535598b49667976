"""Audit face-cluster merges: load cloud task records and face embeddings, replay
merges with the cloud's semantics, and measure cluster quality exactly and fast.

>>> import toolkit as tk
>>> faces = tk.read_faces("sample_data/faces.parquet")      # doctest: +SKIP
>>> tasks = tk.read_tasks("sample_data/tasks")               # doctest: +SKIP
"""

from .errors import ImmError, MergeError, RecordError, ViasError
from .faceset import NO_CLUSTER_IDS, FaceSet, is_clustered

# --- io (readers) ---
from .io import read_clusters, read_faces
from .io import read_task_history, read_tasks, task_transitions, to_utc
# --- sample data ---
from .sampledata import make_sample_data
# --- clustering & quality ---
from .clustering import ClusterState, Ledger, LedgerEntry, validate_merge_request
from .quality import (MergeImpact, SilhouetteReport, TruthComparison, calinski_harabasz,
                      cluster_quality, compare_to_truth, davies_bouldin, merge_impact,
                      merge_impact_frame, silhouette_report, silhouette_samples,
                      silhouette_score)
# --- recluster & suggestions ---
from .reclustering import (CannotLink, ReclusterResult, assign_incremental, assignment_stability,
                        calibrate_threshold, compare_labelings, estimate_threshold, recluster,
                        suggest_merges, suggest_splits)
# --- task engine ---
from .tasks import ManualClock, SystemClock, TaskEngine, WeeklySchedule
# --- audit ---
from .audit import (AuditResult, Thresholds, audit_merges, export_merge_requests,
                    export_undo_plan)
# --- plots, widgets, report ---
from . import plots  # reached as tk.plots.<name>; no flat plot names at the top
from . import widgets  # tk.widgets.<name>; ipywidgets is imported on first use
from . import images  # tk.images.<name>; Pillow is imported when a thumbnail is drawn

__version__ = "0.1.0"

__all__ = [
    "FaceSet", "NO_CLUSTER_IDS", "is_clustered",
    "RecordError", "MergeError", "ImmError", "ViasError",
    # --- io ---
    "read_faces", "read_clusters",
    "read_tasks", "read_task_history", "task_transitions", "to_utc",
    # --- sample data ---
    "make_sample_data",
    # --- clustering & quality ---
    "ClusterState", "Ledger", "LedgerEntry", "validate_merge_request",
    "silhouette_samples", "silhouette_score", "silhouette_report", "SilhouetteReport",
    "cluster_quality", "davies_bouldin", "calinski_harabasz", "compare_to_truth",
    "TruthComparison", "merge_impact", "merge_impact_frame", "MergeImpact",
    # --- recluster ---
    "recluster", "ReclusterResult", "estimate_threshold", "calibrate_threshold",
    "compare_labelings", "assign_incremental", "assignment_stability", "suggest_merges",
    "suggest_splits", "CannotLink",
    # --- tasks ---
    "TaskEngine", "ManualClock", "SystemClock", "WeeklySchedule",
    # --- audit ---
    "audit_merges", "AuditResult", "Thresholds", "export_merge_requests", "export_undo_plan",
    # --- plots/widgets/report ---
    "plots", "widgets", "images",
]
