"""The one training loop of the book (Sec. 6 and App. K of the paper), on ``torch.optim``.

``train(net, task, cfg)`` trains an *ensemble* of models at once on multitask sparse parity and logs
the skill strengths ``R_k / S`` of every model and skill on a schedule.

What the loop does, and the conventions it fixes:

* **Loss**: torch's ``MSELoss`` (mean squared error, *no* 1/2), as in the paper's code. The book's
  closed forms use ``L = 1/2 E[(f* - f)^2]`` (Eq. 5), so a learning rate ``lr`` here is the rate
  ``2 lr`` of the closed forms (the code's "4 instead of 2" in ``theo_time``). For an ensemble the
  loss that is differentiated is the *sum over models of each model's mean loss*, so every model gets
  exactly its own gradient; ``torch.optim.SGD`` and ``torch.optim.Adam`` update element-wise, so each
  model of the ensemble is trained exactly as it would be alone.
* **Gradient**: a model that has a method ``loss_and_grad(xa, y)`` (the hand-written backward of
  :class:`~skillkit.models.MLPEnsemble`) supplies its own loss and gradients; any other model is
  differentiated by autograd. The model decides, through that method, not the loop.
* **Optimiser**: ``"sgd"`` (``momentum``, ``weight_decay``) or ``"adam"`` (``betas``, ``eps``, coupled
  L2 ``weight_decay``), exactly ``torch.optim``'s; ``lr_halve_every`` halves the learning rate every that
  many steps (``torch.optim.lr_scheduler.StepLR``).
* **Data**: ``D=None`` draws fresh samples every step (the paper's "infinite data"); ``D`` an int gives
  each model a fixed training set of ``D`` samples, from which minibatches of ``batch`` samples are
  taken epoch by epoch in a fresh random order (full batch when ``batch >= D``). Samples come from the
  counter-based :class:`skillkit.data.Sampler` on the training device, keyed on ``(cfg.seed, seed of the
  model)`` (:func:`skillkit.data.stream_keys`), so every model sees *the stream it would see if it were
  trained alone* and a resumed run draws exactly the batches it would have drawn.
  ``shared_batch=True`` feeds one batch to all models (cheaper; the models are then correlated
  through their data).
* **Logging**: every ``log_every`` steps (and at step 0 and the last step) ``R_k / S`` of every model
  and skill is measured in one batched evaluation on fixed probe inputs (``probe_n`` per skill, Eq. 7,
  :func:`skillkit.measure.ensemble_strengths`), with the training loss of that step's batch. These are
  the only points where the loop synchronises with the device.
* **Checkpoints**: ``train(..., checkpoint=path)`` saves the state (parameters, optimiser and
  scheduler state, logs, step; tensors and plain values only) every ``checkpoint_every`` steps with an
  atomic write, and a later call with the same path resumes from it with
  ``torch.load(..., weights_only=True)``: a killed run so resumed gives the same result as an
  uninterrupted one, and loading a checkpoint never runs pickled code.

:class:`Run` holds one run's data, optimiser and step function; :func:`train` is the loop around it,
and ``benchmarks/run.py`` times ``Run.step``.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import time
import zipfile
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import _checks
from .data import MultitaskSparseParity, Sampler, probe_set, stream_keys
from .measure import ensemble_strengths

__all__ = ["TrainConfig", "TrainResult", "Run", "train_step", "train"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (the defaults are the paper's time experiment, Fig. 1a).

    Parameters
    ----------
    steps : int
        Optimiser steps.
    batch : int
        Samples per step per model.
    lr : float
        Learning rate (for the paper's MSELoss, no 1/2).
    optimizer : str
        ``"sgd"`` or ``"adam"``.
    momentum : float
        SGD momentum, in [0, 1].
    weight_decay : float
        Coupled L2 weight decay, >= 0.
    betas, eps : tuple of float, float
        Adam's.
    lr_halve_every : int or None
        Halve the learning rate every that many steps.
    D : int or None
        Training-set size per model; ``None`` for fresh samples every step.
    shared_batch : bool
        One batch for all models instead of one stream each.
    log_every : int
        Steps between logs of ``R_k / S``.
    probe_n : int
        Probe inputs per skill for ``R_k``.
    seed : int
        Seed of the data streams (and of the probe inputs).
    checkpoint_every : int or None
        Steps between checkpoints (default: about 20 per run).
    """

    steps: int = 30000
    batch: int = 4000
    lr: float = 0.02
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    lr_halve_every: int | None = None
    D: int | None = None
    shared_batch: bool = False
    log_every: int = 50
    probe_n: int = 20000
    seed: int = 0
    checkpoint_every: int | None = None

    def __post_init__(self):
        _checks.integer("steps", self.steps, lo=0)
        _checks.integer("batch", self.batch, lo=1)
        _checks.positive("lr", self.lr)
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        _checks.in_closed_interval("momentum", self.momentum, 0.0, 1.0)
        if self.momentum and self.optimizer != "sgd":
            raise ValueError("momentum must be 0 unless optimizer == 'sgd' (Adam has betas)")
        _checks.nonnegative("weight_decay", self.weight_decay)
        b1, b2 = self.betas
        _checks.in_closed_interval("betas[0]", b1, 0.0, 1.0 - 1e-12)
        _checks.in_closed_interval("betas[1]", b2, 0.0, 1.0 - 1e-12)
        _checks.positive("eps", self.eps)
        if self.lr_halve_every is not None:
            _checks.integer("lr_halve_every", self.lr_halve_every, lo=1)
        if self.D is not None:
            _checks.integer("D", self.D, lo=1)
        _checks.integer("log_every", self.log_every, lo=1)
        _checks.integer("probe_n", self.probe_n, lo=1)
        _checks.integer("seed", self.seed, lo=0)
        if self.checkpoint_every is not None:
            _checks.integer("checkpoint_every", self.checkpoint_every, lo=1)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


