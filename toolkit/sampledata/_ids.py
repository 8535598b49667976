"""Identifiers drawn from the generator's random stream, vectorised.

Real ids are random; ours come from a seeded :class:`numpy.random.Generator`
so the same seed writes the same ids.
"""

from __future__ import annotations

import numpy as np

__all__ = ["uuid4s", "hex_ids", "request_ids", "event_ids"]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                        dtype=np.uint8)


def _ascii_rows(chars: np.ndarray) -> np.ndarray:
    """An ``(n, k)`` uint8 array of ASCII codes to ``n`` Python strings (``<U{k}``)."""
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    return chars.view(f"S{chars.shape[1]}").ravel().astype(str)


def _hex_chars(raw: np.ndarray) -> np.ndarray:
    out = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 0x0F]
    return out


def uuid4s(rng: np.random.Generator, n: int, *, upper: bool = False) -> np.ndarray:
    """``n`` RFC 4122 version-4 UUID strings (``8-4-4-4-12`` hex digits)."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = _hex_chars(raw)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, stop, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        out[:, at:at + stop - start] = digits[:, start:stop]
    if upper:
        out = np.where((out >= ord("a")) & (out <= ord("f")), out - 32, out).astype(np.uint8)
    return _ascii_rows(out)


def hex_ids(rng: np.random.Generator, n: int, length: int = 32) -> np.ndarray:
    """``n`` lower-case hex strings of ``length`` digits (``length`` even)."""
    return _ascii_rows(_hex_chars(rng.integers(0, 256, size=(n, length // 2), dtype=np.uint8)))


def request_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` IMM ``RequestId`` values: upper-case UUIDs."""
    return uuid4s(rng, n, upper=True)


def event_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` IMM ``EventId`` values, shaped like ``1A4-2Qx7Lm9PzRt8VwKc3Ns5Yb0``."""
    head = _HEX[rng.integers(0, 16, size=(n, 3))]
    head = np.where(head >= ord("a"), head - 32, head)
    tail = _BASE62[rng.integers(0, 62, size=(n, 23))]
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    return _ascii_rows(np.hstack([head, dash, tail]).astype(np.uint8))
