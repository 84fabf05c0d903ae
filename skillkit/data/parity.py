"""What a sample is: the multitask sparse parity task and its skill basis (Sec. 2 of the paper), single
sparse parity, and the counter-based sampler that feeds every network of the book.

An input is ``n_skills`` one-hot control bits followed by ``n_bits`` uniform skill bits, as 0/1 floats.
Skill ``k`` (0-based here, ``k + 1`` in the paper) is drawn with probability
``P_s(k+1) ∝ (k+1)^-(alpha+1)`` and reads ``k`` fixed relevant bits that no other skill reads. Its basis
function ``g_k`` is the parity sign ``(-1)^(sum of its relevant bits)`` when the control bits select it
and zero otherwise (Eq. 2), and the label is ``y = S * sum_k g_k(x)`` (Eq. 4).

Two ways to draw samples, of one distribution: the task's own methods (:meth:`MultitaskSparseParity.sample`,
driven by a ``torch.Generator``, for measurements and figures) and :class:`Sampler`, a counter-based
generator batched over independent streams, which every training run uses so that each model's data is
a function of its key and the step alone (``tests/test_data.py`` checks that both give the same
frequencies, bits and labels).
"""
from __future__ import annotations

import sys
from typing import Sequence

import numpy as np
import torch

from .. import _checks
from ..zipf import skill_probs

