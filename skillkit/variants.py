"""Versions of the solvable model beyond the balanced multilinear one (App. B, H and chapter 3).

- ``strength_linear`` / ``loss_linear``: the linear model f = sum_k w_k g_k (App. H);
- ``strength_unbalanced``: the multilinear model from a_k(0) != b_k(0) (App. B);
- ``strength_deep``, ``rhs_deep``, ``time_to_deep``, ``emergence_time_deep``: the depth-L product
  f = sum_k (prod_l a_{k,l}) g_k with balanced start ("beyond the paper"; L = 2 is the multilinear model).

Numpy and scipy only; the same conventions as :mod:`skillkit.multilinear` (L = 1/2 E[(f* - f)^2]).
"""
from __future__ import annotations

import numpy as np
from scipy import integrate, special

from . import _checks
from .multilinear import _binomial_weights, strength
from .zipf import skill_probs

__all__ = ["strength_linear", "loss_linear", "strength_unbalanced", "rhs_deep", "time_to_deep",
           "emergence_time_deep", "strength_deep"]


def strength_linear(t, p, S: float = 1.0, R0: float = 0.0, lr: float = 1.0):
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


def loss_linear(alpha: float, n_skills: int, *, T=np.inf, D=np.inf, N=None, S: float = 1.0,
                lr: float = 1.0):
    """Test loss of the linear model (App. H) with w(0) = 0: sum_k P_s(k) 1/2 (S - R_k)^2.

    Same conventions as :func:`skillkit.multilinear.loss` (``T`` array-like, ``D`` integer or inf, ``N`` basis size); for
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


def rhs_deep(R, p, depth: int, S: float = 1.0, lr: float = 1.0):
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


def time_to_deep(R, p, depth: int, S: float = 1.0, R0: float = 0.01, lr: float = 1.0):
    """Time for the depth-L model (balanced start R0) to reach strength ``R`` in [R0, S).

    t = int_{R0}^{R} dr / (lr p L r^(2-2/L) (S - r)), by adaptive quadrature in the log-odds variable
    (the integral does not depend on p or lr, which only rescale it). ``p = 0`` gives inf.
    """
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


def emergence_time_deep(p, depth: int, S: float = 1.0, R0: float = 0.01, lr: float = 1.0,
                        eps: float = 0.05):
    """Time at which the depth-L model's R/S reaches ``eps`` (Eq. 40 generalised; L = 2 recovers it).

    For small R0 and L > 2 this grows like R0^(-(L-2)/L) / ((L-2) lr p S), not like log(S/R0).
    """
    p, depth, S, R0, lr = _deep_params(p, depth, S, R0, lr)
    eps = float(_checks.in_open_interval("eps", eps, 0.0, 1.0))
    if not R0 < eps * S:
        raise ValueError(f"R0 must lie below eps * S = {eps * S} for an emergence time to exist, got {R0}")
    return time_to_deep(eps * S, p, depth, S=S, R0=R0, lr=lr)


def strength_deep(t, p, depth: int, S: float = 1.0, R0: float = 0.01, lr: float = 1.0,
                  rtol: float = 1e-10):
    """R(t) of the depth-L product model, balanced start, by numerical integration of the ODE.

    Solves dR/du = L R^(2-2/L) (S - R) once in the rescaled time u = lr p t (so every skill shares one
    solve), in the log-odds z = log(R/(S - R)), with scipy's ``solve_ivp`` (DOP853, ``rtol``) and
    dense output. ``depth = 2`` reproduces :func:`strength`; ``depth = 1`` :func:`strength_linear`.
    """
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
