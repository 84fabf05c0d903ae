"""Scaling laws of the multilinear model (Sec. 4 and App. J-K of the paper): exponents (Table 4),
prefactors, the compute-optimal split, the finite-list time law and the never-learned tail. Numpy and
scipy only; ``zipf_norm`` is re-exported from :mod:`skillkit.zipf`."""
from __future__ import annotations

import numpy as np
from scipy import integrate, optimize, special

from . import _checks
from .zipf import zipf_norm

__all__ = ["exponents", "time_integral", "time_integral_small_r", "prefactor_time", "prefactor_data",
           "prefactor_params", "time_params_profile", "compute_optimum", "prefactor_compute", "zipf_norm",
           "time_law_finite_N", "tail_loss"]


def exponents(alpha: float) -> dict[str, float]:
    """Loss exponents of the four bottlenecks (Table 4): L ∝ resource^exponent.

    time and data: -alpha/(alpha+1); parameters: -alpha; compute (C = N T): -alpha/(alpha+2).
    """
    a = float(_checks.positive("alpha", alpha))
    return {"time": -a / (a + 1), "data": -a / (a + 1), "params": -a, "compute": -a / (a + 2)}


# ---------------------------------------------------------------------------------------------
# Prefactors of the scaling laws (App. J and K.4 of the paper) and the finite-N time law (Eq. 56).
# Conventions: S the target norm, R0 = r the initial strength of every skill, lr = eta; the skill
# frequencies are P_s(k) = k^-(alpha+1)/zeta(alpha+1) (n_skills -> infinity unless stated).
# ---------------------------------------------------------------------------------------------

def _phi(u, S: float, R0: float):
    """[1 + (S/R0 - 1)^-1 e^{2u}]^-2, the fraction of a skill's loss left at rescaled time u.

    Written as expit(log(S/R0 - 1) - 2u)^2 so that it is stable for every u >= 0.
    """
    return special.expit(np.log(S / R0 - 1.0) - 2.0 * np.asarray(u, dtype=float)) ** 2


def time_integral(alpha: float, S: float = 1.0, R0: float = 0.01, lower: float = 0.0) -> float:
    """I(lower) = int_lower^inf u^(-1/(alpha+1)) [1 + (S/R0 - 1)^-1 e^{2u}]^-2 du (Thm 4, Eq. 321).

    The integral over u in the time prefactor, without the factor S^2/2. Evaluated with scipy's
    ``quad``: the algebraic singularity at u = 0 is handled by the ``alg`` weight on [0, u*] (minus [0, lower])
    and the exponential tail by a second piece, u* = log(S/R0 - 1)/2 + 40.
    """
    a = float(_checks.positive("alpha", alpha))
    S, R0, _ = _checks.strength_params(S, R0, 1.0)
    lower = float(_checks.nonnegative("lower", lower))
    g = np.log(S / R0 - 1.0)
    cut = g / 2.0 + 40.0
    s = -1.0 / (a + 1.0)

    def alg(lo, hi):   # int_lo^hi with the u^s singularity at u = 0 integrated exactly (lo = 0)
        return integrate.quad(lambda u: _phi(u, S, R0), lo, hi, weight="alg", wvar=(s, 0.0),
                              limit=400, epsabs=1e-14, epsrel=1e-10)[0]

    if lower < cut:
        head = alg(0.0, cut) - (alg(0.0, lower) if lower > 0 else 0.0)
        start = cut
    else:
        head, start = 0.0, lower
    tail, _ = integrate.quad(lambda u: u**s * _phi(u, S, R0), start, np.inf, limit=200)
    return float(head + tail)


def time_integral_small_r(alpha: float, S: float = 1.0, R0: float = 0.01) -> float:
    """Small-r asymptotic of the time integral (Prop. 7), including the factor S^2/2:

    int u^(-1/(alpha+1)) Phi du ~ log((S - r)/r)^(alpha/(alpha+1)) 2^(1/(alpha+1)) S^2 (alpha+1)/(4 alpha),
    with Phi = (S^2/2)[1 + (S/r - 1)^-1 e^{2u}]^-2. Its relative error falls like 1/log(S/r).
    """
    a = float(_checks.positive("alpha", alpha))
    S, R0, _ = _checks.strength_params(S, R0, 1.0)
    return float(np.log((S - R0) / R0) ** (a / (a + 1)) * 2 ** (1 / (a + 1)) * S**2 * (a + 1) / (4 * a))


