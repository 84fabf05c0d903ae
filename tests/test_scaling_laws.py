"""Scaling laws of the multilinear model (Sec. 4, App. D, E, J of the paper).

The exact loss is checked against an independent per-skill Python sum and against a Monte Carlo
over training sets; the prefactor integrals against a second quadrature and against the small-r
asymptotic of Prop. 7; the prefactors against the exact loss they summarise.
"""
import math

import numpy as np
import pytest
from scipy import special

from skillkit import multilinear, scaling, theory


def _per_skill_loss(alpha, n_skills, T, d=None, D=None, N=None, S=1.0, R0=0.01, lr=1.0):
    """The model's loss as a plain Python sum over skills (Eq. 12), nothing shared with multilinear."""
    norm = sum(j ** -(alpha + 1) for j in range(1, n_skills + 1))
    N = n_skills if N is None else N
    total = 0.0
    for k in range(1, n_skills + 1):
        P = k ** -(alpha + 1) / norm
        if k > N:
            total += P * 0.5 * S**2
            continue
        share = P if d is None else d[k - 1] / D
        if share == 0:
            R = R0
        elif math.isinf(T):
            R = S
        else:
            R = S / (1 + (S / R0 - 1) * math.exp(-2 * lr * share * S * T))
        total += P * 0.5 * (S - R) ** 2
    return total


@pytest.mark.parametrize("alpha,S,R0,lr", [(0.6, 1.0, 0.01, 1.0), (0.3, 5.0, 0.01, 0.5)])
def test_loss_equals_per_skill_python_sum(alpha, S, R0, lr):
    n = 40
    T = np.array([0.0, 0.7, 5.0, 60.0, 900.0, np.inf])
    for N in (None, 1, 17, n):
        got = multilinear.loss(alpha, n, T=T, N=N, S=S, R0=R0, lr=lr)
        want = [_per_skill_loss(alpha, n, t, N=N, S=S, R0=R0, lr=lr) for t in T]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_loss_finite_T_and_D_matches_monte_carlo_over_training_sets():
    alpha, n, D, S = 0.6, 12, 40, 1.0
    T = np.array([3.0, 30.0, 300.0, np.inf])
    rng = np.random.default_rng(0)
    P = multilinear.skill_probs(alpha, n)
    sets = rng.multinomial(D, P, size=3000)           # d_k of each sampled training set
    mc = np.array([[_per_skill_loss(alpha, n, t, d=d, D=D, S=S) for t in T] for d in sets])
    mean, sem = mc.mean(0), mc.std(0, ddof=1) / np.sqrt(len(sets))
    exact = multilinear.loss(alpha, n, T=T, D=D, S=S)
    assert np.all(np.abs(exact - mean) < 4 * sem + 1e-12), (exact, mean, sem)
    # and the finite-D loss is really different from the infinite-data one (the test can fail)
    assert np.all(np.abs(exact - multilinear.loss(alpha, n, T=T, S=S)) > 5 * sem)


@pytest.mark.parametrize("alpha", [0.3, 0.6, 0.9])
def test_time_integral_against_trapezoid_on_a_transformed_grid(alpha):
    # u = v^((alpha+1)/alpha) removes the u^(-1/(alpha+1)) singularity: the integrand becomes smooth
    for S, R0, lower in [(1.0, 0.01, 0.0), (5.0, 0.01, 0.0), (1.0, 0.01, 0.8), (1.0, 1e-4, 3.0)]:
        q = (alpha + 1) / alpha
        v = np.linspace(lower ** (1 / q), 40.0 ** (1 / q), 400_001)
        f = q * special.expit(np.log(S / R0 - 1) - 2 * v**q) ** 2
        trap = float(np.sum((f[1:] + f[:-1]) * np.diff(v)) / 2)
        assert theory.time_integral(alpha, S, R0, lower) == pytest.approx(trap, rel=1e-7)


