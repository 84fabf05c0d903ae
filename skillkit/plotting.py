"""One figure style for the book, and the standard "R_k/S against a resource" figure.

Theory is drawn solid, measurement dashed with its spread shaded. Imports no other skillkit module.
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["style", "skill_colors", "emergence_plot", "glue"]

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.4, 4.0),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.size": 10,
}


def style() -> None:
    """Apply the book's matplotlib style (modest DPI keeps the committed notebooks small)."""
    mpl.rcParams.update(STYLE)


def skill_colors(n: int):
    """``n`` distinguishable colours, most frequent skill darkest."""
    cmap = plt.get_cmap("viridis")
    return [cmap(x) for x in np.linspace(0.0, 0.85, n)] if n > 1 else [cmap(0.0)]


def emergence_plot(ax, resource, theory=None, measured=None, spread=None, *, xlabel: str,
                   log_x: bool = True, labels=None, theory_resource=None):
    """Draw R_k/S against a resource for every skill: theory solid, measurement dashed ± spread.

    ``theory``: (n_points, n_skills) on ``theory_resource`` (default: ``resource``);
    ``measured`` and ``spread`` (one s.d.): (n_points, n_skills) on ``resource``.
    """
    arrays = [a for a in (theory, measured) if a is not None]
    if not arrays:
        raise ValueError("emergence_plot needs theory or measured values")
    n_skills = np.asarray(arrays[0]).shape[1]
    colors = skill_colors(n_skills)
    labels = labels or [f"skill {k + 1}" for k in range(n_skills)]
    xr = np.asarray(resource)
    xt = xr if theory_resource is None else np.asarray(theory_resource)
    for k in range(n_skills):
        if theory is not None:
            ax.plot(xt, np.asarray(theory)[:, k], "-", color=colors[k], lw=1.8,
                    label=f"{labels[k]} (model)")
        if measured is not None:
            m = np.asarray(measured)[:, k]
            ax.plot(xr, m, "--", color=colors[k], lw=1.4,
                    label=f"{labels[k]} (network)" if theory is None or k == 0 else None)
            if spread is not None:
                s = np.asarray(spread)[:, k]
                ax.fill_between(xr, m - s, m + s, color=colors[k], alpha=0.2, lw=0)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"skill strength $R_k/S$")
    ax.set_ylim(-0.05, 1.1)
    ax.legend(fontsize=8, ncol=2)
    return ax


def glue(name: str, fig) -> None:
    """Store ``fig`` under ``name`` so another page of the book can show it (MyST-NB glue).

    The landing page shows the headline figure of a chapter this way, so the figure is the one the
    chapter computed. Where MyST-NB is not installed (on Colab, say) this does nothing.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, fig, display=False)
