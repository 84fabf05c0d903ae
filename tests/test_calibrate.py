"""Calibration fits recover known constants from synthetic curves, with standard errors that mean something."""
import numpy as np
import pytest

from skillkit import calibrate, extended


def test_fit_time_recovers_B2_and_R0():
    S, lr, B2, R0 = 5.0, 0.02, 1 / 22, 2e-4
    T = np.arange(0, 3000, 25.0)
    y = extended.strength_time(T, 1.0, B2, S=S, R0=R0, lr=lr, convention="mse") / S
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
    y = extended.strength_time(T, 0.6, B2, S=S, R0=R0, lr=lr, convention="mse") / S
    fit = calibrate.fit_time(T, y, p=0.6, S=S, lr=lr, R0=R0)
    assert abs(fit.value / B2 - 1) < 1e-6 and fit.extra["R0"] == R0


@pytest.mark.parametrize("form,average", [("eq17", "expected"), ("projection", "expected"), ("eq17", "binomial")])
def test_fit_data_recovers_Dc(form, average):
    D = np.arange(100, 2001, 100)
    y = extended.strength_data(D, 1.0 if average == "expected" else 0.7, 800.0, form=form, average=average)
    fit = calibrate.fit_data(D, y, p=1.0 if average == "expected" else 0.7, form=form, average=average)
    assert abs(fit.value / 800 - 1) < 1e-3


def test_fit_width_recovers_Nc():
    N = np.arange(1, 13)
    for Nc in (2.0, 4.0, 3.3):
        fit = calibrate.fit_width(N, extended.strength_width(N, 0, Nc), skill=0)
        assert abs(fit.value / Nc - 1) < 1e-4
    # second skill
    fit = calibrate.fit_width(N, extended.strength_width(N, 1, 4.0), skill=1)
    assert abs(fit.value - 4.0) < 1e-4


def test_fit_seeds_mean_and_sd():
    T = np.arange(0, 3000, 25.0)
    B2s = np.array([0.04, 0.05, 0.045])
    Y = np.stack([extended.strength_time(T, 1.0, b, S=5.0, R0=1e-3, lr=0.02, convention="mse") / 5 for b in B2s])
    sf = calibrate.fit_seeds(calibrate.fit_time, T, Y, S=5.0, lr=0.02)
    np.testing.assert_allclose(sf.values, B2s, rtol=1e-5)
    assert abs(sf.mean - B2s.mean()) < 1e-6 and abs(sf.sd - B2s.std(ddof=1)) < 1e-6


@pytest.mark.parametrize("call,name", [
    (lambda: calibrate.fit_time([0, 1], [0.1], S=1.0), r"^T and R_over_S must have the same length"),
    (lambda: calibrate.fit_time([0, 1, 2], [0.1, 0.5, 0.9], convention="x"), r"^convention must be"),
    (lambda: calibrate.fit_time([0, 1, 2], [0.1, 0.5, 0.9], lr=0), r"^lr must lie in"),
    (lambda: calibrate.fit_data([0, 1], [0.1, 0.2]), r"^D must lie in"),
    (lambda: calibrate.fit_width([1, 2], [0.1, 0.2], skill=-1), r"^skill must be an integer"),
])
def test_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()
