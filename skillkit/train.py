"""One training loop for every experiment of the book (Sec. 6 and App. K of the paper).

``train(net, task, cfg)`` trains an *ensemble* of models at once on the multitask sparse parity task
and logs the skill strengths ``R_k / S`` of every model and skill on a schedule.

What the loop does, and the conventions it fixes:

* **Loss**: torch's ``MSELoss`` (mean squared error, *no* 1/2), as in the paper's code. The book's
  closed forms use ``L = 1/2 E[(f* - f)^2]`` (Eq. 5), so a learning rate ``lr`` here is the rate
  ``2 lr`` of the closed forms (the code's "4 instead of 2" in ``theo_time``). For an ensemble the
  loss that is differentiated is the *sum over models of each model's mean loss*, so every model
  gets exactly its own gradient, and per-model learning rates are exact.
* **Optimisers**: SGD (``momentum``, ``weight_decay`` as ``torch.optim.SGD``) or Adam (coupled L2
  ``weight_decay`` as ``torch.optim.Adam``), written as a few batched tensor updates so that
  learning rates can differ per model (``lr_per_model``). ``lr_halve_every``: the learning rate is
  halved every that many steps (the data experiment).
* **Data**: ``D=None`` draws fresh samples every step (the paper's "infinite data"); ``D`` an int
  gives each model a fixed training set of ``D`` samples, from which minibatches of ``batch``
  samples are taken epoch by epoch in a fresh random order (full batch when ``batch >= D``).
  Samples are made on the training device by a counter-based generator (a 32-bit integer hash of
  the model's key, the step and the sample index), so every model sees *the stream it would see if
  it were trained alone* (``shared_batch=False``, the default: the paper trains each model in its
  own run) and a resumed run draws exactly the batches it would have drawn. ``shared_batch=True``
  feeds one batch to all models (cheaper; the models are then correlated through their data).
  A model's data key is ``(cfg.seed, net.seeds[i])`` when the net has ``seeds`` (as
  :class:`skillkit.models.MLPEnsemble`), else ``(cfg.seed, i)``.
* **Logging**: every ``log_every`` steps (and at step 0 and the last step) ``R_k / S`` of every
  model and skill is measured in one batched evaluation on fixed probe inputs: ``probe_n`` inputs per
  skill with the control bits set to ``k`` (Eq. 7, the same definition as
  :func:`skillkit.measure.skill_strengths`), plus the training loss of the batch of that step.
  These are the only points where the loop synchronises with the device.
* **Checkpoints**: ``train(..., checkpoint=path)`` saves the full state (parameters, optimiser
  state, logs, step) every ``checkpoint_every`` steps with an atomic write, and a later call with the
  same path resumes from it; a killed run so resumed gives the same result as an uninterrupted one.

``train`` accepts any ensemble-style ``nn.Module`` with an attribute ``n_models`` whose forward maps
``(B, dim)`` or ``(n_models, B, dim)`` to ``(n_models, B)`` (e.g. a batched transformer); per-model
learning rates then need every parameter to carry the model axis first. An
:class:`~skillkit.models.MLPEnsemble` in float32 takes a hand-written forward/backward
(:meth:`~skillkit.models.MLPEnsemble.loss_and_grad`) that is checked against autograd.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import _checks
from .data import MultitaskSparseParity
from .models import MLPEnsemble

__all__ = ["TrainConfig", "TrainResult", "train", "Sampler", "probe_set", "evaluate_R"]

_M32 = 0xFFFFFFFF


# ----- a counter-based random generator, batched over models ----------------------------------------
def _mix32_int(x: int) -> int:
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

    Equal to :func:`_mix32_int` on every value (``tests/test_train.py`` checks it on this platform).
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
    ones (the fused bias of :meth:`MLPEnsemble.loss_and_grad`; a view into a buffer that the next
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
        ns, nb, dim = task.n_skills, task.n_bits, task.dim
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
        t = _mix32_int(_mix32_int(tag & _M32) ^ ((tag >> 32) & _M32) ^ 0x5BD1E995)
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


@torch.no_grad()
def evaluate_R(net: nn.Module, x: torch.Tensor, g: torch.Tensor, n_skills: int, S: float,
               max_elems: int = 1 << 20) -> torch.Tensor:
    """``R_k / S`` of every model and skill on probe inputs ``(x, g)`` from :func:`probe_set`.

    One batched evaluation of the ensemble, in row blocks so that (n_models, rows, width) stays below
    ``max_elems`` elements (small blocks keep the peak memory low and the activations in cache).
    Returns a (n_models, n_skills) float64 tensor on the device (float32 on Apple ``mps``, which has
    no float64).
    """
    M = net.n_models
    n = x.shape[0] // n_skills
    width = getattr(net, "width", 1024)
    rows = max(256, max_elems // max(1, M * width))
    skill = torch.arange(n_skills, device=x.device).repeat_interleave(n)
    acc = torch.float32 if x.device.type == "mps" else torch.float64
    sums = torch.zeros(M, n_skills, dtype=acc, device=x.device)
    for s in range(0, x.shape[0], rows):
        f = net(x[s:s + rows])                                            # (M, rows)
        sums.index_add_(1, skill[s:s + rows], f.to(acc) * g[s:s + rows].to(acc))
    return sums / (n * S)


# ----- configuration and result --------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (the defaults are the paper's time experiment, Fig. 1a).

    steps : SGD/Adam steps.  batch : samples per step per model.  lr : learning rate (eta; for the
    paper's MSELoss, no 1/2).  optimizer : ``"sgd"`` or ``"adam"``.  momentum : SGD momentum.
    weight_decay : L2 coefficient (both optimisers, coupled as in torch).  betas, eps : Adam's.
    lr_halve_every : halve the learning rate every this many steps (None: never).
    D : None for fresh samples every step, or the size of each model's fixed training set.
    shared_batch : one batch for all models instead of one stream per model.
    log_every : steps between R_k logs.  probe_n : probe inputs per skill for R_k.
    seed : the data seed (model initialisation is the net's own ``seed``).
    lr_per_model : None or a sequence of ``n_models`` learning rates (overrides ``lr``).
    checkpoint_every : steps between checkpoints when a checkpoint path is given (None: about 20 per run).
    precision : ``"float32"`` (default), ``"tf32"`` (TF32 matmuls on CUDA) or ``"bfloat16"`` (autocast).
    compile : use ``torch.compile`` for the autograd path (None: only on CUDA when available).
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
    lr_per_model: Sequence[float] | None = None
    checkpoint_every: int | None = None
    precision: str = "float32"
    compile: bool | None = None

    def validate(self, n_models: int) -> None:
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
        if self.lr_per_model is not None:
            lrs = list(self.lr_per_model)
            if len(lrs) != n_models:
                raise ValueError(f"lr_per_model must have n_models = {n_models} entries, got {len(lrs)}")
            _checks.positive("lr_per_model", lrs)
        if self.checkpoint_every is not None:
            _checks.integer("checkpoint_every", self.checkpoint_every, lo=1)
        if self.precision not in ("float32", "tf32", "bfloat16"):
            raise ValueError(f"precision must be 'float32', 'tf32' or 'bfloat16', got {self.precision!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        if self.lr_per_model is not None:
            d["lr_per_model"] = [float(v) for v in self.lr_per_model]
        return d


@dataclass
class TrainResult:
    """What :func:`train` logged. ``steps`` (n_logs,), ``R`` (n_logs, n_models, n_skills) = R_k / S,
    ``loss`` (n_logs, n_models) the training loss (MSELoss) of the batch of each logged step."""

    steps: np.ndarray
    R: np.ndarray
    loss: np.ndarray
    config: dict
    seconds: float = 0.0

    @property
    def final_R(self) -> np.ndarray:
        """``R_k / S`` after the last step, (n_models, n_skills)."""
        return self.R[-1]

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (for :mod:`skillkit.sweeps`)."""
        return {"steps": self.steps.tolist(), "R": self.R.tolist(), "loss": self.loss.tolist(),
                "config": self.config, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainResult":
        return cls(np.asarray(d["steps"], dtype=np.int64), np.asarray(d["R"], dtype=float),
                   np.asarray(d["loss"], dtype=float), d.get("config", {}), float(d.get("seconds", 0.0)))


# ----- optimiser: batched SGD / Adam with per-model learning rates -----------------------------------
class _Optimizer:
    def __init__(self, params: list[torch.Tensor], cfg: TrainConfig, lr_model: torch.Tensor | None):
        self.params, self.cfg = params, cfg
        self.lr_model = lr_model                      # (M,) or None
        self.state = {"t": 0}
        if cfg.optimizer == "sgd" and cfg.momentum:
            self.state["buf"] = [torch.zeros_like(p) for p in params]
        if cfg.optimizer == "adam":
            self.state["m"] = [torch.zeros_like(p) for p in params]
            self.state["v"] = [torch.zeros_like(p) for p in params]

    def _lr(self, p: torch.Tensor, lr: float):
        if self.lr_model is None:
            return lr
        return (self.lr_model * (lr / self.cfg.lr)).reshape((-1,) + (1,) * (p.ndim - 1)).to(p.dtype)

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: float) -> None:
        cfg, st = self.cfg, self.state
        st["t"] += 1
        for j, (p, g) in enumerate(zip(self.params, grads)):
            if cfg.weight_decay:
                g = g.add(p, alpha=cfg.weight_decay)
            lr_p = self._lr(p, lr)
            if cfg.optimizer == "sgd":
                if cfg.momentum:
                    buf = st["buf"][j]
                    buf.mul_(cfg.momentum).add_(g)
                    g = buf
                if isinstance(lr_p, float):
                    p.add_(g, alpha=-lr_p)
                else:
                    p.sub_(g * lr_p)
            else:
                b1, b2 = cfg.betas
                m, v = st["m"][j], st["v"][j]
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                bc1, bc2 = 1 - b1 ** st["t"], 1 - b2 ** st["t"]
                denom = (v.sqrt() / math.sqrt(bc2)).add_(cfg.eps)
                if isinstance(lr_p, float):
                    p.addcdiv_(m, denom, value=-lr_p / bc1)
                else:
                    p.sub_(m / denom * (lr_p / bc1))

    def state_dict(self) -> dict:
        return {k: ([t.clone() for t in v] if isinstance(v, list) else v) for k, v in self.state.items()}

    def load_state_dict(self, d: dict) -> None:
        for k, v in d.items():
            if isinstance(v, list):
                for dst, src in zip(self.state[k], v):
                    dst.copy_(src)
            else:
                self.state[k] = v


