"""Calibration fits recover known constants from synthetic curves; threshold crossings are exact."""
import numpy as np
import pytest

from skillkit import calibrate, multilinear


def test_fit_time_recovers_B2_and_R0():
    S, lr, B2, R0 = 5.0, 0.02, 1 / 22, 2e-4
    T = np.arange(0, 3000, 25.0)
    y = multilinear.strength_time(T, 1.0, B2, S=S, R0=R0, lr=lr, convention="mse") / S
    fit = calibrate.fit_time(T, y, S=S, lr=lr)
    assert fit.name == "B2"
    assert abs(fit.value - B2) < 1e-6 and abs(fit.extra["R0"] / R0 - 1) < 1e-4
    # noise: the estimate is within 4 of its own standard errors, and the error bar is not tiny
    rng = np.random.default_rng(0)
    noisy = calibrate.fit_time(T, y + 0.02 * rng.standard_normal(T.size), S=S, lr=lr)
    assert abs(noisy.value - B2) < 4 * noisy.stderr and noisy.stderr > 1e-5
    # the convention matters: fitted with "half", B2 doubles
    half = calibrate.fit_time(T, y, S=S, lr=lr, convention="half")
    assert abs(half.value / fit.value - 2) < 1e-5


def test_fit_time_with_fixed_R0():
    S, lr, B2, R0 = 5.0, 0.02, 0.07, 1e-3
    T = np.linspace(0, 2000, 60)
    y = multilinear.strength_time(T, 0.6, B2, S=S, R0=R0, lr=lr, convention="mse") / S
    fit = calibrate.fit_time(T, y, p=0.6, S=S, lr=lr, R0=R0)
    assert abs(fit.value / B2 - 1) < 1e-6 and fit.extra["R0"] == R0


@pytest.mark.parametrize("form,average", [("eq17", "expected"), ("projection", "expected"), ("eq17", "binomial")])
def test_fit_data_recovers_Dc(form, average):
    D = np.arange(100, 2001, 100)
    y = multilinear.strength_data(D, 1.0 if average == "expected" else 0.7, 800.0, form=form, average=average)
    fit = calibrate.fit_data(D, y, p=1.0 if average == "expected" else 0.7, form=form, average=average)
    assert abs(fit.value / 800 - 1) < 1e-3


def test_fit_width_recovers_Nc():
    N = np.arange(1, 13)
    for Nc in (2.0, 4.0, 3.3):
        fit = calibrate.fit_width(N, multilinear.strength_width(N, 0, Nc), k=0)
        assert abs(fit.value / Nc - 1) < 1e-4
    # second skill
    fit = calibrate.fit_width(N, multilinear.strength_width(N, 1, 4.0), k=1)
    assert abs(fit.value - 4.0) < 1e-4


def test_fit_seeds_mean_and_sd():
    T = np.arange(0, 3000, 25.0)
    B2s = np.array([0.04, 0.05, 0.045])
    Y = np.stack([multilinear.strength_time(T, 1.0, b, S=5.0, R0=1e-3, lr=0.02, convention="mse") / 5 for b in B2s])
    sf = calibrate.fit_seeds(calibrate.fit_time, T, Y, S=5.0, lr=0.02)
    np.testing.assert_allclose(sf.values, B2s, rtol=1e-5)
    assert abs(sf.mean - B2s.mean()) < 1e-6 and abs(sf.sd - B2s.std(ddof=1)) < 1e-6


def test_crossing_exact_on_sigmoid():
    """A sigmoid symmetric in log x about x0, with x0 halfway (in log) between two grid points: the
    log-interpolated 0.5 crossing is exactly x0; on a fine grid any threshold is close to the inverse."""
    x = np.geomspace(10, 1e4, 31)
    x0 = np.sqrt(x[12] * x[13])
    y = 1 / (1 + (x / x0) ** -3.0)
    assert abs(calibrate.crossing(x, y) / x0 - 1) < 1e-12
    xf = np.geomspace(10, 1e4, 2001)
    yf = 1 / (1 + (xf / x0) ** -3.0)
    for thr in (0.05, 0.3, 0.9):
        want = x0 * (thr / (1 - thr)) ** (1 / 3)
        assert abs(calibrate.crossing(xf, yf, thr) / want - 1) < 1e-4
    # linear interpolation on a straight line is exact
    assert abs(calibrate.crossing(np.arange(5.0), np.arange(5.0) / 4, 0.3, log=False) - 1.2) < 1e-12


