"""The small transformer of the paper's Fig. 4 (Sec. 5.4, App. K.2): one plain model, and its ensemble.

Each of the ``n_tokens = n_skills + n_bits`` input bits is one token. A token's features are the
one-hot code of its value (2 dims) followed by the one-hot code of its position (``n_tokens`` dims); a
linear layer and a ReLU lift them to the model width. Then come ``n_layers`` pre-LayerNorm blocks
(causal multi-head self-attention with biases on Q, K and V, then a ReLU MLP of width
``mlp_ratio * width``), a final LayerNorm, and a linear read-out of all positions' features flattened
into one vector, giving a scalar. As in the paper's code, the output projections of every residual
branch (the attention's and the MLP's) start scaled down by ``1/sqrt(4 n_layers)``; every other
parameter has PyTorch's default initialisation (``nn.Linear``: uniform in +-1/sqrt(fan_in); LayerNorm:
1 and 0), drawn from the model's own generator.

:class:`ParityTransformer` is the single model, written as nanoGPT writes its model.
:func:`SparseParityTransformer` builds ``n_models`` of them with seeds ``seed, seed + 1, ...`` and
stacks them into one :class:`~skillkit.models.ensemble.Ensemble` (``torch.func`` + ``vmap``), the
``(n_models, B)`` interface of :func:`skillkit.train.train`. Attention is written out (a masked
softmax of ``q k^T``) rather than called through ``scaled_dot_product_attention``, which has no
``vmap`` batching rule on the CPU.

>>> from skillkit.models import SparseParityTransformer, TransformerConfig
>>> model = SparseParityTransformer(TransformerConfig(n_tokens=37, width=64), n_models=3, seed=0)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from torch.nn.utils import skip_init

from .. import _checks
from .ensemble import Ensemble

__all__ = ["TransformerConfig", "PAPER_CONFIG", "ParityTransformer", "SparseParityTransformer"]


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of the transformer; plain data, validated on construction.

    Parameters
    ----------
    n_tokens : int
        Sequence length, one token per input bit (the task's ``dim``; 37 in the paper).
    width : int
        Model (residual-stream) width, the paper's 512; a multiple of ``n_heads``.
    n_heads : int
        Attention heads (4 in the paper).
    n_layers : int
        Number of transformer blocks (1 in the paper).
    mlp_ratio : int
        Hidden width of each block's MLP over ``width`` (4 in the paper: 512 -> 2048 -> 512).
    causal : bool
        Causal attention mask (position i attends to positions <= i), as in the paper.
    """

    n_tokens: int = 37
    width: int = 512
    n_heads: int = 4
    n_layers: int = 1
    mlp_ratio: int = 4
    causal: bool = True

    def __post_init__(self):
        _checks.integer("n_tokens", self.n_tokens, lo=1)
        _checks.integer("width", self.width, lo=1)
        _checks.integer("n_heads", self.n_heads, lo=1)
        _checks.integer("n_layers", self.n_layers, lo=1)
        _checks.integer("mlp_ratio", self.mlp_ratio, lo=1)
        if self.width % self.n_heads:
            raise ValueError(f"width must be a multiple of n_heads = {self.n_heads}, got {self.width}")
        if not isinstance(self.causal, bool):
            raise ValueError(f"causal must be True or False, got {self.causal!r}")

    @classmethod
    def paper(cls, n_tokens: int = 37) -> "TransformerConfig":
        """The paper's configuration (App. K.2): width 512, 4 heads, 1 block, MLP 512 -> 2048 -> 512."""
        return cls(n_tokens=n_tokens, width=512, n_heads=4, n_layers=1, mlp_ratio=4, causal=True)

    def replace(self, **changes) -> "TransformerConfig":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)


#: The paper's transformer for n_s = 5, n_b = 32 (37 tokens).
PAPER_CONFIG = TransformerConfig.paper()


def _linear(fan_in: int, fan_out: int, gen: torch.Generator, scale: float = 1.0) -> nn.Linear:
    """``nn.Linear(fan_in, fan_out)`` with PyTorch's default uniform bounds, drawn from ``gen``.

    The weight is drawn as a (fan_in, fan_out) array, then the bias, and stored transposed: the draw
    order of the book's earlier stacked implementation, so a seed gives the same model as before.
    """
    bound = 1.0 / math.sqrt(fan_in)
    lin = skip_init(nn.Linear, fan_in, fan_out)          # no draw from the global generator
    w = (torch.rand(fan_in, fan_out, generator=gen) * 2.0 - 1.0) * bound
    b = (torch.rand(fan_out, generator=gen) * 2.0 - 1.0) * bound
    with torch.no_grad():
        lin.weight.copy_(scale * w.T)
        lin.bias.copy_(scale * b)
    return lin


