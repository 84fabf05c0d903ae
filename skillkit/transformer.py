"""The small transformer of the paper's Fig. 4 (Sec. 5.4, App. K.2), as an ensemble of independent models.

Each of the ``dim = n_skills + n_bits`` input bits is one token. A token's features are the one-hot code
of its value (2 dims) followed by the one-hot code of its position (``dim`` dims); a linear layer and a
ReLU lift them to the model width. Then come ``n_layers`` pre-LayerNorm blocks (causal multi-head
self-attention with biases on Q, K and V, then a ReLU MLP of width ``mlp_ratio * width``), a final
LayerNorm, and a linear read-out of all positions' features flattened into one vector, giving a scalar.
As in the paper's code, the output projections of every residual branch (the attention's and the
MLP's) start scaled down by ``1/sqrt(4 * n_layers)`` (the code divides every parameter whose name
contains ``exit``, four per block, by the square root of their count). Every other parameter has
PyTorch's default initialisation (``nn.Linear``: uniform in ±1/sqrt(fan_in); LayerNorm: 1 and 0).

All parameters carry a leading model axis of size ``n_models``: the ensemble is one batched tensor
program (``torch.baddbmm``), and model ``i`` is exactly the model one would get alone with its own
initialisation. Inputs ``(B, dim)`` are shared by every model; inputs ``(n_models, B, dim)`` give each
model its own batch. The output is ``(n_models, B)``, the interface of :func:`skillkit.train.train`.

>>> from skillkit.transformer import SparseParityTransformer, TransformerConfig
>>> model = SparseParityTransformer(TransformerConfig(n_tokens=37, width=64), n_models=3, seed=0)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from . import _checks

__all__ = ["TransformerConfig", "PAPER_CONFIG", "SparseParityTransformer", "emergence_run"]


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of the transformer; plain data, validated on construction.

    n_tokens : sequence length, one token per input bit (the task's ``dim``; 37 in the paper).
    width : model (residual-stream) width, the paper's 512; a multiple of ``n_heads``.
    n_heads : attention heads (4 in the paper).
    n_layers : number of transformer blocks (1 in the paper).
    mlp_ratio : hidden width of each block's MLP over ``width`` (4 in the paper: 512 -> 2048 -> 512).
    causal : causal attention mask (position i attends to positions <= i), as in the paper.
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


def _uniform(gens, shape, bound):
    """One uniform(-bound, bound) tensor per model generator, stacked on a leading model axis."""
    return torch.stack([(torch.rand(shape, generator=g, dtype=torch.float32) * 2.0 - 1.0) * bound
                        for g in gens])


class SparseParityTransformer(nn.Module):
    """An ensemble of ``n_models`` independent transformers (module docstring), output ``(n_models, B)``.

    Parameters
    ----------
    config : a :class:`TransformerConfig`; ``config.n_tokens`` must equal the task's ``dim``.
    n_models : ensemble size, at least 1.
    seed : model ``i`` is initialised from its own generator seeded with ``seed + i`` (the global
        generator is untouched), so member ``i`` equals member 0 of an ensemble built with ``seed + i``.
        ``self.seeds`` lists them; :func:`skillkit.train.train` keys each model's data stream on it.
    """

    def __init__(self, config: TransformerConfig = PAPER_CONFIG, n_models: int = 1, seed: int = 0):
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise ValueError(f"config must be a TransformerConfig, got {type(config).__name__}")
        self.config = config
        self.n_models = _checks.integer("n_models", n_models, lo=1)
        seed = _checks.integer("seed", seed, lo=0)
        self.seeds = [seed + i for i in range(self.n_models)]
        gens = [torch.Generator().manual_seed(s) for s in self.seeds]
        M, L, d, H = self.n_models, config.n_tokens, config.width, config.n_heads
        hid = config.mlp_ratio * d
        exit_scale = 1.0 / math.sqrt(4 * config.n_layers)

        def linear(fan_in, fan_out, scale=1.0):
            bound = 1.0 / math.sqrt(fan_in)
            w = nn.Parameter(scale * _uniform(gens, (fan_in, fan_out), bound))
            b = nn.Parameter(scale * _uniform(gens, (fan_out,), bound))
            return w, b

        # token embedding: Linear(2 + L -> d) on [one-hot value ; one-hot position], stored split
        w_emb, self.b_emb = linear(2 + L, d)
        self.w_val = nn.Parameter(w_emb.data[:, :2].clone())   # (M, 2, d)
        self.w_pos = nn.Parameter(w_emb.data[:, 2:].clone())   # (M, L, d)
        self.blocks = nn.ModuleList()
        for _ in range(config.n_layers):
            blk = nn.Module()
            blk.ln1_w, blk.ln1_b = nn.Parameter(torch.ones(M, d)), nn.Parameter(torch.zeros(M, d))
            wq, bq = linear(d, d)
            wk, bk = linear(d, d)
            wv, bv = linear(d, d)
            blk.w_qkv = nn.Parameter(torch.cat([wq.data, wk.data, wv.data], dim=2))   # (M, d, 3d)
            blk.b_qkv = nn.Parameter(torch.cat([bq.data, bk.data, bv.data], dim=1))   # (M, 3d)
            blk.w_o, blk.b_o = linear(d, d, exit_scale)
            blk.ln2_w, blk.ln2_b = nn.Parameter(torch.ones(M, d)), nn.Parameter(torch.zeros(M, d))
            blk.w_1, blk.b_1 = linear(d, hid)
            blk.w_2, blk.b_2 = linear(hid, d, exit_scale)
            self.blocks.append(blk)
        self.lnf_w, self.lnf_b = nn.Parameter(torch.ones(M, d)), nn.Parameter(torch.zeros(M, d))
        w_out, b_out = linear(L * d, 1)
        self.w_out = nn.Parameter(w_out.data[:, :, 0].clone())  # (M, L*d)
        self.b_out = nn.Parameter(b_out.data[:, 0].clone())     # (M,)

    def extra_repr(self) -> str:
        c = self.config
        return (f"n_models={self.n_models}, n_tokens={c.n_tokens}, width={c.width}, n_heads={c.n_heads}, "
                f"n_layers={c.n_layers}, mlp_ratio={c.mlp_ratio}, causal={c.causal}")

    # -- pieces ---------------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        L = self.config.n_tokens
        if x.ndim == 2 and x.shape[1] == L:
            return x.unsqueeze(0).expand(self.n_models, -1, -1)
        if x.ndim == 3 and x.shape[0] == self.n_models and x.shape[2] == L:
            return x
        raise ValueError(f"x must have shape (B, {L}) or (n_models, B, {L}) = ({self.n_models}, B, {L}), "
                         f"got {tuple(x.shape)}")

    @staticmethod
    def _ln(h, w, b):
        return F.layer_norm(h, h.shape[-1:]) * w[:, None, None, :] + b[:, None, None, :]

    @staticmethod
    def _lin(h, w, b):
        """Per-model affine map of (M, B, L, fan_in) -> (M, B, L, fan_out)."""
        M, B, L, _ = h.shape
        out = torch.baddbmm(b[:, None, :], h.reshape(M, B * L, -1), w)
        return out.reshape(M, B, L, -1)

    def _block(self, blk, h):
        M, B, L, d = h.shape
        H = self.config.n_heads
        qkv = self._lin(self._ln(h, blk.ln1_w, blk.ln1_b), blk.w_qkv, blk.b_qkv)      # (M, B, L, 3d)
        qkv = qkv.reshape(M * B, L, 3, H, d // H).permute(2, 0, 3, 1, 4)             # (3, MB, H, L, dh)
        att = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=self.config.causal)
        att = att.transpose(1, 2).reshape(M, B, L, d)
        h = h + self._lin(att, blk.w_o, blk.b_o)
        z = torch.relu(self._lin(self._ln(h, blk.ln2_w, blk.ln2_b), blk.w_1, blk.b_1))
        return h + self._lin(z, blk.w_2, blk.b_2)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """Per-token features after the final LayerNorm, ``(n_models, B, n_tokens, width)``.

        With ``causal=True`` position i depends only on input bits 0..i.
        """
        x = self._check_input(x).to(self.w_val.dtype)                                  # (M, B, L) of 0/1
        w0, w1 = self.w_val[:, 0], self.w_val[:, 1]                                      # (M, d)
        h = (w0 + self.b_emb)[:, None, None, :] + x[..., None] * (w1 - w0)[:, None, None, :] \
            + self.w_pos[:, None, :, :]
        h = torch.relu(h)
        for blk in self.blocks:
            h = self._block(blk, h)
        return self._ln(h, self.lnf_w, self.lnf_b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scalar outputs ``(n_models, B)`` for inputs ``(B, dim)`` or ``(n_models, B, dim)`` of 0/1 bits."""
        h = self.hidden_states(x)
        M, B = h.shape[:2]
        return torch.baddbmm(self.b_out[:, None, None], h.reshape(M, B, -1), self.w_out[:, :, None])[..., 0]

    def member(self, i: int):
        """A callable ``x (B, dim) -> (B,)`` for model ``i`` alone (e.g. for ``measure.skill_strengths``)."""
        i = _checks.integer("i", i, lo=0, hi=self.n_models - 1)
        return lambda x: self(x)[i]

    def n_params(self) -> int:
        """Trainable parameters of one member of the ensemble."""
        return sum(p.numel() for p in self.parameters()) // self.n_models