def test_paper_time_constants_and_small_r_asymptotic():
    # the paper's code hard-codes 1.29, 1.20, 1.06 for zeta^(-1/(a+1)) I / (a+1) at S = 1, r = 0.01
    for alpha, paper in [(0.3, 1.29), (0.6, 1.20), (0.9, 1.06)]:
        c = theory.time_integral(alpha) * special.zeta(alpha + 1) ** (-1 / (alpha + 1)) / (alpha + 1)
        assert round(c, 2) == paper
        assert theory.prefactor_time(alpha) == pytest.approx(c / 2, rel=1e-12)
    # Prop. 7: relative error ~ 1/log(S/r), so it shrinks as r -> 0
    errs = []
    for R0 in (1e-10, 1e-40, 1e-160):
        full = 0.5 * theory.time_integral(0.6, 1.0, R0)
        errs.append(abs(theory.time_integral_small_r(0.6, 1.0, R0) / full - 1))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.01


@pytest.mark.parametrize("alpha", [0.3, 0.6, 0.9])
def test_prefactors_match_the_exact_loss(alpha):
    n = 200_000
    tail = 0.5 * special.zeta(alpha + 1, n + 1) / theory.zipf_norm(alpha, n)
    # time: exact loss (n_skills large) times T^(a/(a+1)) against A_T, with the finite-n correction
    T = np.array([300.0, 1000.0])
    L = multilinear.loss(alpha, n, T=T) + 0.99**2 * tail * 1.0
    A_T = theory.prefactor_time(alpha) * (theory.zipf_norm(alpha) / theory.zipf_norm(alpha, n)) ** (1 / (alpha + 1))
    np.testing.assert_allclose(L * T ** (alpha / (alpha + 1)), A_T, rtol=0.02)
    # data (T = inf)
    D = np.array([300, 1000])
    L = multilinear.loss(alpha, n, D=D) + 0.99**2 * tail
    A_D = theory.prefactor_data(alpha) * (theory.zipf_norm(alpha) / theory.zipf_norm(alpha, n)) ** (1 / (alpha + 1))
    np.testing.assert_allclose(L * D ** (alpha / (alpha + 1)), A_D, rtol=0.02)
    # parameters: Thm 1 with gamma = N/n, exact up to the Euler-Maclaurin correction O(1/N)
    N = np.array([300, 1000])
    L = multilinear.loss(alpha, n, N=N)
    A_N = np.array([theory.prefactor_params(alpha, gamma=x / n) for x in N])
    A_N *= theory.zipf_norm(alpha) / theory.zipf_norm(alpha, n)
    np.testing.assert_allclose(L * N**alpha, A_N, rtol=0.01)
    # the paper's S^2/2 approximation of A_N is a different number (so this check has teeth)
    assert abs(theory.prefactor_params(alpha) - 0.5) > 0.05


@pytest.mark.parametrize("alpha,S", [(0.6, 1.0), (0.9, 5.0)])
def test_compute_prefactor_is_the_minimum_of_the_exact_loss(alpha, S):
    C = 1e8
    opt = theory.compute_optimum(alpha, S=S)
    N = np.unique(np.geomspace(10, 30 * (S * C) ** (1 / (alpha + 2)), 200).astype(int))
    L = multilinear.loss(alpha, 2_000_000, T=C / N, N=N, S=S)
    i = int(np.argmin(L))
    assert L[i] * C ** (alpha / (alpha + 2)) == pytest.approx(opt["A_C"], rel=0.01)
    assert N[i] == pytest.approx(opt["N_coef"] * C ** (1 / (alpha + 2)), rel=0.15)


def test_finite_N_time_law_matches_the_exact_loss():
    T = np.logspace(2, 3.5, 7)
    for alpha in (0.1, 0.3):
        exact = multilinear.loss(alpha, 50_000, T=T)
        corrected = theory.time_law_finite_N(T, alpha, 50_000)
        pure = theory.prefactor_time(alpha) * T ** (-alpha / (alpha + 1))
        np.testing.assert_allclose(corrected, exact, rtol=3e-3)
        assert np.max(np.abs(pure / exact - 1)) > 0.1        # the correction is needed


