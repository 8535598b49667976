"""ClusterState: an immutable clustering of a FaceSet with per-cluster sums."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from ..errors import RecordError
from ..faceset import FaceSet, is_clustered
from ._entry import LedgerEntry, LedgerError, check_task_id, check_time, readonly, thaw_json
from ._rules import UnknownClusterError, validate_merge_request
from ._stats import check_unit_rows, cluster_sums, encode_cluster_ids, normalise_rows, unit_rows

__all__ = ["ClusterState"]

# Unit features recomputed elsewhere may differ in the last bit or two.
_FEATURE_ATOL = 1e-12


def _face_ids_of(faces: pd.DataFrame) -> np.ndarray:
    ids = faces["face_id"].to_numpy(dtype=object, copy=True)
    if infer_dtype(ids, skipna=False) not in ("string", "empty"):
        i = next(j for j, v in enumerate(ids) if not isinstance(v, str))
        raise RecordError(f"faces[{i}]", "face ids must be strings", field="face_id",
                          expected="a unique string", got=ids[i])
    return ids


class ClusterState:
    """An immutable clustering of a :class:`~toolkit.FaceSet` with per-cluster sums.

    For unit embeddings everything a merge audit needs follows from each
    cluster's size ``n_c`` and sum of member vectors ``S_c``; a merge of A
    into B is ``S_B + S_A``, ``n_B + n_A``, exact and O(dim). Cluster ids are
    arbitrary strings; faces in no cluster (missing id, ``""`` or one of
    :data:`~toolkit.NO_CLUSTER_IDS`) stay in the state with label ``-1``.

    Build it with :meth:`from_faces` (the FaceSet's own ``cluster_id``
    column), :meth:`from_arrays` (raw vectors, normalised here) or
    :meth:`with_cluster_ids` (another clustering of the same faces).
    ``ClusterState(faces, cluster_ids=None)`` is the same as ``from_faces``
    (and ``.with_cluster_ids`` when ``cluster_ids`` is given).

    Attributes
    ----------
    faceset : FaceSet
        The faces. Its ``cluster_id`` column is the input clustering and is
        not updated by merges; :meth:`to_faceset` gives the current one.
    embeddings : ndarray of shape (n_faces, dim), float32
        Read-only view of the FaceSet's unit rows (shared, not copied).
    face_ids : ndarray of shape (n_faces,), object
        ``face_id`` of each row.
    cluster_ids : ndarray of shape (n_clusters,), object
        The live cluster ids, sorted (Python string order).
    labels : ndarray of shape (n_faces,), int64
        Index into ``cluster_ids`` of each face's cluster; ``-1`` = in no cluster.
    counts : ndarray of shape (n_clusters,), int64
        Faces per cluster (each >= 1 for a state built from faces).
    sums : ndarray of shape (n_clusters, dim), float64
        Sum of the member unit vectors of each cluster.
    features : ndarray of shape (n_clusters, dim), float64
        Unit centroids ``S_c / ||S_c||``: IMM's group features (computed on
        first use). A cluster whose vectors sum to zero has a zero feature.

    All arrays are read-only; operations return new states.

    Examples
    --------
    >>> import numpy as np
    >>> state = ClusterState.from_arrays(np.eye(3), ["A", "B", None])
    >>> state.cluster_ids.tolist(), state.labels.tolist()
    (['A', 'B'], [0, 1, -1])
    >>> merged, entry = state.merge("B", from_="A")
    >>> merged.counts.tolist(), merged.sums.tolist()
    ([2], [[1.0, 1.0, 0.0]])
    >>> merged.undo(entry).equals(state)
    True
    """

    faceset: FaceSet
    embeddings: np.ndarray
    face_ids: np.ndarray
    cluster_ids: np.ndarray
    labels: np.ndarray
    counts: np.ndarray
    sums: np.ndarray

    def __init__(self, faces: FaceSet, cluster_ids: Any = None) -> None:
        if not isinstance(faces, FaceSet):
            raise TypeError(f"ClusterState needs a toolkit.FaceSet, but {type(faces).__name__} "
                            "was passed; use ClusterState.from_arrays for plain arrays.")
        face_ids = _face_ids_of(faces.faces)
        check_unit_rows(faces.embeddings, face_ids)
        embeddings = faces.embeddings.view()
        embeddings.flags.writeable = False
        readonly(face_ids)
        self._assign(faces, face_ids, embeddings,
                     *self._encode(faces, embeddings, face_ids, cluster_ids))

    # ---- construction -------------------------------------------------------------------

    @staticmethod
    def _encode(faces: FaceSet, embeddings: np.ndarray, face_ids: np.ndarray, cluster_ids: Any):
        if cluster_ids is None:
            labels, ids = encode_cluster_ids(faces.faces["cluster_id"], len(face_ids),
                                             source="faces")
        else:
            labels, ids = encode_cluster_ids(cluster_ids, len(face_ids), source="cluster_ids")
        counts = np.bincount(labels[labels >= 0], minlength=len(ids)).astype(np.int64)
        sums = cluster_sums(embeddings, labels, len(ids))
        return ids, labels, counts, sums

    def _assign(self, faceset, face_ids, embeddings, cluster_ids, labels, counts, sums,
                features=None) -> None:
        d = self.__dict__
        d.update(faceset=faceset, face_ids=face_ids, embeddings=embeddings,
                 cluster_ids=readonly(cluster_ids), labels=readonly(labels),
                 counts=readonly(counts), sums=readonly(sums))
        if features is not None:
            d["features"] = readonly(features)

    @classmethod
    def _from_parts(cls, like: "ClusterState", cluster_ids, labels, counts, sums,
                    features=None) -> "ClusterState":
        state = object.__new__(cls)
        state._assign(like.faceset, like.face_ids, like.embeddings, cluster_ids, labels, counts,
                      sums, features)
        return state

    @classmethod
    def from_faces(cls, faces: FaceSet) -> "ClusterState":
        """The clustering in the FaceSet's ``cluster_id`` column.

        Parameters
        ----------
        faces : FaceSet
            Faces with unit embeddings.

        Returns
        -------
        ClusterState

        Raises
        ------
        toolkit.errors.RecordError
            A cluster id that is not a string, a face id that is not a string,
            or an embedding that is not unit length (names the row).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from toolkit import FaceSet
        >>> fs = FaceSet(pd.DataFrame({"face_id": ["f0", "f1"], "cluster_id": ["c", "c"]}),
        ...              np.eye(2, dtype=np.float32))
        >>> ClusterState.from_faces(fs).counts.tolist()
        [2]
        """
        return cls(faces)

    @classmethod
    def from_arrays(cls, embeddings: Any, cluster_ids: Any, *, face_ids: Any = None,
                    faces: pd.DataFrame | None = None) -> "ClusterState":
        """A state from raw vectors and cluster ids; rows are L2-normalised here.

        Parameters
        ----------
        embeddings : array-like of shape (n_faces, dim)
            Face vectors in any scale; each row is divided by its L2 norm
            (computed in float64) and stored as float32.
        cluster_ids : array-like of shape (n_faces,)
            String cluster id per face; None/NaN, ``""`` or a reserved IMM id
            = in no cluster.
        face_ids : array-like of shape (n_faces,), default=None
            Unique string ids. Default: the ``face_id`` column of ``faces``
            if it has one, else ``"face-0"``, ``"face-1"``, ...
        faces : DataFrame of shape (n_faces, ...), default=None
            Extra per-face columns (``identity``, ``file_id``, ...), aligned by
            position. A ``cluster_id`` column must agree with ``cluster_ids``;
            a ``norm`` column is kept, otherwise the norms found here are stored.

        Returns
        -------
        ClusterState

        Examples
        --------
        >>> state = ClusterState.from_arrays([[3.0, 4.0], [0.0, 2.0]], ["a", "a"])
        >>> state.embeddings[0].tolist(), state.faceset.faces["norm"].tolist()
        ([0.6000000238418579, 0.800000011920929], [5.0, 2.0])
        """
        unit, norms = normalise_rows(embeddings, source="embeddings")
        n = unit.shape[0]
        frame = pd.DataFrame(index=pd.RangeIndex(n)) if faces is None else faces.reset_index(
            drop=True).copy()
        if len(frame) != n:
            raise ValueError(f"faces has {len(frame)} rows but embeddings has {n}; they must "
                             "align row for row.")
        if face_ids is not None:
            ids = np.asarray(face_ids, dtype=object)
            if ids.shape != (n,):
                raise ValueError(f"face_ids must have one entry per face ({n}), but shape "
                                 f"{ids.shape} was passed.")
            if "face_id" in frame.columns and not np.array_equal(
                    frame["face_id"].to_numpy(dtype=object), ids):
                raise ValueError("face_ids and faces['face_id'] differ; pass only one of them.")
            frame["face_id"] = pd.array(ids.tolist(), dtype="str") \
                if infer_dtype(ids, skipna=False) == "string" else ids
        elif "face_id" not in frame.columns:
            frame["face_id"] = pd.array([f"face-{i}" for i in range(n)], dtype="str")
        raw = cluster_ids.to_numpy(dtype=object) if isinstance(
            cluster_ids, (pd.Series, pd.Index)) else np.asarray(cluster_ids, dtype=object)
        if raw.shape != (n,):
            raise ValueError(f"cluster_ids must have one entry per face ({n}), but shape "
                             f"{raw.shape} was passed.")
        if "cluster_id" in frame.columns:
            old = frame["cluster_id"].to_numpy(dtype=object)
            same = (pd.isna(old) & pd.isna(raw)) | (old == raw)
            if not same.all():
                i = int(np.flatnonzero(~same)[0])
                raise ValueError(f"faces['cluster_id'] and cluster_ids differ (first at row {i}: "
                                 f"{old[i]!r} vs {raw[i]!r}); pass only one of them.")
        else:
            frame["cluster_id"] = raw
        if "norm" not in frame.columns:
            frame["norm"] = norms
        return cls(FaceSet(frame, unit))

    def with_cluster_ids(self, cluster_ids: Any) -> "ClusterState":
        """Another clustering of the same faces (embeddings shared, not copied).

        Parameters
        ----------
        cluster_ids : array-like of shape (n_faces,)
            String cluster id per face; None/NaN, ``""`` or a reserved IMM id
            = in no cluster.

        Returns
        -------
        ClusterState

        Examples
        --------
        >>> state = ClusterState.from_arrays([[1.0, 0], [0, 1.0]], ["a", "a"])
        >>> state.with_cluster_ids(["x", "y"]).cluster_ids.tolist()
        ['x', 'y']
        """
        state = object.__new__(type(self))
        state._assign(self.faceset, self.face_ids, self.embeddings,
                      *self._encode(self.faceset, self.embeddings, self.face_ids, cluster_ids))
        return state

    # ---- immutability ---------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"ClusterState is immutable: cannot set {name!r}; merge() and "
                             "with_cluster_ids() return new states.")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ClusterState is immutable: cannot delete {name!r}.")

    # ---- sizes and look-ups ---------------------------------------------------------------

    @property
    def n_faces(self) -> int:
        """Number of faces, in a cluster or not."""
        return int(self.labels.shape[0])

    @property
    def n_clusters(self) -> int:
        """Number of live clusters."""
        return int(self.cluster_ids.shape[0])

    @property
    def n_unclustered(self) -> int:
        """Number of faces in no cluster (label -1)."""
        return int(self.n_faces - self.counts.sum())

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.embeddings.shape[1])

    @cached_property
    def features(self) -> np.ndarray:
        """Unit centroids, float64 of shape (n_clusters, dim); zero rows for zero sums."""
        return readonly(unit_rows(self.sums))

    @cached_property
    def _index(self) -> dict[str, int]:
        return {cid: i for i, cid in enumerate(self.cluster_ids)}

    @cached_property
    def _member_index(self) -> tuple[np.ndarray, np.ndarray]:
        # Faces grouped by cluster (stable, so ascending within one) and the
        # group boundaries: members() is then a slice.
        clustered = np.flatnonzero(self.labels >= 0)
        order = readonly(clustered[np.argsort(self.labels[clustered], kind="stable")])
        bounds = np.concatenate([[0], np.cumsum(self.counts)])
        return order, bounds

    def cluster_index(self, cluster_id: str) -> int:
        """Row of ``cluster_id`` in ``cluster_ids``, ``counts``, ``sums``, ``features``.

        Raises
        ------
        UnknownClusterError
            (a :class:`~toolkit.errors.MergeError` and a :class:`KeyError`,
            code ``ResourceNotFound``) when no live cluster has this id.

        Examples
        --------
        >>> state = ClusterState.from_arrays([[1.0, 0], [0, 1.0]], ["b", "a"])
        >>> state.cluster_index("b")
        1
        """
        code = self._index.get(cluster_id) if isinstance(cluster_id, str) else None
        if code is None:
            if cluster_id is None or cluster_id == "" or (
                    isinstance(cluster_id, str) and not is_clustered([cluster_id])[0]):
                hint = ("this value means 'in no cluster' (missing, empty or a reserved IMM "
                        "id); those faces have label -1")
            else:
                hint = (f"no live cluster has this id ({self.n_clusters} live clusters"
                        + (f", e.g. {self.cluster_ids[0]!r})" if self.n_clusters else ")"))
            raise UnknownClusterError("ResourceNotFound", "cluster_id", cluster_id, hint)
        return code

    def members(self, cluster_id: str) -> np.ndarray:
        """Positions (FaceSet rows) of the faces in ``cluster_id``, ascending, read-only.

        Examples
        --------
        >>> state = ClusterState.from_arrays(np.eye(3), ["a", None, "a"])
        >>> state.members("a").tolist()
        [0, 2]
        """
        code = self.cluster_index(cluster_id)
        order, bounds = self._member_index
        return order[bounds[code]:bounds[code + 1]]

    def face_cluster_ids(self) -> np.ndarray:
        """The live cluster id of every face, object array; None = in no cluster."""
        lookup = np.append(self.cluster_ids, None)
        # label -1 picks the trailing None.
        return lookup[self.labels]

    def cluster_frame(self) -> pd.DataFrame:
        """One row per live cluster, in ``cluster_ids`` order (row i = code i).

        Returns
        -------
        DataFrame
            ``cluster_id`` (str); ``size`` (int64, faces); and
            ``mean_resultant_length`` (float64, ``||S_c|| / n_c`` in [0, 1]:
            the length of the mean member vector, 1 when all members point the
            same way, near 0 for members spread in every direction).

        Examples
        --------
        >>> state = ClusterState.from_arrays([[1.0, 0], [0, 1.0]], ["a", "a"])
        >>> state.cluster_frame().round(4).to_dict("list")
        {'cluster_id': ['a'], 'size': [2], 'mean_resultant_length': [0.7071]}
        """
        norms = np.sqrt((self.sums * self.sums).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            mrl = np.where(self.counts > 0, norms / np.maximum(self.counts, 1), np.nan)
        return pd.DataFrame({"cluster_id": pd.array(self.cluster_ids.tolist(), dtype="str"),
                             "size": self.counts.copy(),
                             "mean_resultant_length": mrl})

    def to_faceset(self) -> FaceSet:
        """The FaceSet with ``cluster_id`` set to the current clustering.

        Faces in no cluster keep their original raw value when it already
        meant "no cluster" (e.g. ``figure-cluster-id-independent``), else get
        a missing value. Embeddings are shared, not copied.
        """
        current = self.face_cluster_ids()
        raw = self.faceset.faces["cluster_id"].to_numpy(dtype=object)
        none = self.labels < 0
        keep_raw = none & ~is_clustered(raw)
        current[keep_raw] = raw[keep_raw]
        faces = self.faceset.faces.copy()
        faces["cluster_id"] = pd.array(current.tolist(), dtype="str")
        return FaceSet(faces, self.faceset.embeddings, dict(self.faceset.counts))

    def equals(self, other: "ClusterState") -> bool:
        """Same faces, same clustering, and the same statistics bit for bit."""
        if not isinstance(other, ClusterState):
            return False
        same_faces = other.faceset is self.faceset or (
            np.array_equal(self.face_ids, other.face_ids)
            and np.array_equal(self.embeddings, other.embeddings))
        return bool(same_faces
                    and np.array_equal(self.cluster_ids, other.cluster_ids)
                    and np.array_equal(self.labels, other.labels)
                    and np.array_equal(self.counts, other.counts)
                    and self.sums.shape == other.sums.shape
                    and np.array_equal(self.sums, other.sums))

    def __repr__(self) -> str:
        return (f"ClusterState({self.n_faces} faces, dim={self.dim}, {self.n_clusters} clusters, "
                f"{self.n_unclustered} in no cluster)")

    # ---- merge / undo ----------------------------------------------------------------------

    def merge(self, to: str, froms: Sequence[str] | None = None, from_: str | None = None, *,
              user_data: str | None = None, tags: Mapping[str, Any] | None = None,
              at: Any = None, task_id: str | None = None) -> tuple["ClusterState", LedgerEntry]:
        """Merge source clusters into ``to`` with CreateFigureClustersMergingTask's rules.

        The destination keeps its id and gets the sources' faces; its sum
        becomes ``S_to + S_from[0] + S_from[1] + ...`` (added left to right in
        request order, so a replay gives the same bits) and its feature the
        new unit centroid. The sources disappear from the state (the cloud
        does not say whether it deletes or empties them; we delete them).
        Costs O(n_faces) integer work plus O(n_clusters * dim).

        Parameters
        ----------
        to : str
            Destination cluster id (``To``); must exist and not be a source.
        froms : sequence of str, default=None
            1 to 100 distinct source ids (``Froms``). Give this or ``from_``.
        from_ : str, default=None
            A single source id (``From``).
        user_data : str, default=None
            At most 2048 bytes in UTF-8 (``UserData``); kept in the entry.
        tags : mapping, default=None
            String keys, plain JSON values (``Tags``); kept in the entry.
        at : datetime, default=None
            Timezone-aware time of the merge; default now (UTC).
        task_id : str, default=None
            The recorded task this merge replays, if any.

        Returns
        -------
        new_state : ClusterState
        entry : LedgerEntry
            What :meth:`undo` needs to restore this state exactly.

        Raises
        ------
        toolkit.errors.MergeError
            A broken request rule; see :func:`validate_merge_request` for the
            codes (``MissingParameter``, ``InvalidArgument``, ``ResourceNotFound``).

        Examples
        --------
        >>> state = ClusterState.from_arrays(np.eye(3), ["a", "b", "c"])
        >>> merged, entry = state.merge("b", froms=["c", "a"])
        >>> merged.cluster_ids.tolist(), merged.labels.tolist(), entry.n_moved
        (['b'], [0, 0, 0], 2)
        """
        sources = validate_merge_request(to, froms, from_, user_data, tags, existing=self._index)
        to = str(to)  # a numpy str_ would otherwise travel into the entry
        at = check_time(at)
        task_id = check_task_id(task_id)
        k = self.n_clusters
        t = self._index[to]
        src = np.array([self._index[s] for s in sources], dtype=np.int64)

        # Members of every source in one O(n) pass, then split by code.
        is_src = np.zeros(k + 1, dtype=bool)
        is_src[src] = True
        moved = np.flatnonzero(is_src[self.labels])  # label -1 reads is_src[k] = False
        moved = moved[np.argsort(self.labels[moved], kind="stable")]
        moved_codes = self.labels[moved]
        lo = np.searchsorted(moved_codes, src, side="left")
        hi = np.searchsorted(moved_codes, src, side="right")
        positions = tuple(readonly(moved[a:b].copy()) for a, b in zip(lo, hi))

        keep = np.ones(k, dtype=bool)
        keep[src] = False
        new_code = np.cumsum(keep) - 1
        t_new = int(new_code[t])
        remap = np.empty(k + 1, dtype=np.int64)
        remap[:k] = new_code
        remap[src] = t_new
        remap[k] = -1
        labels = remap[self.labels]

        counts = self.counts[keep]
        counts[t_new] = self.counts[t] + self.counts[src].sum()
        sums = self.sums[keep]
        acc = self.sums[t].copy()
        for c in src:
            acc = acc + self.sums[c]
        sums[t_new] = acc

        feature_before = unit_rows(self.sums[t:t + 1])[0]
        feature_after = unit_rows(acc[None, :])[0]
        features = None
        if "features" in self.__dict__:
            # Each feature row depends only on its own sum, so the others carry over.
            features = self.features[keep]
            features[t_new] = feature_after

        entry = LedgerEntry(
            to=to, sources=tuple(sources), source_field="From" if froms is None else "Froms",
            member_positions=positions,
            member_face_ids=tuple(tuple(self.face_ids[p].tolist()) for p in positions),
            to_count_before=int(self.counts[t]),
            source_counts=tuple(int(self.counts[c]) for c in src),
            to_sum_before=readonly(self.sums[t].copy()),
            source_sums=readonly(self.sums[src]),
            feature_before=readonly(feature_before), feature_after=readonly(feature_after),
            at=at, user_data=user_data, tags=tags, task_id=task_id)
        state = self._from_parts(self, self.cluster_ids[keep], labels, counts, sums, features)
        return state, entry

    def undo_problem(self, entry: LedgerEntry) -> str | None:
        """Why ``entry`` cannot be undone on this state, or None when it can.

        An entry can be undone when its effects are still separable: the
        destination is live with exactly the size and the sum (bit for bit)
        the merge left it, no source id is live, and every face the merge
        moved is still in the destination. That holds for the last merge and
        for any earlier one whose clusters no later merge touched.
        """
        if not isinstance(entry, LedgerEntry):
            return f"expected a LedgerEntry, got {type(entry).__name__}"
        if entry.to_sum_before.shape != (self.dim,):
            return (f"the entry is for {entry.to_sum_before.shape[0]}-d embeddings, this "
                    f"state has dim={self.dim}")
        t = self._index.get(entry.to)
        if t is None:
            return (f"its destination {entry.to!r} is no longer a live cluster (a later merge "
                    "used it as a source); undo that merge first")
        live = [s for s in entry.sources if s in self._index]
        if live:
            return f"its source {live[0]!r} is a live cluster again (already undone?)"
        for source, pos, ids in zip(entry.sources, entry.member_positions,
                                    entry.member_face_ids):
            if pos.size and (pos.min() < 0 or pos.max() >= self.n_faces
                             or not np.array_equal(self.face_ids[pos],
                                                   np.asarray(ids, dtype=object))):
                return (f"the faces it moved from {source!r} are not this state's faces "
                        "(was it made on another FaceSet?)")
            if pos.size and not (self.labels[pos] == t).all():
                return f"faces it moved from {source!r} are no longer in {entry.to!r}"
        if int(self.counts[t]) != entry.to_count_after or not np.array_equal(
                self.sums[t], entry.to_sum_after()):
            return (f"{entry.to!r} changed after this merge (a later merge into it); undo the "
                    "later merges first")
        return None

    def undo(self, entry: LedgerEntry) -> "ClusterState":
        """The state before ``entry``'s merge, bit for bit.

        The sources come back with their ids, members, counts and exact
        sums; the destination gets back its prior size and its stored prior
        sum (not a subtraction, which would not restore the bits).

        Parameters
        ----------
        entry : LedgerEntry
            A merge whose effects are still separable in this state (see
            :meth:`undo_problem`): the last merge, or an earlier one whose
            clusters no later merge touched.

        Returns
        -------
        ClusterState

        Raises
        ------
        LedgerError
            The merge cannot be undone on this state; the message says why.
        """
        problem = self.undo_problem(entry)
        if problem is not None:
            raise LedgerError(f"Cannot undo {entry!r}: {problem}.")
        k, m = self.n_clusters, len(entry.sources)
        t = self._index[entry.to]
        ids = np.concatenate([self.cluster_ids, np.array(list(entry.sources), dtype=object)])
        order = np.argsort(ids, kind="stable")
        new_code = np.empty(k + m, dtype=np.int64)
        new_code[order] = np.arange(k + m)
        remap = np.append(new_code[:k], -1)
        labels = remap[self.labels]
        for j, pos in enumerate(entry.member_positions):
            labels[pos] = new_code[k + j]

        counts = np.empty(k + m, dtype=np.int64)
        counts[new_code[:k]] = self.counts
        counts[new_code[k:]] = entry.source_counts
        counts[new_code[t]] = entry.to_count_before
        sums = np.empty((k + m, self.dim), dtype=np.float64)
        sums[new_code[:k]] = self.sums
        sums[new_code[k:]] = entry.source_sums
        sums[new_code[t]] = entry.to_sum_before
        features = None
        if "features" in self.__dict__:
            features = np.empty_like(sums)
            features[new_code[:k]] = self.features
            features[new_code[k:]] = unit_rows(entry.source_sums)
            features[new_code[t]] = entry.feature_before
        return self._from_parts(self, ids[order], labels, counts, sums, features)

    def apply(self, entry: LedgerEntry) -> "ClusterState":
        """Replay a recorded merge and check it reproduces the record exactly.

        The merge is re-run from the entry's request (``to``, sources,
        ``user_data``, ``tags``, ``at``, ``task_id``); the new entry must equal
        the recorded one field for field: members, counts and sums bit for
        bit, the features to 1e-12 (their last bit depends on numpy's
        reduction code, which may differ on another machine).

        Returns
        -------
        ClusterState
            The state after the merge.

        Raises
        ------
        toolkit.errors.MergeError
            The request is not valid on this state (e.g. a source is gone).
        LedgerError
            The merge runs but does not reproduce the record (names the fields).
        """
        kwargs = ({"from_": entry.sources[0]} if entry.source_field == "From"
                  else {"froms": list(entry.sources)})
        state, replayed = self.merge(entry.to, **kwargs, user_data=entry.user_data,
                                     tags=thaw_json(entry.tags), at=entry.at,
                                     task_id=entry.task_id)
        diff = replayed.differences(entry, feature_atol=_FEATURE_ATOL)
        if diff:
            raise LedgerError(f"Replaying {entry!r} does not reproduce the record: "
                              f"{', '.join(diff)} differ (other faces or another clustering?).")
        return state
