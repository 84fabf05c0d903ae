"""skillkit.experiments: sweep points as functions of their config alone, per-scale grids, result reshaping."""
import numpy as np
import pytest

from skillkit.experiments import emergence
from skillkit.train import TrainConfig


def test_train_point_shapes_and_determinism():
    cfg = dict(n_skills=2, widths=[3, 5], steps=20, batch=64, log_every=10, probe_n=64, lr=0.05)
    a = emergence.mlp_point(cfg, device="cpu", progress=False)
    b = emergence.mlp_point(cfg, device="cpu", progress=False)
    R = np.asarray(a["R_over_S"])
    assert R.shape == (3, 2, 2) and list(a["steps"]) == [0, 10, 20] and a["widths"] == [3, 5]
    np.testing.assert_array_equal(R, np.asarray(b["R_over_S"]))
    with pytest.raises(ValueError, match=r"^config has unknown keys \['widht'\]"):
        emergence.mlp_point(dict(cfg, widht=3), device="cpu")


@pytest.mark.parametrize("scale", ["ci", "default", "paper"])
def test_grids_are_valid_configs(scale):
    """Every grid point is a valid MLPPoint whose training config validates."""
    for grids in (emergence.calibration_grids(scale), emergence.emergence_grids(scale)):
        for configs in grids.values():
            for c in configs:
                point, train = emergence.MLPPoint.of(c)
                assert isinstance(train, TrainConfig) and train.seed == point.seed


def test_convergence_is_the_change_over_the_last_third():
    steps = np.arange(0, 36001, 3000)
    R = np.zeros((steps.size, 2, 3))
    R[:, 0, 0] = steps / 36000                       # still rising: 1 - 24/36
    R[:, 1, 2] = np.minimum(steps / 12000, 1.0)      # plateau from 12k on
    d = emergence.convergence({"steps": steps, "R_over_S": R})
    np.testing.assert_allclose(d, [[1 / 3, 0, 0], [0, 0, 0]], atol=1e-12)
    with pytest.raises(ValueError, match=r"^frac must lie in"):
        emergence.convergence({"steps": steps, "R_over_S": R}, frac=1.5)
    with pytest.raises(ValueError, match=r"^the run has too few logs"):
        emergence.convergence({"steps": np.array([0, 10]), "R_over_S": R[:2]}, frac=0.1)


def test_point_defaults_are_the_ones_the_cached_configs_were_hashed_with():
    """Missing keys of a cached config mean these values (chapter 5's configs omit them)."""
    full = emergence.MLPPoint.full({})
    assert {k: full[k] for k in ("n_skills", "alpha", "S", "n_bits", "k", "task_seed", "widths", "init_std",
                                 "n_models", "seed", "steps", "batch", "lr", "optimizer", "weight_decay", "D",
                                 "lr_halve_every", "log_every", "probe_n")} == dict(
        n_skills=1, alpha=0.6, S=5.0, n_bits=32, k=3, task_seed=0, widths=128, init_std=0.01, n_models=1, seed=0,
        steps=1000, batch=1000, lr=0.02, optimizer="sgd", weight_decay=0.0, D=None, lr_halve_every=None,
        log_every=100, probe_n=4000)
    with pytest.raises(ValueError, match=r"^lr must lie in \(0, inf\)"):
        emergence.MLPPoint.of({"lr": 0})

