"""Scaling exponents of the multilinear model (Sec. 4, Table 4 of the paper). Numpy only."""
from __future__ import annotations

from . import _checks

__all__ = ["exponents"]


def exponents(alpha: float) -> dict[str, float]:
    """Loss exponents of the four bottlenecks (Table 4): L ∝ resource^exponent.

    time and data: -alpha/(alpha+1); parameters: -alpha; compute (C = N T): -alpha/(alpha+2).
    """
    a = float(_checks.positive("alpha", alpha))
    return {"time": -a / (a + 1), "data": -a / (a + 1), "params": -a, "compute": -a / (a + 2)}
