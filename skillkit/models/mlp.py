"""Networks trained in the book: the paper's 2-layer ReLU MLP, as a batched ensemble (Sec. 6 / App. K.1).

:class:`MLPEnsemble` holds ``n_models`` MLPs ``Linear(dim -> width), ReLU, Linear(width -> 1)`` whose
parameters are stacked along a leading model axis, so that the forward and backward passes of all
models are a few batched matrix products (``torch.bmm``) instead of a Python loop over models.

* **Different widths** live in one ensemble by padding every model to the largest width and masking
  the padded hidden units. The mask multiplies the second-layer weights in the forward pass, so a
  masked unit has no effect on the output, and every gradient that reaches it (its first-layer
  column, its bias, its second-layer weight) is exactly zero. Masked parameters are also initialised
  to zero, so weight decay keeps them at zero. (``tests/test_models.py`` checks both properties.)
* **Different seeds and init scales**: model ``i`` is initialised from its own generator seeded with
  ``seeds[i]``, drawing exactly the tensors a width-``widths[i]`` model alone would draw, so model
  ``i`` of an ensemble equals the same model built alone (``MLPEnsemble(1, dim, widths[i], ...)``).
* Initialisation as in the paper's code (``utils.FCN``): *every* weight and bias ~ N(0, init_std^2).

Layout of the parameters (``B`` batch, ``M`` models, ``W`` the largest width):

``w1`` (M, dim + 1, W)
    first layer; rows ``0..dim-1`` are the weights (``Linear.weight.T``), row ``dim`` the bias.
``w2`` (M, W)
    second-layer weights.
``b2`` (M,)
    second-layer bias.

Besides ``forward`` (differentiable, used with autograd), :meth:`MLPEnsemble.loss_and_grad`
computes the MSE loss and its exact gradient by hand with two batched GEMMs, fused bias and in-place
activations; :func:`skillkit.train.train` uses it, and ``tests/test_models.py`` checks it against
autograd.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import _checks

__all__ = ["MLPEnsemble"]


def _per_model(name: str, value, n_models: int, kind=float) -> list:
    """Broadcast a scalar or a length-``n_models`` sequence to a list of ``n_models`` values."""
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a number or a sequence of {n_models} numbers, got {value!r}")
    if np.ndim(value) == 0:
        return [value] * n_models
    vals = list(np.asarray(value).tolist())
    if len(vals) != n_models:
        raise ValueError(f"{name} must be a number or a sequence of n_models = {n_models} numbers, "
                         f"got {len(vals)} values")
    return vals


class MLPEnsemble(nn.Module):
    """``n_models`` two-layer ReLU MLPs ``dim -> width -> 1`` trained as one batched program.

    Parameters
    ----------
    n_models : number of models, at least 1.
    dim : input dimension (``task.dim``), at least 1.
    widths : hidden width, an int (all models) or a sequence of ``n_models`` ints, each at least 1.
    init_std : standard deviation of every weight and bias at initialisation, > 0; a float or a
        sequence of ``n_models`` floats.
    seed : an int (model ``i`` uses ``seed + i``) or a sequence of ``n_models`` non-negative ints.
    device, dtype : where and in what precision the parameters live (float32 by default).

    ``net(x)`` takes ``x`` of shape ``(B, dim)`` (one batch shared by all models) or
    ``(n_models, B, dim)`` (one batch per model) and returns ``(n_models, B)``.
    """

    def __init__(self, n_models: int, dim: int, widths, init_std=0.01, seed=0,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        super().__init__()
        self.n_models = _checks.integer("n_models", n_models, lo=1)
        self.dim = _checks.integer("dim", dim, lo=1)
        widths = [_checks.integer("widths", w, lo=1) for w in _per_model("widths", widths, self.n_models)]
        stds = [float(_checks.positive("init_std", s)) for s in _per_model("init_std", init_std, self.n_models)]
        if np.ndim(seed) == 0:
            s0 = _checks.integer("seed", seed, lo=0)
            seeds = [s0 + i for i in range(self.n_models)]
        else:
            seeds = [_checks.integer("seed", s, lo=0) for s in _per_model("seed", seed, self.n_models)]
        self.widths = tuple(widths)
        self.init_stds = tuple(stds)
        self.seeds = tuple(seeds)
        self.width = max(widths)
        M, D, W = self.n_models, self.dim, self.width

        w1 = torch.zeros(M, D + 1, W, dtype=torch.float32)
        w2 = torch.zeros(M, W, dtype=torch.float32)
        b2 = torch.zeros(M, dtype=torch.float32)
        for i, (wi, si, seed_i) in enumerate(zip(widths, stds, seeds)):
            g = torch.Generator().manual_seed(seed_i)
            # the draws of nn.Linear(dim, wi) + nn.Linear(wi, 1), in this order, all ~ N(0, si^2)
            weight1 = torch.randn(wi, D, generator=g) * si
            bias1 = torch.randn(wi, generator=g) * si
            weight2 = torch.randn(1, wi, generator=g) * si
            bias2 = torch.randn(1, generator=g) * si
            w1[i, :D, :wi] = weight1.T
            w1[i, D, :wi] = bias1
            w2[i, :wi] = weight2[0]
            b2[i] = bias2[0]
        mask = torch.zeros(M, W, dtype=torch.float32)
        for i, wi in enumerate(widths):
            mask[i, :wi] = 1.0
        self.w1 = nn.Parameter(w1.to(device=device, dtype=dtype))
        self.w2 = nn.Parameter(w2.to(device=device, dtype=dtype))
        self.b2 = nn.Parameter(b2.to(device=device, dtype=dtype))
        self.register_buffer("mask", mask.to(device=device, dtype=dtype))
        self.masked = any(w != W for w in widths)

    def extra_repr(self) -> str:
        w = self.widths[0] if len(set(self.widths)) == 1 else list(self.widths)
        return f"n_models={self.n_models}, dim={self.dim}, widths={w}"

    @property
    def device(self) -> torch.device:
        return self.w1.device

    def _w2_eff(self) -> torch.Tensor:
        return self.w2 * self.mask if self.masked else self.w2

    def _active_units(self):
        """Flat indices (into M * W) of the unmasked hidden units, and the model each belongs to."""
        key = (self.mask.data_ptr(), self.mask.device)
        if getattr(self, "_active_cache", (None,))[0] != key:
            active = self.mask.reshape(-1).nonzero().squeeze(1)
            self._active_cache = (key, active, torch.div(active, self.width, rounding_mode="floor"))
        return self._active_cache[1], self._active_cache[2]

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2 and x.shape[1] == self.dim:
            return x
        if x.ndim == 3 and x.shape[0] == self.n_models and x.shape[2] == self.dim:
            return x
        raise ValueError(f"x must have shape (B, dim) = (B, {self.dim}) or (n_models, B, dim) = "
                         f"({self.n_models}, B, {self.dim}), got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of every model, ``(n_models, B)``, for shared ``(B, dim)`` or per-model inputs."""
        x = self._check_x(x).to(self.w1.dtype)
        W, b1 = self.w1[:, : self.dim, :], self.w1[:, self.dim:, :]       # (M, dim, W), (M, 1, W)
        if x.ndim == 2:
            pre = torch.matmul(x, W) + b1                                   # (M, B, W)
        else:
            pre = torch.baddbmm(b1, x, W)
        h = torch.relu(pre)
        return torch.bmm(h, self._w2_eff().unsqueeze(2)).squeeze(2) + self.b2[:, None]

    def model(self, i: int) -> nn.Sequential:
        """Model ``i`` as a plain ``nn.Sequential(Linear, ReLU, Linear)`` (a copy, for checks)."""
        i = _checks.integer("i", i, lo=0, hi=self.n_models - 1)
        wi = self.widths[i]
        lin1, lin2 = nn.Linear(self.dim, wi), nn.Linear(wi, 1)
        with torch.no_grad():
            lin1.weight.copy_(self.w1[i, : self.dim, :wi].T)
            lin1.bias.copy_(self.w1[i, self.dim, :wi])
            lin2.weight.copy_(self.w2[i, :wi][None, :])
            lin2.bias.copy_(self.b2[i : i + 1])
        return nn.Sequential(lin1, nn.ReLU(), lin2).to(device=self.device, dtype=self.w1.dtype)

    # ----- the lean training path: loss and exact gradient by hand ---------------------------------
    @torch.no_grad()
    def loss_and_grad(self, xa: torch.Tensor, y: torch.Tensor, chunk: int | None = None):
        """Per-model MSE loss and the gradient of ``sum_i loss_i`` w.r.t. (w1, w2, b2), by hand.

        ``xa``: inputs *augmented with a trailing column of ones* (for the fused first-layer bias),
        shape ``(B, dim + 1)`` shared or ``(M, B, dim + 1)`` per model; ``y``: ``(B,)`` or ``(M, B)``.
        The loss is torch's ``MSELoss`` (mean of squared errors, no 1/2), as in the paper's code.
        Returns ``loss (M,)`` and the gradient tensors ``(g_w1, g_w2, g_b2)`` shaped like the
        parameters. Model ``i``'s gradient is the gradient of its own loss: the loss of the ensemble
        is the sum over models of each model's mean loss.

        The batch is processed in row blocks of ``chunk`` rows (default: about 2^19 hidden
        activations per block) so the (rows, width) activations stay in cache; the hidden layer
        is overwritten in place by ReLU and then by its own 0/1 derivative.
        """
        M, D1, W = self.w1.shape
        shared = xa.ndim == 2
        B = xa.shape[-2]
        if xa.shape[-1] != D1:
            raise ValueError(f"xa must have dim + 1 = {D1} columns (inputs, then ones), got {xa.shape[-1]}")
        w2e = self._w2_eff()                                  # (M, W)
        loss = torch.zeros_like(self.b2)
        g_w2 = torch.zeros_like(self.w2)
        g_b2 = torch.zeros_like(self.b2)
        scale = 2.0 / B
        if shared:
            # one batch for all models: the M first layers side by side are ONE (D1, units) matrix,
            # holding only the unmasked units (masked ones are inert: nothing to compute for them)
            active, owner = self._active_units()
            w1t = self.w1.permute(0, 2, 1).reshape(M * W, D1)[active]          # (n_act, D1)
            w2a = w2e.reshape(-1)[active].unsqueeze(1)                         # (n_act, 1)
            chunk = chunk or max(64, (1 << 19) // active.numel())
            g_w1t = torch.zeros_like(w1t)
            # layout (units, rows): per-model sums and broadcasts are contiguous row operations
            for s in range(0, B, chunk):
                e = min(B, s + chunk)
                xc = xa[s:e]
                yc = y[None, s:e] if y.ndim == 1 else y[:, s:e]               # (1, b) or (M, b)
                h = torch.mm(w1t, xc.t())                                 # (n_act, b), bias fused
                h.relu_()
                out = torch.zeros(M, e - s, dtype=h.dtype, device=h.device).index_add_(0, owner, h * w2a)
                r = out.add_(self.b2[:, None]).sub_(yc)                   # (M, b) residuals
                loss.add_((r * r).sum(1))
                g = r.mul_(scale)
                g_b2.add_(g.sum(1))
                gu = torch.index_select(g, 0, owner)                      # (n_act, b): each unit's model's g
                h.sign_()                                                 # relu'(pre), in place
                h.mul_(gu)                                                # g * relu'
                g_w1t.addmm_(h, xc)                                       # G = (g relu')^T x
            # ReLU is positively homogeneous: sum_b h_u g_u = sum_b relu'_u g_u (w1_u . x) = w1_u . G_u
            g_w2.view(-1)[active] = (w1t * g_w1t).sum(1)
            g_w1 = torch.zeros(M * W, D1, dtype=self.w1.dtype, device=self.w1.device)
            g_w1[active] = g_w1t
            g_w1 = g_w1.view(M, W, D1).transpose(1, 2).contiguous()
        else:
            chunk = chunk or max(64, (1 << 19) // (M * W))
            g_w1 = torch.zeros_like(self.w1)
            small = W < D1                # multiply g into the smaller of the two GEMM operands
            for s in range(0, B, chunk):
                e = min(B, s + chunk)
                xc, yc = xa[:, s:e], y[:, s:e]
                h = torch.bmm(xc, self.w1)                                # (M, b, W), bias fused
                h.relu_()
                out = torch.bmm(h, w2e.unsqueeze(2)).squeeze(2).add_(self.b2[:, None])  # (M, b)
                r = out - yc
                loss.add_((r * r).sum(1))
                g = r.mul_(scale)                                         # dL/dout, (M, b)
                g_b2.add_(g.sum(1))
                h.sign_()                                                 # relu'(pre), in place
                if small:
                    h.mul_(g.unsqueeze(2))
                    g_w1.baddbmm_(xc.transpose(1, 2), h)
                else:
                    g_w1.baddbmm_((xc * g.unsqueeze(2)).transpose(1, 2), h)
        if not shared:
            # ReLU is positively homogeneous: h^T g = sum_b relu' g (w1 . x) = column-wise w1 . G
            g_w2 = (self.w1 * g_w1).sum(1)
        g_w1.mul_(w2e.unsqueeze(1))
        if self.masked:
            g_w2.mul_(self.mask)
        return loss / B, (g_w1, g_w2, g_b2)