# ----- the loop ---------------------------------------------------------------------------------------
def _data_keys(net: nn.Module, cfg: TrainConfig) -> list[int]:
    base = _mix32_int(cfg.seed * 0x9E3779B1 + 0x632BE5AB)
    if cfg.shared_batch:
        return [_mix32_int(base ^ 0x85EBCA6B)]
    seeds = getattr(net, "seeds", None) or range(net.n_models)
    return [_mix32_int(base ^ _mix32_int(int(s) + 0x27D4EB2F)) for s in seeds]


def _signature(net: nn.Module) -> dict:
    return {"class": type(net).__name__, "n_models": int(net.n_models),
            "shapes": {k: list(v.shape) for k, v in net.state_dict().items()}}


def _atomic_save(obj, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)


@contextlib.contextmanager
def _precision(precision: str, device: torch.device):
    if precision == "tf32":
        old = torch.get_float32_matmul_precision()
        old_cudnn = torch.backends.cudnn.allow_tf32
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(old)
            torch.backends.cudnn.allow_tf32 = old_cudnn
    elif precision == "bfloat16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def _compiled_or_eager(net: nn.Module, dim: int, device: torch.device):
    """``torch.compile(net)`` if it compiles and runs here (a trial forward and backward), else ``net``.

    torch.compile needs a working compiler toolchain (a C++ compiler on CPU, Triton on CUDA); where it
    is missing or fails, training falls back to eager mode with a warning instead of stopping.
    """
    try:
        compiled = torch.compile(net)
        x = torch.zeros(2, dim, device=device)
        compiled(x).sum().backward()
        for p in net.parameters():
            p.grad = None
        return compiled
    except Exception as err:                                   # noqa: BLE001
        warnings.warn(f"torch.compile is not usable here ({type(err).__name__}: {err}); running eagerly")
        return net