def test_fitted_exponents_after_finite_size_correction():
    alpha, n = 0.3, 100_000
    e = theory.exponents(alpha)
    T = np.logspace(0, 4, 200)
    L_C = 0.99**2 * n ** (-alpha) / (2 * alpha * theory.zipf_norm(alpha, n))
    raw = scaling.fit_power_law(T, multilinear.loss(alpha, n, T=T), window=(30, 3000)).exponent
    fixed = scaling.fit_power_law(T, multilinear.loss(alpha, n, T=T) + L_C, window=(30, 3000)).exponent
    assert fixed == pytest.approx(e["time"], rel=0.01)
    assert abs(raw / e["time"] - 1) > 0.03


def test_prefactor_validation():
    with pytest.raises(ValueError, match=r"^alpha"):
        theory.prefactor_time(0.0)
    with pytest.raises(ValueError, match=r"^R0"):
        theory.prefactor_data(0.6, S=1.0, R0=1.5)
    with pytest.raises(ValueError, match=r"^gamma"):
        theory.prefactor_params(0.6, gamma=1.5)
    with pytest.raises(ValueError, match=r"^lam"):
        theory.time_params_profile(-1.0, 0.6)
    with pytest.raises(ValueError, match=r"^n_skills"):
        theory.time_law_finite_N(10.0, 0.6, 0)


def test_binomial_weights_equal_the_full_sum_over_counts():
    from scipy import stats
    P = multilinear.skill_probs(0.6, 60)
    for D in (1, 37, 500):
        d, w = multilinear._binomial_weights(P, D)
        full = np.array([np.sum(P * stats.binom.pmf(x, D, P)) for x in range(D + 1)])
        got = np.zeros(D + 1)
        got[d] = w
        np.testing.assert_allclose(got, full, rtol=0, atol=1e-15)
        assert got.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.3, 0.6, 0.9])
def test_tail_loss_is_the_left_out_sum(alpha):
    n, M = 1000, 1_000_000
    s = alpha + 1
    H_n = float(np.sum(np.arange(1, n + 1, dtype=float) ** -s))
    # the tail sum_{j > n} j^-s: explicit up to M, Euler-Maclaurin beyond (error ~ M^-(s+3))
    head = float(np.sum(np.arange(n + 1, M + 1, dtype=float) ** -s))
    rest = M ** (1 - s) / (s - 1) - M**-s / 2 + s * M ** (-s - 1) / 12
    for S, R0 in [(1.0, 0.0), (1.0, 0.01), (5.0, 0.5)]:
        want = 0.5 * (S - R0) ** 2 * (head + rest) / H_n
        assert theory.tail_loss(alpha, n, S, R0) == pytest.approx(want, rel=1e-9)
    # the paper's integral form S^2 A N^-alpha / (2 alpha) (Eq. 56) agrees to O(1/N)
    eq56 = n**-alpha / (2 * alpha * H_n)
    assert theory.tail_loss(alpha, n) == pytest.approx(eq56, rel=2 / n)
    assert abs(theory.tail_loss(alpha, n) / eq56 - 1) > 1e-5        # ... but is not the same number
    # consistency with the model: the parameter law of a longer list is the difference of two tails
    n2 = 4 * n
    H_n2 = theory.zipf_norm(alpha, n2)
    diff = (theory.tail_loss(alpha, n) * theory.zipf_norm(alpha, n) - theory.tail_loss(alpha, n2) * H_n2) / H_n2
    assert multilinear.loss(alpha, n2, N=n) == pytest.approx(diff, rel=1e-9)


def test_tail_loss_validation():
    with pytest.raises(ValueError, match=r"^alpha"):
        theory.tail_loss(0.0, 10)
    with pytest.raises(ValueError, match=r"^n_skills"):
        theory.tail_loss(0.6, 0)
    with pytest.raises(ValueError, match=r"^R0"):
        theory.tail_loss(0.6, 10, S=1.0, R0=1.0)
    with pytest.raises(ValueError, match=r"^R0"):
        theory.tail_loss(0.6, 10, S=1.0, R0=-0.1)