class Block(nn.Module):
    """Pre-LayerNorm block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: TransformerConfig, gen: torch.Generator):
        super().__init__()
        d, self.n_heads, self.causal = config.width, config.n_heads, config.causal
        exit_scale = 1.0 / math.sqrt(4 * config.n_layers)
        self.ln1 = nn.LayerNorm(d)
        q, k, v = (_linear(d, d, gen) for _ in range(3))
        self.qkv = skip_init(nn.Linear, d, 3 * d)
        with torch.no_grad():
            self.qkv.weight.copy_(torch.cat([q.weight, k.weight, v.weight], 0))
            self.qkv.bias.copy_(torch.cat([q.bias, k.bias, v.bias], 0))
        self.proj = _linear(d, d, gen, exit_scale)
        self.ln2 = nn.LayerNorm(d)
        self.fc = _linear(d, config.mlp_ratio * d, gen)
        self.out = _linear(config.mlp_ratio * d, d, gen, exit_scale)

    def attention(self, h: torch.Tensor) -> torch.Tensor:
        B, L, d = h.shape
        H = self.n_heads
        q, k, v = self.qkv(h).reshape(B, L, 3, H, d // H).permute(2, 0, 3, 1, 4)     # (B, H, L, dh) each
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d // H)
        if self.causal:
            future = torch.ones(L, L, dtype=torch.bool, device=h.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        att = scores.softmax(-1) @ v
        return self.proj(att.transpose(1, 2).reshape(B, L, d))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attention(self.ln1(h))
        return h + self.out(torch.relu(self.fc(self.ln2(h))))


class ParityTransformer(nn.Module):
    """One transformer (module docstring): ``(B, n_tokens)`` bits of 0/1 -> ``(B,)`` scalars.

    Parameters
    ----------
    config : TransformerConfig
        The shape; ``config.n_tokens`` must equal the task's ``dim``.
    seed : int
        The model's own generator is seeded with it (the global generator is untouched).
    """

    def __init__(self, config: TransformerConfig = PAPER_CONFIG, seed: int = 0):
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise ValueError(f"config must be a TransformerConfig, got {type(config).__name__}")
        self.config = config
        gen = torch.Generator().manual_seed(_checks.integer("seed", seed, lo=0))
        L, d = config.n_tokens, config.width
        self.embed = _linear(2 + L, d, gen)            # on [one-hot value ; one-hot position]
        self.blocks = nn.ModuleList([Block(config, gen) for _ in range(config.n_layers)])
        self.ln_f = nn.LayerNorm(d)
        self.head = _linear(L * d, 1, gen)

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        L = self.config.n_tokens
        if x.ndim != 2 or x.shape[1] != L:
            raise ValueError(f"x must have shape (B, n_tokens) = (B, {L}), got {tuple(x.shape)}")
        return x

    def forward(self, x: torch.Tensor, hidden: bool = False) -> torch.Tensor:
        """Scalar outputs ``(B,)``; ``hidden=True`` returns the per-token features after the final
        LayerNorm instead, ``(B, n_tokens, width)`` (with ``causal``, position i sees bits 0..i only)."""
        x = self._check(x).to(self.embed.weight.dtype)
        L = self.config.n_tokens
        w = self.embed.weight                                          # (d, 2 + L)
        h = w[:, 0] + x[..., None] * (w[:, 1] - w[:, 0]) + w[:, 2:2 + L].T + self.embed.bias
        h = torch.relu(h)
        for blk in self.blocks:
            h = blk(h)
        h = self.ln_f(h)
        if hidden:
            return h
        return self.head(h.flatten(1))[:, 0]


def SparseParityTransformer(config: TransformerConfig = PAPER_CONFIG, n_models: int = 1, seed: int = 0) -> Ensemble:
    """An :class:`~skillkit.models.ensemble.Ensemble` of ``n_models`` :class:`ParityTransformer`.

    Member ``i`` is ``ParityTransformer(config, seed + i)``; ``ensemble(x)`` maps ``(B, n_tokens)`` or
    ``(n_models, B, n_tokens)`` to ``(n_models, B)``, and ``ensemble(x, hidden=True)`` gives the
    features ``(n_models, B, n_tokens, width)``.
    """
    n_models = _checks.integer("n_models", n_models, lo=1)
    seed = _checks.integer("seed", seed, lo=0)
    seeds = [seed + i for i in range(n_models)]
    ens = Ensemble([ParityTransformer(config, s) for s in seeds], seeds=seeds, member_ndim=2)
    ens.config = config
    return ens
