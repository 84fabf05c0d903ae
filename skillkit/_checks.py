"""Input validation shared by every public function, and nothing else.

Numpy only, so the closed-form modules can use it without importing torch. Every check raises a
``ValueError`` that names the parameter and the range it must lie in; nothing is clipped.
"""
from __future__ import annotations

import numbers

import numpy as np


def positive(name: str, value, *, allow_inf: bool = False):
    """Check ``value > 0`` element-wise (``inf`` only when ``allow_inf``); return it as float array."""
    arr = np.asarray(value, dtype=float)
    bad = ~(arr > 0) | (np.isinf(arr) & (not allow_inf))
    if np.isnan(arr).any() or bad.any():
        rng = "(0, inf]" if allow_inf else "(0, inf)"
        raise ValueError(f"{name} must lie in {rng}, got {value!r}")
    return arr


def nonnegative(name: str, value, *, allow_inf: bool = False):
    """Check ``value >= 0`` element-wise (``inf`` only when ``allow_inf``)."""
    arr = np.asarray(value, dtype=float)
    bad = ~(arr >= 0) | (np.isinf(arr) & (not allow_inf))
    if np.isnan(arr).any() or bad.any():
        rng = "[0, inf]" if allow_inf else "[0, inf)"
        raise ValueError(f"{name} must lie in {rng}, got {value!r}")
    return arr


def in_open_interval(name: str, value, lo: float, hi: float):
    """Check ``lo < value < hi`` element-wise."""
    arr = np.asarray(value, dtype=float)
    if np.isnan(arr).any() or not ((arr > lo) & (arr < hi)).all():
        raise ValueError(f"{name} must lie in the open interval ({lo}, {hi}), got {value!r}")
    return arr


def in_closed_interval(name: str, value, lo: float, hi: float):
    """Check ``lo <= value <= hi`` element-wise."""
    arr = np.asarray(value, dtype=float)
    if np.isnan(arr).any() or not ((arr >= lo) & (arr <= hi)).all():
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value!r}")
    return arr


def integer(name: str, value, *, lo: int = 1, hi: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[lo, hi]`` (``hi=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer in [{lo}, {'inf' if hi is None else hi}], got {value!r}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer in [{lo}, {'inf' if hi is None else hi}], got {value!r}")
    return value


def strength_params(S, R0, lr):
    """Validate the model constants shared by the closed forms: S > 0, 0 < R0 < S, lr > 0."""
    S = float(positive("S", S))
    R0 = float(np.asarray(R0, dtype=float))
    if not (0 < R0 < S):
        raise ValueError(f"R0 must lie in the open interval (0, S) = (0, {S}), got {R0!r}")
    lr = float(positive("lr", lr))
    return S, R0, lr


def curve(x, y, xname: str):
    """Check two arrays of one length (at least 2), finite: a curve ``y`` = R/S against ``x``; return both flat."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{xname} and R_over_S must have the same length, got {x.size} and {y.size}")
    if x.size < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"{xname} and R_over_S must be finite with at least 2 points, got {x.size}")
    return x, y
