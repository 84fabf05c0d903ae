"""Device, scale and seeding for every notebook: ``cfg = skillkit.setup()``.

``SKILLKIT_DEVICE`` overrides the device (else cuda > mps > cpu); ``SKILLKIT_SCALE`` picks the size of
every experiment, one of ``ci`` (seconds, for the notebook checks), ``default`` (what the committed
outputs show, minutes on a laptop) and ``paper`` (the paper's own sizes, for a GPU).
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

SCALES = ("ci", "default", "paper")


def get_scale(scale: str | None = None) -> str:
    """The experiment scale: ``scale`` if given, else ``$SKILLKIT_SCALE``, else ``"default"``."""
    if scale is None:
        scale = os.environ.get("SKILLKIT_SCALE", "default") or "default"
    if scale not in SCALES:
        raise ValueError(f"SKILLKIT_SCALE (scale) must be one of {SCALES}, got {scale!r}")
    return scale


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else ``$SKILLKIT_DEVICE``, else the best available of cuda > mps > cpu."""
    if device is None:
        device = os.environ.get("SKILLKIT_DEVICE") or None
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"SKILLKIT_DEVICE (device) must name a torch device such as 'cpu' or 'cuda', got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"SKILLKIT_DEVICE (device) asks for {device!r} but CUDA is not available here")
    return dev


def by_scale(ci, default, paper=None, *, scale: str | None = None):
    """Choose a value per scale: ``by_scale(ci=100, default=20_000, paper=30_000)``.

    ``paper`` falls back to ``default`` when not given.
    """
    scale = get_scale(scale)
    if scale == "ci":
        return ci
    if scale == "paper" and paper is not None:
        return paper
    return default


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (all devices)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


@dataclass(frozen=True)
class Config:
    """What ``setup()`` chose: the torch device, the scale and the seed."""

    device: torch.device
    scale: str
    seed: int

    def pick(self, ci, default, paper=None):
        """``by_scale`` at this config's scale."""
        return by_scale(ci, default, paper, scale=self.scale)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A torch generator on this device, seeded with ``seed + offset``."""
        return torch.Generator(device=self.device).manual_seed(self.seed + offset)


def setup(seed: int = 0, *, scale: str | None = None, device: str | torch.device | None = None,
          verbose: bool = True) -> Config:
    """Pick the device and scale, seed every generator, print one line; return a :class:`Config`.

    The printed line (``device: cpu | scale: default``) is what the notebook checks sanitise.
    """
    cfg = Config(device=pick_device(device), scale=get_scale(scale), seed=int(seed))
    seed_everything(cfg.seed)
    if verbose:
        print(f"device: {cfg.device.type} | scale: {cfg.scale}")
    return cfg
