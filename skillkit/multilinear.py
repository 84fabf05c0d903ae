"""The solvable multilinear model f = sum_k a_k b_k g_k (Sec. 3 of the paper), in closed form.

Loss convention: L = 1/2 E[(f* - f)^2] (Eq. 5). With balanced start a_k(0) = b_k(0), the skill strength
R_k = a_k b_k obeys the logistic equation dR/dt = 2 lr p R (S - R), where ``p`` is the skill's share of
the training data (d_k / D, or P_s(k) when D is infinite). Everything here is numpy and vectorised:
no Python loop runs over skills.
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats

from . import _checks
from ._checks import skill_probs

__all__ = ["strength", "emergence_time", "saturation_time", "loss", "skill_probs",
           "GDRun", "simulate_gd", "linear_strength", "linear_loss", "strength_unbalanced",
           "deep_rhs", "deep_time_to", "deep_emergence_time", "deep_strength", "stage_margin",
           "stage_like", "simulate_linear_network",
           # extended models calibrated on networks (Sec. 5)
           "strength_time", "dshot_strength", "dshot_loss", "strength_data", "strength_width"]


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


# --- Gradient-descent simulation, linear and deep variants (chapters 2-3) ---
#
# The closed forms below stay numpy/scipy; torch is imported inside ``simulate_gd`` only.
# Depth L generalises the model: f = sum_k (prod_l a_{k,l}) g_k. L = 1 is the linear model
# (App. H), L = 2 the multilinear model (Eq. 9), L > 2 a deeper product ("beyond the paper").

from dataclasses import dataclass as _dataclass


@_dataclass(frozen=True)
class GDRun:
    """Result of :func:`simulate_gd`.

    ``steps``: int array (n_records,) of the step counts recorded (0 first). ``R``: float64 array
    (n_records, *p.shape) of the strengths R_k = prod_l a_{k,l}. ``factors``: float64 array
    (depth, *p.shape) of the final parameters. The flow time of record i is ``steps[i] * lr``.
    """

    steps: np.ndarray
    R: np.ndarray
    factors: np.ndarray


def simulate_gd(p, steps: int, *, lr: float = 0.01, S: float = 1.0, R0: float = 0.01, depth: int = 2,
                init=None, record_every: int = 1, device=None, dtype=None) -> GDRun:
    """Plain gradient descent on the model's loss, batched over every skill at once (Eqs. 29-34).

    The loss is L = 1/2 sum_k p_k (S - prod_l a_{k,l})^2 (Eq. 11 with d_k/D = p_k), differentiated by
    torch autograd; each step is a <- a - lr * dL/da for all skills and factors together. ``depth = 2``
    is the multilinear model (a, b), ``depth = 1`` the linear model. ``init`` is an array
    broadcastable to (depth, *p.shape) of starting factors; ``None`` is the balanced start
    a_{k,l}(0) = R0^(1/depth) (then ``R0`` must lie in (0, S)). Unbalanced starts (a_k(0) != b_k(0))
    are allowed through ``init``. After n steps the run tracks the gradient flow at time t = n (with
    rate ``lr``), so with small ``lr`` it matches ``strength(n, p, S, R0, lr)``.
    Records R every ``record_every`` steps (and at the last step) without host synchronisation.
    """
    import torch

    p_np = _checks.in_closed_interval("p", p, 0.0, 1.0)
    steps = _checks.integer("steps", steps, lo=1)
    depth = _checks.integer("depth", depth, lo=1)
    record_every = _checks.integer("record_every", record_every, lo=1)
    lr = float(_checks.positive("lr", lr))
    S = float(_checks.positive("S", S))
    if init is None:
        if not 0 < R0 < S:
            raise ValueError(f"R0 must lie in the open interval (0, S) = (0, {S}), got {R0!r}")
        init_np = np.full((depth,) + p_np.shape, float(R0) ** (1.0 / depth))
    else:
        init_np = np.asarray(init, dtype=float)
        if not np.all(np.isfinite(init_np)):
            raise ValueError("init must be finite (range (-inf, inf))")
        try:
            init_np = np.broadcast_to(init_np, (depth,) + p_np.shape).copy()
        except ValueError as err:
            raise ValueError(f"init must broadcast to (depth, *p.shape) = {(depth,) + p_np.shape}, "
                             f"got shape {init_np.shape}") from err
    dtype = torch.float64 if dtype is None else dtype
    dev = torch.device("cpu") if device is None else torch.device(device)
    pt = torch.as_tensor(p_np, dtype=dtype, device=dev)
    w = torch.as_tensor(init_np, dtype=dtype, device=dev).clone().requires_grad_(True)
    rec = sorted(set(range(0, steps + 1, record_every)) | {steps})
    out = torch.empty((len(rec),) + p_np.shape, dtype=dtype, device=dev)
    j = 0
    for n in range(steps + 1):
        R = w.prod(0)
        if j < len(rec) and n == rec[j]:
            out[j] = R.detach()
            j += 1
        if n == steps:
            break
        L = 0.5 * (pt * (S - R) ** 2).sum()
        (g,) = torch.autograd.grad(L, w)
        with torch.no_grad():
            w -= lr * g
    return GDRun(steps=np.asarray(rec), R=out.cpu().numpy(), factors=w.detach().cpu().numpy())


def linear_strength(t, p, S: float = 1.0, R0: float = 0.0, lr: float = 1.0):
    """Skill strength of the linear model f = sum_k w_k g_k under gradient flow (App. H, Eqs. 124-125).

    dw/dt = lr p (S - w) gives R(t) = S - (S - R0) exp(-lr p t); with w(0) = R0 = 0 (the paper's
    start) this is R = S (1 - exp(-lr p t)): no delay and no sigmoid. ``R0`` in [0, S).
    """
    t = _checks.nonnegative("t", t, allow_inf=True)
    p = _checks.in_closed_interval("p", p, 0.0, 1.0)
    S = float(_checks.positive("S", S))
    R0 = float(R0)
    if not 0 <= R0 < S:
        raise ValueError(f"R0 must lie in [0, S) = [0, {S}) for the linear model, got {R0!r}")
    lr = float(_checks.positive("lr", lr))
    with np.errstate(invalid="ignore"):
        x = lr * p * t
    x = np.where(p == 0, 0.0, x)
    return S - (S - R0) * np.exp(-x)


def linear_loss(alpha: float, n_skills: int, *, T=np.inf, D=np.inf, N=None, S: float = 1.0,
                lr: float = 1.0):
    """Test loss of the linear model (App. H) with w(0) = 0: sum_k P_s(k) 1/2 (S - R_k)^2.

    Same conventions as :func:`loss` (``T`` array-like, ``D`` integer or inf, ``N`` basis size); for
    finite ``D`` the expectation over training sets (d_k ~ Binomial(D, P_s(k))) is taken.
    """
    P = skill_probs(alpha, n_skills)
    S = float(_checks.positive("S", S))
    lr = float(_checks.positive("lr", lr))
    T = _checks.nonnegative("T", T, allow_inf=True)
    N = P.size if N is None else _checks.integer("N", N, lo=1, hi=P.size)
    if np.isinf(D):
        share, weight = P[:N], P[:N]
    else:
        D = _checks.integer("D", D, lo=1)
        share, weight = _binomial_weights(P[:N], D)
        share = share / D
    with np.errstate(invalid="ignore"):
        x = lr * share[:, None] * T.ravel()[None, :]
    x = np.where(share[:, None] == 0, 0.0, x)
    per = 0.5 * S**2 * np.exp(-2.0 * x)
    tail = 0.5 * S**2 * P[N:].sum()
    return (weight @ per + tail).reshape(T.shape)


def strength_unbalanced(t, p, a0, b0, S: float = 1.0, lr: float = 1.0):
    """R = a b of the multilinear model under gradient flow from an unbalanced start (a0 != b0).

    c = a^2 - b^2 is conserved (Eqs. 30-34), so a^2 + b^2 = sqrt(c^2 + 4R^2) and
    dR/dt = lr p sqrt(c^2 + 4 R^2) (S - R). With w = (2R + sqrt(c^2 + 4R^2))/|c| (w = e^theta for
    R = |c| sinh(theta)/2) and Q = sqrt(4 S^2 + c^2) the solution is
    (w - w_-)/(w_+ - w) = K0 exp(Q lr p t), w_pm = (2S pm Q)/|c|, R = |c| (w - 1/w)/4.
    ``c = 0`` (balanced) falls back to :func:`strength` and then needs 0 < a0 b0. Requires a0 b0 < S.
    (Beyond the paper.) Broadcasts over t, p, a0, b0.
    """
    t = _checks.nonnegative("t", t, allow_inf=True)
    p = _checks.in_closed_interval("p", p, 0.0, 1.0)
    S = float(_checks.positive("S", S))
    lr = float(_checks.positive("lr", lr))
    a0 = np.asarray(a0, dtype=float)
    b0 = np.asarray(b0, dtype=float)
    if not (np.all(np.isfinite(a0)) and np.all(np.isfinite(b0))):
        raise ValueError("a0 and b0 must be finite")
    R0 = a0 * b0
    if np.any(R0 >= S):
        raise ValueError(f"a0 * b0 must lie below S = {S}, got {R0!r}")
    c = np.abs(a0**2 - b0**2)
    t, p, R0, c = np.broadcast_arrays(t, p, R0, c)
    if np.any((c == 0) & (R0 <= 0)):
        raise ValueError("a balanced start (a0 = +-b0) needs a0 * b0 in (0, S): R = 0 is a fixed point")
    out = np.empty(t.shape)
    bal = c == 0
    if bal.any():
        out[bal] = np.array([strength(ti, pi, S=S, R0=ri, lr=lr) for ti, pi, ri in
                             zip(t[bal], p[bal], R0[bal])])
    m = ~bal
    if m.any():
        cm, Rm, tm, pm = c[m], R0[m], t[m], p[m]
        Q = np.sqrt(4 * S**2 + cm**2)
        wp, wm = (2 * S + Q) / cm, (2 * S - Q) / cm
        w0 = (2 * Rm + np.sqrt(cm**2 + 4 * Rm**2)) / cm
        with np.errstate(invalid="ignore", over="ignore"):
            x = Q * lr * pm * tm
        x = np.where(pm == 0, 0.0, x)
        # (w - wm)/(wp - w) = K; write w = (K wp + wm)/(1 + K) with K = K0 e^x, stably for large x
        logK = np.log(w0 - wm) - np.log(wp - w0) + x
        sig = special.expit(logK)                  # K / (1 + K)
        w = sig * wp + (1 - sig) * wm
        out[m] = cm * (w - 1.0 / w) / 4.0
    return out


def deep_rhs(R, p, depth: int, S: float = 1.0, lr: float = 1.0):
    """dR/dt for the depth-L product model with balanced start (beyond the paper).

    Every factor equals a = R^(1/L), and da/dt = lr p a^(L-1) (S - R) gives
    dR/dt = lr p L R^(2 - 2/L) (S - R). L = 1: linear model; L = 2: the logistic Eq. 34.
    """
    depth = _checks.integer("depth", depth, lo=1)
    R = _checks.nonnegative("R", R)
    return lr * np.asarray(p, dtype=float) * depth * R ** (2.0 - 2.0 / depth) * (S - R)


def _deep_params(p, depth, S, R0, lr):
    p = _checks.in_closed_interval("p", p, 0.0, 1.0)
    depth = _checks.integer("depth", depth, lo=1)
    S, R0, lr = _checks.strength_params(S, R0, lr)
    return p, depth, S, R0, lr


def deep_time_to(R, p, depth: int, S: float = 1.0, R0: float = 0.01, lr: float = 1.0):
    """Time for the depth-L model (balanced start R0) to reach strength ``R`` in [R0, S).

    t = int_{R0}^{R} dr / (lr p L r^(2-2/L) (S - r)), by adaptive quadrature in the log-odds variable
    (the integral does not depend on p or lr, which only rescale it). ``p = 0`` gives inf.
    """
    from scipy import integrate

    p, depth, S, R0, lr = _deep_params(p, depth, S, R0, lr)
    R = np.asarray(R, dtype=float)
    if np.isnan(R).any() or np.any((R < R0) | (R >= S)):
        raise ValueError(f"R must lie in [R0, S) = [{R0}, {S}), got {R!r}")
    z0 = np.log(R0 / (S - R0))

    def integrand(z):          # dt/dz with r = S expit(z): dr = r (S - r)/S dz
        r = S * special.expit(z)
        return 1.0 / (depth * S * r ** (1.0 - 2.0 / depth))

    zs = np.log(R / (S - R))
    u = np.array([integrate.quad(integrand, z0, z, epsabs=0, epsrel=1e-11, limit=200)[0]
                  for z in zs.ravel()]).reshape(R.shape)
    with np.errstate(divide="ignore"):
        return u / (lr * p)


def deep_emergence_time(p, depth: int, S: float = 1.0, R0: float = 0.01, lr: float = 1.0,
                        eps: float = 0.05):
    """Time at which the depth-L model's R/S reaches ``eps`` (Eq. 40 generalised; L = 2 recovers it).

    For small R0 and L > 2 this grows like R0^(-(L-2)/L) / ((L-2) lr p S), not like log(S/R0).
    """
    p, depth, S, R0, lr = _deep_params(p, depth, S, R0, lr)
    eps = float(_checks.in_open_interval("eps", eps, 0.0, 1.0))
    if not R0 < eps * S:
        raise ValueError(f"R0 must lie below eps * S = {eps * S} for an emergence time to exist, got {R0}")
    return deep_time_to(eps * S, p, depth, S=S, R0=R0, lr=lr)


def deep_strength(t, p, depth: int, S: float = 1.0, R0: float = 0.01, lr: float = 1.0,
                  rtol: float = 1e-10):
    """R(t) of the depth-L product model, balanced start, by numerical integration of the ODE.

    Solves dR/du = L R^(2-2/L) (S - R) once in the rescaled time u = lr p t (so every skill shares one
    solve), in the log-odds z = log(R/(S - R)), with scipy's ``solve_ivp`` (DOP853, ``rtol``) and
    dense output. ``depth = 2`` reproduces :func:`strength`; ``depth = 1`` :func:`linear_strength`.
    """
    from scipy import integrate

    t = _checks.nonnegative("t", t, allow_inf=True)
    p, depth, S, R0, lr = _deep_params(p, depth, S, R0, lr)
    with np.errstate(invalid="ignore"):
        u = lr * p * t
    u = np.where(p == 0, 0.0, u)
    u_fin = u[np.isfinite(u)]
    u_max = float(u_fin.max()) if u_fin.size else 0.0
    z_end = 40.0                                   # R/S = 1 - 4e-18: saturated in float64

    def rhs(_, z):
        r = S * special.expit(z)
        return depth * S * r ** (1.0 - 2.0 / depth)

    def done(_, z):
        return z[0] - z_end
    done.terminal = True

    z0 = np.log(R0 / (S - R0))
    sol = integrate.solve_ivp(rhs, (0.0, max(u_max, 1e-300)), [z0], method="DOP853", rtol=rtol,
                              atol=1e-12, dense_output=True, events=done)
    u_stop = sol.t[-1]
    z = np.where(u <= u_stop, 0.0, z_end)
    inside = np.isfinite(u) & (u <= u_stop)
    if inside.any():
        z[inside] = sol.sol(u[inside])[0]
    return S * special.expit(z)


def stage_margin(k, alpha: float, S: float = 1.0, R0: float = 0.01, eps: float = 0.05):
    """(tau^(e)_{k+1} - tau^(e)_k) / tau^(s)_k for the multilinear model at infinite data (Eq. 41).

    ``k`` is the 0-based skill index (paper's skill k + 1 against k + 2). With P_s(k) ∝ k^-(alpha+1)
    the ratio is log[(S/R0 - 1)/(1/eps - 1)] ((k+2)/(k+1))^(alpha+1) - 1) / (2 log(1/eps - 1)),
    independent of lr and of the number of skills. Training is stage-like at k when it exceeds 1.
    """
    k = np.asarray(k)
    if k.dtype.kind not in "iu" or np.any(k < 0):
        raise ValueError(f"k must be a non-negative integer skill index (0-based), got {k!r}")
    alpha = _checks.positive("alpha", alpha)
    S = _checks.positive("S", S)
    R0 = np.asarray(R0, dtype=float)
    if np.isnan(R0).any() or np.any((R0 <= 0) | (R0 >= S)):
        raise ValueError(f"R0 must lie in the open interval (0, S), got {R0!r}")
    eps = _checks.in_open_interval("eps", eps, 0.0, 0.5)
    gap = np.log((S / R0 - 1.0) / (1.0 / eps - 1.0))
    if np.any(gap <= 0):
        raise ValueError(f"R0 must lie below eps * S (else the skill has emerged at t = 0), got R0={R0}")
    ratio = ((k + 2.0) / (k + 1.0)) ** (alpha + 1.0) - 1.0
    return gap * ratio / (2.0 * np.log(1.0 / eps - 1.0))


def stage_like(k, alpha: float, S: float = 1.0, R0: float = 0.01, eps: float = 0.05):
    """True where skill k (0-based) saturates before skill k + 1 emerges: tau^(s)_k < tau^(e)_{k+1} - tau^(e)_k (Eq. 41)."""
    return stage_margin(k, alpha, S=S, R0=R0, eps=eps) > 1.0


def simulate_linear_network(X, Y, W1, W2, steps: int, *, lr: float = 0.01, record_every: int = 1,
                            device=None):
    """Full-batch gradient descent on a 2-layer linear network y = W2 W1 x (App. B.2, Saxe et al.).

    Loss 1/2 mean_n ||y_n - W2 W1 x_n||^2 on data ``X`` (n, d_in) and ``Y`` (n, d_out); ``W1``
    (hidden, d_in) and ``W2`` (d_out, hidden) are the starting weights. Returns ``(steps, W)`` with
    ``W`` float64 (n_records, d_out, d_in) the end-to-end map W2 W1 at the recorded steps. With
    whitened inputs (X^T X / n = I) and Y = X M^T, M = U diag(lambda) V^T, a start aligned with the
    modes follows Eq. 25: u_k^T W v_k = strength(t, 1, S=lambda_k, R0=u_k^T W(0) v_k, lr) with t = steps.
    """
    import torch

    steps = _checks.integer("steps", steps, lo=1)
    record_every = _checks.integer("record_every", record_every, lo=1)
    lr = float(_checks.positive("lr", lr))
    X, Y, W1, W2 = (np.asarray(v, dtype=float) for v in (X, Y, W1, W2))
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must be 2-d with the same number of rows, got {X.shape} and {Y.shape}")
    if W1.shape[1] != X.shape[1] or W2.shape != (Y.shape[1], W1.shape[0]):
        raise ValueError(f"W1 must be (hidden, {X.shape[1]}) and W2 ({Y.shape[1]}, hidden), "
                         f"got {W1.shape} and {W2.shape}")
    dev = torch.device("cpu") if device is None else torch.device(device)
    Xt, Yt = (torch.as_tensor(v, dtype=torch.float64, device=dev) for v in (X, Y))
    w1 = torch.as_tensor(W1, dtype=torch.float64, device=dev).clone().requires_grad_(True)
    w2 = torch.as_tensor(W2, dtype=torch.float64, device=dev).clone().requires_grad_(True)
    rec = sorted(set(range(0, steps + 1, record_every)) | {steps})
    out = torch.empty((len(rec), Y.shape[1], X.shape[1]), dtype=torch.float64, device=dev)
    j = 0
    for n in range(steps + 1):
        if j < len(rec) and n == rec[j]:
            out[j] = (w2 @ w1).detach()
            j += 1
        if n == steps:
            break
        L = 0.5 * ((Yt - Xt @ (w2 @ w1).T) ** 2).sum(1).mean()
        g1, g2 = torch.autograd.grad(L, (w1, w2))
        with torch.no_grad():
            w1 -= lr * g1
            w2 -= lr * g2
    return np.asarray(rec), out.cpu().numpy()


# --- Extended models calibrated on networks (Sec. 5, chapters 5-6) ---
# A network has to discover the skill functions g_k, so Sec. 5 of the paper gives the model one
# calibration constant per resource: B^2 (time), D_c (data), N_c (width). These closed forms are
# fitted by skillkit.calibrate on a one-skill network and then reused unchanged.

_LOSS_CONVENTIONS = {"half": 1.0, "mse": 2.0}


def strength_time(T, p, B2, S: float = 1.0, R0: float = 0.01, lr: float = 1.0, convention: str = "half"):
    """Skill strength of the time-extended model, g_k -> B g_k (Eqs. 13-14 of the paper).

    R/S = 1 / (1 + (S/R0 - 1) exp(-c * 2 lr p B2 S T)), with ``B2`` = B^2 in (0, inf) (the paper fits
    1/22 on an MLP; B2 > 1 is allowed so that fits are not clipped). ``convention`` picks the loss convention:

    - ``"half"`` (c = 1): L = 1/2 E[(f* - f)^2], the paper's Eq. 5 and the rest of this module;
    - ``"mse"`` (c = 2): L = E[(f* - f)^2], PyTorch's ``MSELoss`` as used by the paper's code, whose
      gradient is twice as large, so at equal ``lr`` the rate doubles (the code's "4 instead of 2").

    ``T`` (>= 0, may be inf) and ``p`` (in [0, 1]) broadcast; returns R (not R/S), float64.
    """
    B2 = _checks.positive("B2", B2)
    if convention not in _LOSS_CONVENTIONS:
        raise ValueError(f"convention must be one of {tuple(_LOSS_CONVENTIONS)}, got {convention!r}")
    S, R0, lr = _checks.strength_params(S, R0, lr)
    return strength(T, p, S=S, R0=R0, lr=lr * float(B2) * _LOSS_CONVENTIONS[convention])


def _check_form(form: str) -> str:
    if form not in ("eq17", "projection"):
        raise ValueError(f"form must be 'eq17' or 'projection', got {form!r}")
    return form


def dshot_strength(d, D_c, S: float = 1.0, form: str = "eq17"):
    """Skill strength of the D_c-shot learner after training on ``d`` examples of the skill (Prop. 1).

    The skill is spanned by D_c orthonormal functions with sum_l e_l / sqrt(D_c) = g_k (Eqs. 15-16); with
    small initialisation gradient flow reaches the minimum-norm interpolant of the d examples, whose
    test loss is L_k = (S^2/2)(1 - d/D_c) for d < D_c and 0 for d >= D_c (Eq. 104).

    - ``form="eq17"`` (the paper's Eq. 17 and its code): R = S (1 - sqrt(1 - d/D_c)), the strength that
      gives that loss through L_k = 1/2 (S - R)^2 (Eq. 10), i.e. R = S - sqrt(2 L_k).
    - ``form="projection"``: R = E[g_k f] = S d/D_c, the projection of the same interpolant on g_k
      (averaged over training sets), which is what a measurement of R_k by Eq. 7 sees.

    ``d`` (>= 0, real: an expected count is allowed) and ``D_c`` (> 0) broadcast; returns R, float64.
    """
    d = _checks.nonnegative("d", d)
    D_c = _checks.positive("D_c", D_c)
    S = float(_checks.positive("S", S))
    frac = np.minimum(d / D_c, 1.0)          # d >= D_c: the skill is interpolated exactly
    if _check_form(form) == "eq17":
        return S * (1.0 - np.sqrt(1.0 - frac))
    return S * frac


def dshot_loss(d, D_c, S: float = 1.0):
    """Test loss of skill k for the D_c-shot learner: (S^2/2) max(0, 1 - d/D_c) (Eq. 104)."""
    d = _checks.nonnegative("d", d)
    D_c = _checks.positive("D_c", D_c)
    S = float(_checks.positive("S", S))
    return 0.5 * S**2 * (1.0 - np.minimum(d / D_c, 1.0))


def strength_data(D, p, D_c, S: float = 1.0, form: str = "eq17", average: str = "expected"):
    """R_k at T = inf of the D_c-shot learner trained on D samples, skill share ``p`` (Eq. 17).

    ``average="expected"`` evaluates Prop. 1 at the expected count d_k = D p, as the paper's code
    (``theo_data``) does; ``average="binomial"`` takes the expectation over d_k ~ Binomial(D, p).
    ``form`` as in :func:`dshot_strength`. ``D`` (> 0; an integer for the binomial average), ``p``
    (in [0, 1]) and ``D_c`` (> 0) broadcast; returns R, float64.
    """
    D = _checks.positive("D", D)
    p = _checks.in_closed_interval("p", p, 0.0, 1.0)
    D_c = _checks.positive("D_c", D_c)
    S = float(_checks.positive("S", S))
    _check_form(form)
    if average == "expected":
        return dshot_strength(D * p, D_c, S=S, form=form)
    if average != "binomial":
        raise ValueError(f"average must be 'expected' or 'binomial', got {average!r}")
    if np.any(D != np.round(D)):
        raise ValueError(f"D must be a positive integer for average='binomial', got {D!r}")
    Db, pb, Dcb = np.broadcast_arrays(D, p, D_c)
    out = np.empty(Db.shape)
    for idx in np.ndindex(Db.shape):
        n, q, dc = int(Db[idx]), float(pb[idx]), float(Dcb[idx])
        d = np.arange(0, min(n, int(np.ceil(dc)) - 1) + 1)          # counts with d < D_c (and d <= D)
        d = d[d < dc]
        below = stats.binom.pmf(d, n, q) @ dshot_strength(d, dc, S=S, form=form)
        out[idx] = below + S * stats.binom.sf(d[-1] if d.size else -1, n, q)   # d >= D_c: R = S
    return out


def strength_width(N, k, N_c, S: float = 1.0):
    """R_k at T, D = inf when N hidden units fill N_c basis functions per skill, in frequency order (Prop. 2).

    R_k / S = clip((N - k N_c) / N_c, 0, 1) with ``k`` the 0-based skill index (skill k+1 of the paper):
    skills before q = floor((N-1)/N_c) + 1 are learned, skill q has r = N - (q-1) N_c of its N_c
    functions (R = S r/N_c, Eq. 21), later skills none. The clip form is the paper code's
    (``theo_param``) and extends Prop. 2 to a real-valued fitted N_c. ``N`` (>= 0), ``k`` (integer
    >= 0) and ``N_c`` (> 0) broadcast; returns R, float64.
    """
    N = _checks.nonnegative("N", N)
    k = np.asarray(k)
    if k.dtype.kind not in "iu" or np.any(k < 0):
        raise ValueError(f"k (0-based skill index) must be an integer >= 0, got {k!r}")
    N_c = _checks.positive("N_c", N_c)
    S = float(_checks.positive("S", S))
    return S * np.clip((N - k * N_c) / N_c, 0.0, 1.0)
