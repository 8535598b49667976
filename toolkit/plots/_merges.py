"""Plots of merges: quality along an audited merge sequence, and one merge's impact."""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import RecordError
from . import _style
from ._inputs import check_values, get_ax, require_frame, row_source, short_label

__all__ = ["plot_quality_over_merges", "plot_merge_impact"]

# Quality lines: neutral colours so they never read as a verdict colour.
_LINES = (
    ("silhouette", "global silhouette", {"color": "#000000", "linestyle": "-"}),
    ("pairwise_f", "pairwise F (vs truth)", {"color": "#0072B2", "linestyle": "--"}),
    ("bcubed_f", "BCubed F (vs truth)", {"color": "#56B4E9", "linestyle": ":"}),
)


def _is_whole(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (float, np.floating)) and float(value).is_integer()


def _step_numbers(frame: pd.DataFrame, arg: str) -> np.ndarray:
    # A timeline has one row per merge, so a Python loop costs nothing here.
    values = frame["step"].astype("object").to_numpy()
    for pos, value in enumerate(values):
        if not _is_whole(value):
            raise RecordError(row_source(frame, pos), f"`{arg}` has a step that is not an integer",
                              field="step", expected="an integer (0 = before any merge)",
                              got=value)
    return np.array([int(v) for v in values], dtype=np.int64)


def _numbers(frame: pd.DataFrame, column: str, arg: str) -> np.ndarray:
    try:
        return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        values = pd.to_numeric(frame[column], errors="coerce")
        pos = int(np.flatnonzero(values.isna() & frame[column].notna())[0])
        raise RecordError(row_source(frame, pos), f"`{arg}` has a {column} that is not a number",
                          field=column, expected="a float", got=frame[column].iloc[pos]) from None


def plot_quality_over_merges(timeline: Any, merges: Any = None, *, ax: Any = None):
    """Draw cluster quality after each merge of an audited sequence, with verdict markers.

    One line per quality figure along the merge steps: the global silhouette
    (-1 to 1, higher is better) and, when ground truth was known, pairwise F and
    BCubed F (0 to 1, higher is better), all on one y-axis. A marker on the
    silhouette line at each merge step is coloured by that merge's verdict
    (likely-correct, suspicious, likely-wrong); step 0, before any merge, has none.

    Parameters
    ----------
    timeline : DataFrame or AuditResult
        The audit's ``timeline`` frame: columns ``step`` (0 = before any merge)
        and ``silhouette``; optional ``pairwise_f``, ``bcubed_f`` and ``verdict``.
        An ``AuditResult`` brings its ``timeline`` and ``merges``.
    merges : DataFrame, default=None
        The audit's ``merges`` frame (``step``, ``verdict``, optionally
        ``outcome``). When given, verdicts come from it instead of the
        timeline, and merges that were not applied are counted in the title.
    ax : matplotlib Axes, default=None
        Where to draw; the current Axes when None.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on: one line per quality figure, one scatter collection
        per verdict present, a legend naming both.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.plots import plot_quality_over_merges
    >>> timeline = pd.DataFrame({"step": [0, 1, 2], "silhouette": [0.31, 0.35, 0.22],
    ...                          "verdict": [None, "likely-correct", "likely-wrong"]})
    >>> ax = plot_quality_over_merges(timeline)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['global silhouette', 'likely-correct', 'likely-wrong']
    """
    if not isinstance(timeline, pd.DataFrame) and hasattr(timeline, "timeline"):
        if merges is None:
            merges = getattr(timeline, "merges", None)
        timeline = timeline.timeline
    frame = require_frame(timeline, ["step", "silhouette"], arg="timeline",
                          expected="an audit timeline (AuditResult.timeline)")
    steps = _step_numbers(frame, "timeline")
    if len(np.unique(steps)) != len(steps):
        dup = pd.Series(steps).duplicated().to_numpy()
        pos = int(np.flatnonzero(dup)[0])
        raise RecordError(row_source(frame, pos), "`timeline` has a step twice", field="step",
                          expected="one row per step", got=int(steps[pos]))
    order = np.argsort(steps, kind="stable")
    frame, steps = frame.iloc[order].reset_index(drop=True), steps[order]
    ax = get_ax(ax)

    silhouette = _numbers(frame, "silhouette", "timeline")
    for column, label, style in _LINES:
        if column in frame.columns:
            ax.plot(steps, _numbers(frame, column, "timeline"), marker=".", label=label,
                    linewidth=1.5, **style)

    verdicts = np.full(len(steps), None, dtype=object)
    not_applied = ""
    if merges is not None:
        mframe = require_frame(merges, ["step", "verdict"], arg="merges",
                               expected="an audit merges frame (AuditResult.merges)")
        applied = mframe[mframe["step"].notna()].reset_index(drop=True)
        m_steps = _step_numbers(applied, "merges") if len(applied) else np.array([], np.int64)
        m_verdicts = check_values(applied, "verdict", _style.VERDICT_ORDER, arg="merges",
                                  allow_missing=True)
        position = {int(s): i for i, s in enumerate(steps)}
        for i, (s, v) in enumerate(zip(m_steps, m_verdicts)):
            if int(s) not in position:
                raise RecordError(row_source(applied, i), "`merges` has a step the timeline lacks",
                                  field="step",
                                  expected=f"a step of the timeline (0..{steps.max()})",
                                  got=int(s))
            verdicts[position[int(s)]] = v
        if "outcome" in mframe.columns:
            skipped = mframe.loc[mframe["outcome"].astype("object") != "applied", "outcome"]
            if len(skipped):
                parts = ", ".join(f"{n} {o}" for o, n in
                                  sorted(skipped.astype(str).value_counts().items()))
                not_applied = f"{len(skipped)} merge task(s) not applied: {parts}"
    elif "verdict" in frame.columns:
        verdicts = check_values(frame, "verdict", _style.VERDICT_ORDER, arg="timeline",
                                allow_missing=True)

    for verdict in _style.VERDICT_ORDER:
        mask = verdicts == verdict
        if mask.any():
            ax.scatter(steps[mask], silhouette[mask], s=70, color=_style.VERDICT_COLORS[verdict],
                       edgecolors="black", linewidths=0.6, zorder=3, label=verdict)

    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("merge step (0 = before any merge)")
    ax.set_ylabel("score (higher is better)")
    n_merges = int((steps > 0).sum())
    title = f"Cluster quality over {n_merges} merge{'s' if n_merges != 1 else ''}"
    ax.set_title(f"{title}\n{not_applied}" if not_applied else title)
    ax.legend(fontsize="small")
    return ax


