"""The power law over skills (Eq. 1 of the paper): P_s(k) = k^-(alpha+1) / sum_j j^-(alpha+1).

Numpy only, at the bottom of the package with ``_checks``: the task (``data``), the solvable model
(``multilinear``) and the scaling theory (``theory``) all read the skill frequencies from here.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from . import _checks

__all__ = ["skill_probs", "zipf_norm"]


def skill_probs(alpha: float, n_skills: int) -> np.ndarray:
    """P_s(k) = k^-(alpha+1) / sum_j j^-(alpha+1), k = 1..n_skills (Eq. 1 of the paper).

    Returns a float64 array of shape (n_skills,) that sums to one, most frequent skill first.
    """
    alpha = float(_checks.positive("alpha", alpha))
    n_skills = _checks.integer("n_skills", n_skills, lo=1)
    w = np.arange(1, n_skills + 1, dtype=float) ** -(alpha + 1.0)
    return w / w.sum()


def zipf_norm(alpha: float, n_skills=None) -> float:
    """sum_{j <= n_skills} j^-(alpha+1) (zeta(alpha+1) when ``n_skills`` is None): 1/A of Eq. 1."""
    a = float(_checks.positive("alpha", alpha))
    z = special.zeta(a + 1.0)
    if n_skills is None:
        return float(z)
    n = _checks.integer("n_skills", n_skills, lo=1)
    return float(z - special.zeta(a + 1.0, n + 1.0))
