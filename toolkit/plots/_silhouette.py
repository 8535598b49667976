"""Silhouette plot: one band of sorted per-face values per cluster."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import RecordError
from . import _style
from ._inputs import as_series, check_choice, cluster_codes, get_ax, require_frame, short_label

__all__ = ["plot_silhouette"]

_BAND_HEIGHTS = ("size", "equal")
_MAX_BAND_POINTS = 1000  # steps drawn per band at most


def _values_and_labels(values: Any, labels: Any) -> tuple[np.ndarray, pd.Series]:
    if isinstance(values, pd.DataFrame):
        if labels is not None:
            raise TypeError("Pass `labels` only with an array of values; a frame brings its own "
                            "`cluster_id` column.")
        frame = require_frame(values, ["cluster_id", "silhouette"], arg="values",
                              expected="per-face silhouette values")
        if "size" in frame.columns and frame["cluster_id"].is_unique:
            raise ValueError("`values` looks like one row per cluster (cluster_quality); the "
                             "silhouette plot needs one value per face: pass "
                             "silhouette_samples(state) and state.face_cluster_ids().")
        values, labels = frame["silhouette"], frame["cluster_id"]
    elif labels is None:
        raise TypeError("`labels` is required when `values` is not a frame with columns "
                        "cluster_id and silhouette.")
    lab = as_series(labels)
    values = as_series(values) if np.ndim(values) == 1 else values
    if not isinstance(values, pd.Series):
        raise RecordError("object", "silhouette values are not a 1-D array", field="values",
                          expected="array-like of shape (n_faces,)",
                          got=f"shape {np.shape(values)}")
    try:
        val = values.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise RecordError("object", "silhouette values are not numbers", field="silhouette",
                          expected="an array of floats in [-1, 1]",
                          got=values.iloc[:3].tolist()) from exc
    if len(lab) != len(val):
        raise RecordError("object", "values and labels differ in length", field="labels",
                          expected=f"{len(val)} labels, one per value", got=f"{len(lab)} labels")
    bad = np.isinf(val) | (np.abs(np.nan_to_num(val)) > 1.0 + 1e-6)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise RecordError(f"object[{pos}]", "silhouette value out of range", field="silhouette",
                          expected="a value in [-1, 1] or NaN", got=float(val[pos]))
    return val, lab


def _band_colors(palette: Any, n: int) -> list:
    from matplotlib.colors import is_color_like

    if palette is None:
        palette = _style.CLUSTER_COLORS
    elif isinstance(palette, str) or (is_color_like(palette) and not isinstance(palette, list)):
        palette = [palette]
    palette = list(palette)
    if not palette or not all(is_color_like(c) for c in palette):
        raise ValueError(f"The value for `palette` must be None, a colour or a list of colours, "
                         f"but {palette!r} was passed.")
    return [palette[i % len(palette)] for i in range(n)]


def plot_silhouette(values: Any, labels: Any = None, *, ax: Any = None, max_clusters: int = 40,
                    band_height: str = "size", palette: Any = None, **kwargs: Any):
    """Draw the per-face silhouette values of each cluster as a horizontal band.

    Each cluster is a band of its faces' silhouette values, sorted, filled from
    0; a wide band leaning right means a tight, well-separated cluster, values
    below 0 are faces closer on average to another cluster than to their own.
    Clusters are stacked by mean silhouette, best at the top. Cluster ids can be
    any strings or numbers. Faces in no cluster (missing id, IMM's reserved ids,
    ``-1`` in integer labels) and faces without a value (NaN) are left out and
    counted in the title. With more than ``max_clusters`` clusters the worst and
    the best are shown and a line of text on the Axes says how many clusters and
    faces were left out between them. A dashed vertical line marks the mean
    over all shown and left-out faces (the silhouette score). A band of more
    than 1,000 faces is drawn through 1,000 evenly spaced quantiles of its
    values (its lowest and highest included).

    Parameters
    ----------
    values : array-like of shape (n_faces,) or DataFrame
        Per-face silhouette coefficients in [-1, 1] (``silhouette_samples``),
        NaN for faces without one; or a frame with columns ``cluster_id`` and
        ``silhouette``.
    labels : array-like of shape (n_faces,), default=None
        Cluster id of each face; required with an array, refused with a frame.
    ax : matplotlib Axes, default=None
        Where to draw; the current Axes when None.
    max_clusters : int, default=40
        Most bands to draw (at least 2); beyond it, the ``max_clusters // 2``
        worst and the rest best clusters by mean are shown.
    band_height : {"size", "equal"}, default="size"
        "size": a band is as tall as its cluster has faces (small clusters get
        thin); "equal": every band has the same height.
    palette : colour or list of colours, default=None
        Band colours, cycled from the top; None uses the colour-blind-safe
        cluster colours.
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.fill_betweenx` for every band.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on. Band ``i`` from the top is ``ax.collections[i]``
        (its ``gid`` is the cluster id); the mean line is ``ax.lines[-1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from toolkit.plots import plot_silhouette
    >>> values = np.array([0.6, 0.5, 0.7, 0.1, -0.2, np.nan])
    >>> labels = ["Cluster-a", "Cluster-a", "Cluster-a", "Cluster-b", "Cluster-b", None]
    >>> ax = plot_silhouette(values, labels)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['Cluster-a', 'Cluster-b']
    """
    check_choice("band_height", band_height, _BAND_HEIGHTS)
    if isinstance(max_clusters, bool) or not isinstance(max_clusters, (int, np.integer)) \
            or max_clusters < 2:
        raise ValueError(f"The value for `max_clusters` must be an integer of at least 2, "
                         f"but {max_clusters!r} was passed.")
    val, lab = _values_and_labels(values, labels)
    ax = get_ax(ax)

    all_codes, ids = cluster_codes(lab)
    no_cluster = all_codes < 0
    no_value = ~no_cluster & np.isnan(val)
    keep = ~no_cluster & ~no_value
    # Clusters whose faces all lack a value drop out; re-encode to keep codes dense.
    present, codes = np.unique(all_codes[keep], return_inverse=True)
    ids = ids[present]
    val = val[keep]
    k = len(ids)

    title = f"Silhouette of {int(keep.sum()):,} faces in {k:,} clusters"
    if no_cluster.any():
        title += f"; {int(no_cluster.sum()):,} in no cluster excluded"
    if no_value.any():
        title += f"; {int(no_value.sum()):,} without a value excluded"
    ax.set_title(title)
    ax.set_xlabel("silhouette coefficient (-1 to 1, higher is better)")
    if k == 0:
        ax.text(0.5, 0.5, "No face in a cluster: nothing to plot", transform=ax.transAxes,
                ha="center", va="center")
        return ax

    sizes = np.bincount(codes, minlength=k)
    means = np.bincount(codes, weights=val, minlength=k) / sizes
    order = np.lexsort((np.arange(k), -means))  # best first; ties by id
    if k > max_clusters:
        n_worst = max_clusters // 2
        n_best = max_clusters - n_worst
        shown = np.concatenate([order[:n_best], order[k - n_worst:]])
        left_out = order[n_best:k - n_worst]
    else:
        n_best, shown, left_out = k, order, order[:0]

    by_cluster = np.lexsort((val, codes))  # each cluster's values contiguous, ascending
    starts = np.concatenate([[0], np.cumsum(sizes)])
    heights = sizes.astype(float) if band_height == "size" else np.ones(k)
    gap = max(1.0, 0.02 * heights[shown].sum()) if band_height == "size" else 0.3
    colors = _band_colors(palette, len(shown))
    fill_kws = {"alpha": 0.8, "linewidth": 0, **kwargs}

    # Draw from the top down so band i is collection i; y grows upwards.
    y_top = 0.0
    centres = []
    for rank, c in enumerate(shown):
        if rank == n_best and len(left_out):
            sep = y_top - 1.5 * gap
            ax.axhline(sep, color=_style.MISSING_COLOR, linestyle=":", linewidth=1)
            ax.text(0.5, sep, f"\u2026 {len(left_out):,} clusters ({int(sizes[left_out].sum()):,} "
                    "faces) with mid-range means not shown \u2026",
                    transform=ax.get_yaxis_transform(), ha="center", va="center", fontsize="small",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9})
            y_top -= 3 * gap
        v = val[by_cluster[starts[c]:starts[c + 1]]]
        if len(v) > _MAX_BAND_POINTS:
            # A band is the sorted values (a quantile curve); evenly spaced quantiles,
            # first and last included, look the same and keep figures and reports small.
            v = v[np.linspace(0, len(v) - 1, _MAX_BAND_POINTS).round().astype(np.int64)]
        h = heights[c]
        edges = y_top - h + np.linspace(0.0, h, len(v) + 1)
        # step="post" gives every face a slab of height h/n, so a singleton shows too.
        band = ax.fill_betweenx(edges, 0, np.append(v, v[-1]), step="post",
                                facecolor=colors[rank], edgecolor=colors[rank], **fill_kws)
        band.set_gid(str(ids[c]))
        centres.append(y_top - h / 2)
        y_top -= h + gap

    tick_kws = {"fontsize": "x-small"} if len(shown) > 20 else {}
    ax.set_yticks(centres, [short_label(ids[c]) for c in shown], **tick_kws)
    ax.set_ylim(y_top + gap / 2, gap / 2)  # y_top is now one gap below the last band
    ax.set_ylabel("cluster (sorted by mean silhouette)")
    low = float(min(val.min(), 0.0))
    ax.set_xlim(max(-1.0, low - 0.05), 1.0)
    mean = float(val.mean())
    ax.axvline(mean, color=_style.MEAN_LINE_COLOR, linestyle="--", linewidth=1,
               label=f"mean {mean:.3f}")
    ax.legend(loc="lower right", fontsize="small")
    return ax