@dataclass
class TrainResult:
    """What :func:`train` logged: ``steps`` (n_logs,), ``R_over_S`` (n_logs, n_models, n_skills) = R_k / S,
    ``loss`` (n_logs, n_models) the training loss (MSELoss) of the batch of each logged step."""

    steps: np.ndarray
    R_over_S: np.ndarray
    loss: np.ndarray
    config: dict
    seconds: float = 0.0

    @property
    def final_R_over_S(self) -> np.ndarray:
        """``R_k / S`` after the last step, (n_models, n_skills)."""
        return self.R_over_S[-1]

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (for :mod:`skillkit.sweeps`)."""
        return {"steps": self.steps.tolist(), "R_over_S": self.R_over_S.tolist(), "loss": self.loss.tolist(),
                "config": self.config, "seconds": self.seconds}


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-model MSELoss, (n_models,), for outputs (n_models, B) and labels (B,) or (n_models, B)."""
    return ((out.float() - (y if y.ndim == 2 else y.unsqueeze(0))) ** 2).mean(1)


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, xa: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One optimiser step of ``net`` on the batch ``(xa, y)``; returns the per-model loss before it.

    ``xa`` holds the inputs followed by a column of ones (as :class:`skillkit.data.Sampler` makes them):
    ``(B, dim + 1)`` shared by every model or ``(n_models, B, dim + 1)``. The gradient is the model's own
    (``net.loss_and_grad(xa, y)``, when it has that method) or autograd's of :func:`_mse`.
    """
    if hasattr(net, "loss_and_grad"):
        loss, grads = net.loss_and_grad(xa, y)
        for p, g in zip(net.parameters(), grads):
            p.grad = g
    else:
        optimizer.zero_grad(set_to_none=True)
        per_model = _mse(net(xa[..., :-1]), y)
        per_model.sum().backward()
        loss = per_model.detach()
    optimizer.step()
    return loss


class Run:
    """One training run's data, optimiser and step: ``Run(net, task, cfg).step(t)`` trains step ``t``.

    Builds the :class:`~skillkit.data.Sampler` of the net's streams on the net's device, the training
    sets when ``cfg.D`` is set, the ``torch.optim`` optimiser and the learning-rate schedule.
    """

    def __init__(self, net: nn.Module, task: MultitaskSparseParity, cfg: TrainConfig):
        if not isinstance(task, MultitaskSparseParity):
            raise ValueError(f"task must be a MultitaskSparseParity, got {type(task).__name__}")
        M = getattr(net, "n_models", None)
        if not isinstance(M, int) or M < 1:
            raise ValueError("net must be an ensemble module with an integer attribute n_models >= 1")
        if getattr(net, "dim", task.dim) != task.dim:
            raise ValueError(f"net.dim ({net.dim}) must equal task.dim ({task.dim})")
        self.net, self.task, self.cfg = net, task, cfg
        params = [p for p in net.parameters() if p.requires_grad]
        self.device = params[0].device
        seeds = getattr(net, "seeds", None) or range(M)
        self.sampler = Sampler(task, stream_keys(cfg.seed, seeds, cfg.shared_batch), cfg.batch, device=self.device)
        if cfg.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                              weight_decay=cfg.weight_decay)
        self.scheduler = (torch.optim.lr_scheduler.StepLR(self.optimizer, cfg.lr_halve_every, gamma=0.5)
                          if cfg.lr_halve_every else None)
        self._data = None
        if cfg.D is not None:
            xa, y, _ = self.sampler.make((1 << 41) + 12345, cfg.D)        # each stream's training set
            self._data = (xa, y)
            self._per_epoch = max(1, cfg.D // cfg.batch)
            self._perm = {}

    def batch(self, t: int):
        """The batch of step ``t``: ``(xa, y)``, per stream (or the one shared stream's, unbatched)."""
        cfg = self.cfg
        if self._data is None:
            xa, y = self.sampler.batch(t)
        elif cfg.batch >= cfg.D:
            xa, y = self._data
        else:
            ep, pos = divmod(t, self._per_epoch)
            if ep not in self._perm:
                self._perm = {ep: self.sampler.permutation(ep, cfg.D)}
            idx = self._perm[ep][:, pos * cfg.batch:(pos + 1) * cfg.batch]
            xa = self._data[0].gather(1, idx[..., None].expand(-1, -1, self._data[0].shape[2]))
            y = self._data[1].gather(1, idx)
        return (xa[0], y[0]) if cfg.shared_batch else (xa, y)

    def step(self, t: int) -> torch.Tensor:
        """Train step ``t`` (its batch, gradient, update, schedule); returns the per-model loss."""
        xa, y = self.batch(t)
        loss = train_step(self.net, self.optimizer, xa, y)
        if self.scheduler is not None:
            self.scheduler.step()
        return loss

    @torch.no_grad()
    def loss(self, t: int) -> torch.Tensor:
        """The per-model loss on the batch of step ``t``, without training."""
        xa, y = self.batch(t)
        return _mse(self.net(xa[..., :-1]), y)

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])


