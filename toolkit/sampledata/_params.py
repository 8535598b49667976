"""Argument checks shared by the generator's public functions.

Constraints live here as data so one test can walk them all.
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["SIMILARITY_SCALES", "MODELS", "check_int", "check_fraction", "check_choice"]

#: ``"standard"``: ArcFace-like, different people near 0; ``"compressed"``:
#: dlib-like, every pair of faces above about 0.8.
SIMILARITY_SCALES = ("standard", "compressed")
#: ``"default"``: isotropic spread around each identity; ``"anisotropic"``:
#: per-identity anisotropic, heavy-tailed spread (a model the tests do not see).
MODELS = ("default", "anisotropic")


def check_int(name: str, value: Any, *, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"The value for `{name}` must be an integer, but {value!r} "
                        f"({type(value).__name__}) was passed.")
    value = int(value)
    if value < low or (high is not None and value > high):
        span = f">= {low}" if high is None else f"between {low} and {high} (inclusive)"
        raise ValueError(f"The value for `{name}` must be {span}, but {value!r} was passed.")
    return value


def check_fraction(name: str, value: Any, *, high: float = 1.0) -> float:
    """``value`` as a float in ``[0, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"The value for `{name}` must be a number, but {value!r} "
                        f"({type(value).__name__}) was passed.")
    value = float(value)
    if not 0.0 <= value <= high:
        raise ValueError(f"The value for `{name}` must be between 0 and {high} (inclusive), "
                         f"but {value!r} was passed.")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"The value for `{name}` must be one of {list(choices)}, "
                         f"but {value!r} was passed.")
    return value
