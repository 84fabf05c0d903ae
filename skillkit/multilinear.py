"""The solvable multilinear model f = sum_k a_k b_k g_k (Sec. 3 of the paper), in closed form.

Loss convention: L = 1/2 E[(f* - f)^2] (Eq. 5). With balanced start a_k(0) = b_k(0), the skill strength
R_k = a_k b_k obeys the logistic equation dR/dt = 2 lr p R (S - R), where ``p`` is the skill's share of
the training data (d_k / D, or P_s(k) when D is infinite). Everything here is numpy and vectorised:
no Python loop runs over skills.

Closed forms only. The linear, unbalanced and deep versions of the model are in
:mod:`skillkit.variants`, the network-calibrated ones of Sec. 5 in :mod:`skillkit.extended`, and
gradient descent on the model in :mod:`skillkit.simulate`.
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats

from . import _checks
from .zipf import skill_probs

__all__ = ["strength", "emergence_time", "saturation_time", "loss", "stage_margin", "stage_like", "skill_probs"]


def _log_odds0(S: float, R0: float) -> float:
    """log(S/R0 - 1): the initial log-odds gap that sets the emergence delay."""
    return float(np.log(S / R0 - 1.0))


def strength(t, p, S: float = 1.0, R0: float = 0.01, lr: float = 1.0):
    """Skill strength R_k(t) of the multilinear model under gradient flow (Eq. 11 / Eq. 26).

    R(t) = S / (1 + (S/R0 - 1) exp(-2 lr p S t)). ``t`` (>= 0, may be inf) and ``p`` (in [0, 1]) broadcast
    against each other; the result is a float64 array of their broadcast shape.
    """
    t = _checks.nonnegative("t", t, allow_inf=True)
    p = _checks.in_closed_interval("p", p, 0.0, 1.0)
    S, R0, lr = _checks.strength_params(S, R0, lr)
    with np.errstate(invalid="ignore"):
        x = 2.0 * lr * S * p * t
    x = np.where(p == 0, 0.0, x)            # a skill never seen stays at R0, even at t = inf
    return S * special.expit(x - _log_odds0(S, R0))


def emergence_time(p, S: float = 1.0, R0: float = 0.01, lr: float = 1.0, eps: float = 0.05):
    """Time at which R/S first reaches ``eps`` (App. D, Eq. 40).

    tau_e = log[(S/R0 - 1) / (1/eps - 1)] / (2 lr p S). Requires R0 < eps * S (the skill starts below
    the threshold); ``p = 0`` gives ``inf``.
    """
    p = _checks.in_closed_interval("p", p, 0.0, 1.0)
    S, R0, lr = _checks.strength_params(S, R0, lr)
    eps = float(_checks.in_open_interval("eps", eps, 0.0, 1.0))
    if not R0 < eps * S:
        raise ValueError(f"R0 must lie below eps * S = {eps * S} for an emergence time to exist, got {R0}")
    gap = _log_odds0(S, R0) - np.log(1.0 / eps - 1.0)
    with np.errstate(divide="ignore"):
        return gap / (2.0 * lr * p * S)


def saturation_time(p, S: float = 1.0, R0: float = 0.01, lr: float = 1.0, eps: float = 0.05):
    """Time R/S takes to climb from ``eps`` to ``1 - eps`` (App. D, Eq. 40).

    tau_s = log(1/eps - 1) / (lr p S); independent of R0 (which is still validated). ``eps`` in (0, 1/2).
    """
    p = _checks.in_closed_interval("p", p, 0.0, 1.0)
    S, R0, lr = _checks.strength_params(S, R0, lr)
    eps = float(_checks.in_open_interval("eps", eps, 0.0, 0.5))
    with np.errstate(divide="ignore"):
        return np.log(1.0 / eps - 1.0) / (lr * p * S)


def _skill_loss(share, T, S, R0, lr):
    """1/2 (S - R)^2 for data share ``share`` at times ``T`` (broadcasting), stable at T = inf.

    Works in place on one array of the broadcast shape (about 3x faster than the plain expression
    for 10^5 skills x 200 times).
    """
    share = np.asarray(share, dtype=float)
    with np.errstate(invalid="ignore"):
        x = np.multiply(2.0 * lr * S * share, T)
    if np.any(share == 0):                  # a skill never seen stays at R0, even at T = inf
        x = np.where(share == 0, 0.0, x)
    x = np.asarray(x, dtype=float)
    np.subtract(_log_odds0(S, R0), x, out=x)
    special.expit(x, out=x)
    np.square(x, out=x)
    x *= 0.5 * S * S
    return x


def _binomial_weights(P: np.ndarray, D: int, chunk: int = 4096):
    """w_d = sum_k P_k Binom(d; D, P_k) over the counts d that carry mass.

    Returns ``(d, w)``. The loss at finite D depends on a skill only through its count d_k, so the
    expectation over training sets collapses onto this one weight vector. For each skill only the
    counts within t = 10 sd + 30 of its mean D P_k are summed; Bernstein's inequality puts the
    dropped mass below exp(-45) ~ 3e-20 per skill. (Cheap bounds and ``bincount`` instead of the
    binomial quantile functions and ``np.add.at``: about 5x faster for 10^5 skills.)
    """
    mu = D * P
    t = 10.0 * np.sqrt(mu * (1.0 - P)) + 30.0
    lo_all = np.maximum(np.ceil(mu - t), 0).astype(np.int64)
    hi_all = np.minimum(np.floor(mu + t), D).astype(np.int64)
    total = np.zeros(D + 1)
    for start in range(0, P.size, chunk):
        p = P[start:start + chunk]
        lo, hi = lo_all[start:start + chunk], hi_all[start:start + chunk]
        d = lo[:, None] + np.arange(int((hi - lo).max()) + 1)[None, :]
        valid = d <= hi[:, None]
        dv, pv = d[valid], np.broadcast_to(p[:, None], d.shape)[valid]
        total += np.bincount(dv, weights=pv * stats.binom.pmf(dv, D, pv), minlength=D + 1)
    d = np.nonzero(total)[0]
    return d, total[d]


def loss(alpha: float, n_skills: int, *, T=np.inf, D=np.inf, N=None, S: float = 1.0,
         R0: float = 0.01, lr: float = 1.0):
    """The multilinear model's test loss L = sum_k P_s(k) L_k (Eq. 12), for any of T, D, N finite.

    - ``T``: training time (gradient-flow time, >= 0, may be inf); array-like allowed.
    - ``D``: training-set size (integer >= 1, or inf). Finite D gives the expectation over training
      sets, d_k ~ Binomial(D, P_s(k)); skill k then learns at rate d_k / D. At T = inf this is exact in
      closed form: an unseen skill keeps R0, a seen one is learned (Eqs. 59-60).
    - ``N``: number of basis functions (integer in [1, n_skills]); ``None`` means ``N = n_skills``.
      Skills beyond N are never learned and cost S^2/2 each.

    ``T``, ``D`` and ``N`` broadcast; the result is a float64 array of their broadcast shape (a 0-d
    array when all are scalars). The skill axis is vectorised, never looped.
    """
    P = skill_probs(alpha, n_skills)
    n_skills = P.size
    S, R0, lr = _checks.strength_params(S, R0, lr)
    T = _checks.nonnegative("T", T, allow_inf=True)
    D = _checks.positive("D", D, allow_inf=True)
    if np.any(np.isfinite(D) & (D != np.round(D))):
        raise ValueError(f"D must be a positive integer or inf, got {D!r}")
    N = np.asarray(n_skills if N is None else N)
    if N.dtype.kind not in "iu" and not (N.dtype.kind == "f" and np.all(N == np.round(N))):
        raise ValueError(f"N must be an integer in [1, n_skills] = [1, {n_skills}], got {N!r}")
    N = N.astype(np.int64)
    if np.any((N < 1) | (N > n_skills)):
        raise ValueError(f"N must be an integer in [1, n_skills] = [1, {n_skills}], got {N!r}")

    shape = np.broadcast_shapes(T.shape, D.shape, N.shape)
    Tb, Db, Nb = (np.broadcast_to(a, shape) for a in (T, D, N))
    out = np.empty(shape)
    tail = 0.5 * S**2 * np.concatenate([np.cumsum(P[::-1])[::-1], [0.0]])   # tail[N] = S^2/2 sum_{k>N} P_k
    # group by (D, N): one vectorised evaluation over all T for each pair
    pairs = np.unique(np.stack([Db.ravel(), Nb.ravel().astype(float)], axis=1), axis=0) if out.size else []
    for d_val, n_val in pairs:
        sel = (Db == d_val) & (Nb == n_val)
        n_val = int(n_val)
        t = Tb[sel]
        Pn = P[:n_val]
        if np.isinf(d_val):
            # chunk over skills: 2048 x n_times stays in cache (4x faster than 8192) and small in memory
            acc = np.zeros(t.size)
            for start in range(0, n_val, 2048):
                p = Pn[start:start + 2048]
                acc += p @ _skill_loss(p[:, None], t[None, :], S, R0, lr)
        else:
            d_int = int(d_val)
            if np.all(np.isinf(t)):
                acc = np.full(t.size, 0.5 * (S - R0) ** 2 * np.sum(Pn * np.exp(d_int * np.log1p(-Pn))))
            else:
                d, w = _binomial_weights(Pn, d_int)
                acc = w @ _skill_loss(d[:, None] / d_int, t[None, :], S, R0, lr)
        out[sel] = acc + tail[n_val]
    return out


def stage_margin(skill, alpha: float, S: float = 1.0, R0: float = 0.01, eps: float = 0.05):
    """(tau^(e)_{k+1} - tau^(e)_k) / tau^(s)_k for the multilinear model at infinite data (Eq. 41).

    ``skill`` is the 0-based skill index (the paper's skill + 1 against skill + 2). With P_s(k) ∝ k^-(alpha+1)
    the ratio is log[(S/R0 - 1)/(1/eps - 1)] ((k+2)/(k+1))^(alpha+1) - 1) / (2 log(1/eps - 1)),
    independent of lr and of the number of skills. Training is stage-like at k when it exceeds 1.
    """
    skill = np.asarray(skill)
    if skill.dtype.kind not in "iu" or np.any(skill < 0):
        raise ValueError(f"skill must be a non-negative integer (0-based index), got {skill!r}")
    alpha = _checks.positive("alpha", alpha)
    S = _checks.positive("S", S)
    R0 = np.asarray(R0, dtype=float)
    if np.isnan(R0).any() or np.any((R0 <= 0) | (R0 >= S)):
        raise ValueError(f"R0 must lie in the open interval (0, S), got {R0!r}")
    eps = _checks.in_open_interval("eps", eps, 0.0, 0.5)
    gap = np.log((S / R0 - 1.0) / (1.0 / eps - 1.0))
    if np.any(gap <= 0):
        raise ValueError(f"R0 must lie below eps * S (else the skill has emerged at t = 0), got R0={R0}")
    ratio = ((skill + 2.0) / (skill + 1.0)) ** (alpha + 1.0) - 1.0
    return gap * ratio / (2.0 * np.log(1.0 / eps - 1.0))


def stage_like(skill, alpha: float, S: float = 1.0, R0: float = 0.01, eps: float = 0.05):
    """True where ``skill`` (0-based) saturates before the next one emerges: tau^(s)_k < tau^(e)_{k+1} - tau^(e)_k (Eq. 41)."""
    return stage_margin(skill, alpha, S=S, R0=R0, eps=eps) > 1.0
