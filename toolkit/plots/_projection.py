"""2-D projections of face embeddings, coloured by cluster.

The projection is the only thing the plotting layer computes: PCA by default
(deterministic, linear, fast), t-SNE or UMAP on request. It is for looking
only; every distance that matters is measured in the full space by
:mod:`toolkit.quality`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import RecordError
from ..faceset import FaceSet
from . import _style
from ._inputs import check_choice, cluster_codes, get_ax, short_label

__all__ = ["plot_projection", "plot_merge_projection"]

_METHODS = ("pca", "tsne", "umap")
_METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def _is_state(obj: Any) -> bool:
    # Duck-typed so the plotting layer does not depend on toolkit.clustering.
    return all(hasattr(obj, a) for a in ("embeddings", "labels", "cluster_ids", "face_ids"))


def _embeddings_and_codes(data: Any, labels: Any, arg: str) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    if _is_state(data) or isinstance(data, FaceSet):
        if labels is not None:
            raise TypeError(f"Pass `labels` only with an embedding array; a "
                            f"{type(data).__name__} brings its own cluster labels.")
        if _is_state(data):
            codes = np.asarray(data.labels, dtype=np.int64)
            live = np.asarray(data.cluster_ids, dtype=object)
            # Dense codes over the clusters that still hold faces (merged-away
            # sources may stay listed with no members).
            used, dense = np.unique(codes[codes >= 0], return_inverse=True)
            out = np.full(len(codes), -1, dtype=np.int64)
            out[codes >= 0] = dense
            return np.asarray(data.embeddings), out, live[used]
        codes, ids = cluster_codes(data.faces["cluster_id"])
        return data.embeddings, codes, ids
    if labels is None:
        raise TypeError(f"`labels` is required when `{arg}` is an embedding array; or pass a "
                        "FaceSet or a ClusterState.")
    X = np.asarray(data)
    if X.ndim != 2:
        raise RecordError("object", f"`{arg}` is not a 2-D embedding matrix", field=arg,
                          expected="array of shape (n_faces, dim)", got=f"shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    codes, ids = cluster_codes(labels)
    if len(codes) != X.shape[0]:
        raise RecordError("object", "embeddings and labels differ in length", field="labels",
                          expected=f"{X.shape[0]} labels, one per embedding row",
                          got=f"{len(codes)} labels")
    return X, codes, ids


def _check_embeddings(X: np.ndarray, arg: str) -> None:
    if X.shape[0] < 3 or X.shape[1] < 2:
        raise RecordError("object", f"`{arg}` is too small to project", field=arg,
                          expected="at least 3 faces of dimension 2 or more",
                          got=f"shape {X.shape}")
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        pos = int(np.flatnonzero(~finite)[0])
        raise RecordError(f"object[{pos}]", "embedding holds NaN or infinity", field="embeddings",
                          expected="finite values", got=X[pos, :4].tolist())


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"The value for `{name}` must be an integer of at least {low}, "
                         f"but {value!r} was passed.")
    return int(value)


def _sample(n: int, must: np.ndarray, max_points: int, random_state: int) -> np.ndarray:
    """Sorted row positions to draw: all of ``must``, the rest at random up to ``max_points``."""
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    others = np.flatnonzero(~must)
    room = max(0, max_points - int(must.sum()))
    picked = rng.choice(others, size=min(room, len(others)), replace=False)
    return np.sort(np.concatenate([np.flatnonzero(must), picked]))


def _project(X: np.ndarray, method: str, random_state: int,
             method_kws: dict | None) -> tuple[np.ndarray, tuple[str, str]]:
    """Coordinates of shape (n, 2) and the two axis labels."""
    kws = dict(method_kws or {})
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=random_state, **kws)
        coords = pca.fit_transform(X)
        share = pca.explained_variance_ratio_
        return coords, (f"PC 1 ({share[0]:.1%} of variance)", f"PC 2 ({share[1]:.1%} of variance)")
    if method == "tsne":
        from sklearn.manifold import TSNE

        # scikit-learn refuses a perplexity of n_samples or more.
        kws.setdefault("perplexity", float(min(30.0, (X.shape[0] - 1) / 3)))
        kws.setdefault("init", "pca")
        coords = TSNE(n_components=2, random_state=random_state, **kws).fit_transform(X)
        return coords, ("t-SNE 1", "t-SNE 2")
    try:
        import umap
    except ImportError as exc:
        raise ImportError("method='umap' needs the optional package umap-learn, which is not "
                          "installed. Install it (pip install umap-learn) or use method='pca' "
                          "or method='tsne'.") from exc
    coords = umap.UMAP(n_components=2, random_state=random_state, **kws).fit_transform(X)
    return np.asarray(coords), ("UMAP 1", "UMAP 2")


def project(data: Any, *, method: str = "pca", random_state: int = 0,
            method_kws: dict | None = None) -> tuple[np.ndarray, tuple[str, str]]:
    """2-D coordinates of every face, for display only.

    Parameters
    ----------
    data : ClusterState, FaceSet or array-like of shape (n_faces, dim)
    method : {"pca", "tsne", "umap"}, default="pca"
    random_state : int, default=0
    method_kws : dict, default=None
        Options for the projection estimator.

    Returns
    -------
    coords : ndarray of shape (n_faces, 2)
    axis_labels : tuple of two str
        E.g. ``("PC 1 (4.1% of variance)", "PC 2 (3.9% of variance)")``.

    Examples
    --------
    >>> projection = project(state)                               # doctest: +SKIP
    >>> fig = plot_merge_projection(before, after, to, froms, projection=projection)  # doctest: +SKIP
    """
    check_choice("method", method, _METHODS)
    X = np.asarray(data.embeddings if hasattr(data, "embeddings") else data)
    if X.ndim != 2:
        raise RecordError("object", "`data` is not a 2-D embedding matrix", field="data",
                          expected="array of shape (n_faces, dim)", got=f"shape {X.shape}")
    _check_embeddings(X, "data")
    return _project(X, method, random_state, method_kws)


def _top_clusters(counts: np.ndarray, top_n: int) -> list[int]:
    order = np.lexsort((np.arange(len(counts)), -counts))  # largest first, ties by id
    return [int(c) for c in order[:top_n]]


def _highlight_codes(highlight: Any, ids: np.ndarray, arg: str) -> list[int]:
    wanted = [highlight] if isinstance(highlight, str) else list(highlight)
    position = {v: i for i, v in enumerate(ids)}
    out = []
    for h in wanted:
        if h not in position:
            shown = [str(v) for v in ids[:5]]
            raise ValueError(f"Cluster {h!r} in `{arg}` is not a cluster of the data "
                             f"({len(ids)} clusters, e.g. {shown}).")
        if position[h] not in out:
            out.append(position[h])
    return out


def _draw(ax, coords: np.ndarray, codes: np.ndarray, ids: np.ndarray, counts: np.ndarray,
          highlighted: list[int], styles: dict, scatter_kws: dict) -> None:
    """Grey points first (no cluster, then the other clusters), highlighted ones on top."""
    size = 16 if len(coords) <= 2000 else 4
    kws = {"s": size, "linewidths": 0, **scatter_kws}
    is_high = np.isin(codes, highlighted)
    none = codes < 0
    rest = ~none & ~is_high
    if none.any():
        ax.scatter(coords[none, 0], coords[none, 1], color=_style.NO_CLUSTER_COLOR, marker=".",
                   label=f"in no cluster ({int((codes < 0).sum()):,} faces)", zorder=1, **kws)
    if rest.any():
        n_rest = len(ids) - len(highlighted)
        ax.scatter(coords[rest, 0], coords[rest, 1], color=_style.REST_COLOR, marker="o",
                   label=f"{n_rest:,} other cluster{'s' if n_rest != 1 else ''}", zorder=1,
                   **kws)
    for c in highlighted:
        mask = codes == c
        color, marker = styles[ids[c]]
        ax.scatter(coords[mask, 0], coords[mask, 1], color=color, marker=marker,
                   label=f"{short_label(ids[c])} ({int(counts[c]):,} faces)", zorder=2, **kws)
    legend_kws = {"fontsize": "small", "markerscale": 3.0 if kws["s"] < 10 else 1.0}
    if len(highlighted) > 4:  # a long legend would hide the points: put it beside the Axes
        legend_kws.update(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.legend(**legend_kws)


def plot_projection(data: Any, labels: Any = None, *, method: str = "pca", ax: Any = None,
                    top_n: int = 8, highlight: Any = None, max_points: int = 20000,
                    random_state: int = 0, method_kws: dict | None = None, projection: Any = None,
                    **kwargs: Any):
    """Scatter the faces on a 2-D projection of their embeddings, coloured by cluster.

    The ``top_n`` largest clusters (or the clusters in ``highlight``) get their
    own colour and marker; every other cluster is grey, faces in no cluster are
    light grey dots. Distances on the plot only hint at distances between
    embeddings: PCA keeps the two directions of largest variance (the axis labels
    say how much of it), t-SNE and UMAP keep neighbourhoods, not distances.

    Parameters
    ----------
    data : ClusterState, FaceSet or array-like of shape (n_faces, dim)
        The embeddings; a state or FaceSet also brings the cluster of every face.
    labels : array-like of shape (n_faces,), default=None
        Cluster id of each face, with an array only. Missing ids, IMM's
        reserved ids and ``-1`` in integer labels mean "in no cluster".
    method : {"pca", "tsne", "umap"}, default="pca"
        The projection. "tsne" is scikit-learn's TSNE (slow past ~10,000 faces);
        "umap" needs the optional package umap-learn.
    ax : matplotlib Axes, default=None
        Where to draw; the current Axes when None.
    top_n : int, default=8
        How many of the largest clusters to colour (0 colours none). The first
        eight get the eight colour-blind-safe colours; more repeat the colours
        with other markers. Ignored when ``highlight`` is given.
    highlight : str or list of str, default=None
        Cluster ids to colour instead of the largest ones, in this order.
    max_points : int, default=20000
        Most faces to project and draw. Beyond it, every face of the coloured
        clusters is kept and the others are sampled at random (seeded by
        ``random_state``); the title says so.
    random_state : int, default=0
        Seed of the projection and of the sample: same inputs, same picture.
    method_kws : dict, default=None
        Options for the projection estimator (e.g. ``{"perplexity": 50}``).
    projection : tuple (coords, axis_labels), default=None
        A projection of every face computed once by :func:`project`; skips
        fitting one here.
    **kwargs
        Passed to every :meth:`~matplotlib.axes.Axes.scatter` call.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on: one scatter collection for faces in no cluster (if
        any), one for the grey clusters (if any), then one per coloured cluster.

    Examples
    --------
    >>> import numpy as np
    >>> from toolkit.plots import plot_projection
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 8)).astype(np.float32)
    >>> labels = np.repeat(["Cluster-a", "Cluster-b", "Cluster-c"], 20)
    >>> ax = plot_projection(X, labels, top_n=2)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['1 other cluster', 'Cluster-a (20 faces)', 'Cluster-b (20 faces)']
    """
    check_choice("method", method, _METHODS)
    top_n = _check_int("top_n", top_n, 0)
    max_points = _check_int("max_points", max_points, 3)
    X, codes, ids = _embeddings_and_codes(data, labels, "data")
    _check_embeddings(X, "data")
    counts = np.bincount(codes[codes >= 0], minlength=len(ids))
    highlighted = (_highlight_codes(highlight, ids, "highlight") if highlight is not None
                   else _top_clusters(counts, top_n))
    styles = dict(zip(ids[highlighted], _style.cluster_styles(len(highlighted))))
    rows = _sample(len(X), np.isin(codes, highlighted), max_points, random_state)
    if projection is None:
        coords, axis_labels = _project(X[rows], method, random_state, method_kws)
    else:
        all_coords, axis_labels = projection
        all_coords = np.asarray(all_coords, dtype=np.float64)
        if all_coords.shape != (len(X), 2):
            raise ValueError(f"`projection` coordinates must have shape ({len(X)}, 2), one row per "
                             f"face, but have shape {all_coords.shape}.")
        coords = all_coords[rows]
    ax = get_ax(ax)
    _draw(ax, coords, codes[rows], ids, counts, highlighted, styles, kwargs)
    title = f"{_METHOD_NAMES[method]} of {len(X):,} faces in {len(ids):,} clusters"
    if len(rows) < len(X):
        title += f"\n{len(rows):,} faces shown (random sample, seed {random_state})"
    ax.set_title(title)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    return ax


def plot_merge_projection(state_before: Any, state_after: Any, to: str, sources: Any, *,
                          axes: Sequence[Any] | None = None, method: str = "pca",
                          max_points: int = 20000, random_state: int = 0,
                          method_kws: dict | None = None, projection: Any = None, **kwargs: Any):
    """Show one merge on a 2-D projection: before and after, side by side.

    A figure-level helper: it draws two panels and returns their Figure. The
    projection is fitted once on the shared embeddings, so both panels place
    every face at the same point and only the colours change. Left: the
    destination ``to`` and each source in its own colour. Right: the merged
    cluster in the destination's colour. Every other cluster is grey.

    Parameters
    ----------
    state_before, state_after : ClusterState
        The clustering just before and just after the merge (same faces).
    to : str
        Destination cluster id (IMM's ``To``).
    sources : str or list of str
        Source cluster ids (IMM's ``From`` or ``Froms``).
    axes : sequence of two matplotlib Axes, default=None
        Panels to draw on; a new 1 x 2 Figure when None. ``ax=`` is refused.
    method : {"pca", "tsne", "umap"}, default="pca"
        The projection, as in :func:`plot_projection`.
    max_points : int, default=20000
        Most faces to draw; the merged clusters are always drawn in full.
    random_state : int, default=0
        Seed of the projection and of the sample.
    method_kws : dict, default=None
        Options for the projection estimator.
    projection : tuple (coords, axis_labels), default=None
        A projection of every face computed once by :func:`project`, to draw
        many merges of the same faces without fitting it again; ``method``,
        ``random_state`` and ``method_kws`` are then not used for fitting.
    **kwargs
        Passed to every :meth:`~matplotlib.axes.Axes.scatter` call.

    Returns
    -------
    fig : matplotlib Figure
        Its first two Axes are the "before" and "after" panels.

    Examples
    --------
    >>> after, entry = state.merge("Cluster-b", froms=["Cluster-a"])  # doctest: +SKIP
    >>> fig = plot_merge_projection(state, after, "Cluster-b", ["Cluster-a"])  # doctest: +SKIP
    >>> [ax.get_title() for ax in fig.axes]  # doctest: +SKIP
    ['Before: 1 source cluster and Cluster-b', 'After: Cluster-b (40 faces)']
    """
    if "ax" in kwargs:
        raise TypeError("plot_merge_projection is figure-level: it draws two panels and returns "
                        "the Figure, so it takes no `ax=`. Pass `axes=(ax_before, ax_after)`, "
                        "or use plot_projection(..., ax=ax) for one panel.")
    check_choice("method", method, _METHODS)
    max_points = _check_int("max_points", max_points, 3)
    for name, st in (("state_before", state_before), ("state_after", state_after)):
        if not _is_state(st):
            raise TypeError(f"`{name}` must be a ClusterState (with embeddings, labels, "
                            f"cluster_ids, face_ids), but {type(st).__name__} was passed.")
    sources = [sources] if isinstance(sources, str) else list(sources)
    if not sources:
        raise ValueError("`sources` must name at least one source cluster, but it is empty.")
    if to in sources:
        raise ValueError(f"`to` {to!r} is also among `sources`; a cluster cannot merge into "
                         "itself.")
    X, codes_b, ids_b = _embeddings_and_codes(state_before, None, "state_before")
    X_after, codes_a, ids_a = _embeddings_and_codes(state_after, None, "state_after")
    same_faces = (len(state_before.face_ids) == len(state_after.face_ids)
                  and np.array_equal(np.asarray(state_before.face_ids, dtype=object),
                                     np.asarray(state_after.face_ids, dtype=object)))
    same_rows = X_after.shape == X.shape and (X_after is X or np.array_equal(X_after, X))
    if not (same_faces and same_rows):
        raise ValueError("`state_before` and `state_after` must hold the same faces and "
                         "embeddings (a merge changes labels only).")
    _check_embeddings(X, "state_before.embeddings")
    high_b = _highlight_codes([to, *sources], ids_b, "to/sources")
    high_a = _highlight_codes([h for h in [to, *sources] if h in set(ids_a)], ids_a, "to")
    if not high_a or ids_a[high_a[0]] != to:
        raise ValueError(f"`to` {to!r} is not a cluster of `state_after` "
                         f"({len(ids_a)} clusters, e.g. {[str(v) for v in ids_a[:5]]}).")
    styles = dict(zip([to, *sources], _style.cluster_styles(1 + len(sources))))
    counts_b = np.bincount(codes_b[codes_b >= 0], minlength=len(ids_b))
    counts_a = np.bincount(codes_a[codes_a >= 0], minlength=len(ids_a))

    must = np.isin(codes_b, high_b)
    rows = _sample(len(X), must, max_points, random_state)
    if projection is None:
        coords, axis_labels = _project(X[rows], method, random_state, method_kws)
    else:
        all_coords, axis_labels = projection
        all_coords = np.asarray(all_coords, dtype=np.float64)
        if all_coords.shape != (len(X), 2):
            raise ValueError(f"`projection` coordinates must have shape ({len(X)}, 2), one row per "
                             f"face, but have shape {all_coords.shape}.")
        coords = all_coords[rows]

    if axes is None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), sharex=True, sharey=True)
    else:
        axes = list(axes)
        if len(axes) != 2:
            raise ValueError(f"`axes` must hold two Axes (before, after), but {len(axes)} "
                             "were passed.")
        axes = [get_ax(a) for a in axes]
        fig = axes[0].figure
    _draw(axes[0], coords, codes_b[rows], ids_b, counts_b, high_b, styles, kwargs)
    _draw(axes[1], coords, codes_a[rows], ids_a, counts_a, high_a, styles, kwargs)
    n_src = len(sources)
    axes[0].set_title(f"Before: {n_src} source cluster{'s' if n_src > 1 else ''} and "
                      f"{short_label(to)}")
    axes[1].set_title(f"After: {short_label(to)} ({int(counts_a[high_a[0]]):,} faces)")
    for ax in axes:
        ax.set_xlabel(axis_labels[0])
    axes[0].set_ylabel(axis_labels[1])
    suptitle = f"Merge into {to} ({_METHOD_NAMES[method]} of {len(X):,} faces"
    if len(rows) < len(X):
        suptitle += f", {len(rows):,} shown, random sample seed {random_state}"
    fig.suptitle(suptitle + ")")
    return fig
