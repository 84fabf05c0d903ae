"""Skill strength R_k = E_x[g_k(x) f(x)] with the control bits set to k (Eq. 7 and Eq. 318), and the
emergence times read off logged R_k/S curves (tau_emerge of Sec. 5.4), summarised over seeds with censoring.

``skill_strengths`` measures a network; ``emergence_times`` / ``emergence_table`` are numpy only and work
on any log of shape (n_logs, n_seeds, n_skills), such as :func:`skillkit.train.train` returns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import _checks
from .data import MultitaskSparseParity
from .scaling import PowerLawFit, fit_power_law

__all__ = ["project", "skill_strengths", "ensemble_strengths", "emergence_times", "crossing", "crossings",
           "censored_quantile", "EmergenceTable", "emergence_table", "Bootstrap", "bootstrap"]


@torch.no_grad()
def project(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, g: torch.Tensor, skill: torch.Tensor,
            n_skills: int, rows: int = 1 << 14) -> torch.Tensor:
    """Eq. 7 on given inputs: the mean over the rows of each skill of ``g(x) f(x)``, for many models at once.

    ``f`` maps ``x`` (m, dim) to ``(n_models, m)``; ``g`` (m,) is the probed skill's basis function at each
    row and ``skill`` (m,) its 0-based index. ``f`` is called in blocks of ``rows`` rows. Returns
    ``(n_models, n_skills)`` on the inputs' device, float64 (float32 on Apple ``mps``, which has none);
    a skill without rows gives ``nan``.
    """
    acc = torch.float32 if x.device.type == "mps" else torch.float64
    sums = counts = None
    for s in range(0, x.shape[0], rows):
        fx = f(x[s:s + rows])
        if fx.ndim != 2 or fx.shape[1] != x[s:s + rows].shape[0]:
            raise ValueError(f"f must map x of shape (m, dim) to (n_models, m), got {tuple(fx.shape)} for m = "
                             f"{x[s:s + rows].shape[0]}")
        if sums is None:
            sums = torch.zeros(fx.shape[0], n_skills, dtype=acc, device=x.device)
            counts = torch.zeros(n_skills, dtype=acc, device=x.device)
        sums.index_add_(1, skill[s:s + rows], fx.to(acc) * g[s:s + rows].to(acc))
        counts.index_add_(0, skill[s:s + rows], torch.ones_like(g[s:s + rows], dtype=acc))
    return sums / counts


def skill_strengths(f: Callable[[torch.Tensor], torch.Tensor], task: MultitaskSparseParity,
                    n: int = 20000, generator: torch.Generator | None = None,
                    max_rows: int = 1 << 18) -> np.ndarray:
    """R_k for every skill: the mean of ``g_k(x) f(x)`` over ``n`` inputs with control bits set to k (Eq. 7).

    ``f`` maps x (m, dim) to (m,) or (m, 1). This is the plain projection of Eq. 7 (the paper's code also
    subtracts the mean of f, which changes R_k only by the mean's overlap with g_k, zero in expectation),
    computed by :func:`project`, as :func:`ensemble_strengths` is for the training log. The inputs of
    at most ``max_rows`` rows exist at a time (a block of skills), so many skills fit in memory.
    Returns a float64 numpy array of shape (n_skills,).
    """
    if not isinstance(task, MultitaskSparseParity):
        raise ValueError(f"task must be a MultitaskSparseParity, got {type(task).__name__}")
    n = _checks.integer("n", n, lo=1)

    def one(xb):
        fx = f(xb)
        if fx.ndim == 2 and fx.shape[1] == 1:
            fx = fx[:, 0]
        if fx.shape != (xb.shape[0],):
            raise ValueError(f"f must map x of shape (m, {task.dim}) to (m,) or (m, 1), got {tuple(fx.shape)}")
        return fx[None]

    per_block = max(1, max_rows // n)
    out = np.empty(task.n_skills)
    for start in range(0, task.n_skills, per_block):
        skills = torch.arange(start, min(start + per_block, task.n_skills), device=task.device)
        skill = skills.repeat_interleave(n)
        x = task.inputs(skill, generator)
        g = task.basis(x).gather(1, skill[:, None])[:, 0]
        R = project(one, x, g, skill - start, len(skills), rows=max_rows)
        out[start:start + len(skills)] = R[0].cpu().double().numpy()
    return out


@torch.no_grad()
def ensemble_strengths(net, x: torch.Tensor, g: torch.Tensor, n_skills: int, S: float,
                       max_elems: int = 1 << 20) -> torch.Tensor:
    """``R_k / S`` of every model of an ensemble on probe inputs ``(x, g)`` of :func:`skillkit.data.probe_set`.

    ``net(x)`` maps (m, dim) to (n_models, m). The probe rows are skill-major with the same number per
    skill. Rows are evaluated in blocks that keep (n_models, rows, width) below ``max_elems`` elements
    (small blocks keep the peak memory low and the activations in cache). Returns a
    (n_models, n_skills) tensor on the device.
    """
    n = x.shape[0] // n_skills
    skill = torch.arange(n_skills, device=x.device).repeat_interleave(n)
    width = getattr(net, "width", 1024)
    rows = max(256, max_elems // max(1, net.n_models * width))
    return project(net, x, g, skill, n_skills, rows) / S


# ----- emergence times over seeds, with censoring, and their power law in k ----------------------------
def emergence_times(steps, R_over_S, threshold: float = 0.05, *, log: bool = True) -> np.ndarray:
    """The step at which each curve ``R_k/S`` first reaches ``threshold``: tau_emerge of the paper (Sec. 5.4).

    ``steps`` (n_logs,) strictly increasing (and > 0 when ``log``); ``R_over_S`` (n_logs, n_seeds, n_skills),
    the layout of :func:`skillkit.train.train`'s log. Between two logged steps the crossing is interpolated
    linearly in ``log(step)`` (``log=True``) or in the step. A curve that starts at or above the threshold
    gives ``steps[0]``; one that never reaches it gives ``nan`` (a censored seed).
    Returns a float64 array (n_seeds, n_skills).
    """
    x = np.asarray(steps, dtype=float)
    Y = np.asarray(R_over_S, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"steps must be a 1-d array with at least 2 entries, got shape {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
        raise ValueError("steps must be finite and strictly increasing")
    if log and not np.all(x > 0):
        raise ValueError("steps must lie in (0, inf) when log=True (drop the step-0 log first)")
    if Y.ndim != 3 or Y.shape[0] != x.size:
        raise ValueError(f"R_over_S must have shape (n_logs, n_seeds, n_skills) = ({x.size}, ., .), got {Y.shape}")
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number in (-inf, inf), got {threshold!r}")
    u = np.log(x) if log else x
    above = Y >= threshold                                      # NaN in R counts as below
    hit = above.any(0)
    i = np.argmax(above, axis=0)                                # first log at or above, (n_seeds, n_skills)
    prev = np.maximum(i - 1, 0)
    y1 = np.take_along_axis(Y, i[None], 0)[0]
    y0 = np.take_along_axis(Y, prev[None], 0)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(i > 0, (threshold - y0) / (y1 - y0), 0.0)
    v = u[prev] + frac * (u[i] - u[prev])
    tau = np.exp(v) if log else v
    return np.where(hit, tau, np.nan)


def crossing(x, R_over_S, threshold: float = 0.5, *, log: bool = True) -> float:
    """The resource at which the curve R/S first reaches ``threshold``, interpolated between grid points.

    ``x`` increasing. Interpolation is linear in ``log x`` when ``log`` (x > 0), else linear in x. Returns
    ``x[0]`` if the curve starts at or above the threshold and ``nan`` if it never reaches it.
    """
    x, y = _checks.curve(x, R_over_S, "x")
    threshold = float(_checks.in_open_interval("threshold", threshold, -np.inf, np.inf))
    if np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly increasing")
    if log:
        x = _checks.positive("x", x)
    return float(emergence_times(x, y[:, None, None], threshold, log=log)[0, 0])


def crossings(x, R_over_S, threshold: float = 0.5, *, log: bool = True) -> np.ndarray:
    """:func:`crossing` for every curve in ``R_over_S`` of shape (..., n_points, n_skills) -> (..., n_skills)."""
    Y = np.asarray(R_over_S, dtype=float)
    if Y.ndim < 2 or Y.shape[-2] != np.asarray(x).size:
        raise ValueError(f"R_over_S must have shape (..., {np.asarray(x).size}, n_skills), got {Y.shape}")
    n_points, n_skills = Y.shape[-2:]
    flat = np.moveaxis(Y, -2, 0).reshape(n_points, -1, n_skills)        # (n_points, curves, n_skills)
    return emergence_times(x, flat, threshold, log=log).reshape(Y.shape[:-2] + (n_skills,))


def censored_quantile(values, q, axis: int = 0) -> np.ndarray:
    """``np.quantile(values, q, axis)`` (linear interpolation) where ``nan`` or ``inf`` means "later than all".

    A censored entry (a seed that never emerged) sorts after every finite one. A quantile is ``inf``
    when it needs a censored entry with non-zero weight, and finite otherwise (``np.quantile`` on
    ``inf`` gives ``nan`` at zero weight instead). ``q`` a number or an array of numbers in [0, 1];
    the result has shape ``np.shape(q)`` followed by the shape of ``values`` without ``axis``.
    """
    q = _checks.in_closed_interval("q", q, 0.0, 1.0)
    a = np.asarray(values, dtype=float)
    if a.ndim == 0 or a.shape[axis] < 1:
        raise ValueError(f"values must have at least 1 entry along axis {axis}, got shape {a.shape}")
    a = np.sort(np.moveaxis(np.where(np.isnan(a), np.inf, a), axis, 0), axis=0)
    n = a.shape[0]
    outs = []
    for qq in np.ravel(q):
        pos = float(qq) * (n - 1)
        lo = int(np.floor(pos))
        hi, w = min(lo + 1, n - 1), pos - lo
        if w == 0:
            outs.append(a[lo])
        else:
            with np.errstate(invalid="ignore"):
                v = a[lo] + w * (a[hi] - a[lo])
            outs.append(np.where(np.isnan(v), np.inf, v))
    return np.stack(outs).reshape(np.shape(q) + a.shape[1:])


@dataclass(frozen=True)
class EmergenceTable:
    """Emergence times of every seed and skill at one threshold, their summary, and their power law in k.

    ``tau`` (n_seeds, n_skills): per-seed tau_emerge, ``nan`` where the seed never reached the threshold.
    ``median``, ``q25``, ``q75`` (n_skills,): over seeds, a censored seed counted as later than every
    other (``inf`` when the quantile falls on a censored seed). ``n_emerged`` (n_skills,): seeds that
    reached it. ``fitted`` (n_skills,) bool: skills with a finite median, the ones in the fit. ``fit``:
    :func:`skillkit.scaling.fit_power_law` of the medians against k (``None`` with fewer than
    ``min_skills`` fitted skills). ``per_seed``: the same fit on each seed in ``per_seed_seeds`` (the
    seeds in which every fitted skill emerged).
    """

    threshold: float
    k: np.ndarray
    tau: np.ndarray
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    n_emerged: np.ndarray
    fitted: np.ndarray
    fit: PowerLawFit | None
    per_seed: np.ndarray
    per_seed_seeds: np.ndarray

    @property
    def n_seeds(self) -> int:
        return int(self.tau.shape[0])

    @property
    def exponent(self) -> float:
        """Fitted exponent of tau_emerge(k) ~ k^e on the medians (``nan`` when not fitted)."""
        return float("nan") if self.fit is None else self.fit.exponent

    @property
    def exponent_stderr(self) -> float:
        return float("nan") if self.fit is None else self.fit.exponent_stderr

    def per_seed_mean(self) -> tuple[float, float]:
        """Mean of the single-seed exponents and its standard error over seeds (``nan`` below 2 seeds)."""
        ps = self.per_seed
        if ps.size < 2:
            return float("nan"), float("nan")
        return float(ps.mean()), float(ps.std(ddof=1) / np.sqrt(ps.size))

    def report(self, name: str = "", alpha: float | None = None) -> str:
        """The table as printed text: medians [quartiles] (seeds emerged), the fit, the single seeds."""
        cells = "  ".join((f"{m:6.0f} [{a:.0f}, {b:.0f}] ({n}/{self.n_seeds})".replace("inf", "never")
                           if ok else f"n/a ({n}/{self.n_seeds})")
                          for m, a, b, n, ok in zip(self.median, self.q25, self.q75, self.n_emerged, self.fitted))
        pad = " " * (len(name) + 11)
        lines = [f"{name} R/S={self.threshold:<4}: tau_k median [quartiles] (seeds emerged) = {cells}"]
        if self.fit is None:
            lines.append(f"{pad}fewer than 3 skills emerged in most seeds: no fit")
            return "\n".join(lines)
        f = self.fit
        line = f"{pad}fitted exponent {f.exponent:.2f} ± {f.exponent_stderr:.2f} on {f.n_points} skills"
        if alpha is not None:
            line += (f"; alpha + 1 = {alpha + 1:.1f}; difference "
                     f"{(f.exponent - alpha - 1) / max(f.exponent_stderr, 1e-12):+.1f} standard errors")
        lines.append(line)
        if self.per_seed.size >= 2:
            m, se = self.per_seed_mean()
            lines.append(f"{pad}exponent of each seed alone ({self.per_seed.size} seeds): "
                         f"{np.round(self.per_seed, 2)}; mean {m:.2f} ± {se:.2f} (standard error over seeds)")
        return "\n".join(lines)


def emergence_table(steps, R_over_S, threshold: float = 0.05, *, log: bool = True,
                    min_skills: int = 3) -> EmergenceTable:
    """Per-seed emergence times, their median and quartiles over seeds, and the exponent of tau(k) ~ k^e.

    ``steps`` (n_logs,) and ``R_over_S`` (n_logs, n_seeds, n_skills) as in :func:`emergence_times`
    (skill k = 1, 2, ... along the last axis). A seed that never reaches ``threshold`` is censored: it
    counts as emerging after the run, so a skill's median is finite as long as fewer than half the seeds
    miss it. The exponent is the least-squares slope of log(median tau_k) on log k
    (:func:`skillkit.scaling.fit_power_law`, with its standard error) over the skills with a finite
    median, if there are at least ``min_skills`` of them; the same fit on every seed in which all those
    skills emerged gives the single-seed exponents. Returns an :class:`EmergenceTable`.
    """
    min_skills = _checks.integer("min_skills", min_skills, lo=2)
    tau = emergence_times(steps, R_over_S, threshold, log=log)
    n_seeds, n_skills = tau.shape
    k = np.arange(1, n_skills + 1)
    median = censored_quantile(tau, 0.5)
    q25, q75 = censored_quantile(tau, [0.25, 0.75])
    fitted = np.isfinite(median)
    n_emerged = np.isfinite(tau).sum(0)
    fit, per_seed, seeds = None, np.array([]), np.array([], dtype=int)
    if fitted.sum() >= min_skills:
        fit = fit_power_law(k[fitted], median[fitted])
        seeds = np.nonzero(np.isfinite(tau[:, fitted]).all(1) & (tau[:, fitted] > 0).all(1))[0]
        per_seed = np.array([fit_power_law(k[fitted], tau[s, fitted]).exponent for s in seeds])
    return EmergenceTable(threshold=float(threshold), k=k, tau=tau, median=median, q25=q25, q75=q75,
                          n_emerged=n_emerged, fitted=fitted, fit=fit, per_seed=per_seed, per_seed_seeds=seeds)


# ----- uncertainty over seeds -----------------------------------------------------------------------
@dataclass(frozen=True)
class Bootstrap:
    """A statistic over seeds and its bootstrap distribution (:func:`bootstrap`).

    ``estimate``: the statistic on the seeds as measured. ``median``, ``ci68``, ``ci95``: the median and
    the central 68% and 95% percentile intervals of the statistic over resamples of the seeds (with
    replacement). ``samples``: the resampled statistics (non-finite ones kept, they count as failures
    to estimate: ``n_failed``). ``n_seeds``: how many seeds were resampled.
    """

    estimate: float
    median: float
    ci68: tuple
    ci95: tuple
    samples: np.ndarray
    n_seeds: int

    @property
    def n_failed(self) -> int:
        return int((~np.isfinite(self.samples)).sum())

    def contains(self, value: float, level: int = 95) -> bool:
        """Whether ``value`` lies in the 68% or 95% interval."""
        lo, hi = {68: self.ci68, 95: self.ci95}[level]
        return bool(lo <= value <= hi)

    def __str__(self) -> str:
        return (f"{self.estimate:.3g} (bootstrap over {self.n_seeds} seeds: median {self.median:.3g}, "
                f"68% [{self.ci68[0]:.3g}, {self.ci68[1]:.3g}], 95% [{self.ci95[0]:.3g}, {self.ci95[1]:.3g}])")


def bootstrap(values, statistic: Callable[[np.ndarray], float], *, n_boot: int = 2000, seed: int = 0,
              axis: int = 0) -> Bootstrap:
    """Bootstrap over seeds: resample the entries of ``values`` along ``axis`` with replacement,
    ``n_boot`` times, and apply ``statistic`` (array of the same shape -> number) to each resample.

    ``values`` may hold ``nan``/``inf`` (censored seeds): ``statistic`` decides what they mean (for
    example :func:`censored_quantile` counts them as late). The intervals are percentiles of the finite
    resampled statistics. Needs at least 2 seeds.
    """
    a = np.asarray(values, dtype=float)
    if a.ndim == 0 or a.shape[axis] < 2:
        raise ValueError(f"values must have at least 2 seeds along axis {axis}, got shape {a.shape}")
    n_boot = _checks.integer("n_boot", n_boot, lo=10)
    a = np.moveaxis(a, axis, 0)
    n = a.shape[0]
    rng = np.random.default_rng(seed)
    est = float(statistic(np.moveaxis(a, 0, axis)))
    samples = np.array([float(statistic(np.moveaxis(a[rng.integers(0, n, n)], 0, axis))) for _ in range(n_boot)])
    ok = samples[np.isfinite(samples)]
    if ok.size == 0:
        nan = float("nan")
        return Bootstrap(est, nan, (nan, nan), (nan, nan), samples, n)
    q = np.percentile(ok, [2.5, 16, 50, 84, 97.5])
    return Bootstrap(est, float(q[2]), (float(q[1]), float(q[3])), (float(q[0]), float(q[4])), samples, n)
