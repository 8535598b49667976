"""The colours of the toolkit's plots, in one place.

All colours come from the Okabe-Ito palette, which stays distinguishable under
the common forms of colour blindness. The same meaning keeps the same colour
across plots: green is good (succeeded, likely-correct), vermillion is bad
(failed, likely-wrong). Widgets and the HTML report read these tables too, so a
status looks the same everywhere.
"""

from __future__ import annotations

from itertools import cycle, islice
from types import MappingProxyType
from typing import Iterable

__all__ = [
    "STATE_ORDER", "STATE_COLORS", "VERDICT_ORDER", "VERDICT_COLORS",
    "CLUSTER_COLORS", "CLUSTER_MARKERS", "REST_COLOR", "NO_CLUSTER_COLOR",
    "MISSING_COLOR", "BEFORE_COLOR", "AFTER_COLOR", "MEAN_LINE_COLOR",
    "UNFINISHED_HATCH", "cluster_styles", "legend_handles",
]

#: Normalised task states, in the order legends list them.
STATE_ORDER = ("pending", "running", "succeeded", "failed", "stopped", "other")

#: Colour of each normalised task state (the ``state`` column of tasks and
#: history frames).
STATE_COLORS = MappingProxyType({
    "pending": "#56B4E9",    # sky blue: waiting, a lighter shade of running
    "running": "#0072B2",    # blue
    "succeeded": "#009E73",  # bluish green
    "failed": "#D55E00",     # vermillion
    "stopped": "#CC79A7",    # reddish purple
    "other": "#999999",      # grey
})

#: Merge verdicts, from good to bad, in the order legends list them.
VERDICT_ORDER = ("likely-correct", "suspicious", "likely-wrong")

#: Colour of each merge verdict (the ``verdict`` column of an audit).
VERDICT_COLORS = MappingProxyType({
    "likely-correct": "#009E73",  # bluish green, as succeeded
    "suspicious": "#E69F00",      # orange
    "likely-wrong": "#D55E00",    # vermillion, as failed
})

#: Colours given to highlighted clusters, in turn. Past eight clusters the
#: colours repeat with another marker (see :func:`cluster_styles`).
CLUSTER_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7",
                  "#56B4E9", "#D55E00", "#F0E442", "#000000")
#: Markers combined with :data:`CLUSTER_COLORS`; 8 x 7 distinct styles.
CLUSTER_MARKERS = ("o", "s", "^", "D", "v", "P", "X")

REST_COLOR = "#AAAAAA"        # clusters drawn but not highlighted
NO_CLUSTER_COLOR = "#CFCFCF"  # faces in no cluster
MISSING_COLOR = "#999999"     # a value with no verdict / no state to show
BEFORE_COLOR = "#56B4E9"      # merge impact: the figure before the merge
AFTER_COLOR = "#0072B2"       # ... and after it
MEAN_LINE_COLOR = "#000000"

#: Hatch of a task bar whose end is not known yet (still running).
UNFINISHED_HATCH = "//"


def cluster_styles(n: int) -> list[tuple[str, str]]:
    """``n`` distinct ``(colour, marker)`` pairs for highlighted clusters.

    The colour cycles fastest, so the first eight clusters differ by colour
    alone and all use the first marker.
    """
    pairs = ((c, m) for m in CLUSTER_MARKERS for c in CLUSTER_COLORS)
    return list(islice(cycle(pairs), n))


def legend_handles(kind: str, present: Iterable[str]) -> list:
    """Legend proxies for the states or verdicts in ``present``, in table order.

    Parameters
    ----------
    kind : {"state", "verdict"}
        Which colour table.
    present : iterable of str
        The values that occur in the plot; the legend lists only these.
    """
    from matplotlib.patches import Patch

    order, colors = ((STATE_ORDER, STATE_COLORS) if kind == "state"
                     else (VERDICT_ORDER, VERDICT_COLORS))
    seen = set(present)
    return [Patch(facecolor=colors[v], edgecolor=colors[v], label=v)
            for v in order if v in seen]
