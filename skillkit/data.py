"""The multitask sparse parity task and its skill basis (Sec. 2 of the paper), and single sparse parity.

An input is ``n_skills`` one-hot control bits followed by ``n_bits`` uniform skill bits, as 0/1 floats.
Skill ``k`` (0-based here, ``k + 1`` in the paper) is drawn with probability
``P_s(k+1) ∝ (k+1)^-(alpha+1)`` and reads ``k`` fixed relevant bits that no other skill reads. Its basis
function ``g_k`` is the parity sign ``(-1)^(sum of its relevant bits)`` when the control bits select it
and zero otherwise (Eq. 2), and the label is ``y = S * sum_k g_k(x)`` (Eq. 4).
"""
from __future__ import annotations

import numpy as np
import torch

from . import _checks
from ._checks import skill_probs

__all__ = ["MultitaskSparseParity", "SparseParity", "skill_probs"]


def _parity_sign(bits: torch.Tensor) -> torch.Tensor:
    """(-1)^(sum of 0/1 bits along the last axis), as float32."""
    return 1.0 - 2.0 * (bits.sum(-1).remainder(2))


class MultitaskSparseParity:
    """Multitask sparse parity with a power law over skills.

    Parameters
    ----------
    n_skills : number of skills (control bits), at least 1.
    n_bits : number of skill bits, at least ``n_skills * k``.
    k : relevant bits per skill (the paper's m = 3), at least 1.
    alpha : the power-law exponent, > 0; skill frequencies are ``∝ i^-(alpha+1)``.
    S : label scale, > 0; labels are ``±S``.
    seed : fixes the relevant bits and the task's own sampling generator.
    device : where samples are made (default: cpu).
    """

    def __init__(self, n_skills: int = 5, n_bits: int = 32, k: int = 3, alpha: float = 0.6,
                 S: float = 5.0, seed: int = 0, device: str | torch.device | None = None):
        self.n_skills = _checks.integer("n_skills", n_skills, lo=1)
        self.n_bits = _checks.integer("n_bits", n_bits, lo=1)
        self.k = _checks.integer("k", k, lo=1, hi=self.n_bits)
        if self.n_skills * self.k > self.n_bits:
            raise ValueError(
                f"n_skills * k must be at most n_bits (the skills' relevant bits are disjoint): "
                f"{self.n_skills} * {self.k} > {self.n_bits}")
        self.alpha = float(_checks.positive("alpha", alpha))
        self.S = float(_checks.positive("S", S))
        self.seed = _checks.integer("seed", seed, lo=0)
        self.device = torch.device(device) if device is not None else torch.device("cpu")

        rng = np.random.default_rng(self.seed)
        chosen = rng.choice(self.n_bits, size=self.n_skills * self.k, replace=False)
        self.relevant_bits = np.sort(chosen.reshape(self.n_skills, self.k), axis=1).astype(np.int64)
        self.probs = skill_probs(self.alpha, self.n_skills)

        self._rel = torch.as_tensor(self.relevant_bits, device=self.device)
        self._cdf = torch.as_tensor(np.cumsum(self.probs), dtype=torch.float64, device=self.device)
        self._generator = torch.Generator(device=self.device).manual_seed(self.seed + 1)

    @property
    def dim(self) -> int:
        """Input dimension: control bits plus skill bits."""
        return self.n_skills + self.n_bits

    def __repr__(self) -> str:
        return (f"MultitaskSparseParity(n_skills={self.n_skills}, n_bits={self.n_bits}, k={self.k}, "
                f"alpha={self.alpha}, S={self.S}, seed={self.seed})")

    def _gen(self, generator):
        return self._generator if generator is None else generator

    def sample_skills(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` skill indices (int64, 0-based) drawn from ``probs``."""
        n = _checks.integer("n", n, lo=1)
        u = torch.rand(n, generator=self._gen(generator), device=self.device, dtype=torch.float64)
        return torch.searchsorted(self._cdf, u, right=True).clamp_(max=self.n_skills - 1)

    def inputs(self, skill: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Inputs for the given skill indices: one-hot control bits, then uniform skill bits."""
        n = skill.shape[0]
        bits = torch.randint(0, 2, (n, self.n_bits), generator=self._gen(generator), device=self.device)
        control = torch.nn.functional.one_hot(skill, self.n_skills)
        return torch.cat([control, bits], dim=1).to(torch.float32)

    def sample(self, n: int, generator: torch.Generator | None = None):
        """Draw ``n`` i.i.d. samples; returns ``(x, skill, y)``.

        ``x`` float32 (n, dim) of 0/1, ``skill`` int64 (n,) in 0..n_skills-1, ``y`` float32 (n,) = ±S.
        """
        skill = self.sample_skills(n, generator)
        x = self.inputs(skill, generator)
        return x, skill, self.target(x)

    def sample_skill(self, k: int, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` inputs with the control bits set to skill ``k`` (0-based), as used to measure R_k."""
        k = _checks.integer("k (skill index)", k, lo=0, hi=self.n_skills - 1)
        n = _checks.integer("n", n, lo=1)
        return self.inputs(torch.full((n,), k, dtype=torch.int64, device=self.device), generator)

    def basis(self, x: torch.Tensor) -> torch.Tensor:
        """The skill basis ``g_k(x)`` for every skill: float32 (n, n_skills) with values in {-1, 0, 1}.

        Eq. 2 of the paper, with the paper's sign: +1 when the relevant bits have an even sum.
        """
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, dim) = (n, {self.dim}), got {tuple(x.shape)}")
        control = x[:, : self.n_skills]
        bits = x[:, self.n_skills:]
        relevant = bits[:, self._rel.to(x.device)]            # (n, n_skills, k)
        return (control * _parity_sign(relevant)).to(torch.float32) + 0.0   # + 0.0: no negative zeros

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """``f*(x) = S * sum_k g_k(x)`` (Eq. 4), float32 (n,)."""
        return self.S * self.basis(x).sum(1)


class SparseParity:
    """Single-task sparse parity in the ±1 convention: ``y = prod_{i in relevant} x_i``.

    Inputs are uniform in {-1, +1}^n_bits; ``relevant_bits`` (``k`` of them, sorted) are fixed by ``seed``.
    """

    def __init__(self, n_bits: int, k: int, seed: int = 0, device: str | torch.device | None = None):
        self.n_bits = _checks.integer("n_bits", n_bits, lo=1)
        self.k = _checks.integer("k", k, lo=1, hi=self.n_bits)
        self.seed = _checks.integer("seed", seed, lo=0)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        rng = np.random.default_rng(self.seed)
        self.relevant_bits = np.sort(rng.choice(self.n_bits, size=self.k, replace=False)).astype(np.int64)
        self._rel = torch.as_tensor(self.relevant_bits, device=self.device)
        self._generator = torch.Generator(device=self.device).manual_seed(self.seed + 1)

    @property
    def dim(self) -> int:
        return self.n_bits

    def __repr__(self) -> str:
        return f"SparseParity(n_bits={self.n_bits}, k={self.k}, seed={self.seed})"

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """The parity of the relevant coordinates of ±1 inputs, float32 (n,)."""
        if x.ndim != 2 or x.shape[1] != self.n_bits:
            raise ValueError(f"x must have shape (n, n_bits) = (n, {self.n_bits}), got {tuple(x.shape)}")
        return x[:, self._rel.to(x.device)].prod(1).to(torch.float32)

    def sample(self, n: int, generator: torch.Generator | None = None):
        """``n`` samples ``(x, y)``: x float32 (n, n_bits) in {-1, +1}, y float32 (n,) in {-1, +1}."""
        n = _checks.integer("n", n, lo=1)
        gen = self._generator if generator is None else generator
        x = 2.0 * torch.randint(0, 2, (n, self.n_bits), generator=gen, device=self.device).to(torch.float32) - 1.0
        return x, self.target(x)
