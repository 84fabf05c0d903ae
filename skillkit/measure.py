"""Skill strength R_k = E_x[g_k(x) f(x)] with the control bits set to k (Eq. 7 and Eq. 318)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from . import _checks
from .data import MultitaskSparseParity

__all__ = ["skill_strengths"]


@torch.no_grad()
def skill_strengths(f: Callable[[torch.Tensor], torch.Tensor], task: MultitaskSparseParity,
                    n: int = 20000, generator: torch.Generator | None = None,
                    max_rows: int = 1 << 18) -> np.ndarray:
    """R_k for every skill: the mean of ``g_k(x) f(x)`` over ``n`` inputs with control bits set to k.

    ``f`` maps x (m, dim) to (m,) or (m, 1); it is called on all skills at once, in blocks of at most
    ``max_rows`` rows. This is the plain projection of Eq. 7 (the paper's code also subtracts the mean
    of f, which changes R_k only by the mean's overlap with g_k, zero in expectation).
    Returns a float64 numpy array of shape (n_skills,).
    """
    if not isinstance(task, MultitaskSparseParity):
        raise ValueError(f"task must be a MultitaskSparseParity, got {type(task).__name__}")
    n = _checks.integer("n", n, lo=1)
    per_block = max(1, max_rows // n)
    out = np.empty(task.n_skills)
    for start in range(0, task.n_skills, per_block):
        skills = torch.arange(start, min(start + per_block, task.n_skills), device=task.device)
        idx = skills.repeat_interleave(n)
        x = task.inputs(idx, generator)
        fx = f(x)
        if fx.ndim == 2 and fx.shape[1] == 1:
            fx = fx[:, 0]
        if fx.shape != (x.shape[0],):
            raise ValueError(f"f must map x of shape (m, {task.dim}) to (m,) or (m, 1), got {tuple(fx.shape)}")
        g = task.basis(x).gather(1, idx[:, None])[:, 0]
        out[start:start + len(skills)] = (g.double() * fx.double()).reshape(len(skills), n).mean(1).cpu().numpy()
    return out