def prefactor_time(alpha: float, S: float = 1.0, R0: float = 0.01, lr: float = 1.0) -> float:
    """A_T of the time law L = A_T T^(-alpha/(alpha+1)) (Thm 4, Eq. 321; D, N -> infinity).

    A_T = (S^2/2) zeta(alpha+1)^(-1/(alpha+1)) / [(alpha+1) (lr S)^(alpha/(alpha+1))] * I(0),
    with I from :func:`time_integral`. For S = lr = 1 and R0 = 0.01 the factor
    zeta^(-1/(alpha+1)) I(0)/(alpha+1) is the constant 1.29, 1.20, 1.06 (alpha = 0.3, 0.6, 0.9)
    hard-coded in the paper's plotting code.
    """
    a = float(_checks.positive("alpha", alpha))
    S, R0, lr = _checks.strength_params(S, R0, lr)
    z = special.zeta(a + 1.0)
    return float(0.5 * S**2 * z ** (-1 / (a + 1)) / ((a + 1) * (lr * S) ** (a / (a + 1)))
                 * time_integral(a, S, R0))


def prefactor_data(alpha: float, S: float = 1.0, R0: float = 0.01) -> float:
    """A_D of the data law E_D[L] = A_D D^(-alpha/(alpha+1)) (Thm 5, Eqs. 302, 324; T, N -> infinity).

    A_D = (S - R0)^2 zeta(alpha+1)^(-1/(alpha+1)) Gamma(alpha/(alpha+1)) / (2 (alpha+1)): the
    one-shot learner, whose unseen skills keep R0. The paper's r -> 0 form replaces (S - R0)^2 by S^2.
    """
    a = float(_checks.positive("alpha", alpha))
    S, R0, _ = _checks.strength_params(S, R0, 1.0)
    z = special.zeta(a + 1.0)
    return float((S - R0) ** 2 * z ** (-1 / (a + 1)) * special.gamma(a / (a + 1)) / (2 * (a + 1)))


def prefactor_params(alpha: float, S: float = 1.0, gamma: float = 0.0) -> float:
    """A_N of the parameter law L = A_N N^(-alpha) (Thm 1, Eq. 217; T, D -> infinity).

    A_N = S^2 (1 - gamma^alpha) / (2 alpha zeta(alpha+1)), gamma = lim N/n_skills in [0, 1).
    The paper's App. K.4 approximates it by S^2/2 (gamma -> 0 and zeta(alpha+1) ~ 1/alpha).
    """
    a = float(_checks.positive("alpha", alpha))
    S = float(_checks.positive("S", S))
    gamma = float(_checks.in_closed_interval("gamma", gamma, 0.0, 1.0))
    return float(S**2 * (1 - gamma**a) / (2 * a * special.zeta(a + 1.0)))


def time_params_profile(lam, alpha: float, S: float = 1.0, R0: float = 0.01):
    """A(lambda) of Eq. 238: L = A(lambda) (lr S T)^(-alpha/(alpha+1)) when N = lambda (lr S T)^(1/(alpha+1)).

    A(lambda) = (S^2/2) zeta^(-1/(alpha+1))/(alpha+1) I(lambda^-(alpha+1)/zeta) + S^2/(2 alpha zeta) lambda^-alpha:
    the skills k <= N still being learned, plus the S^2/2 of every skill beyond N. ``lam`` in (0, inf];
    lambda = inf gives the pure time law. Array-like ``lam`` is evaluated element-wise.
    """
    a = float(_checks.positive("alpha", alpha))
    S, R0, _ = _checks.strength_params(S, R0, 1.0)
    lam_arr = _checks.positive("lam", lam, allow_inf=True)
    z = special.zeta(a + 1.0)
    out = np.empty(lam_arr.shape)
    for i, l in np.ndenumerate(lam_arr):
        lower = 0.0 if np.isinf(l) else l ** (-(a + 1)) / z
        out[i] = (0.5 * S**2 * z ** (-1 / (a + 1)) / (a + 1) * time_integral(a, S, R0, lower)
                  + (0.0 if np.isinf(l) else S**2 / (2 * a * z) * l ** (-a)))
    return out if out.ndim else float(out)


