"""The transformer experiment of chapter 7 (Fig. 4 of the paper, Sec. 5.4): its sweep point.

:func:`transformer_point` trains an ensemble of :func:`skillkit.models.SparseParityTransformer` on
multitask sparse parity with :func:`skillkit.train.train` (fresh samples every step; each model its own
data stream) and logs ``R_k/S``. Its ``config`` holds what is computed (the fields of
:class:`TransformerPoint`); the device and the progress bar are run settings.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..data import MultitaskSparseParity
from ..models import SparseParityTransformer, TransformerConfig
from ..train import TrainConfig, train

__all__ = ["TransformerPoint", "transformer_point"]


@dataclass(frozen=True)
class TransformerPoint:
    """What one :func:`transformer_point` computes; the one source of its defaults.

    The task (``n_skills``, ``n_bits``, ``k`` relevant bits per skill, ``alpha``, ``S``, ``task_seed``),
    the model (``width``, ``n_heads``, ``n_layers``, ``mlp_ratio``), the ensemble (``n_models`` models
    with seeds ``seed, seed + 1, ...``) and the training (``steps``, ``batch``, ``lr``, ``optimizer``,
    ``momentum``, ``weight_decay``, ``log_every``, ``probe_n``; data streams keyed on ``data_seed``).
    """

    n_skills: int = 5
    n_bits: int = 32
    k: int = 3
    alpha: float = 0.9
    S: float = 1.0
    task_seed: int = 0
    width: int = 512
    n_heads: int = 4
    n_layers: int = 1
    mlp_ratio: int = 4
    n_models: int = 1
    seed: int = 0
    steps: int = 1000
    batch: int = 128
    lr: float = 0.002
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    log_every: int = 100
    probe_n: int = 20000
    data_seed: int = 0

    @classmethod
    def of(cls, config: dict) -> "TransformerPoint":
        """The point of a sweep config: missing keys take the defaults, unknown keys are a ValueError."""
        names = {f.name for f in fields(cls)}
        unknown = set(config) - names
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}; allowed: {sorted(names)}")
        return cls(**config)


def transformer_point(config: dict, *, device="cpu", progress: bool = True) -> dict:
    """Train an ensemble of transformers on multitask sparse parity and log ``R_k/S`` (Fig. 4 of the paper).

    Returns a JSON-ready dict: ``steps`` (n_logs,), ``R_over_S`` (n_logs, n_models, n_skills),
    ``loss`` (n_logs, n_models), ``probs`` (n_skills,) = P_s(k), ``seconds`` (wall time of training).
    """
    c = TransformerPoint.of(config)
    task = MultitaskSparseParity(n_skills=c.n_skills, n_bits=c.n_bits, k=c.k, alpha=c.alpha, S=c.S,
                                 seed=c.task_seed, device=device)
    shape = TransformerConfig(n_tokens=task.dim, width=c.width, n_heads=c.n_heads, n_layers=c.n_layers,
                              mlp_ratio=c.mlp_ratio)
    model = SparseParityTransformer(shape, n_models=c.n_models, seed=c.seed).to(device)
    cfg = TrainConfig(steps=c.steps, batch=c.batch, lr=c.lr, optimizer=c.optimizer, momentum=c.momentum,
                      weight_decay=c.weight_decay, log_every=c.log_every, probe_n=c.probe_n, seed=c.data_seed)
    res = train(model, task, cfg, progress=progress)
    return {"steps": res.steps, "R_over_S": res.R_over_S, "loss": res.loss, "probs": task.probs,
            "seconds": res.seconds}
