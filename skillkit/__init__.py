"""skillkit: the helper package of the book *Emergence and scaling laws in multitask sparse parity*.

A reproduction of Nam, Fonseca, Lee, Mingard & Louis (NeurIPS 2024). One job per module:
``config`` (device, scale, seeds), ``data`` (the task and its skill basis), ``multilinear`` (the solvable
model), ``theory`` (exponents), ``scaling`` (power-law fits), ``measure`` (skill strengths).
"""
from . import config, data, measure, multilinear, plotting, scaling, theory
from .config import by_scale, setup

__version__ = "0.1.0"
__all__ = ["setup", "by_scale", "config", "data", "multilinear", "theory", "scaling", "measure", "plotting"]