def test_crossing_edge_cases_and_batch():
    x = np.array([1.0, 2.0, 4.0])
    assert np.isnan(calibrate.crossing(x, [0.0, 0.1, 0.2]))
    assert calibrate.crossing(x, [0.6, 0.7, 0.8]) == 1.0
    # first crossing, not the last
    assert calibrate.crossing(x, [0.0, 1.0, 0.0]) == pytest.approx(np.sqrt(2.0))
    Y = np.stack([np.array([0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0])], axis=1)   # (n_points, n_skills)
    np.testing.assert_allclose(calibrate.crossings(x, Y), [np.sqrt(2.0), np.sqrt(8.0)])


@pytest.mark.parametrize("call,name", [
    (lambda: calibrate.fit_time([0, 1], [0.1], S=1.0), "R_over_S"),
    (lambda: calibrate.fit_time([0, 1, 2], [0.1, 0.5, 0.9], convention="x"), "convention"),
    (lambda: calibrate.fit_time([0, 1, 2], [0.1, 0.5, 0.9], lr=0), "lr"),
    (lambda: calibrate.fit_data([0, 1], [0.1, 0.2]), "D"),
    (lambda: calibrate.fit_width([1, 2], [0.1, 0.2], k=-1), "k"),
    (lambda: calibrate.crossing([2.0, 1.0], [0.0, 1.0]), "increasing"),
    (lambda: calibrate.crossing([0.0, 1.0], [0.0, 1.0]), "x"),
])
def test_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_train_point_shapes_and_determinism():
    cfg = dict(n_skills=2, widths=[3, 5], steps=20, batch=64, log_every=10, probe_n=64, lr=0.05)
    a = calibrate.train_point(cfg)
    b = calibrate.train_point(cfg)
    R = np.asarray(a["R"])
    assert R.shape == (3, 2, 2) and list(a["steps"]) == [0, 10, 20] and a["widths"] == [3, 5]
    np.testing.assert_array_equal(R, np.asarray(b["R"]))
    with pytest.raises(ValueError, match="unknown keys"):
        calibrate.train_point(dict(cfg, widht=3))


@pytest.mark.parametrize("scale", ["ci", "default", "paper"])
def test_grids_are_valid_configs(scale):
    from skillkit.train import TrainConfig
    for grids in (calibrate.calibration_grids(scale), calibrate.emergence_grids(scale)):
        for configs in grids.values():
            for c in configs:
                assert set(c) <= set(calibrate.NETWORK_DEFAULTS)
                full = {**calibrate.NETWORK_DEFAULTS, **c}
                n = len(full["widths"]) if isinstance(full["widths"], list) else full["n_models"]
                TrainConfig(steps=full["steps"], batch=full["batch"], lr=full["lr"], optimizer=full["optimizer"],
                            weight_decay=full["weight_decay"], D=full["D"], lr_halve_every=full["lr_halve_every"],
                            log_every=full["log_every"], probe_n=full["probe_n"]).validate(n)


def test_convergence_is_the_change_over_the_last_third():
    steps = np.arange(0, 36001, 3000)
    R = np.zeros((steps.size, 2, 3))
    R[:, 0, 0] = steps / 36000                       # still rising: 1 - 24/36
    R[:, 1, 2] = np.minimum(steps / 12000, 1.0)      # plateau from 12k on
    d = calibrate.convergence({"steps": steps, "R": R})
    np.testing.assert_allclose(d, [[1 / 3, 0, 0], [0, 0, 0]], atol=1e-12)
    with pytest.raises(ValueError, match="frac"):
        calibrate.convergence({"steps": steps, "R": R}, frac=1.5)
    with pytest.raises(ValueError, match="too few logs"):
        calibrate.convergence({"steps": np.array([0, 10]), "R": R[:2]}, frac=0.1)


def test_json_ready_writes_null_for_nan_and_keeps_numbers():
    import json
    obj = {"a": np.array([1.0, np.nan, np.inf]), "b": np.float64(2.5), "c": [np.int64(3), None, "x", True],
           "d": (float("nan"),)}
    out = calibrate.json_ready(obj)
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == {"a": [1.0, None, None], "b": 2.5, "c": [3, None, "x", True], "d": [None]}
    with pytest.raises(ValueError, match="cannot be stored"):
        calibrate.json_ready({"f": object()})
