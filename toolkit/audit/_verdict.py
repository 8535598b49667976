"""Judging one merge without assuming a similarity scale.

Embedding models differ: for some, strangers' faces have cosine ≈ 0 and one
person's faces ≈ 0.6; for others strangers already sit above 0.8. So a merge
is judged by where its cross-similarity falls *between two levels measured in
the same data, on the state just before the merge*:

- the **stranger level** ``b``: the mean cosine over all pairs of clustered
  faces in different clusters, ``(‖ΣS‖² − Σ‖S_c‖²) / (N² − Σn_c²)`` — almost
  all such pairs are different people;
- the **same-person level** ``w``: the cohesion (mean cosine over pairs of
  distinct members) of the destination and of the source, averaged; a side
  with a single face borrows the median cohesion of the data's clusters of
  three or more faces.

The **score** of a source is ``(cross − b) / (w − b)``: 0 means the source is as
far from the destination as strangers are, 1 means as close as the members of
one cluster are to each other. It is unchanged by any affine change of the
similarity scale (``a + c·cos``, ``c > 0``), which is what separates the
ArcFace-like and dlib-like scales. A merge's score is its lowest source score.

Verdict rule (thresholds in score units, reported with every audit):

- ``likely-wrong``: score below ``wrong_below`` (0.6), or below
  ``suspicious_below`` with at least one photo holding faces of both sides;
- ``suspicious``: score below ``suspicious_below`` (0.75), or at least
  ``cooccurrence_suspicious`` (2) photos holding faces of both sides (one
  person rarely appears twice in a photo), or no score (levels undefined);
- ``likely-correct`` otherwise.

The defaults were set on the bundled sample data's two scales and checked on
a held-out embedding variant; every audit reports the levels and cuts it used,
and ``thresholds=`` overrides them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

__all__ = ["Thresholds", "DataLevels", "data_levels", "judge"]

VERDICTS = ("likely-correct", "suspicious", "likely-wrong")


@dataclass(frozen=True)
class Thresholds:
    """Cut points of the verdict rule, in score units (see module docstring).

    Parameters
    ----------
    suspicious_below : float, default=0.75
        A merge scoring below this is at least suspicious.
    wrong_below : float, default=0.6
        A merge scoring below this is likely wrong.
    cooccurrence_suspicious : int, default=2
        Photos holding faces of both sides that make a merge suspicious on
        their own.

    Examples
    --------
    >>> Thresholds(suspicious_below=0.8)
    Thresholds(suspicious_below=0.8, wrong_below=0.6, cooccurrence_suspicious=2)
    >>> Thresholds.coerce({"wrong_below": 0.5}).wrong_below
    0.5
    >>> Thresholds(suspicious_below=0.5, wrong_below=0.6)
    Traceback (most recent call last):
    ...
    ValueError: `wrong_below` (0.6) must not exceed `suspicious_below` (0.5).
    """

    suspicious_below: float = 0.75
    wrong_below: float = 0.6
    cooccurrence_suspicious: int = 2

    def __post_init__(self) -> None:
        for name in ("suspicious_below", "wrong_below"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"The value for `{name}` must be a finite number, but {value!r} "
                                 "was passed.")
        if self.wrong_below > self.suspicious_below:
            raise ValueError(f"`wrong_below` ({self.wrong_below}) must not exceed "
                             f"`suspicious_below` ({self.suspicious_below}).")
        if not isinstance(self.cooccurrence_suspicious, int) or self.cooccurrence_suspicious < 1:
            raise ValueError("The value for `cooccurrence_suspicious` must be an integer >= 1, "
                             f"but {self.cooccurrence_suspicious!r} was passed.")

    @classmethod
    def coerce(cls, value: "Thresholds | Mapping[str, Any] | None") -> "Thresholds":
        """A Thresholds from None (the defaults), a dict of cuts, or a Thresholds."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise ValueError(f"Unknown threshold(s) {sorted(unknown)}; valid names are "
                                 f"{sorted(cls.__dataclass_fields__)}.")
            return cls(**value)
        raise TypeError(f"`thresholds` must be a Thresholds, a dict or None, but "
                        f"{type(value).__name__} was passed.")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DataLevels:
    """The similarity levels of one state: strangers and typical cohesion."""

    stranger: float
    typical_cohesion: float


