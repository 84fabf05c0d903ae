"""Tests of skillkit.measure: skill strengths of known functions, and emergence times over seeds."""
import numpy as np
import pytest

from skillkit import measure
from skillkit.data import MultitaskSparseParity
from skillkit.measure import censored_quantile, emergence_table, emergence_times


def _logistic(steps, scale, R0=0.01):
    """R/S of the multilinear model: 1 / (1 + (1/R0 - 1) exp(-t / scale)), one column per scale."""
    t = np.asarray(steps, float)[:, None]
    return 1.0 / (1.0 + (1.0 / R0 - 1.0) * np.exp(-t / np.asarray(scale, float)[None, :]))


def _cross(scale, eps, R0=0.01):
    """Exact crossing time of _logistic at R/S = eps."""
    return scale * (np.log(1 / R0 - 1) - np.log(1 / eps - 1))


def test_skill_strengths_of_the_target_and_of_one_skill():
    task = MultitaskSparseParity(n_skills=4, n_bits=12, k=3, alpha=0.6, S=2.0, seed=0)
    target = lambda x: task.S * task.basis(x).sum(1)
    np.testing.assert_allclose(measure.skill_strengths(target, task, n=500), 2.0, atol=1e-12)
    only3 = lambda x: 0.7 * task.basis(x)[:, 2:3]                     # (n, 1) output is accepted
    np.testing.assert_allclose(measure.skill_strengths(only3, task, n=500), [0, 0, 0.7, 0], atol=1e-12)
    with pytest.raises(ValueError, match=r"^n must be"):
        measure.skill_strengths(target, task, n=0)


def test_emergence_times_interpolation_by_hand():
    steps = np.array([1.0, 2.0, 4.0, 8.0])
    R = np.array([0.0, 0.1, 0.3, 0.9])[:, None, None]                 # one seed, one skill
    # between steps 2 and 4, halfway in R: geometric mean 2 sqrt 2 in log(step), 3 in step
    assert emergence_times(steps, R, 0.2)[0, 0] == pytest.approx(2 * np.sqrt(2), rel=1e-12)
    assert emergence_times(steps, R, 0.2, log=False)[0, 0] == pytest.approx(3.0, rel=1e-12)
    assert emergence_times(steps, R, 0.0)[0, 0] == 1.0                # at or above from the start
    assert emergence_times(steps, R, 0.9)[0, 0] == pytest.approx(8.0, rel=1e-12)               # reached exactly at the last log
    assert np.isnan(emergence_times(steps, R, 0.95)[0, 0])            # never: censored


def test_exponent_of_synthetic_logistic_curves():
    """tau_k proportional to k^1.9 on a log grid of logs gives back exponent 1.9 at both thresholds."""
    steps = np.geomspace(1, 1e6, 3000)
    k = np.arange(1, 6)
    rng = np.random.default_rng(0)
    jitter = np.exp(rng.normal(0, 0.3, (4, 1)))                       # per-seed speed, same for all k
    scales = 50.0 * jitter * k ** 1.9                                  # (4 seeds, 5 skills)
    R = np.stack([_logistic(steps, s) for s in scales], axis=1)        # (n_logs, 4, 5)
    for eps in (0.05, 0.5):
        tab = emergence_table(steps, R, eps)
        np.testing.assert_allclose(tab.tau, _cross(scales, eps), rtol=1e-3)
        assert tab.fitted.all() and tab.n_emerged.tolist() == [4] * 5
        assert tab.exponent == pytest.approx(1.9, abs=2e-3)
        assert tab.exponent_stderr < 1e-2
        np.testing.assert_allclose(tab.per_seed, 1.9, atol=2e-3)
        assert tab.per_seed_seeds.tolist() == [0, 1, 2, 3]
        np.testing.assert_allclose(tab.median, np.median(tab.tau, 0))
    # a different law is told apart: exponent 1.5 is not 1.9
    R15 = np.stack([_logistic(steps, 50.0 * j * k ** 1.5) for j in jitter[:, 0]], axis=1)
    assert emergence_table(steps, R15).exponent == pytest.approx(1.5, abs=2e-3)


def test_never_emerged_seed_is_censored():
    steps = np.geomspace(1, 1e4, 800)
    k = np.arange(1, 6)
    scales = np.stack([10.0 * k ** 1.9 * f for f in (1.0, 1.2, 0.8)])
    R = np.stack([_logistic(steps, s) for s in scales], axis=1)
    R[:, 1, 4] = 0.0                                                  # seed 1 never learns skill 5
    tab = emergence_table(steps, R, 0.05)
    assert np.isnan(tab.tau[1, 4]) and np.isfinite(np.delete(tab.tau.ravel(), 9)).all()
    assert tab.n_emerged.tolist() == [3, 3, 3, 3, 2]
    # the censored seed sorts last: median of skill 5 is the larger of the two emerged seeds
    assert tab.median[4] == pytest.approx(np.nanmax(tab.tau[:, 4]))
    assert tab.q75[4] == np.inf and np.isfinite(tab.q25[4])
    assert tab.fitted.all()
    assert tab.per_seed_seeds.tolist() == [0, 2]                      # seed 1 lacks a fitted skill
    # two of three seeds censored: the median is undefined, skill 5 drops out of the fit
    R[:, 2, 4] = 0.0
    tab2 = emergence_table(steps, R, 0.05)
    assert tab2.median[4] == np.inf and not tab2.fitted[4]
    assert tab2.fit.n_points == 4 and tab2.per_seed_seeds.tolist() == [0, 1, 2]
    assert "never" in tab.report("x", alpha=0.9) and "n/a (1/3)" in tab2.report("x")
    # nothing emerges: no fit, no crash
    tab3 = emergence_table(steps, np.zeros_like(R), 0.05)
    assert tab3.fit is None and np.isnan(tab3.exponent) and not tab3.fitted.any()
    assert "no fit" in tab3.report("x")


