"""skillkit: the helper package of the book *Emergence and scaling laws in multitask sparse parity*.

A reproduction of Nam, Fonseca, Lee, Mingard & Louis (NeurIPS 2024), one job per module. Imports flow
one way, bottom to top, with no cycles:

- bottom: ``config`` (device, scale, seeds: ``setup``, ``by_scale``), ``_checks`` (input validation),
  ``zipf`` (the power law over skills, Eq. 1);
- numpy side (imports only the bottom and itself): ``multilinear`` (the solvable model's closed forms),
  ``variants`` (linear, unbalanced and deep versions), ``extended`` (the calibrated models of Sec. 5),
  ``theory`` (exponents, prefactors, tail loss), ``scaling`` (power-law fits);
- ``data``: the tasks and the counter-based sampler that feeds every network;
- ``measure`` (R_k by projection, emergence times, censored summaries) and ``models`` (the networks);
  ``simulate`` (gradient descent on the solvable models);
- ``train``: the one training loop; ``calibrate``: the fits of the extended models (numpy/scipy);
- ``experiments``: sweep points and per-scale grids, one module per part of the book;
- apart: ``sweeps`` (grids, config hashes, the JSON cache, executors) and ``plotting`` (the style),
  which import no other skillkit module.
"""
from . import config, data, measure, multilinear, plotting, scaling, theory
from .config import by_scale, setup

__version__ = "0.1.0"
__all__ = ["setup", "by_scale", "config", "data", "multilinear", "theory", "scaling", "measure", "plotting"]