__all__ = ["MultitaskSparseParity", "SparseParity", "skill_probs", "Sampler", "stream_keys", "probe_set", "mix32"]


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

    def sample_skill(self, skill: int, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` inputs with the control bits set to ``skill`` (0-based), as used to measure R_k."""
        skill = _checks.integer("skill", skill, lo=0, hi=self.n_skills - 1)
        n = _checks.integer("n", n, lo=1)
        return self.inputs(torch.full((n,), skill, dtype=torch.int64, device=self.device), generator)

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


# ----- a counter-based random generator, batched over streams ----------------------------------------
_M32 = 0xFFFFFFFF


def mix32(x: int) -> int:
    """The ``lowbias32`` integer hash (C. Wellons) on a Python int in [0, 2^32)."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    x ^= x >> 16
    return x


_LITTLE = sys.byteorder == "little"
_C1, _C2 = 0x7FEB352D, 0x846CA68B - (1 << 32)        # the lowbias32 multipliers as signed int32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """``lowbias32`` on an int32 tensor (bit patterns of uint32): wrapping int32 products, logical shifts.

    Equal to :func:`mix32` on every value (``tests/test_data.py`` checks it on this platform).
    """
    x = x ^ ((x >> 16) & 0xFFFF)
    x = x * _C1
    x = x ^ ((x >> 15) & 0x1FFFF)
    x = x * _C2
    return x ^ ((x >> 16) & 0xFFFF)


def _i32(v: int) -> int:
    """A uint32 value as the signed int32 with the same bits."""
    v &= _M32
    return v - (1 << 32) if v >= (1 << 31) else v


def stream_keys(seed: int, model_seeds: Sequence[int], shared: bool = False) -> list[int]:
    """The 32-bit data keys of a training run: one per model, from the run's ``seed`` and each model's seed.

    Model ``i``'s stream depends on ``(seed, model_seeds[i])`` only, so a model sees the same data alone
    as inside an ensemble. ``shared=True`` gives the one key of a batch that every model shares.
    """
    seed = _checks.integer("seed", seed, lo=0)
    base = mix32(seed * 0x9E3779B1 + 0x632BE5AB)
    if shared:
        return [mix32(base ^ 0x85EBCA6B)]
    return [mix32(base ^ mix32(int(s) + 0x27D4EB2F)) for s in model_seeds]


class Sampler:
    """Batches of multitask sparse parity for ``n_streams`` independent streams, made on ``device``.

    Stream ``i`` is a deterministic function of ``keys[i]`` and the step number only: the batch of step
    ``t`` is the same whether stream ``i`` is sampled alone or with others, and whether the run was
    resumed or not. Sample ``j`` of a stream at counter ``tag`` uses the 32-bit words
    ``h_w = mix(mix(key ^ mix(tag)) ^ mix(j * n_words + w))``: word 0 picks its skill (inverse CDF of
    ``task.probs`` on a 2^-32 grid), and the input column ``c`` (control bits first, then skill bits,
    then a constant 1, padded with zeros to a multiple of 8 columns) takes, if it is a skill bit, bit
    ``c mod 32`` of word ``1 + c // 32``. The input rows are assembled 8 columns at a time by one table
    look-up (``index_select``) straight into a reused buffer: the sampler is memory-bound, and
    allocating a fresh 100 MB tensor every step costs more than filling it.

    ``batch(t)`` returns ``xa`` float32 (n_streams, B, dim + 1), the inputs followed by a column of
    ones (the fused bias of :meth:`skillkit.models.MLPEnsemble.loss_and_grad`; a view into a buffer that the next
    call overwrites), and ``y`` float32 (n_streams, B) = ±S.
    """

    _MAX_TABLE = 1 << 24                 # floats; beyond this (very many skills) build rows column-wise

    def __init__(self, task: MultitaskSparseParity, keys: Sequence[int], batch: int,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        self.task = task
        self.device = torch.device(device)
        self.dtype = dtype
        self.batch_size = _checks.integer("batch", batch, lo=1)
        self.keys = [int(k) & _M32 for k in keys]
        self.n_streams = len(self.keys)
        ns, dim = task.n_skills, task.dim
        self.width = -(-(dim + 1) // 8) * 8                      # padded row length
        self.n_chunks = self.width // 8
        self.n_words = 1 + -(-self.width // 32)
        dev = self.device
        self._keys = torch.tensor([_i32(k) for k in self.keys], dtype=torch.int32, device=dev)
        # skill thresholds: skill = #{k < n_skills - 1 : u >= cdf_k}, u = (h0 + 2^31) / 2^32
        cdf = np.cumsum(task.probs)[:-1]
        thr = np.minimum(np.ceil(cdf * 2.0**32), 2.0**32 - 1).astype(np.int64) - (1 << 31)
        self._thr = torch.as_tensor(thr, dtype=torch.int32, device=dev)
        self._thr64 = torch.as_tensor(thr, dtype=torch.int64, device=dev)
        # parity masks: skill k's relevant bits, as bit masks over the words 1..n_words-1
        masks = np.zeros((ns, self.n_words - 1), dtype=np.int64)
        for k in range(ns):
            for j in task.relevant_bits[k]:
                col = ns + int(j)
                masks[k, col // 32] |= 1 << (col % 32)
        self._masks = torch.as_tensor(np.vectorize(_i32)(masks).astype(np.int32), device=dev)
        # the row table: chunk c, skill s, byte b -> the 8 columns [8c, 8c + 8) of the input row
        self._table = None
        if self.n_chunks * ns * 256 * 8 <= self._MAX_TABLE:
            cols = np.arange(self.width).reshape(self.n_chunks, 1, 1, 8)
            skill = np.arange(ns).reshape(1, ns, 1, 1)
            byte = np.arange(256).reshape(1, 1, 256, 1)
            bit = (byte >> (cols % 8)) & 1
            row = np.where(cols < ns, (cols == skill).astype(float),
                           np.where(cols < dim, bit, np.where(cols == dim, 1.0, 0.0)))
            self._table = torch.as_tensor(row.reshape(-1, 8), dtype=dtype, device=dev)
            self._tok_off = torch.as_tensor((np.arange(self.n_chunks) * ns * 256), dtype=torch.int32, device=dev)
            self._byte_word = torch.as_tensor(1 + (np.arange(self.n_chunks) * 8) // 32, device=dev)
            self._byte_shift = torch.as_tensor(((np.arange(self.n_chunks) * 8) % 32).astype(np.int32), device=dev)
        self._shifts = torch.arange(32, dtype=torch.int32, device=dev)
        self._counters = {}
        self._buffers = {}

    def _counter(self, n: int) -> torch.Tensor:
        if n not in self._counters:
            c = torch.arange(n * self.n_words, dtype=torch.int64, device=self.device)
            c = (c & _M32).to(torch.int64)
            c = torch.where(c >= (1 << 31), c - (1 << 32), c).to(torch.int32)
            self._counters[n] = _mix32(_mix32(c) ^ _i32(0x9E3779B9)).reshape(n, self.n_words)
        return self._counters[n]

    def _base(self, tag: int) -> torch.Tensor:
        t = mix32(mix32(tag & _M32) ^ ((tag >> 32) & _M32) ^ 0x5BD1E995)
        return _mix32(self._keys ^ _i32(t))                               # (n_streams,)

    def words(self, tag: int, n: int) -> torch.Tensor:
        """Random 32-bit words (int32 bit patterns), shape (n_streams, n, n_words), for counter ``tag``."""
        return _mix32(self._base(tag)[:, None, None] ^ self._counter(n)[None])

    def _skills(self, h0: torch.Tensor) -> torch.Tensor:
        if self._thr.numel() == 0:
            return torch.zeros(h0.shape, dtype=torch.int64, device=self.device)
        if self._thr.numel() <= 32:
            return (h0.unsqueeze(-1) >= self._thr).sum(-1)
        return torch.searchsorted(self._thr64, h0.to(torch.int64), right=True)

    def make(self, tag: int, n: int, reuse: bool = False):
        """``n`` samples per stream for the counter value ``tag``: ``(xa, y, skill)``.

        ``reuse=True`` writes ``xa`` into a buffer kept for the next call of the same size.
        """
        task = self.task
        S, dev = self.n_streams, self.device
        h = self.words(tag, n)                                            # (S, n, n_words) int32
        skill = self._skills(h[..., 0])                                   # (S, n) int64
        flat = skill.reshape(-1)
        # label: parity of the selected skill's relevant bits
        acc = None
        for w in range(self.n_words - 1):
            m = torch.index_select(self._masks[:, w].contiguous(), 0, flat).reshape(S, n)
            acc = h[..., 1 + w] & m if acc is None else acc ^ (h[..., 1 + w] & m)
        for sh in (16, 8, 4, 2, 1):
            acc = acc ^ (acc >> sh)
        y = task.S * (1.0 - 2.0 * (acc & 1).to(torch.float32))
        if reuse and n in self._buffers:
            buf = self._buffers[n]
        else:
            buf = torch.empty(S, n, self.width, dtype=self.dtype, device=dev)
            if reuse:
                self._buffers[n] = buf
        if self._table is not None:
            if _LITTLE:                  # byte c of the row's words is chunk c's byte: a free view
                bytes_ = h.view(torch.uint8)[..., 4: 4 + self.n_chunks]
            else:
                bytes_ = (h[..., self._byte_word] >> self._byte_shift) & 255
            tok = bytes_.to(torch.int32)
            tok += (skill.to(torch.int32) * 256).unsqueeze(-1)
            tok += self._tok_off
            torch.index_select(self._table, 0, tok.reshape(-1), out=buf.view(-1, 8))
        else:                                                              # column by column
            buf.zero_()
            buf[..., : task.n_skills].scatter_(2, skill.unsqueeze(-1), 1.0)
            cols = torch.arange(task.n_skills, task.dim, device=dev)
            word = h[..., 1 + cols // 32]
            buf[..., task.n_skills: task.dim] = ((word >> (cols % 32).to(torch.int32)) & 1).to(self.dtype)
            buf[..., task.dim] = 1.0
        return buf[..., : task.dim + 1], y, skill

    def batch(self, t: int):
        """The fresh batch of step ``t``: ``(xa, y)``; ``xa`` is overwritten by the next call."""
        xa, y, _ = self.make(2 * int(t), self.batch_size, reuse=True)
        return xa, y

    def permutation(self, epoch: int, n: int) -> torch.Tensor:
        """A random permutation of ``range(n)`` per stream for ``epoch``, (n_streams, n)."""
        return self.words(2 * int(epoch) + 1 + (1 << 40), n)[..., 0].argsort(dim=1)


@torch.no_grad()
def probe_set(task: MultitaskSparseParity, n: int, seed: int = 0, device="cpu"):
    """Fixed probe inputs for R_k: ``n`` inputs per skill with control bits set to k (Eq. 7).

    Returns ``x`` float32 (n_skills * n, dim), skill-major, and ``g`` float32 (n_skills * n,), the value of
    the probed skill's basis function g_k at each input.
    """
    n = _checks.integer("probe_n", n, lo=1)
    gen = torch.Generator(device=task.device).manual_seed(int(seed) + 7919)
    idx = torch.arange(task.n_skills, device=task.device).repeat_interleave(n)
    x = task.inputs(idx, gen)
    g = task.basis(x).gather(1, idx[:, None])[:, 0]
    return x.to(device), g.to(device)