def _impact_dict(impact: Any) -> dict:
    if isinstance(impact, pd.DataFrame):
        if len(impact) != 1:
            raise ValueError(f"`impact` must describe one merge, but a frame of {len(impact)} rows "
                             "was passed; select one, e.g. impact.iloc[0].")
        return impact.iloc[0].to_dict()
    if isinstance(impact, pd.Series):
        return impact.to_dict()
    if isinstance(impact, Mapping):
        return dict(impact)
    if dataclasses.is_dataclass(impact) and not isinstance(impact, type):
        return {f.name: getattr(impact, f.name) for f in dataclasses.fields(impact)}
    if hasattr(impact, "_asdict"):
        return dict(impact._asdict())
    raise TypeError(f"`impact` must be a dict, Series, one-row DataFrame or dataclass of "
                    f"merge figures, but {type(impact).__name__} was passed.")


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating))
                                               and math.isnan(value))


def _is_scalar(value: Any) -> bool:
    return _is_missing(value) or (isinstance(value, (int, float, np.number))
                                  and not isinstance(value, (bool, np.bool_)))


def _as_float(key: str, value: Any) -> float:
    if _is_missing(value):
        return math.nan
    if not _is_scalar(value):
        raise RecordError("object", "merge impact figure is not a number", field=key,
                          expected="a number", got=value)
    return float(value)


def _default_metrics(figures: dict, pairs: list[str]) -> tuple[list[str], list[str]]:
    """The pairs to draw by default, and the others with the reason they are not drawn.

    Drawn: pairs of single numbers. Pairs of per-cluster values (dicts) and
    pairs with no value on either side are left out. When some pairs are
    scores within [-1, 1] and others are not (counts), only the scores are
    drawn, since one y-axis cannot show both.
    """
    numeric, skipped = [], []
    for p in pairs:
        b, a = figures[f"{p}_before"], figures[f"{p}_after"]
        if not (_is_scalar(b) and _is_scalar(a)):
            if isinstance(b, str) or isinstance(a, str):  # text where a number belongs
                _as_float(f"{p}_before", b), _as_float(f"{p}_after", a)
            skipped.append(f"{p} (not one number)")
        elif _is_missing(b) and _is_missing(a):
            skipped.append(f"{p} (no value)")
        else:
            numeric.append(p)
    # Integers are counts (faces, photos) even when they happen to be 0 or 1.
    scores = [p for p in numeric
              if all(_is_missing(v) or (not isinstance(v, (int, np.integer))
                                        and abs(float(v)) <= 1.0)
                     for v in (figures[f"{p}_before"], figures[f"{p}_after"]))]
    if scores and len(scores) < len(numeric):
        for p in numeric:
            if p not in scores:
                count = any(isinstance(figures[f"{p}_{side}"], (int, np.integer))
                            for side in ("before", "after"))
                skipped.append(f"{p} ({'a count' if count else 'beyond -1..1'})")
        numeric = scores
    return numeric, skipped