def train(net: nn.Module, task: MultitaskSparseParity, cfg: TrainConfig | None = None, *,
          checkpoint: str | os.PathLike | None = None, progress: bool = True,
          callback: Callable[[int, np.ndarray, np.ndarray], None] | None = None) -> TrainResult:
    """Train the ensemble ``net`` on ``task`` with ``cfg``; log ``R_k / S`` of every model and skill.

    ``net`` is trained in place. ``checkpoint``: a file path; the run saves its state there every
    ``cfg.checkpoint_every`` steps and at the end, and if the file exists the run resumes from it
    (it must come from the same net shape and config). ``callback(step, R, loss)`` is called at every
    log with numpy arrays (n_models, n_skills) and (n_models,). Returns a :class:`TrainResult`.
    """
    cfg = TrainConfig() if cfg is None else cfg
    if not isinstance(task, MultitaskSparseParity):
        raise ValueError(f"task must be a MultitaskSparseParity, got {type(task).__name__}")
    M = getattr(net, "n_models", None)
    if not isinstance(M, int) or M < 1:
        raise ValueError("net must be an ensemble module with an integer attribute n_models >= 1")
    cfg.validate(M)
    if isinstance(net, MLPEnsemble) and net.dim != task.dim:
        raise ValueError(f"net.dim ({net.dim}) must equal task.dim ({task.dim})")
    params = [p for p in net.parameters() if p.requires_grad]
    device, dtype = params[0].device, params[0].dtype
    lr_model = None
    if cfg.lr_per_model is not None:
        for p in params:
            if p.ndim == 0 or p.shape[0] != M:
                raise ValueError("lr_per_model needs every parameter to have the model axis (n_models) first")
        lr_model = torch.tensor([float(v) for v in cfg.lr_per_model], dtype=torch.float32, device=device)
    fast = isinstance(net, MLPEnsemble) and cfg.precision != "bfloat16" and dtype == torch.float32
    use_compile = cfg.compile if cfg.compile is not None else (device.type == "cuda")
    fwd = net
    if not fast and use_compile and hasattr(torch, "compile"):
        fwd = _compiled_or_eager(net, task.dim, device)

    keys = _data_keys(net, cfg)
    sampler = Sampler(task, keys, cfg.batch, device=device, dtype=torch.float32)
    shared = cfg.shared_batch
    data = None
    if cfg.D is not None:
        dxa, dy, _ = sampler.make((1 << 41) + 12345, cfg.D)               # each stream's training set
        data = (dxa, dy)
        per_epoch = max(1, cfg.D // cfg.batch)
        perm_cache = {}

    def get_batch(t: int):
        if data is None:
            xa, y = sampler.batch(t)
        elif cfg.batch >= cfg.D:
            xa, y = data
        else:
            ep, pos = divmod(t, per_epoch)
            if ep not in perm_cache:
                perm_cache.clear()
                perm_cache[ep] = sampler.permutation(ep, cfg.D)
            idx = perm_cache[ep][:, pos * cfg.batch:(pos + 1) * cfg.batch]
            xa = data[0].gather(1, idx[..., None].expand(-1, -1, data[0].shape[2]))
            y = data[1].gather(1, idx)
        if shared:
            return xa[0], y[0]
        return xa, y

    opt = _Optimizer(params, cfg, lr_model)
    px, pg = probe_set(task, cfg.probe_n, seed=cfg.seed, device=device)
    log_steps, log_R, log_loss = [], [], []
    start, seconds = 0, 0.0
    sig = _signature(net)
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        if os.path.exists(checkpoint):
            ck = torch.load(checkpoint, map_location=device, weights_only=False)
            if ck["signature"] != sig or ck["config"] != cfg.to_dict():
                raise ValueError(f"checkpoint {checkpoint!r} was written by a different net or config")
            net.load_state_dict(ck["net"])
            opt.load_state_dict(ck["opt"])
            start, seconds = ck["step"], ck["seconds"]
            log_steps, log_R, log_loss = ck["log_steps"], ck["log_R"], ck["log_loss"]
    every = cfg.checkpoint_every or max(cfg.log_every, -(-cfg.steps // 20))

    def save(step: int) -> None:
        _atomic_save({"signature": sig, "config": cfg.to_dict(), "net": net.state_dict(),
                      "opt": opt.state_dict(), "step": step, "seconds": seconds + time.perf_counter() - t0,
                      "log_steps": log_steps, "log_R": log_R, "log_loss": log_loss}, checkpoint)

    def lr_at(t: int) -> float:
        return cfg.lr * (0.5 ** (t // cfg.lr_halve_every) if cfg.lr_halve_every else 1.0)

    t0 = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=min(start, cfg.steps), disable=not progress, unit="step",
               leave=False, mininterval=1.0)
    last_bar = start
    with _precision(cfg.precision, device):
        for t in range(start, cfg.steps + 1):
            if checkpoint is not None and t > start and t % every == 0 and t <= cfg.steps:
                save(t)
            is_log = t % cfg.log_every == 0 or t == cfg.steps
            xa, y = get_batch(t)
            if fast:
                loss, grads = net.loss_and_grad(xa, y)
            else:
                x = xa[..., : task.dim]
                if t < cfg.steps:
                    for p in params:
                        p.grad = None
                    out = fwd(x).float()
                    yy = y if y.ndim == 2 else y.unsqueeze(0)
                    per_model = ((out - yy) ** 2).mean(1)
                    per_model.sum().backward()
                    loss = per_model.detach()
                    grads = [p.grad for p in params]
                else:
                    with torch.no_grad():
                        out = fwd(x).float()
                        yy = y if y.ndim == 2 else y.unsqueeze(0)
                        loss = ((out - yy) ** 2).mean(1)
            if is_log:
                R = evaluate_R(net, px, pg, task.n_skills, task.S)
                log_steps.append(t)
                log_R.append(R.cpu().numpy())
                log_loss.append(loss.detach().cpu().double().numpy())
                if callback is not None:
                    callback(t, log_R[-1], log_loss[-1])
                bar.update(min(t, cfg.steps) - last_bar)
                last_bar = t
                bar.set_postfix(loss=f"{float(log_loss[-1].mean()):.4g}", refresh=False)
            if t == cfg.steps:
                break
            opt.step(grads, lr_at(t))
    bar.close()
    seconds += time.perf_counter() - t0
    result = TrainResult(np.asarray(log_steps, dtype=np.int64), np.stack(log_R).astype(float),
                         np.stack(log_loss).astype(float), cfg.to_dict(), seconds)
    if checkpoint is not None:
        t0 = time.perf_counter()
        save(cfg.steps + 1)
    return result