def compute_optimum(alpha: float, S: float = 1.0, R0: float = 0.01, lr: float = 1.0) -> dict:
    """The compute law L = A_C C^(-alpha/(alpha+2)), C = N T, at the compute-optimal split (Cor 5, Eq. 330).

    Writing N = lambda (lr S T)^(1/(alpha+1)) gives L = (lr S)^(-alpha/(alpha+2)) C^(-alpha/(alpha+2))
    lambda^(alpha/(alpha+2)) A(lambda) (A from :func:`time_params_profile`), minimised over lambda
    numerically (the paper: no closed form). Returns a dict with ``A_C``, ``lam`` (the optimal
    N/(lr S T)^(1/(alpha+1))), ``N_coef`` and ``T_coef`` (N_opt = N_coef C^(1/(alpha+2)),
    T_opt = T_coef C^((alpha+1)/(alpha+2))). The paper's parametrisation (N, lr S T) =
    (l (lr S C)^(1/(alpha+2)), l^-1 (lr S C)^((alpha+1)/(alpha+2))) is l = lam^((alpha+1)/(alpha+2)).
    """
    a = float(_checks.positive("alpha", alpha))
    S, R0, lr = _checks.strength_params(S, R0, lr)

    def h(loglam):
        lam = np.exp(loglam)
        return lam ** (a / (a + 2)) * time_params_profile(lam, a, S, R0)

    grid = np.linspace(-8.0, 8.0, 65)
    vals = np.array([h(x) for x in grid])
    i = int(np.clip(np.argmin(vals), 1, grid.size - 2))
    res = optimize.minimize_scalar(h, bounds=(grid[i - 1], grid[i + 1]), method="bounded",
                                   options={"xatol": 1e-9})
    lam = float(np.exp(res.x))
    k = lr * S
    return {"A_C": float(res.fun * k ** (-a / (a + 2))), "lam": lam,
            "N_coef": float(lam ** ((a + 1) / (a + 2)) * k ** (1 / (a + 2))),
            "T_coef": float(lam ** (-(a + 1) / (a + 2)) * k ** (-1 / (a + 2)))}


def prefactor_compute(alpha: float, S: float = 1.0, R0: float = 0.01, lr: float = 1.0) -> float:
    """A_C of the compute law (Cor 5, Eq. 330); see :func:`compute_optimum`."""
    return compute_optimum(alpha, S, R0, lr)["A_C"]


def time_law_finite_N(T, alpha: float, n_skills: int, S: float = 1.0, R0: float = 0.01,
                      lr: float = 1.0):
    """Time law with the finite-N correction of Eq. 56 (App. E.1, Fig. 7), for N = n_skills.

    Integrating dL/dT = -(alpha/(alpha+1)) (L + L_C)/T gives L = K T^(-alpha/(alpha+1)) - L_C, with
    L_C = (S - R0)^2 A N^-alpha / (2 alpha) and A = 1/sum_{j<=N} j^-(alpha+1) (the paper writes S^2 for
    (S - R0)^2). The constant K is the prefactor of Thm 4 with zeta replaced by 1/A, which is what
    the same integration by parts gives when the sum stops at N. Valid while N^(alpha+1) >> lr S T.
    """
    a = float(_checks.positive("alpha", alpha))
    S, R0, lr = _checks.strength_params(S, R0, lr)
    T = _checks.positive("T", T)
    H = zipf_norm(a, n_skills)
    K = 0.5 * S**2 * H ** (-1 / (a + 1)) / ((a + 1) * (lr * S) ** (a / (a + 1))) * time_integral(a, S, R0)
    L_C = (S - R0) ** 2 * n_skills ** (-a) / (2 * a * H)
    return K * T ** (-a / (a + 1)) - L_C


def tail_loss(alpha: float, n_skills: int, S: float = 1.0, R0: float = 0.0) -> float:
    """L_C, the loss that a list of ``n_skills`` skills leaves out: the never-learned tail (Eq. 56, App. E.1).

    L_C = (S - R0)^2 / 2 * zeta(alpha+1, n_skills+1) / H_n, with H_n = sum_{j<=n} j^-(alpha+1) the
    normaliser of the finite list (:func:`zipf_norm`) and zeta(s, q) the Hurwitz zeta function (the
    skills beyond n_skills). Each left-out skill is weighted as the listed ones are and keeps the
    strength R0 it starts with: R0 = 0 for the parameter law (no basis function) and the linear
    model (w(0) = 0), R0 = the initial strength for the multilinear time and data laws. The paper's
    Eq. 56 writes the integral approximation S^2 A N^-alpha / (2 alpha), A = 1/H_n, which this
    equals up to O(1/N). Adding L_C to the loss of the finite list gives the loss the infinite-list
    laws describe while the tail is unlearned (chapters 3 and 4 fit exponents to L + L_C).
    """
    a = float(_checks.positive("alpha", alpha))
    n = _checks.integer("n_skills", n_skills, lo=1)
    S = float(_checks.positive("S", S))
    R0 = float(np.asarray(_checks.in_closed_interval("R0", R0, 0.0, S)))
    if R0 >= S:
        raise ValueError(f"R0 must lie in [0, S) = [0, {S}), got {R0!r}")
    return float(0.5 * (S - R0) ** 2 * special.zeta(a + 1.0, n + 1.0) / zipf_norm(a, n))
