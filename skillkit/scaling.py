"""Power-law fits with uncertainty. Numpy only."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PowerLawFit", "fit_power_law"]


@dataclass(frozen=True)
class PowerLawFit:
    """Result of :func:`fit_power_law`; unpacks as ``prefactor, exponent``."""

    prefactor: float
    exponent: float
    exponent_stderr: float     # standard error of the slope in log-log (ordinary least squares)
    log_prefactor_stderr: float
    n_points: int
    window: tuple[float, float]  # the x range actually fitted

    def __iter__(self):
        yield self.prefactor
        yield self.exponent

    def __call__(self, x):
        """The fitted law A x^e evaluated at ``x``."""
        return self.prefactor * np.asarray(x, dtype=float) ** self.exponent


def fit_power_law(x, y, *, window: tuple[float, float] | None = None) -> PowerLawFit:
    """Fit ``y = A x**e`` by least squares on ``log y`` against ``log x``.

    ``window = (lo, hi)`` restricts the fit to ``lo <= x <= hi``. Needs at least 3 points with
    x > 0 and y > 0 in the window (non-positive values are a ``ValueError``, never dropped).
    Returns a :class:`PowerLawFit`, which unpacks as ``(prefactor, exponent)``.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    if window is not None:
        lo, hi = window
        if not (0 < lo < hi):
            raise ValueError(f"window must be (lo, hi) with 0 < lo < hi, got {window!r}")
        keep = (x >= lo) & (x <= hi)
        x, y = x[keep], y[keep]
    if not np.all(np.isfinite(x) & (x > 0)):
        raise ValueError("x must be finite and positive (range (0, inf)) in the fitted window")
    if not np.all(np.isfinite(y) & (y > 0)):
        raise ValueError("y must be finite and positive (range (0, inf)) in the fitted window")
    if x.size < 3:
        raise ValueError(f"need at least 3 points in the fitted window, got {x.size}")
    lx, ly = np.log(x), np.log(y)
    A = np.stack([np.ones_like(lx), lx], axis=1)
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    resid = ly - A @ coef
    dof = max(x.size - 2, 1)
    cov = (resid @ resid / dof) * np.linalg.inv(A.T @ A)
    return PowerLawFit(prefactor=float(np.exp(coef[0])), exponent=float(coef[1]),
                       exponent_stderr=float(np.sqrt(cov[1, 1])),
                       log_prefactor_stderr=float(np.sqrt(cov[0, 0])), n_points=int(x.size),
                       window=(float(x.min()), float(x.max())))
