"""The transformer experiment of chapter 7 (Fig. 4 of the paper, Sec. 5.4): its sweep point.

:func:`transformer_point` trains an ensemble of :func:`skillkit.models.SparseParityTransformer` on
multitask sparse parity with :func:`skillkit.train.train` (fresh samples every step; each model its own
data stream) and logs ``R_k/S``. Its ``config`` holds what is computed (the fields of
:class:`TransformerPoint`); the device and the progress bar are run settings.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..models import SparseParityTransformer, TransformerConfig
from ..train import train
from .point import ParityPoint

__all__ = ["TransformerPoint", "transformer_point"]


@dataclass(frozen=True)
class TransformerPoint(ParityPoint):
    """What one :func:`transformer_point` computes; with ``TRAIN_DEFAULTS``, the one source of its defaults.

    The task (the fields of :class:`~skillkit.experiments.point.ParityPoint`, here five skills at
    alpha = 0.9 with S = 1 by default), the model (``width``, ``n_heads``, ``n_layers``, ``mlp_ratio``), the ensemble (``n_models`` models
    with seeds ``seed, seed + 1, ...``) and the seed of the data streams, ``data_seed``. The training keys
    are those of :data:`skillkit.experiments.point.TRAIN_KEYS`.
    """

    TRAIN_DEFAULTS = dict(steps=1000, batch=128, lr=0.002, log_every=100, probe_n=20000)

    n_skills: int = 5
    alpha: float = 0.9
    S: float = 1.0
    width: int = 512
    n_heads: int = 4
    n_layers: int = 1
    mlp_ratio: int = 4
    n_models: int = 1
    seed: int = 0
    data_seed: int = 0

    def data_key(self) -> int:
        return self.data_seed


def transformer_point(config: dict, *, device="cpu", progress: bool = True) -> dict:
    """Train an ensemble of transformers on multitask sparse parity and log ``R_k/S`` (Fig. 4 of the paper).

    Returns a JSON-ready dict: ``steps`` (n_logs,), ``R_over_S`` (n_logs, n_models, n_skills),
    ``loss`` (n_logs, n_models), ``probs`` (n_skills,) = P_s(k), ``seconds`` (wall time of training).
    """
    c, cfg = TransformerPoint.of(config)
    task = c.task(device)
    shape = TransformerConfig(n_tokens=task.dim, width=c.width, n_heads=c.n_heads, n_layers=c.n_layers,
                              mlp_ratio=c.mlp_ratio)
    model = SparseParityTransformer(shape, n_models=c.n_models, seed=c.seed).to(device)
    res = train(model, task, cfg, progress=progress)
    return {"steps": res.steps, "R_over_S": res.R_over_S, "loss": res.loss, "probs": task.probs,
            "seconds": res.seconds}