def data_levels(state: Any) -> DataLevels:
    """Stranger level and median cohesion of clusters with >= 3 faces, from the sums."""
    sums, counts = state.sums, state.counts.astype(np.float64)
    sq = np.einsum("ij,ij->i", sums, sums)
    total = sums.sum(axis=0)
    n = counts.sum()
    pairs = n * n - float((counts ** 2).sum())
    stranger = float((total @ total - sq.sum()) / pairs) if pairs > 0 else math.nan
    # Each face is a unit vector, so Σ‖x‖² over a cluster is its size (up to rounding).
    big = counts >= 3
    cohesion = (sq[big] - counts[big]) / (counts[big] * (counts[big] - 1))
    typical = float(np.median(cohesion)) if cohesion.size else math.nan
    return DataLevels(stranger, typical)


def _score(cross: float, w_to: float, w_src: float, levels: DataLevels) -> tuple[float, float]:
    w_to = levels.typical_cohesion if math.isnan(w_to) else w_to
    w_src = levels.typical_cohesion if math.isnan(w_src) else w_src
    same = (w_to + w_src) / 2
    spread = same - levels.stranger
    if not spread > 0:
        return math.nan, same
    return (cross - levels.stranger) / spread, same


def judge(impact: Any, levels: DataLevels, thresholds: Thresholds) -> dict[str, Any]:
    """Score, verdict and reasons of one merge from its :class:`MergeImpact`.

    Returns
    -------
    dict
        ``score`` (lowest source score), ``same_level`` (the same-person level
        used for that source), ``verdict`` and ``reasons`` (a list of
        sentences).
    """
    worst = None
    for src in impact.froms:
        score, same = _score(impact.cross_similarity_mean[src], impact.cohesion_before[impact.to],
                             impact.cohesion_before[src], levels)
        key = -math.inf if math.isnan(score) else score
        if worst is None or key < worst[0]:
            worst = (key, score, same, src)
    _, score, same, src = worst
    cross = impact.cross_similarity_mean[src]
    cooc = impact.co_occurrence_files or 0
    reasons: list[str] = []
    if math.isnan(score):
        verdict = "suspicious"
        reasons.append("the clusters are too spread out to tell one person from strangers "
                       f"(stranger level {levels.stranger:.3f}, same-person level {same:.3f})")
    else:
        where = (f"{src} and the destination have mean cosine {cross:.3f}: score {score:.2f} "
                 f"on the scale from strangers (0 = {levels.stranger:.3f}) to one person "
                 f"(1 = {same:.3f})")
        if score < thresholds.wrong_below:
            verdict = "likely-wrong"
            reasons.append(f"{where}, below the likely-wrong cut {thresholds.wrong_below}")
        elif score < thresholds.suspicious_below:
            verdict = "suspicious"
            reasons.append(f"{where}, below the suspicious cut {thresholds.suspicious_below}")
        else:
            verdict = "likely-correct"
            reasons.append(f"{where}, at or above the suspicious cut {thresholds.suspicious_below}")
    if cooc:
        photos = "photo holds" if cooc == 1 else "photos hold"
        reasons.append(f"{cooc} {photos} faces of both sides; one person rarely appears twice "
                       "in a photo")
        if verdict == "suspicious" and not math.isnan(score):
            verdict = "likely-wrong"
        elif verdict == "likely-correct" and cooc >= thresholds.cooccurrence_suspicious:
            verdict = "suspicious"
    if impact.nearer_to_feature_after > impact.nearer_to_feature_before:
        reasons.append(f"the new destination feature would pull "
                       f"{impact.nearer_to_feature_after} faces of other clusters (before: "
                       f"{impact.nearer_to_feature_before})")
    return {"score": score, "same_level": same, "verdict": verdict, "reasons": reasons}
