"""What every sweep point of the book shares: its config split into what is computed and how it trains.

A point's ``config`` is one flat dict of plain values (the cache key of :mod:`skillkit.sweeps`). Its
keys are the fields of the experiment's frozen dataclass (task, model, ensemble) and the training
hyper-parameters of :class:`skillkit.train.TrainConfig` listed in :data:`TRAIN_KEYS`. :meth:`Point.of`
splits and validates it: unknown keys are a ``ValueError``, missing ones take the experiment's defaults
(its dataclass defaults, and ``TRAIN_DEFAULTS`` over :class:`~skillkit.train.TrainConfig`'s).
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass

from ..data import MultitaskSparseParity
from ..train import TrainConfig

__all__ = ["Point", "ParityPoint", "TRAIN_KEYS"]

#: the TrainConfig fields a sweep config may set (seed is the point's data seed, see Point.data_key)
TRAIN_KEYS = ("steps", "batch", "lr", "optimizer", "momentum", "weight_decay", "D", "lr_halve_every",
              "log_every", "probe_n")


class Point:
    """Mixin of the experiments' frozen dataclasses: :meth:`of` and :meth:`full`."""

    #: TrainConfig fields this experiment defaults differently (the one source of its defaults)
    TRAIN_DEFAULTS: dict = {}

    def data_key(self) -> int:
        """The seed of the data streams (``TrainConfig.seed``); by default the point's ``seed``."""
        return self.seed

    @classmethod
    def of(cls, config: dict):
        """``(point, train_config)`` of a sweep config; a ValueError for unknown keys or bad values."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(config) - names - set(TRAIN_KEYS)
        if unknown:
            raise ValueError(f"config has unknown keys {sorted(unknown)}; allowed: {sorted(names | set(TRAIN_KEYS))}")
        own = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items() if k in names}
        point = cls(**own)
        train = {**cls.TRAIN_DEFAULTS, **{k: v for k, v in config.items() if k in TRAIN_KEYS}}
        return point, TrainConfig(seed=point.data_key(), **train)

    @classmethod
    def full(cls, config: dict) -> dict:
        """Every value the point uses, defaults filled in: its own fields and the training fields."""
        point, train = cls.of(config)
        return {**dataclasses.asdict(point), **{k: getattr(train, k) for k in TRAIN_KEYS}}


@dataclass(frozen=True)
class ParityPoint(Point):
    """A point trained on multitask sparse parity: the task's fields (``n_skills``, ``alpha``, ``S``,
    ``n_bits``, ``k`` relevant bits per skill, ``task_seed`` placing them) and :meth:`task`."""

    n_skills: int = 1
    alpha: float = 0.6
    S: float = 5.0
    n_bits: int = 32
    k: int = 3
    task_seed: int = 0

    def task(self, device="cpu") -> MultitaskSparseParity:
        """The task of these fields, sampling on ``device``."""
        return MultitaskSparseParity(n_skills=self.n_skills, n_bits=self.n_bits, k=self.k, alpha=self.alpha,
                                     S=self.S, seed=self.task_seed, device=device)
