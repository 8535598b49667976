"""Cluster states with per-cluster sufficient statistics; IMM merges; an exact undo ledger.

>>> import numpy as np
>>> from toolkit.clustering import ClusterState
>>> state = ClusterState.from_arrays(np.eye(2), ["a", "b"])
>>> merged, entry = state.merge("a", from_="b")
>>> merged.undo(entry).equals(state)
True
"""

from ._entry import LedgerEntry, LedgerError
from ._ledger import Ledger
from ._rules import (MAX_FROMS, MAX_USER_DATA_BYTES, MERGE_RULES, MergeRule, UnknownClusterError,
                     validate_merge_request)
from ._state import ClusterState

__all__ = [
    "ClusterState", "LedgerEntry", "Ledger", "LedgerError", "UnknownClusterError",
    "validate_merge_request", "MergeRule", "MERGE_RULES", "MAX_FROMS", "MAX_USER_DATA_BYTES",
]
