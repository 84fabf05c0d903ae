"""Gradient descent on the solvable models, in torch: one loop for all of them.

:func:`gradient_descent` is the loop: full-batch steps ``w <- w - lr dL/dw`` on a list of tensors, the
gradient by autograd, a record of a chosen quantity every ``record_every`` steps kept on the device (no
host synchronisation inside the loop). It serves

- :func:`product_model`: the multilinear model (depth 2), the linear model (depth 1) and the deeper
  products, batched over every skill at once (Eqs. 29-34);
- :func:`linear_network`: a 2-layer linear network y = W2 W1 x (App. B.2, Saxe et al.);
- the width-3 toy of App. G (``skillkit.experiments.emergence.train_toy_modes``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from . import _checks

__all__ = ["gradient_descent", "GDRun", "product_model", "linear_network"]


def gradient_descent(params: Sequence[torch.Tensor], loss: Callable[[], torch.Tensor], steps: int, *,
                     lr: float, record: Callable[[], torch.Tensor], record_every: int = 1,
                     progress: bool = False, desc: str | None = None):
    """Full-batch gradient descent on ``params`` (leaf tensors with ``requires_grad``), in place.

    ``loss()`` returns the scalar to descend; ``record()`` the tensor to log, evaluated (without
    gradient) at steps 0, ``record_every``, ... and at the last step, before that step's update. Returns
    ``(rec_steps, records)``: the recorded step numbers (numpy int) and the stacked records, a tensor
    on the parameters' device. With a small ``lr``, step n follows the gradient flow at time ``n lr``.
    """
    steps = _checks.integer("steps", steps, lo=1)
    record_every = _checks.integer("record_every", record_every, lo=1)
    lr = float(_checks.positive("lr", lr))
    params = list(params)
    rec = sorted(set(range(0, steps + 1, record_every)) | {steps})
    out, j = [], 0
    for n in tqdm(range(steps + 1), disable=not progress, desc=desc, leave=False, mininterval=1.0):
        if j < len(rec) and n == rec[j]:
            with torch.no_grad():
                out.append(record().detach().clone())
            j += 1
        if n == steps:
            break
        grads = torch.autograd.grad(loss(), params)
        with torch.no_grad():
            for w, g in zip(params, grads):
                w -= lr * g
    return np.asarray(rec), torch.stack(out)


@dataclass(frozen=True)
class GDRun:
    """Result of :func:`product_model`.

    ``steps``: int array (n_records,) of the step counts recorded (0 first). ``R``: float64 array
    (n_records, *p.shape) of the strengths R_k = prod_l a_{k,l}. ``factors``: float64 array
    (depth, *p.shape) of the final parameters. The flow time of record i is ``steps[i] * lr``.
    """

    steps: np.ndarray
    R: np.ndarray
    factors: np.ndarray


def product_model(p, steps: int, *, lr: float = 0.01, S: float = 1.0, R0: float = 0.01, depth: int = 2,
                  init=None, record_every: int = 1, device=None, dtype=None) -> GDRun:
    """Plain gradient descent on the model's loss, batched over every skill at once (Eqs. 29-34).

    The loss is L = 1/2 sum_k p_k (S - prod_l a_{k,l})^2 (Eq. 11 with d_k/D = p_k). ``depth = 2`` is the
    multilinear model (a, b), ``depth = 1`` the linear model. ``init`` is an array broadcastable to
    (depth, *p.shape) of starting factors; ``None`` is the balanced start a_{k,l}(0) = R0^(1/depth)
    (then ``R0`` must lie in (0, S)). Unbalanced starts (a_k(0) != b_k(0)) are allowed through ``init``.
    After n steps the run tracks the gradient flow at time t = n (with rate ``lr``), so with small
    ``lr`` it matches ``multilinear.strength(n, p, S, R0, lr)``.
    """
    p_np = _checks.in_closed_interval("p", p, 0.0, 1.0)
    depth = _checks.integer("depth", depth, lo=1)
    S = float(_checks.positive("S", S))
    if init is None:
        if not 0 < R0 < S:
            raise ValueError(f"R0 must lie in the open interval (0, S) = (0, {S}), got {R0!r}")
        init_np = np.full((depth,) + p_np.shape, float(R0) ** (1.0 / depth))
    else:
        init_np = np.asarray(init, dtype=float)
        if not np.all(np.isfinite(init_np)):
            raise ValueError("init must be finite (range (-inf, inf))")
        try:
            init_np = np.broadcast_to(init_np, (depth,) + p_np.shape).copy()
        except ValueError as err:
            raise ValueError(f"init must broadcast to (depth, *p.shape) = {(depth,) + p_np.shape}, "
                             f"got shape {init_np.shape}") from err
    dtype = torch.float64 if dtype is None else dtype
    dev = torch.device("cpu") if device is None else torch.device(device)
    pt = torch.as_tensor(p_np, dtype=dtype, device=dev)
    w = torch.as_tensor(init_np, dtype=dtype, device=dev).clone().requires_grad_(True)
    rec, R = gradient_descent([w], lambda: 0.5 * (pt * (S - w.prod(0)) ** 2).sum(), steps, lr=lr,
                              record=lambda: w.prod(0), record_every=record_every)
    return GDRun(steps=rec, R=R.cpu().numpy(), factors=w.detach().cpu().numpy())


def linear_network(X, Y, W1, W2, steps: int, *, lr: float = 0.01, record_every: int = 1, device=None):
    """Full-batch gradient descent on a 2-layer linear network y = W2 W1 x (App. B.2, Saxe et al.).

    Loss 1/2 mean_n ||y_n - W2 W1 x_n||^2 on data ``X`` (n, d_in) and ``Y`` (n, d_out); ``W1``
    (hidden, d_in) and ``W2`` (d_out, hidden) are the starting weights. Returns ``(steps, W)`` with
    ``W`` float64 (n_records, d_out, d_in) the end-to-end map W2 W1 at the recorded steps. With
    whitened inputs (X^T X / n = I) and Y = X M^T, M = U diag(lambda) V^T, a start aligned with the
    modes follows Eq. 25: u_k^T W v_k = strength(t, 1, S=lambda_k, R0=u_k^T W(0) v_k, lr) with t = steps.
    """
    X, Y, W1, W2 = (np.asarray(v, dtype=float) for v in (X, Y, W1, W2))
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must be 2-d with the same number of rows, got {X.shape} and {Y.shape}")
    if W1.shape[1] != X.shape[1] or W2.shape != (Y.shape[1], W1.shape[0]):
        raise ValueError(f"W1 must be (hidden, {X.shape[1]}) and W2 ({Y.shape[1]}, hidden), "
                         f"got {W1.shape} and {W2.shape}")
    dev = torch.device("cpu") if device is None else torch.device(device)
    Xt, Yt = (torch.as_tensor(v, dtype=torch.float64, device=dev) for v in (X, Y))
    w1 = torch.as_tensor(W1, dtype=torch.float64, device=dev).clone().requires_grad_(True)
    w2 = torch.as_tensor(W2, dtype=torch.float64, device=dev).clone().requires_grad_(True)
    rec, W = gradient_descent([w1, w2], lambda: 0.5 * ((Yt - Xt @ (w2 @ w1).T) ** 2).sum(1).mean(), steps,
                              lr=lr, record=lambda: w2 @ w1, record_every=record_every)
    return rec, W.cpu().numpy()
