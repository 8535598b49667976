"""Audit face-cluster merges: load cloud task records and face embeddings, replay
merges with the cloud's semantics, and measure cluster quality exactly and fast.

>>> import toolkit as tk
>>> faces = tk.read_faces("sample_data/faces.parquet")      # doctest: +SKIP
>>> tasks = tk.read_tasks("sample_data/tasks")               # doctest: +SKIP
"""

from .errors import ImmError, MergeError, RecordError, ViasError
from .faceset import NO_CLUSTER_IDS, FaceSet, is_clustered

# --- io (readers) ---
# --- clustering & quality ---
# --- recluster & suggestions ---
# --- task engine ---
# --- audit ---
# --- plots, widgets, report ---

__version__ = "0.1.0"

__all__ = [
    "FaceSet", "NO_CLUSTER_IDS", "is_clustered",
    "RecordError", "MergeError", "ImmError", "ViasError",
    # --- io ---
    # --- clustering & quality ---
    # --- recluster ---
    # --- tasks ---
    # --- audit ---
    # --- plots/widgets/report ---
]