def plot_merge_impact(impact: Any, *, ax: Any = None, metrics: Sequence[str] | None = None):
    """Draw the before and after value of each figure of one merge as paired bars.

    Every pair of keys ``<name>_before`` / ``<name>_after`` in ``impact`` (for
    example ``silhouette_before`` and ``silhouette_after``, the mean silhouette
    over all clustered faces) becomes a pair of bars; the "after" bar is
    labelled with its value and the change. All figures share one y-axis, so
    by default, when some figures are scores within [-1, 1] and others are
    not (integer counts, values beyond 1), only the scores are drawn; pairs of per-cluster values
    (dicts) and pairs with no value at all are not drawn either. The title's
    second line names what was left out; ``metrics=`` draws exactly the pairs
    named.

    Parameters
    ----------
    impact : MergeImpact, dict, Series, one-row DataFrame or dataclass
        The merge's figures: ``toolkit.quality.merge_impact(state, to, froms)``
        or one row of an audit's ``merges`` frame. A ``to`` / ``merge_to``
        key, if present, goes into the title. A missing value (None, NaN) on
        one side leaves a gap labelled "n/a".
    ax : matplotlib Axes, default=None
        Where to draw; the current Axes when None.
    metrics : list of str, default=None
        The figure names to draw, in order (without the ``_before``/``_after``
        suffix); each must be a pair of numbers.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on: two bar containers ("before", "after") of one bar
        per figure.

    Examples
    --------
    >>> from toolkit.plots import plot_merge_impact
    >>> ax = plot_merge_impact({"merge_to": "Cluster-b", "silhouette_before": 0.42,
    ...                         "silhouette_after": 0.18, "cohesion_before": 0.61,
    ...                         "cohesion_after": 0.44})
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['silhouette', 'cohesion']
    """
    figures = _impact_dict(impact)
    pairs = [k[: -len("_before")] for k in figures
             if isinstance(k, str) and k.endswith("_before") and k[:-7] + "_after" in figures]
    if not pairs:
        raise RecordError("object", "`impact` has no before/after pair", field="*_before/*_after",
                          expected="keys such as silhouette_before and silhouette_after",
                          got=sorted(map(str, figures)))
    skipped: list[str] = []
    if metrics is not None:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        for m in metrics:
            if m not in pairs:
                raise ValueError(f"The value for `metrics` must name figures with both a "
                                 f"_before and an _after value, one of {pairs}, but {m!r} "
                                 "was passed.")
        pairs = metrics
    else:
        pairs, skipped = _default_metrics(figures, pairs)
        if not pairs:
            raise RecordError("object", "`impact` has no before/after pair of numbers",
                              field="*_before/*_after", expected="a pair of numbers",
                              got=", ".join(skipped))
    before = np.array([_as_float(f"{p}_before", figures[f"{p}_before"]) for p in pairs])
    after = np.array([_as_float(f"{p}_after", figures[f"{p}_after"]) for p in pairs])
    ax = get_ax(ax)

    x = np.arange(len(pairs))
    width = 0.38
    bars_before = ax.bar(x - width / 2, before, width, color=_style.BEFORE_COLOR, label="before")
    bars_after = ax.bar(x + width / 2, after, width, color=_style.AFTER_COLOR, label="after")
    ax.bar_label(bars_before, labels=[f"{v:.3g}" for v in before], fontsize="x-small", padding=2)
    ax.bar_label(bars_after, labels=[f"{a:.3g}" if math.isnan(b) else f"{a:.3g} ({a - b:+.3g})"
                                     for b, a in zip(before, after)],
                 fontsize="x-small", padding=2)
    # bar_label leaves a missing value blank; say it is missing instead.
    for xs, values in ((x - width / 2, before), (x + width / 2, after)):
        for xi, v in zip(xs, values):
            if math.isnan(v):
                ax.text(xi, 0.0, "n/a", ha="center", va="bottom", fontsize="x-small")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, [p.replace("_", " ") for p in pairs])
    ax.set_ylabel("value")
    to = figures.get("merge_to", figures.get("to"))
    title = f"Merge into {short_label(to, 40)}" if isinstance(to, str) and to else "Merge impact"
    if skipped:
        title += "\n" + textwrap.fill("not drawn: " + ", ".join(skipped), width=70)
    ax.set_title(title, fontsize="medium" if skipped else None)
    ax.set_xlim(-0.75, len(pairs) - 0.25)  # one pair alone keeps bars of the usual width
    ax.legend(fontsize="small")
    return ax
