"""Many independent copies of one plain ``nn.Module`` trained as one program, by ``torch.func``.

:class:`Ensemble` stacks the parameters of ``n_models`` modules of one architecture
(``torch.func.stack_module_state``) and maps the module's forward over them with ``torch.vmap`` and
``torch.func.functional_call``. The stacked tensors are ordinary leaf parameters with the model axis
first, so autograd, ``torch.optim`` and ``state_dict`` treat the ensemble as one module, while every
copy computes exactly what it would compute alone: the loss of the ensemble is the sum of the copies'
losses, and an element-wise optimiser (SGD, Adam) then updates each copy with its own gradient.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from .. import _checks

__all__ = ["Ensemble"]


class Ensemble(nn.Module):
    """``n_models`` copies of one architecture, output ``(n_models, B, ...)``.

    Parameters
    ----------
    members : the modules, at least one, all of one class and shapes; their current parameters become
        the copies' starting points (the modules themselves are not kept).
    seeds : one integer per member (default 0, 1, ...), stored as ``self.seeds``: the training loop keys
        each copy's data on it.
    member_ndim : the number of axes of one member's input (2 for a batch of vectors).

    ``ensemble(x)`` calls every copy on ``x``: a tensor shared by all copies, or one with a leading axis
    of size ``n_models`` that gives each copy its own input (``per_model=True``, or detected when the
    first axis is ``n_models`` and the input has one more axis than a member takes, ``member_ndim``).
    Keyword arguments are passed to the members' ``forward``.
    """

    def __init__(self, members: Sequence[nn.Module], seeds: Sequence[int] | None = None, member_ndim: int = 2):
        super().__init__()
        members = list(members)
        if not members or not all(isinstance(m, nn.Module) for m in members):
            raise ValueError("members must be a non-empty list of nn.Module")
        if len({type(m) for m in members}) != 1:
            raise ValueError("members must all be of one class")
        self.n_models = len(members)
        self.seeds = tuple(range(self.n_models)) if seeds is None else tuple(int(s) for s in seeds)
        if len(self.seeds) != self.n_models:
            raise ValueError(f"seeds must have n_models = {self.n_models} entries, got {len(self.seeds)}")
        self.member_ndim = _checks.integer("member_ndim", member_ndim, lo=1)
        params, buffers = stack_module_state(members)
        self._names = list(params)
        self._buffer_names = list(buffers)
        self.params = nn.ParameterList([nn.Parameter(params[k].detach().clone()) for k in self._names])
        for i, k in enumerate(self._buffer_names):
            self.register_buffer(f"_buffer{i}", buffers[k].clone())
        self._base = [copy.deepcopy(members[0]).to("meta")]     # a list: not registered as a submodule

    @property
    def base(self) -> nn.Module:
        """The members' architecture, on the meta device (holds no values)."""
        return self._base[0]

    def stacked(self) -> tuple[dict, dict]:
        """The stacked parameters and buffers as name -> tensor dicts (model axis first)."""
        bufs = {k: getattr(self, f"_buffer{i}") for i, k in enumerate(self._buffer_names)}
        return dict(zip(self._names, self.params)), bufs

    def _call(self, fn: Callable, x: torch.Tensor, per_model: bool | None):
        params, buffers = self.stacked()
        if per_model is None:
            per_model = x.ndim == self.member_ndim + 1 and x.shape[0] == self.n_models
        if per_model and x.shape[0] != self.n_models:
            raise ValueError(f"x must have n_models = {self.n_models} rows along axis 0 when per_model, "
                             f"got shape {tuple(x.shape)}")
        return torch.vmap(fn, in_dims=(0, 0, 0 if per_model else None), randomness="different")(params, buffers, x)

    def forward(self, x: torch.Tensor, *, per_model: bool | None = None, **kwargs) -> torch.Tensor:
        """Every copy's output on ``x`` (shared, or one slice per copy), stacked: ``(n_models, ...)``."""
        base = self.base

        def one(p, b, xi):
            return functional_call(base, (p, b), (xi,), kwargs)
        return self._call(one, x, per_model)

    def member(self, i: int) -> nn.Module:
        """Copy ``i`` as a plain module of the members' class (a copy, on the ensemble's device)."""
        i = _checks.integer("i", i, lo=0, hi=self.n_models - 1)
        params, buffers = self.stacked()
        module = copy.deepcopy(self.base).to_empty(device=self.params[0].device)
        state = {k: v[i].detach().clone() for k, v in {**params, **buffers}.items()}
        module.load_state_dict(state)
        return module

    def n_params(self) -> int:
        """Trainable parameters of one member."""
        return sum(p[0].numel() for p in self.params)

    def extra_repr(self) -> str:
        return f"n_models={self.n_models}, member={type(self.base).__name__}"
