"""The extended models calibrated on networks (Sec. 5 of the paper): one constant per resource.

A network has to discover the skill functions g_k, so Sec. 5 gives the multilinear model one
calibration constant per resource: B^2 (time, ``strength_time``), D_c (data, the D_c-shot learner:
``strength_dshot``, ``loss_dshot``, ``strength_data``) and N_c (width, ``strength_width``). These closed
forms are fitted by :mod:`skillkit.calibrate` on a one-skill network and then reused unchanged.
Numpy and scipy only.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from . import _checks
from .multilinear import strength

__all__ = ["strength_time", "strength_dshot", "loss_dshot", "strength_data", "strength_width", "LOSS_CONVENTIONS"]

#: the factor c of the rate for each loss convention: "half" L = 1/2 E[(f* - f)^2], "mse" L = E[(f* - f)^2]
LOSS_CONVENTIONS = {"half": 1.0, "mse": 2.0}


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
    if convention not in LOSS_CONVENTIONS:
        raise ValueError(f"convention must be one of {tuple(LOSS_CONVENTIONS)}, got {convention!r}")
    S, R0, lr = _checks.strength_params(S, R0, lr)
    return strength(T, p, S=S, R0=R0, lr=lr * float(B2) * LOSS_CONVENTIONS[convention])


def _check_form(form: str) -> str:
    if form not in ("eq17", "projection"):
        raise ValueError(f"form must be 'eq17' or 'projection', got {form!r}")
    return form


def strength_dshot(d, D_c, S: float = 1.0, form: str = "eq17"):
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


def loss_dshot(d, D_c, S: float = 1.0):
    """Test loss of skill k for the D_c-shot learner: (S^2/2) max(0, 1 - d/D_c) (Eq. 104)."""
    d = _checks.nonnegative("d", d)
    D_c = _checks.positive("D_c", D_c)
    S = float(_checks.positive("S", S))
    return 0.5 * S**2 * (1.0 - np.minimum(d / D_c, 1.0))


def strength_data(D, p, D_c, S: float = 1.0, form: str = "eq17", average: str = "expected"):
    """R_k at T = inf of the D_c-shot learner trained on D samples, skill share ``p`` (Eq. 17).

    ``average="expected"`` evaluates Prop. 1 at the expected count d_k = D p, as the paper's code
    (``theo_data``) does; ``average="binomial"`` takes the expectation over d_k ~ Binomial(D, p).
    ``form`` as in :func:`strength_dshot`. ``D`` (> 0; an integer for the binomial average), ``p``
    (in [0, 1]) and ``D_c`` (> 0) broadcast; returns R, float64.
    """
    D = _checks.positive("D", D)
    p = _checks.in_closed_interval("p", p, 0.0, 1.0)
    D_c = _checks.positive("D_c", D_c)
    S = float(_checks.positive("S", S))
    _check_form(form)
    if average == "expected":
        return strength_dshot(D * p, D_c, S=S, form=form)
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
        below = stats.binom.pmf(d, n, q) @ strength_dshot(d, dc, S=S, form=form)
        out[idx] = below + S * stats.binom.sf(d[-1] if d.size else -1, n, q)   # d >= D_c: R = S
    return out


def strength_width(N, skill, N_c, S: float = 1.0):
    """R_k at T, D = inf when N hidden units fill N_c basis functions per skill, in frequency order (Prop. 2).

    R_k / S = clip((N - skill N_c) / N_c, 0, 1) with ``skill`` the 0-based skill index (skill + 1 of the paper):
    skills before q = floor((N-1)/N_c) + 1 are learned, skill q has r = N - (q-1) N_c of its N_c
    functions (R = S r/N_c, Eq. 21), later skills none. The clip form is the paper code's
    (``theo_param``) and extends Prop. 2 to a real-valued fitted N_c. ``N`` (>= 0), ``skill`` (integer
    >= 0) and ``N_c`` (> 0) broadcast; returns R, float64.
    """
    N = _checks.nonnegative("N", N)
    skill = np.asarray(skill)
    if skill.dtype.kind not in "iu" or np.any(skill < 0):
        raise ValueError(f"skill must be an integer >= 0 (a 0-based index), got {skill!r}")
    N_c = _checks.positive("N_c", N_c)
    S = float(_checks.positive("S", S))
    return S * np.clip((N - skill * N_c) / N_c, 0.0, 1.0)