def _signature(net: nn.Module) -> dict:
    return {"class": type(net).__name__, "n_models": int(net.n_models),
            "shapes": {k: list(v.shape) for k, v in net.state_dict().items()}}


def _atomic_save(obj, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str, device) -> dict:
    """A checkpoint written by :func:`train`, loaded with ``weights_only=True`` (tensors and plain values).

    A file that cannot be read so (truncated, corrupt, or holding arbitrary objects) is a ``ValueError``
    that names it and says how to start over.
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"checkpoint {path!r} cannot be loaded as tensors and plain values ({type(err).__name__}: "
                         f"{err}); delete it to train from step 0") from err


def train(net: nn.Module, task: MultitaskSparseParity, cfg: TrainConfig | None = None, *,
          checkpoint: str | os.PathLike | None = None, progress: bool = True,
          callback: Callable[[int, np.ndarray, np.ndarray], None] | None = None) -> TrainResult:
    """Train the ensemble ``net`` on ``task`` with ``cfg``; log ``R_k / S`` of every model and skill.

    ``net`` is trained in place, on the device of its parameters. ``checkpoint``: a file path; the run
    saves its state there every ``cfg.checkpoint_every`` steps and at the end, and if the file exists
    the run resumes from it (it must come from the same net shape and config). ``callback(step,
    R_over_S, loss)`` is called at every log with numpy arrays (n_models, n_skills) and (n_models,).
    Returns a :class:`TrainResult`.
    """
    cfg = TrainConfig() if cfg is None else cfg
    run = Run(net, task, cfg)
    px, pg = probe_set(task, cfg.probe_n, seed=cfg.seed, device=run.device)
    log_steps, log_R, log_loss = [], [], []
    start, seconds = 0, 0.0
    sig = _signature(net)
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        if os.path.exists(checkpoint):
            ck = load_checkpoint(checkpoint, run.device)
            if ck["signature"] != sig or ck["config"] != cfg.to_dict():
                raise ValueError(f"checkpoint {checkpoint!r} was written by a different net or config")
            run.load_state_dict(ck["state"])
            start, seconds = ck["step"], ck["seconds"]
            log_steps = list(ck["log_steps"])
            log_R = [r.numpy() for r in ck["log_R"].unbind(0)] if log_steps else []
            log_loss = [v.numpy() for v in ck["log_loss"].unbind(0)] if log_steps else []
    every = cfg.checkpoint_every or max(cfg.log_every, -(-cfg.steps // 20))

    def save(step: int) -> None:
        stack = (lambda a: torch.as_tensor(np.stack(a))) if log_steps else (lambda a: torch.zeros(0))
        _atomic_save({"signature": sig, "config": cfg.to_dict(), "state": run.state_dict(), "step": step,
                      "seconds": seconds + time.perf_counter() - t0, "log_steps": list(log_steps),
                      "log_R": stack(log_R), "log_loss": stack(log_loss)}, checkpoint)

    t0 = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=min(start, cfg.steps), disable=not progress, unit="step",
               leave=False, mininterval=1.0)
    for t in range(start, cfg.steps + 1):
        if checkpoint is not None and t > start and t % every == 0:
            save(t)
        is_log = t % cfg.log_every == 0 or t == cfg.steps
        if is_log:                      # R after t updates; the loss of step t's batch before its update
            R = ensemble_strengths(net, px, pg, task.n_skills, task.S)
        loss = run.step(t) if t < cfg.steps else run.loss(t)
        if is_log:
            log_steps.append(t)
            log_R.append(R.cpu().numpy())
            log_loss.append(loss.detach().cpu().double().numpy())
            if callback is not None:
                callback(t, log_R[-1], log_loss[-1])
            bar.update(t - bar.n)
            bar.set_postfix(loss=f"{float(log_loss[-1].mean()):.4g}", refresh=False)
    bar.close()
    seconds += time.perf_counter() - t0
    result = TrainResult(np.asarray(log_steps, dtype=np.int64), np.stack(log_R).astype(float),
                         np.stack(log_loss).astype(float), cfg.to_dict(), seconds)
    if checkpoint is not None:
        t0 = time.perf_counter()
        save(cfg.steps + 1)
    return result