# ----- the emergence experiment of Fig. 4, as one sweep point ------------------------------------------
def emergence_run(config: dict) -> dict:
    """Train an ensemble of transformers on multitask sparse parity and log ``R_k/S`` (Fig. 4 of the paper).

    ``config`` is a plain dict (the unit that :func:`skillkit.sweeps.run` caches): the task
    (``n_skills``, ``n_bits``, ``k`` relevant bits per skill, ``alpha``, ``S``, ``task_seed``), the model
    (``width``, ``n_heads``, ``n_layers``, ``mlp_ratio``), the ensemble (``n_models`` models with
    seeds ``seed, seed + 1, ...``) and the training (``steps``, ``batch``, ``lr``, ``optimizer``,
    ``momentum``, ``weight_decay``, ``log_every``, ``probe_n``) passed to :func:`skillkit.train.train`
    (fresh samples every step; each model its own data stream). Optional ``device`` (default cpu).

    Returns a JSON-ready dict: ``steps`` (n_logs,), ``R`` (n_logs, n_models, n_skills) = R_k/S,
    ``loss`` (n_logs, n_models), ``probs`` (n_skills,) = P_s(k), ``seconds`` (wall time of training).
    """
    from .data import MultitaskSparseParity
    from .train import TrainConfig, train     # imported here: skillkit.models may re-export this module

    c = dict(config)
    task = MultitaskSparseParity(n_skills=c["n_skills"], n_bits=c["n_bits"], k=c.get("k", 3),
                                 alpha=c["alpha"], S=c.get("S", 1.0), seed=c.get("task_seed", 0),
                                 device=c.get("device", "cpu"))
    mcfg = TransformerConfig(n_tokens=task.dim, width=c["width"], n_heads=c.get("n_heads", 4),
                             n_layers=c.get("n_layers", 1), mlp_ratio=c.get("mlp_ratio", 4))
    model = SparseParityTransformer(mcfg, n_models=c.get("n_models", 1), seed=c.get("seed", 0))
    model = model.to(c.get("device", "cpu"))
    tcfg = TrainConfig(steps=c["steps"], batch=c["batch"], lr=c["lr"], optimizer=c.get("optimizer", "sgd"),
                       momentum=c.get("momentum", 0.0), weight_decay=c.get("weight_decay", 0.0),
                       log_every=c.get("log_every", 100), probe_n=c.get("probe_n", 20000),
                       seed=c.get("data_seed", 0), compile=c.get("compile"))
    res = train(model, task, tcfg, progress=c.get("progress", True))
    return {"steps": res.steps, "R": res.R, "loss": res.loss, "probs": task.probs, "seconds": res.seconds}
