"""The MLP experiments of chapters 5 and 6 (Sec. 5 and 6 of the paper): the sweep point, its grids per
scale, the wiring from results to the calibration fits, and the App. G toy.

:func:`mlp_point` is one sweep point: an ensemble of 2-layer ReLU MLPs (:class:`skillkit.models.MLPEnsemble`)
trained by :func:`skillkit.train.train` on multitask sparse parity. Its ``config`` holds what is
computed (plain values, the fields of :class:`MLPPoint`; the cache key of :mod:`skillkit.sweeps`); the
device and the progress bar are run settings that :func:`skillkit.sweeps.run` passes and never hashes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import _checks, calibrate
from ..config import by_scale, get_scale
from ..data import skill_probs
from ..models import MLPEnsemble, WeightSharedParityNet
from ..simulate import gradient_descent
from ..train import train
from .point import ParityPoint

__all__ = ["MLPPoint", "mlp_point", "calibration_grids", "emergence_grids", "time_curves", "final_by_resource",
           "final_by_width", "fit_calibration", "convergence", "train_toy_modes"]


@dataclass(frozen=True)
class MLPPoint(ParityPoint):
    """What one :func:`mlp_point` computes; with ``TRAIN_DEFAULTS``, the one source of its defaults.

    The task (the fields of :class:`~skillkit.experiments.point.ParityPoint`) and the ensemble (``widths``: one int for ``n_models`` models or a list with one width
    per model; ``init_std``; seeds ``seed, seed + 1, ...``, which also key the data streams). The
    training keys are those of :data:`skillkit.experiments.point.TRAIN_KEYS`.
    """

    TRAIN_DEFAULTS = dict(steps=1000, batch=1000, lr=0.02, log_every=100, probe_n=4000)

    widths: int | tuple = 128
    init_std: float = 0.01
    n_models: int = 1
    seed: int = 0


def mlp_point(config: dict, *, device="cpu", progress: bool = True) -> dict:
    """Train one ensemble of 2-layer ReLU MLPs on multitask sparse parity; return its R_k/S log.

    ``config``: the keys of :class:`MLPPoint` that differ from its defaults. ``device`` and
    ``progress`` say where and how it runs, not what it computes. Returns a JSON-ready dict with
    ``steps`` (n_logs,), ``R_over_S`` (n_logs, n_models, n_skills), ``widths`` and ``seconds``.
    """
    c, cfg = MLPPoint.of(config)
    task = c.task(device)
    n_models = len(c.widths) if isinstance(c.widths, tuple) else c.n_models
    net = MLPEnsemble(n_models, task.dim, list(c.widths) if isinstance(c.widths, tuple) else c.widths,
                      init_std=c.init_std, seed=c.seed, device=device)
    res = train(net, task, cfg, progress=progress)
    return {"steps": res.steps, "R_over_S": np.round(res.R_over_S, 5), "widths": list(net.widths),
            "seconds": res.seconds}


# ----- the experiments of chapters 5 and 6, per scale ----------------------------------------------
def _base(scale):
    return dict(widths=by_scale(16, 128, 1000, scale=scale), batch=by_scale(200, 1000, 4000, scale=scale),
                probe_n=by_scale(500, 4000, 20000, scale=scale))


def calibration_grids(scale: str | None = None) -> dict:
    """Sweep configs (lists of :func:`mlp_point` configs) of the n_s = 1 calibration (Fig. 11), per scale.

    ``time``: SGD, lr 0.02, init 0.01, fresh batches (the paper code's Fig. 1a/11a settings);
    ``data``: SGD, lr 0.05, init 0.01, one training set of size D per point;
    ``width``: Adam, lr 0.01, init 0.05, weight decay 5e-4 (the code's ``train_parameter.py`` decay), widths
    1..12 in one masked ensemble; ``time_paper_size``: the time runs at the paper's width 1000 and batch
    4000. ``paper`` uses width 1000, batch 4000 and the paper's seeds.
    """
    scale = get_scale(scale)
    b = _base(scale)
    time_cfg = dict(b, n_skills=1, lr=0.02, init_std=0.01, n_models=by_scale(3, 8, 50, scale=scale),
                    steps=by_scale(400, 4000, 5000, scale=scale), log_every=by_scale(20, 50, 50, scale=scale))
    Ds = by_scale([100, 400, 1600], [200, 300, 400, 500, 600, 800, 1000, 1400, 2000],
                  list(range(100, 2001, 100)), scale=scale)
    data_cfgs = [dict(b, n_skills=1, lr=0.05, init_std=by_scale(0.01, 0.01, 0.001, scale=scale), D=D,
                      batch=by_scale(200, 1000, 2000, scale=scale), n_models=by_scale(2, 3, 10, scale=scale),
                      steps=by_scale(300, 4000, 30000, scale=scale), log_every=by_scale(100, 1000, 5000, scale=scale))
                 for D in Ds]
    widths = by_scale([1, 2, 4, 8], list(range(1, 13)), list(range(1, 13)), scale=scale)
    n_w = by_scale(2, 4, 10, scale=scale)
    width_cfg = dict(b, n_skills=1, optimizer="adam", lr=0.01, init_std=0.05, weight_decay=5e-4,
                     widths=[w for w in widths for _ in range(n_w)], steps=by_scale(300, 6000, 50000, scale=scale),
                     log_every=by_scale(100, 500, 5000, scale=scale))
    # the time calibration once more at the paper's width and batch (1000, 4000), to see what they change
    time_big = dict(time_cfg, widths=by_scale(32, 1000, 1000, scale=scale), batch=by_scale(400, 4000, 4000, scale=scale),
                    n_models=by_scale(2, 4, 50, scale=scale), steps=by_scale(200, 2500, 5000, scale=scale))
    return {"time": [time_cfg], "data": data_cfgs, "width": [width_cfg], "time_paper_size": [time_big]}


def emergence_grids(scale: str | None = None) -> dict:
    """Sweep configs of the n_s = 5, alpha = 0.6 prediction (Fig. 1) and of the out-of-sample setting.

    Same optimiser settings per resource as :func:`calibration_grids`. ``width_N10``: ten seeds at width
    N = 10 with the width panel's settings (the paper's Table 5). ``oos_time``: alpha = 0.3 and
    n_s = 8, a setting the paper did not run, on the time axis. ``control_rate`` / ``control_noise``: one
    skill trained with learning rate 0.02 P_s(5) (the rate the model gives skill 5 of the main setting),
    with the full batch / with the P_s(5) share of it that skill 5 actually gets.
    """
    scale = get_scale(scale)
    b = _base(scale)
    common = dict(b, n_skills=5, alpha=0.6)
    time_cfg = dict(common, lr=0.02, init_std=0.01, n_models=by_scale(2, 4, 10, scale=scale),
                    steps=by_scale(500, 40000, 30000, scale=scale), log_every=by_scale(50, 100, 50, scale=scale))
    Ds = by_scale([500, 2000, 8000], [1500, 3000, 6000, 10000, 15000, 22000],
                  [500, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000, 13000,
                   14000, 15000, 20000, 25000, 30000, 35000], scale=scale)
    # default: a skill whose count d_k = D P_s(k) sits near its threshold is learned slowly on a fixed
    # training set (after 12,000 steps skills 3-5 were still rising at D >= 6000), so every point trains
    # for 36,000 steps; chapter 6 prints the change of R_k over the last third of every run
    data_cfgs = [dict(common, lr=0.05, init_std=by_scale(0.01, 0.01, 0.001, scale=scale), D=D,
                      batch=by_scale(200, 1000, 2000, scale=scale), n_models=by_scale(1, 2, 10, scale=scale),
                      steps=by_scale(300, 36000, 100000, scale=scale), log_every=by_scale(100, 3000, 5000, scale=scale),
                      lr_halve_every=by_scale(None, None, 50000, scale=scale))
                 for D in Ds]
    widths = by_scale([1, 4, 8, 16], [1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24], list(range(1, 25)), scale=scale)
    n_w = by_scale(1, 2, 10, scale=scale)
    width_cfg = dict(common, optimizer="adam", lr=0.01, init_std=0.05, weight_decay=5e-4,
                     widths=[w for w in widths for _ in range(n_w)], steps=by_scale(300, 20000, 100000, scale=scale),
                     log_every=by_scale(100, 2500, 5000, scale=scale))
    # Table 5 of the paper: R_k/S at width N = 10 over ten runs, with the width panel's settings
    table5_cfg = dict(width_cfg, widths=[by_scale(8, 10, 10, scale=scale)] * by_scale(2, 10, 10, scale=scale))
    oos_cfg = dict(b, n_skills=8, alpha=0.3, lr=0.02, init_std=0.01, n_models=by_scale(2, 2, 10, scale=scale),
                   steps=by_scale(500, 50000, 60000, scale=scale), log_every=by_scale(50, 200, 50, scale=scale))
    # controls for the rarest skill (chapter 6): one skill alone, with the rate the model gives skill 5
    # (lr * P_s(5)), first with the full batch, then with only the ~P_s(5) * batch samples skill 5 gets
    p5 = float(skill_probs(0.6, 5)[-1])
    control = dict(b, n_skills=1, lr=0.02 * p5, init_std=0.01, n_models=by_scale(2, 4, 10, scale=scale),
                   steps=by_scale(500, 40000, 40000, scale=scale), log_every=by_scale(50, 200, 50, scale=scale))
    control_noise = dict(control, batch=max(1, round(p5 * b["batch"])))
    return {"time": [time_cfg], "data": data_cfgs, "width": [width_cfg], "width_N10": [table5_cfg], "oos_time": [oos_cfg],
            "control_rate": [control], "control_noise": [control_noise]}


# ----- from sweep results to curves and constants ---------------------------------------------------
def time_curves(result: dict):
    """``steps`` (n_logs,) and ``R`` (n_logs, n_models, n_skills) of an :func:`mlp_point` result."""
    return np.asarray(result["steps"], dtype=float), np.asarray(result["R_over_S"], dtype=float)


def final_by_resource(results: list, configs: list, key: str = "D"):
    """End-of-training R_k/S of one point per resource value: ``x`` (n_x,), ``R`` (n_x, n_models, n_skills)."""
    x = np.array([c[key] for c in configs], dtype=float)
    return x, np.stack([np.asarray(r["R_over_S"], dtype=float)[-1] for r in results])


def final_by_width(result: dict):
    """End-of-training R_k/S of a masked width ensemble: ``widths`` (n_w,), ``R`` (n_w, n_seeds, n_skills)."""
    w = np.asarray(result["widths"])
    R = np.asarray(result["R_over_S"], dtype=float)[-1]
    uniq = np.unique(w)
    return uniq.astype(float), np.stack([R[w == u] for u in uniq])


def fit_calibration(grids: dict, results: dict) -> dict:
    """All calibration fits of the n_s = 1 runs (:func:`calibration_grids` and their sweep results).

    Returns :class:`skillkit.calibrate.SeedFits` under ``"B2"`` (R0 fitted), ``"B2_fixed_R0"`` (R0 = :func:`skillkit.calibrate.mlp_R0`),
    ``"D_c"`` (Eq. 17), ``"D_c_projection"`` (R = S d/D_c) and ``"N_c"`` (Prop. 2).
    """
    out = {}
    tc, tcfg = MLPPoint.of(grids["time"][0])
    steps, R = time_curves(results["time"][0])
    Y = R[:, :, 0].T                                          # (n_seeds, n_logs)
    out["B2"] = calibrate.fit_seeds(calibrate.fit_time, steps, Y, S=tc.S, lr=tcfg.lr, convention="mse")
    out["B2_fixed_R0"] = calibrate.fit_seeds(calibrate.fit_time, steps, Y, S=tc.S, lr=tcfg.lr, convention="mse",
                                   R0=calibrate.mlp_R0(tc.init_std))
    D, RD = final_by_resource(results["data"], grids["data"], "D")
    out["D_c"] = calibrate.fit_seeds(calibrate.fit_data, D, RD[:, :, 0].T)
    out["D_c_projection"] = calibrate.fit_seeds(calibrate.fit_data, D, RD[:, :, 0].T, form="projection")
    N, RN = final_by_width(results["width"][0])
    out["N_c"] = calibrate.fit_seeds(calibrate.fit_width, N, RN[:, :, 0].T)
    return out


def convergence(result: dict, frac: float = 1 / 3):
    """Change of R_k/S over the last ``frac`` of a :func:`mlp_point` run: (n_models, n_skills).

    ``R(end) - R(log closest to (1 - frac) * steps)``; a plateau shows as values near 0. Used to
    check that end-of-training strengths stand for the T = infinity end state of the extended models.
    """
    frac = float(_checks.in_open_interval("frac", frac, 0.0, 1.0))
    steps, R = time_curves(result)
    i = int(np.argmin(np.abs(steps - (1 - frac) * steps[-1])))
    if i == steps.size - 1:
        raise ValueError(f"the run has too few logs to measure a change over its last {frac:.2f}")
    return R[-1] - R[i]


# ----- the width-3 weight-shared toy of App. G (Fig. 8) ---------------------------------------------
def train_toy_modes(*, S: float = 1.0, lr: float = 0.05, steps: int = 2000, n_models: int = 10,
                    init_std: float = 0.1, seed: int = 0, log_every: int = 5, progress: bool = True) -> dict:
    """Train :class:`skillkit.models.WeightSharedParityNet` (App. G / Fig. 8 of the paper; the
    construction is ours) on 3-bit parity and log each unit's mode strength.

    Full-batch gradient descent with step ``lr`` on the exact expectation over the 8 inputs of
    L = 1/2 E[(S g - f)^2] (the paper's Eq. 5 convention, so step t is time ``lr * t`` of gradient
    flow and ``skillkit.multilinear.strength`` with ``lr = lr * B2`` is the comparable model).
    ``n_models`` copies start from ``init_std |N(0, 1)|`` weights (seed ``seed``). Returns a dict with
    ``steps`` (n_logs,), ``modes`` (n_logs, n_models, 3) = R_i / S, ``R_over_S`` (n_logs, n_models) = E[g f]/S,
    ``loss`` (n_logs, n_models), and ``S``, ``lr``, ``shares``.
    """
    S = float(_checks.positive("S", S))
    lr = float(_checks.positive("lr", lr))
    steps = _checks.integer("steps", steps, lo=1)
    log_every = _checks.integer("log_every", log_every, lo=1)
    net = WeightSharedParityNet(n_models, init_std=init_std, seed=seed)
    x, g = net.inputs()
    y = S * g

    def loss():
        return 0.5 * ((y - net(x)) ** 2).mean(1).sum()           # the sum of the copies' losses

    def record():                                                # (n_models, 5): modes, R, loss
        f = net(x)
        return torch.cat([net.modes() / S, ((g * f).mean(1) / S)[:, None],
                          (0.5 * ((y - f) ** 2).mean(1))[:, None]], 1)

    steps_rec, rec = gradient_descent([net.w, net.c], loss, steps, lr=lr, record=record, record_every=log_every,
                                      progress=progress, desc="toy net")
    rec = rec.numpy()
    return {"steps": steps_rec.astype(float), "modes": rec[..., :3], "R_over_S": rec[..., 3], "loss": rec[..., 4],
            "S": S, "lr": lr, "shares": np.asarray(WeightSharedParityNet.SHARES)}