def test_censored_quantile_against_numpy():
    a = np.array([[5.0, 1.0], [2.0, 7.0], [9.0, 3.0], [4.0, 4.0], [6.0, 8.0]])
    q = [0.25, 0.5, 0.75]
    np.testing.assert_allclose(censored_quantile(a, q), np.quantile(a, q, axis=0))
    np.testing.assert_allclose(censored_quantile(a.T, 0.5, axis=1), np.median(a, 0))
    # by hand: [1, 2, nan, 4] sorts as [1, 2, 4, inf]; q = 0.25 -> 1.75, 0.5 -> 3, 0.75 -> inf
    np.testing.assert_array_equal(censored_quantile([1.0, 2.0, np.nan, 4.0], q), [1.75, 3.0, np.inf])
    # zero weight on the censored entry keeps the quantile finite (np.quantile gives nan here)
    assert censored_quantile([1.0, 2.0, 3.0, 4.0, np.inf], 0.75) == 4.0
    with np.errstate(invalid="ignore"):
        assert np.isnan(np.quantile([1.0, 2.0, 3.0, 4.0, np.inf], 0.75))
    assert censored_quantile([np.nan, np.nan], 0.0) == np.inf


def test_bad_input():
    steps = np.array([1.0, 2.0, 3.0])
    R = np.zeros((3, 2, 4))
    with pytest.raises(ValueError, match=r"^steps must be finite and strictly increasing"):
        emergence_times(np.array([1.0, 3.0, 2.0]), R)
    with pytest.raises(ValueError, match=r"^steps must lie in \(0, inf\)"):
        emergence_times(np.array([0.0, 1.0, 2.0]), R)
    assert emergence_times(np.array([0.0, 1.0, 2.0]), R, log=False).shape == (2, 4)
    with pytest.raises(ValueError, match=r"^R_over_S must have shape"):
        emergence_times(steps, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"^R_over_S must have shape"):
        emergence_times(steps, np.zeros((4, 2, 4)))
    with pytest.raises(ValueError, match=r"^threshold must be a finite"):
        emergence_times(steps, R, np.nan)
    with pytest.raises(ValueError, match=r"^min_skills must be an integer in"):
        emergence_table(steps, R, min_skills=1)
    with pytest.raises(ValueError, match=r"^q must lie in \[0.0, 1.0\]"):
        censored_quantile([1.0, 2.0], 1.5)
    with pytest.raises(ValueError, match=r"^values must have at least 1 entry"):
        censored_quantile(np.zeros((0, 3)), 0.5)


def test_crossing_exact_on_sigmoid():
    """A sigmoid symmetric in log x about x0, with x0 halfway (in log) between two grid points: the
    log-interpolated 0.5 crossing is exactly x0; on a fine grid any threshold is close to the inverse."""
    x = np.geomspace(10, 1e4, 31)
    x0 = np.sqrt(x[12] * x[13])
    y = 1 / (1 + (x / x0) ** -3.0)
    assert abs(measure.crossing(x, y) / x0 - 1) < 1e-12
    xf = np.geomspace(10, 1e4, 2001)
    yf = 1 / (1 + (xf / x0) ** -3.0)
    for thr in (0.05, 0.3, 0.9):
        want = x0 * (thr / (1 - thr)) ** (1 / 3)
        assert abs(measure.crossing(xf, yf, thr) / want - 1) < 1e-4
    # linear interpolation on a straight line is exact
    assert abs(measure.crossing(np.arange(5.0), np.arange(5.0) / 4, 0.3, log=False) - 1.2) < 1e-12


def test_crossing_edge_cases_and_batch():
    x = np.array([1.0, 2.0, 4.0])
    assert np.isnan(measure.crossing(x, [0.0, 0.1, 0.2]))
    assert measure.crossing(x, [0.6, 0.7, 0.8]) == 1.0
    # first crossing, not the last
    assert measure.crossing(x, [0.0, 1.0, 0.0]) == pytest.approx(np.sqrt(2.0))
    Y = np.stack([np.array([0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0])], axis=1)   # (n_points, n_skills)
    np.testing.assert_allclose(measure.crossings(x, Y), [np.sqrt(2.0), np.sqrt(8.0)])


def test_crossing_bad_input():
    with pytest.raises(ValueError, match=r"^x must be strictly increasing"):
        measure.crossing([2.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"^x must lie in \(0, inf\)"):
        measure.crossing([0.0, 1.0], [0.0, 1.0])
