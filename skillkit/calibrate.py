"""Fitting the extended models' constants to network runs (Sec. 5 and Fig. 11 of the paper).

The paper gives the multilinear model one constant per resource, fitted once on a network trained on a
single skill (n_s = 1) and then reused unchanged for n_s = 5:

- time: B^2 in the rate of Eq. 14 (the paper fits 1/22), with the starting strength R0 fitted or fixed;
- data: D_c of the D_c-shot learner, Eq. 17 (the paper fits 800);
- width: N_c units per skill, Prop. 2 / Eq. 21 (the paper fits 4).

Every fit is least squares on the measured R_1/S curve (``scipy.optimize.least_squares``) and returns a
:class:`Fit` with the constant and the fit's own standard error (from the Jacobian, scaled by the
residual variance). :func:`fit_seeds` fits every seed separately and reports mean and standard deviation
over seeds. The fits take arrays (resource, R/S); the sweep points that train the networks and the
wiring from their results to these fits are in :mod:`skillkit.experiments.emergence`. Numpy and scipy
only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from . import _checks, extended

__all__ = ["Fit", "SeedFits", "fit_time", "fit_data", "fit_width", "fit_seeds", "mlp_R0", "fit_toy_B2"]


@dataclass(frozen=True)
class Fit:
    """One least-squares fit: the constant, its standard error, and any other fitted parameters."""

    name: str                 # "B2", "D_c" or "N_c"
    value: float
    stderr: float             # the fit's own standard error (Jacobian, residual variance)
    rms: float                # root-mean-square residual of R/S
    n_points: int
    extra: dict = field(default_factory=dict)   # e.g. {"R0": ..., "R0_stderr": ...} for the time fit

    def __float__(self) -> float:
        return self.value


@dataclass(frozen=True)
class SeedFits:
    """Fits of every seed: mean and standard deviation of the constant over seeds."""

    name: str
    values: np.ndarray        # (n_seeds,)
    fits: tuple               # the per-seed :class:`Fit` objects
    pooled: Fit               # one fit to the seed-averaged curve

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def sd(self) -> float:
        return float(np.std(self.values, ddof=1)) if self.values.size > 1 else float("nan")

    def extra_mean(self, key: str) -> float:
        return float(np.mean([f.extra[key] for f in self.fits]))


def _finish(name, res, n, extra_names=()):
    """Standard errors from the Jacobian of a ``least_squares`` result."""
    dof = max(n - res.x.size, 1)
    s2 = 2.0 * res.cost / dof
    try:
        cov = np.linalg.inv(res.jac.T @ res.jac) * s2
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        se = np.full(res.x.size, np.nan)
    return res.x, se, float(np.sqrt(2.0 * res.cost / n))


def fit_time(T, R_over_S, p: float = 1.0, *, S: float = 1.0, lr: float = 1.0, R0: float | None = None,
             convention: str = "mse", weights=None) -> Fit:
    """Fit B^2 of the time-extended model (Eq. 14) to a measured curve R/S against steps ``T``.

    The model is R/S = 1/(1 + (S/R0 - 1) exp(-c 2 lr p B2 S T)) with c = 2 for ``convention="mse"``
    (PyTorch's MSELoss, the default since the networks here are trained with it) and c = 1 for "half"
    (see :func:`skillkit.extended.strength_time`). ``R0=None`` fits R0 too (as log-odds); a number
    fixes it. Least squares on R/S. Returns a :class:`Fit` named ``"B2"``; ``extra`` holds ``R0`` and,
    when fitted, ``R0_stderr`` (delta method) .
    """
    T, y = _checks.curve(T, R_over_S, "T")
    T = _checks.nonnegative("T", T)
    p = float(_checks.in_open_interval("p", p, 0.0, 1.0 + 1e-12))
    S = float(_checks.positive("S", S))
    lr = float(_checks.positive("lr", lr))
    c = {"half": 1.0, "mse": 2.0}.get(convention)
    if c is None:
        raise ValueError(f"convention must be 'half' or 'mse', got {convention!r}")
    w = np.ones_like(y) if weights is None else _checks.nonnegative("weights", weights).ravel()
    scale = c * 2.0 * lr * p * S           # rate = scale * B2

    # starting guess: a straight line through the logit of the points well inside (0.05, 0.95)
    mid = (y > 0.05) & (y < 0.95)
    if mid.sum() >= 2:
        slope, icpt = np.polyfit(T[mid], np.log(y[mid] / (1 - y[mid])), 1)
        slope = max(slope, 1e-12)
    else:
        t_half = T[np.argmin(np.abs(y - 0.5))]
        slope, icpt = 10.0 / max(t_half, 1e-12), -10.0
    if R0 is None:
        def resid(th):
            B2, gap = np.exp(th[0]), th[1]
            return w * (1.0 / (1.0 + np.exp(np.clip(gap - scale * B2 * T, -700, 700))) - y)
        th0 = np.array([np.log(slope / scale), max(-icpt, 0.1)])
        res = optimize.least_squares(resid, th0, method="lm")
        x, se, rms = _finish("B2", res, T.size)
        B2, gap = float(np.exp(x[0])), float(x[1])
        R0_fit = S / (1.0 + np.exp(gap))
        extra = {"R0": float(R0_fit), "R0_stderr": float(R0_fit * (1 - R0_fit / S) * se[1]),
                 "log_odds0": gap, "log_odds0_stderr": float(se[1])}
        return Fit("B2", B2, float(B2 * se[0]), rms, T.size, extra)
    S_, R0_, _ = _checks.strength_params(S, R0, lr)
    gap = float(np.log(S_ / R0_ - 1.0))

    def resid1(th):
        return w * (1.0 / (1.0 + np.exp(np.clip(gap - scale * np.exp(th[0]) * T, -700, 700))) - y)
    if mid.any():     # logit(y) = scale B2 T - gap at the points inside (0.05, 0.95)
        guess = np.median((np.log(y[mid] / (1 - y[mid])) + gap) / np.maximum(T[mid], 1e-12)) / scale
    else:
        guess = slope / scale
    th0 = np.array([np.log(max(guess, 1e-12))])
    res = optimize.least_squares(resid1, th0, method="lm")
    x, se, rms = _finish("B2", res, T.size)
    B2 = float(np.exp(x[0]))
    return Fit("B2", B2, float(B2 * se[0]), rms, T.size, {"R0": float(R0_)})


def _fit_1d(name, model, x, y, guess_grid):
    """Least squares of a one-parameter model R/S = model(x, theta), started at the best grid point."""
    sse = [np.sum((model(x, g) - y) ** 2) for g in guess_grid]
    th0 = float(guess_grid[int(np.argmin(sse))])
    res = optimize.least_squares(lambda th: model(x, np.exp(th[0])) - y, [np.log(th0)],
                                 method="trf", diff_step=1e-4)
    xs, se, rms = _finish(name, res, x.size)
    val = float(np.exp(xs[0]))
    return Fit(name, val, float(val * se[0]), rms, x.size)


def fit_data(D, R_over_S, p: float = 1.0, *, form: str = "eq17", average: str = "expected") -> Fit:
    """Fit D_c of the D_c-shot learner (Eq. 17, Prop. 1) to R/S measured at the end of training on D samples.

    ``p`` is the skill's share (1 for the one-skill calibration). ``form`` and ``average`` as in
    :func:`skillkit.extended.strength_data` (defaults: the paper's Eq. 17 at the expected count).
    Returns a :class:`Fit` named ``"D_c"``.
    """
    D, y = _checks.curve(D, R_over_S, "D")
    D = _checks.positive("D", D)
    p = float(_checks.in_closed_interval("p", p, 0.0, 1.0))

    def model(x, Dc):
        return extended.strength_data(x, p, Dc, S=1.0, form=form, average=average)
    grid = np.geomspace(max(D.min() * p, 1.0) / 2, D.max() * p * 2, 60)
    return _fit_1d("D_c", model, D, y, grid)


def fit_width(N, R_over_S, skill: int = 0) -> Fit:
    """Fit N_c (units per skill, Prop. 2 / Eq. 21) to R_k/S measured at the end of training at width ``N``.

    ``skill`` is the 0-based skill index (0 for the one-skill calibration). Returns a :class:`Fit` named
    ``"N_c"``. The model is piecewise linear in N, so the fit starts from the best point of a grid.
    """
    N, y = _checks.curve(N, R_over_S, "N")
    N = _checks.positive("N", N)
    skill = _checks.integer("skill", skill, lo=0)

    def model(x, Nc):
        return extended.strength_width(x, skill, Nc, S=1.0)
    grid = np.geomspace(0.05, max(N.max(), 1.0) * 2, 400)
    return _fit_1d("N_c", model, N, y, grid)


def fit_seeds(fit, x, R_over_S, **kwargs) -> SeedFits:
    """Apply ``fit`` (one of the fit functions) to every seed, rows of ``R_over_S`` (n_seeds, n_points).

    Returns a :class:`SeedFits`: per-seed values, their mean and s.d., and a pooled fit to the mean curve.
    """
    Y = np.atleast_2d(np.asarray(R_over_S, dtype=float))
    if Y.ndim != 2 or Y.shape[1] != np.asarray(x).size:
        raise ValueError(f"R_over_S must have shape (n_seeds, {np.asarray(x).size}), got {Y.shape}")
    fits = tuple(fit(x, row, **kwargs) for row in Y)
    pooled = fit(x, Y.mean(0), **kwargs)
    return SeedFits(fits[0].name, np.array([f.value for f in fits]), fits, pooled)


def mlp_R0(init_std: float) -> float:
    """The paper code's starting strength of its MLP, R_k(0) = init_std^2 / 3.6 (``theo_time``; an
    empirical fit by the authors, used when R0 is fixed rather than fitted)."""
    return float(_checks.positive("init_std", init_std)) ** 2 / 3.6


def fit_toy_B2(result: dict) -> SeedFits:
    """Fit B^2 of the time-extended model (Eq. 14, loss convention "half") to the toy net's R/S, per copy.

    Each copy is fitted with R0 fixed at its own starting strength R(0) (the model starts where the
    network starts), p = 1 (one skill, all of the data). Returns a :class:`SeedFits`; ``pooled`` is a
    fit to the copy-averaged curve with R0 its mean start.
    """
    T, R, S, lr = result["steps"], np.asarray(result["R_over_S"], dtype=float), result["S"], result["lr"]
    if R.ndim != 2 or R.shape[0] != T.size:
        raise ValueError(f"result['R_over_S'] must have shape (n_logs, n_models) = ({T.size}, n), got {R.shape}")
    if np.any(R[0] <= 0):
        raise ValueError("every copy must start with R(0) > 0 to fix R0 of the model")
    fits = tuple(fit_time(T, R[:, j], 1.0, S=S, lr=lr, R0=R[0, j] * S, convention="half") for j in range(R.shape[1]))
    pooled = fit_time(T, R.mean(1), 1.0, S=S, lr=lr, R0=R[0].mean() * S, convention="half")
    return SeedFits("B2", np.array([f.value for f in fits]), fits, pooled)
