"""Calibrating the extended models on a network (Sec. 5 and Fig. 11 of the paper), and reading off emergence.

The paper gives the multilinear model one constant per resource, fitted once on a network trained on a
single skill (n_s = 1) and then reused unchanged for n_s = 5:

- time: B^2 in the rate of Eq. 14 (the paper fits 1/22), with the starting strength R0 fitted or fixed;
- data: D_c of the D_c-shot learner, Eq. 17 (the paper fits 800);
- width: N_c units per skill, Prop. 2 / Eq. 21 (the paper fits 4).

Every fit is least squares on the measured R_1/S curve (``scipy.optimize.least_squares``) and returns a
:class:`Fit` with the constant and the fit's own standard error (from the Jacobian, scaled by the
residual variance). :func:`fit_seeds` fits every seed separately and reports mean and standard deviation
over seeds. :func:`crossing` returns the resource at which a curve R/S first crosses a threshold. Numpy
and scipy only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from . import _checks, measure, multilinear

__all__ = ["Fit", "SeedFits", "fit_time", "fit_data", "fit_width", "fit_seeds", "crossing", "crossings",
           "NETWORK_DEFAULTS", "train_point", "calibration_grids", "emergence_grids", "time_curves",
           "final_by_resource", "final_by_width", "mlp_R0", "fit_calibration", "train_toy_modes", "fit_toy_B2",
           "convergence", "json_ready"]


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


def _curve(x, y, xname: str):
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{xname} and R_over_S must have the same length, got {x.size} and {y.size}")
    if x.size < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"{xname} and R_over_S must be finite with at least 2 points, got {x.size}")
    return x, y


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
    (see :func:`skillkit.multilinear.strength_time`). ``R0=None`` fits R0 too (as log-odds); a number
    fixes it. Least squares on R/S. Returns a :class:`Fit` named ``"B2"``; ``extra`` holds ``R0`` and,
    when fitted, ``R0_stderr`` (delta method) .
    """
    T, y = _curve(T, R_over_S, "T")
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
    :func:`skillkit.multilinear.strength_data` (defaults: the paper's Eq. 17 at the expected count).
    Returns a :class:`Fit` named ``"D_c"``.
    """
    D, y = _curve(D, R_over_S, "D")
    D = _checks.positive("D", D)
    p = float(_checks.in_closed_interval("p", p, 0.0, 1.0))

    def model(x, Dc):
        return multilinear.strength_data(x, p, Dc, S=1.0, form=form, average=average)
    grid = np.geomspace(max(D.min() * p, 1.0) / 2, D.max() * p * 2, 60)
    return _fit_1d("D_c", model, D, y, grid)


def fit_width(N, R_over_S, k: int = 0) -> Fit:
    """Fit N_c (units per skill, Prop. 2 / Eq. 21) to R_k/S measured at the end of training at width ``N``.

    ``k`` is the 0-based skill index (0 for the one-skill calibration). Returns a :class:`Fit` named
    ``"N_c"``. The model is piecewise linear in N, so the fit starts from the best point of a grid.
    """
    N, y = _curve(N, R_over_S, "N")
    N = _checks.positive("N", N)
    k = _checks.integer("k", k, lo=0)

    def model(x, Nc):
        return multilinear.strength_width(x, k, Nc, S=1.0)
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


def crossing(x, R_over_S, threshold: float = 0.5, *, log: bool = True) -> float:
    """The resource at which the curve R/S first reaches ``threshold``, interpolated between grid points.

    ``x`` increasing. Interpolation is linear in ``log x`` when ``log`` (x > 0), else linear in x. Returns
    ``x[0]`` if the curve starts at or above the threshold and ``nan`` if it never reaches it.
    """
    x, y = _curve(x, R_over_S, "x")
    threshold = float(_checks.in_open_interval("threshold", threshold, -np.inf, np.inf))
    if np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly increasing")
    if log:
        x = _checks.positive("x", x)
    return float(measure.emergence_times(x, y[:, None, None], threshold, log=log)[0, 0])


def crossings(x, R_over_S, threshold: float = 0.5, *, log: bool = True) -> np.ndarray:
    """:func:`crossing` for every curve in ``R_over_S`` of shape (..., n_points, n_skills) -> (..., n_skills)."""
    Y = np.asarray(R_over_S, dtype=float)
    if Y.ndim < 2 or Y.shape[-2] != np.asarray(x).size:
        raise ValueError(f"R_over_S must have shape (..., {np.asarray(x).size}, n_skills), got {Y.shape}")
    n_points, n_skills = Y.shape[-2:]
    flat = np.moveaxis(Y, -2, 0).reshape(n_points, -1, n_skills)        # (n_points, curves, n_skills)
    return measure.emergence_times(x, flat, threshold, log=log).reshape(Y.shape[:-2] + (n_skills,))


# ----- one network experiment as a sweep point (torch imported lazily) ------------------------------
NETWORK_DEFAULTS = dict(n_skills=1, alpha=0.6, S=5.0, n_bits=32, k=3, task_seed=0, widths=128, init_std=0.01,
                        n_models=1, seed=0, steps=1000, batch=1000, lr=0.02, optimizer="sgd",
                        weight_decay=0.0, D=None, lr_halve_every=None, log_every=100, probe_n=4000)


def train_point(config: dict) -> dict:
    """Train one ensemble of 2-layer ReLU MLPs on multitask sparse parity and return its R_k/S log.

    A thin wrapper of :class:`skillkit.models.MLPEnsemble` and :func:`skillkit.train.train` for
    :func:`skillkit.sweeps.run`: ``config`` holds plain values (keys of :data:`NETWORK_DEFAULTS`;
    missing keys take those defaults, unknown keys are an error). ``widths`` is an int or a list with
    one width per model; models use seeds ``seed, seed + 1, ...``. Returns a JSON-ready dict with
    ``steps`` (n_logs,), ``R`` (n_logs, n_models, n_skills) = R_k/S, ``widths`` and ``seconds``.
    """
    unknown = set(config) - set(NETWORK_DEFAULTS)
    if unknown:
        raise ValueError(f"config has unknown keys {sorted(unknown)}; allowed: {sorted(NETWORK_DEFAULTS)}")
    c = {**NETWORK_DEFAULTS, **config}
    from .data import MultitaskSparseParity
    from .models import MLPEnsemble
    from .train import TrainConfig, train

    task = MultitaskSparseParity(n_skills=c["n_skills"], n_bits=c["n_bits"], k=c["k"], alpha=c["alpha"],
                                 S=c["S"], seed=c["task_seed"])
    widths = c["widths"]
    n_models = len(widths) if isinstance(widths, (list, tuple)) else c["n_models"]
    net = MLPEnsemble(n_models, task.dim, widths, init_std=c["init_std"], seed=c["seed"])
    cfg = TrainConfig(steps=c["steps"], batch=c["batch"], lr=c["lr"], optimizer=c["optimizer"],
                      weight_decay=c["weight_decay"], D=c["D"], lr_halve_every=c["lr_halve_every"],
                      log_every=c["log_every"], probe_n=c["probe_n"], seed=c["seed"])
    res = train(net, task, cfg, progress=True)
    return {"steps": res.steps, "R": np.round(res.R, 5), "widths": list(net.widths), "seconds": res.seconds}


# ----- the experiments of chapters 5 and 6, per scale ----------------------------------------------
def _base(scale):
    from .config import by_scale
    return dict(widths=by_scale(16, 128, 1000, scale=scale), batch=by_scale(200, 1000, 4000, scale=scale),
                probe_n=by_scale(500, 4000, 20000, scale=scale))


def calibration_grids(scale: str | None = None) -> dict:
    """Sweep configs (lists of :func:`train_point` configs) of the n_s = 1 calibration (Fig. 11), per scale.

    ``time``: SGD, lr 0.02, init 0.01, fresh batches (the paper code's Fig. 1a/11a settings);
    ``data``: SGD, lr 0.05, init 0.01, one training set of size D per point;
    ``width``: Adam, lr 0.01, init 0.05, weight decay 5e-4 (the code's ``train_parameter.py`` decay), widths
    1..12 in one masked ensemble; ``time_paper_size``: the time runs at the paper's width 1000 and batch
    4000. ``paper`` uses width 1000, batch 4000 and the paper's seeds.
    """
    from .config import by_scale, get_scale
    scale = get_scale(scale)
    b = _base(scale)
    time_cfg = dict(b, n_skills=1, lr=0.02, init_std=0.01, n_models=by_scale(3, 8, 50, scale=scale),
                    steps=by_scale(400, 4000, 5000, scale=scale), log_every=by_scale(20, 50, 50, scale=scale))
    Ds = by_scale([100, 400, 1600], [200, 300, 400, 500, 600, 800, 1000, 1400, 2000],
                  list(range(100, 2001, 100)), scale=scale)
    data_cfgs = [dict(b, n_skills=1, lr=0.05, init_std=by_scale(0.01, 0.01, 0.001, scale=scale), D=D,
                      batch=by_scale(200, 1000, 2000, scale=scale), n_models=by_scale(2, 3, 10, scale=scale),
                      steps=by_scale(300, 4000, 30000, scale=scale), log_every=by_scale(100, 1000, 5000, scale=scale))
                 for D in Ds]
    widths = by_scale([1, 2, 4, 8], list(range(1, 13)), list(range(1, 13)), scale=scale)
    n_w = by_scale(2, 4, 10, scale=scale)
    width_cfg = dict(b, n_skills=1, optimizer="adam", lr=0.01, init_std=0.05, weight_decay=5e-4,
                     widths=[w for w in widths for _ in range(n_w)], steps=by_scale(300, 6000, 50000, scale=scale),
                     log_every=by_scale(100, 500, 5000, scale=scale))
    # the time calibration once more at the paper's width and batch (1000, 4000), to see what they change
    time_big = dict(time_cfg, widths=by_scale(32, 1000, 1000, scale=scale), batch=by_scale(400, 4000, 4000, scale=scale),
                    n_models=by_scale(2, 4, 50, scale=scale), steps=by_scale(200, 2500, 5000, scale=scale))
    return {"time": [time_cfg], "data": data_cfgs, "width": [width_cfg], "time_paper_size": [time_big]}


def emergence_grids(scale: str | None = None) -> dict:
    """Sweep configs of the n_s = 5, alpha = 0.6 prediction (Fig. 1) and of the out-of-sample setting.

    Same optimiser settings per resource as :func:`calibration_grids`. ``width_N10``: ten seeds at width
    N = 10 with the width panel's settings (the paper's Table 5). ``oos_time``: alpha = 0.3 and
    n_s = 8, a setting the paper did not run, on the time axis. ``control_rate`` / ``control_noise``: one
    skill trained with learning rate 0.02 P_s(5) (the rate the model gives skill 5 of the main setting),
    with the full batch / with the P_s(5) share of it that skill 5 actually gets.
    """
    from .config import by_scale, get_scale
    scale = get_scale(scale)
    b = _base(scale)
    common = dict(b, n_skills=5, alpha=0.6)
    time_cfg = dict(common, lr=0.02, init_std=0.01, n_models=by_scale(2, 4, 10, scale=scale),
                    steps=by_scale(500, 40000, 30000, scale=scale), log_every=by_scale(50, 100, 50, scale=scale))
    Ds = by_scale([500, 2000, 8000], [1500, 3000, 6000, 10000, 15000, 22000],
                  [500, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000, 13000,
                   14000, 15000, 20000, 25000, 30000, 35000], scale=scale)
    # default: a skill whose count d_k = D P_s(k) sits near its threshold is learned slowly on a fixed
    # training set (after 12,000 steps skills 3-5 were still rising at D >= 6000), so every point trains
    # for 36,000 steps; chapter 6 prints the change of R_k over the last third of every run
    data_cfgs = [dict(common, lr=0.05, init_std=by_scale(0.01, 0.01, 0.001, scale=scale), D=D,
                      batch=by_scale(200, 1000, 2000, scale=scale), n_models=by_scale(1, 2, 10, scale=scale),
                      steps=by_scale(300, 36000, 100000, scale=scale), log_every=by_scale(100, 3000, 5000, scale=scale),
                      lr_halve_every=by_scale(None, None, 50000, scale=scale))
                 for D in Ds]
    widths = by_scale([1, 4, 8, 16], [1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24], list(range(1, 25)), scale=scale)
    n_w = by_scale(1, 2, 10, scale=scale)
    width_cfg = dict(common, optimizer="adam", lr=0.01, init_std=0.05, weight_decay=5e-4,
                     widths=[w for w in widths for _ in range(n_w)], steps=by_scale(300, 20000, 100000, scale=scale),
                     log_every=by_scale(100, 2500, 5000, scale=scale))
    # Table 5 of the paper: R_k/S at width N = 10 over ten runs, with the width panel's settings
    table5_cfg = dict(width_cfg, widths=[by_scale(8, 10, 10, scale=scale)] * by_scale(2, 10, 10, scale=scale))
    oos_cfg = dict(b, n_skills=8, alpha=0.3, lr=0.02, init_std=0.01, n_models=by_scale(2, 2, 10, scale=scale),
                   steps=by_scale(500, 50000, 60000, scale=scale), log_every=by_scale(50, 200, 50, scale=scale))
    # controls for the rarest skill (chapter 6): one skill alone, with the rate the model gives skill 5
    # (lr * P_s(5)), first with the full batch, then with only the ~P_s(5) * batch samples skill 5 gets
    p5 = float(multilinear.skill_probs(0.6, 5)[-1])
    control = dict(b, n_skills=1, lr=0.02 * p5, init_std=0.01, n_models=by_scale(2, 4, 10, scale=scale),
                   steps=by_scale(500, 40000, 40000, scale=scale), log_every=by_scale(50, 200, 50, scale=scale))
    control_noise = dict(control, batch=max(1, round(p5 * b["batch"])))
    return {"time": [time_cfg], "data": data_cfgs, "width": [width_cfg], "width_N10": [table5_cfg], "oos_time": [oos_cfg],
            "control_rate": [control], "control_noise": [control_noise]}


# ----- from sweep results to curves and constants ---------------------------------------------------
def time_curves(result: dict):
    """``steps`` (n_logs,) and ``R`` (n_logs, n_models, n_skills) of a :func:`train_point` result."""
    return np.asarray(result["steps"], dtype=float), np.asarray(result["R"], dtype=float)


def final_by_resource(results: list, configs: list, key: str = "D"):
    """End-of-training R_k/S of one point per resource value: ``x`` (n_x,), ``R`` (n_x, n_models, n_skills)."""
    x = np.array([c[key] for c in configs], dtype=float)
    return x, np.stack([np.asarray(r["R"], dtype=float)[-1] for r in results])


def final_by_width(result: dict):
    """End-of-training R_k/S of a masked width ensemble: ``widths`` (n_w,), ``R`` (n_w, n_seeds, n_skills)."""
    w = np.asarray(result["widths"])
    R = np.asarray(result["R"], dtype=float)[-1]
    uniq = np.unique(w)
    return uniq.astype(float), np.stack([R[w == u] for u in uniq])


def mlp_R0(init_std: float) -> float:
    """The paper code's starting strength of its MLP, R_k(0) = init_std^2 / 3.6 (``theo_time``; an
    empirical fit by the authors, used when R0 is fixed rather than fitted)."""
    return float(_checks.positive("init_std", init_std)) ** 2 / 3.6


def fit_calibration(grids: dict, results: dict) -> dict:
    """All calibration fits of the n_s = 1 runs (:func:`calibration_grids` and their sweep results).

    Returns :class:`SeedFits` under ``"B2"`` (R0 fitted), ``"B2_fixed_R0"`` (R0 = :func:`mlp_R0`),
    ``"D_c"`` (Eq. 17), ``"D_c_projection"`` (R = S d/D_c) and ``"N_c"`` (Prop. 2).
    """
    out = {}
    tc = {**NETWORK_DEFAULTS, **grids["time"][0]}
    steps, R = time_curves(results["time"][0])
    Y = R[:, :, 0].T                                          # (n_seeds, n_logs)
    out["B2"] = fit_seeds(fit_time, steps, Y, S=tc["S"], lr=tc["lr"], convention="mse")
    out["B2_fixed_R0"] = fit_seeds(fit_time, steps, Y, S=tc["S"], lr=tc["lr"], convention="mse",
                                   R0=mlp_R0(tc["init_std"]))
    D, RD = final_by_resource(results["data"], grids["data"], "D")
    out["D_c"] = fit_seeds(fit_data, D, RD[:, :, 0].T)
    out["D_c_projection"] = fit_seeds(fit_data, D, RD[:, :, 0].T, form="projection")
    N, RN = final_by_width(results["width"][0])
    out["N_c"] = fit_seeds(fit_width, N, RN[:, :, 0].T)
    return out


def convergence(result: dict, frac: float = 1 / 3):
    """Change of R_k/S over the last ``frac`` of a :func:`train_point` run: (n_models, n_skills).

    ``R(end) - R(log closest to (1 - frac) * steps)``; a plateau shows as values near 0. Used to
    check that end-of-training strengths stand for the T = infinity end state of the extended models.
    """
    frac = float(_checks.in_open_interval("frac", frac, 0.0, 1.0))
    steps, R = time_curves(result)
    i = int(np.argmin(np.abs(steps - (1 - frac) * steps[-1])))
    if i == steps.size - 1:
        raise ValueError(f"the run has too few logs to measure a change over its last {frac:.2f}")
    return R[-1] - R[i]


# ----- the width-3 weight-shared toy of App. G (Fig. 8) ---------------------------------------------
def train_toy_modes(*, S: float = 1.0, lr: float = 0.05, steps: int = 2000, n_models: int = 10,
                    init_std: float = 0.1, seed: int = 0, log_every: int = 5, progress: bool = True) -> dict:
    """Train :class:`skillkit.models.WeightSharedParityNet` (App. G / Fig. 8 of the paper; the
    construction is ours) on 3-bit parity and log each unit's mode strength.

    Full-batch gradient descent with step ``lr`` on the exact expectation over the 8 inputs of
    L = 1/2 E[(S g - f)^2] (the paper's Eq. 5 convention, so step t is time ``lr * t`` of gradient
    flow and :func:`skillkit.multilinear.strength` with ``lr = lr * B2`` is the comparable model).
    ``n_models`` copies start from ``init_std |N(0, 1)|`` weights (seed ``seed``). Returns a dict with
    ``steps`` (n_logs,), ``modes`` (n_logs, n_models, 3) = R_i / S, ``R`` (n_logs, n_models) = E[g f]/S,
    ``loss`` (n_logs, n_models), and ``S``, ``lr``, ``shares``.
    """
    import torch
    from tqdm import tqdm

    from .models import WeightSharedParityNet
    S = float(_checks.positive("S", S))
    lr = float(_checks.positive("lr", lr))
    steps = _checks.integer("steps", steps, lo=1)
    log_every = _checks.integer("log_every", log_every, lo=1)
    net = WeightSharedParityNet(n_models, init_std=init_std, seed=seed)
    x, g = net.inputs()
    y = S * g
    log_t, log_modes, log_R, log_loss = [], [], [], []
    for t in tqdm(range(steps + 1), disable=not progress, desc="toy net", leave=False, mininterval=1.0):
        f = net(x)
        loss = 0.5 * ((y - f) ** 2).mean(1)                     # (n_models,)
        if t % log_every == 0 or t == steps:
            with torch.no_grad():
                log_t.append(t)
                log_modes.append((net.modes() / S).numpy().copy())
                log_R.append(((g * f).mean(1) / S).numpy().copy())
                log_loss.append(loss.detach().numpy().copy())
        if t == steps:
            break
        gw, gc = torch.autograd.grad(loss.sum(), [net.w, net.c])
        with torch.no_grad():
            net.w -= lr * gw
            net.c -= lr * gc
    return {"steps": np.asarray(log_t, dtype=float), "modes": np.stack(log_modes), "R": np.stack(log_R),
            "loss": np.stack(log_loss), "S": S, "lr": lr, "shares": np.asarray(WeightSharedParityNet.SHARES)}


def fit_toy_B2(result: dict) -> SeedFits:
    """Fit B^2 of the time-extended model (Eq. 14, loss convention "half") to the toy net's R/S, per copy.

    Each copy is fitted with R0 fixed at its own starting strength R(0) (the model starts where the
    network starts), p = 1 (one skill, all of the data). Returns a :class:`SeedFits`; ``pooled`` is a
    fit to the copy-averaged curve with R0 its mean start.
    """
    T, R, S, lr = result["steps"], np.asarray(result["R"], dtype=float), result["S"], result["lr"]
    if R.ndim != 2 or R.shape[0] != T.size:
        raise ValueError(f"result['R'] must have shape (n_logs, n_models) = ({T.size}, n), got {R.shape}")
    if np.any(R[0] <= 0):
        raise ValueError("every copy must start with R(0) > 0 to fix R0 of the model")
    fits = tuple(fit_time(T, R[:, j], 1.0, S=S, lr=lr, R0=R[0, j] * S, convention="half") for j in range(R.shape[1]))
    pooled = fit_time(T, R.mean(1), 1.0, S=S, lr=lr, R0=R[0].mean() * S, convention="half")
    return SeedFits("B2", np.array([f.value for f in fits]), fits, pooled)


def json_ready(obj):
    """``obj`` with numpy arrays and scalars turned into lists and numbers, and NaN or infinite floats
    into ``None``, so that ``json.dumps(..., allow_nan=False)`` writes strict JSON (null, not NaN)."""
    from .sweeps import jsonable
    return jsonable(obj, nonfinite=lambda v: None)
