"""The width-3 weight-shared ReLU toy of the paper's App. G (Fig. 8), with 4 trainable parameters.

The paper does not spell out its construction; the one here is ours (see the class docstring).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import _checks

__all__ = ["WeightSharedParityNet"]


class WeightSharedParityNet(nn.Module):
    """A width-3 ReLU net with weight sharing, 4 trainable parameters, that fits 3-bit parity exactly.

    The toy of the paper's App. G / Fig. 8 ("a width-3 ReLU network with weight sharing, 4 parameters,
    fitting 3-bit parity"). The paper does not give its construction; **this one is ours**. Inputs are
    ``x`` in {-1, 1}^3 and the target is ``S g(x)`` with ``g = x1 x2 x3``. With ``s = x1 + x2 + x3``,

        f(x) = c + sum_i eps_i w_i ReLU(w_i (p_i s + q_i)),     i = 1, 2, 3,

    where unit ``i`` sees every input through the same weight ``p_i w_i`` (weight sharing over its
    three input edges), has bias ``q_i w_i`` and output weight ``eps_i w_i``: its single trainable
    number ``w_i`` is shared by its input edges, its bias and its output edge. The fourth parameter is
    the output bias ``c``. The fixed integers ``(p_i, q_i)`` and signs ``eps_i`` (``PATTERNS``,
    ``SIGNS``) are chosen so that ``w_i^2 = S`` and ``c = -2 S`` give ``f = S g`` exactly
    (:meth:`solution`). For ``w_i > 0``, ``f = c + sum_i u_i eps_i phi_i`` with ``u_i = w_i^2`` and the
    fixed ReLU features ``phi_i = ReLU(p_i s + q_i)``: unit ``i``'s "mode" is
    ``R_i = E[g eps_i w_i^2 phi_i] = u_i * share_i`` with ``share_i = E[g eps_i phi_i]`` =
    (1/2, 1/8, 3/8) (``SHARES``), and ``sum_i R_i = E[g f]`` because ``E[g] = 0``.

    Parameters
    ----------
    n_models : independent copies trained together (leading axis of every parameter), at least 1.
    init_std : scale of the initial weights, > 0: ``w_i = init_std |N(0, 1)|`` (positive, so each unit
        starts on the feature it is built for); ``c`` starts at 0.
    seed : integer >= 0 of the generator of the initial weights.
    dtype : float64 by default (the whole data set is 8 points).
    """

    PATTERNS = ((-4.0, -8.0), (-1.0, 2.0), (3.0, -6.0))   # (p_i, q_i): unit i computes ReLU(w_i (p_i s + q_i))
    SIGNS = (-1.0, 1.0, 1.0)                              # eps_i: sign of unit i's output edge
    SHARES = (0.5, 0.125, 0.375)                          # E[g eps_i phi_i], checked in tests/test_toy_modes.py
    BIAS = -2.0                                           # c / S at the exact solution

    def __init__(self, n_models: int = 1, init_std: float = 0.1, seed: int = 0, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.n_models = _checks.integer("n_models", n_models, lo=1)
        self.init_std = float(_checks.positive("init_std", init_std))
        seed = _checks.integer("seed", seed, lo=0)
        gen = torch.Generator().manual_seed(seed)
        w = torch.randn(self.n_models, 3, generator=gen, dtype=torch.float64).abs() * self.init_std
        self.w = nn.Parameter(w.to(dtype))
        self.c = nn.Parameter(torch.zeros(self.n_models, dtype=dtype))
        pq = torch.tensor(self.PATTERNS, dtype=dtype)
        self.register_buffer("p", pq[:, 0].clone())
        self.register_buffer("q", pq[:, 1].clone())
        self.register_buffer("eps", torch.tensor(self.SIGNS, dtype=dtype))

    @staticmethod
    def inputs(dtype: torch.dtype = torch.float64):
        """All 8 inputs ``x`` (8, 3) of {-1, 1}^3 and the parity ``g = x1 x2 x3`` (8,)."""
        x = torch.tensor([[a, b, c] for a in (-1.0, 1.0) for b in (-1.0, 1.0) for c in (-1.0, 1.0)], dtype=dtype)
        return x, x.prod(1)

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != 3:
            raise ValueError(f"x must have shape (B, 3) with entries in {{-1, 1}}, got {tuple(x.shape)}")
        return x.to(self.w.dtype)

    def contributions(self, x: torch.Tensor) -> torch.Tensor:
        """Each unit's contribution ``eps_i w_i ReLU(w_i (p_i s + q_i))`` to ``f``: shape (n_models, B, 3)."""
        s = self._check_x(x).sum(1)                                   # (B,)
        z = s[:, None] * self.p + self.q                               # (B, 3)
        w = self.w[:, None, :]                                         # (M, 1, 3)
        return self.eps * w * torch.relu(w * z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``f`` of every copy, shape (n_models, B)."""
        return self.c[:, None] + self.contributions(x).sum(-1)

    def modes(self) -> torch.Tensor:
        """Per-unit mode strengths ``R_i = E_x[g(x) * contribution_i(x)]`` over the 8 inputs: (n_models, 3)."""
        x, g = self.inputs(self.w.dtype)
        return (g[None, :, None] * self.contributions(x.to(self.w.device))).mean(1)

    @classmethod
    def solution(cls, S: float = 1.0) -> tuple[np.ndarray, float]:
        """The exact fit of ``S g``: ``w_i = sqrt(S)`` for every unit and ``c = -2 S``."""
        S = float(_checks.positive("S", S))
        return np.full(3, np.sqrt(S)), cls.BIAS * S
