"""The extended models of Sec. 5 (time with B^2, the D_c-shot learner, N_c units per skill) against
independent computations: an ODE solve, a direct minimum-norm (pseudo-inverse) interpolant of
explicit orthonormal functions, and a direct least-squares fit with the first N of the functions."""
import numpy as np
import pytest
from scipy import integrate, stats

from skillkit import extended


# ---------------------------------------------------------------- time (Eq. 14)

@pytest.mark.parametrize("convention,c", [("half", 1.0), ("mse", 2.0)])
def test_strength_time_matches_ode(convention, c):
    """dR/dt = c * 2 lr p B2 R (S - R): gradient flow of L = (c/2) E[(f* - f)^2] with g -> B g."""
    S, R0, lr, p, B2 = 5.0, 1e-3, 0.02, 0.3, 1 / 22
    T = np.linspace(0, 8000, 41)
    sol = integrate.solve_ivp(lambda t, R: c * 2 * lr * p * B2 * R * (S - R), (0, T[-1]), [R0],
                              t_eval=T, rtol=1e-10, atol=1e-12)
    got = extended.strength_time(T, p, B2, S=S, R0=R0, lr=lr, convention=convention)
    np.testing.assert_allclose(got, sol.y[0], rtol=1e-6, atol=1e-9)


def test_strength_time_mse_doubles_rate():
    T = np.array([0.0, 100.0, 1000.0])
    a = extended.strength_time(T, 0.5, 0.1, S=2.0, R0=0.01, lr=0.3, convention="mse")
    b = extended.strength_time(T, 0.5, 0.1, S=2.0, R0=0.01, lr=0.6, convention="half")
    np.testing.assert_allclose(a, b, rtol=1e-12)


# ---------------------------------------------------------------- D_c-shot learner (Prop. 1)

def _skill_functions(n_funcs, n_points, rng):
    """n_funcs functions on n_points equally likely inputs, orthonormal under the uniform measure
    (mean of e_l e_m = delta_lm), a ±1 'parity' g, and sum_l e_l / sqrt(n_funcs) = g (Eqs. 15-16)."""
    g = rng.choice([-1.0, 1.0], size=n_points)
    Q, _ = np.linalg.qr(np.column_stack([g, rng.standard_normal((n_points, n_funcs - 1))]))
    Q[:, 0] *= np.sign(Q[:, 0] @ g)                       # first column = g / |g|
    u = np.full(n_funcs, 1 / np.sqrt(n_funcs))            # Householder reflection H u = e_1
    v = u.copy()
    v[0] -= 1.0
    H = np.eye(n_funcs) - 2 * np.outer(v, v) / (v @ v)
    e = np.sqrt(n_points) * Q @ H                         # (n_points, n_funcs)
    return e, g


def test_skill_functions_construction():
    rng = np.random.default_rng(0)
    e, g = _skill_functions(12, 500, rng)
    np.testing.assert_allclose(e.T @ e / 500, np.eye(12), atol=1e-10)
    np.testing.assert_allclose(e.sum(1) / np.sqrt(12), g, atol=1e-10)


def _min_norm_learner(D_c, d, S, rng, n_points=240):
    """Min-norm interpolant of d examples (distinct inputs) by the D_c functions; its R = E[g f] and L."""
    e, g = _skill_functions(D_c, n_points, rng)
    idx = rng.choice(n_points, size=d, replace=False)
    coef = np.linalg.pinv(e[idx]) @ (S * g[idx])          # least-norm solve of Phi c = S g(x_i)
    f = e @ coef
    return np.mean(g * f), 0.5 * np.mean((S * g - f) ** 2)


@pytest.mark.parametrize("d", [5, 20, 32])
def test_dshot_matches_min_norm_interpolant(d):
    """Over random skill functions and samples: test loss = (S^2/2)(1 - d/D_c) (Eq. 104), Eq. 17's R is
    S - sqrt(2 L), and the projection E[g f] is S d / D_c."""
    D_c, S, trials = 40, 5.0, 150
    rng = np.random.default_rng(d)
    R, L = np.array([_min_norm_learner(D_c, d, S, rng) for _ in range(trials)]).T
    se_L = L.std(ddof=1) / np.sqrt(trials)
    se_R = R.std(ddof=1) / np.sqrt(trials)
    assert abs(L.mean() - extended.loss_dshot(d, D_c, S=S)) < 4 * se_L + 1e-9
    assert abs(R.mean() - extended.strength_dshot(d, D_c, S=S, form="projection")) < 4 * se_R + 1e-9
    eq17 = extended.strength_dshot(d, D_c, S=S)
    assert abs(eq17 - (S - np.sqrt(2 * L.mean()))) < 4 * se_L / np.sqrt(2 * L.mean()) + 1e-9
    # the two readings differ by more than the Monte Carlo error: Eq. 17 is not the projection
    assert abs(eq17 - R.mean()) > 10 * se_R


def test_dshot_exact_when_the_functions_span_every_input():
    """An exact small case (no Monte Carlo): D_c orthonormal functions on exactly D_c inputs. The min-norm
    interpolant of any d distinct examples equals S g on them and 0 elsewhere, so for every sample
    R = E[g f] = S d / D_c and L = (S^2/2)(1 - d/D_c), exactly; a 3% error in either form shows."""
    S, D_c = 3.0, 16
    rng = np.random.default_rng(5)
    e, g = _skill_functions(D_c, D_c, rng)
    for d in (1, 5, 12, 16):
        for _ in range(3):
            idx = rng.choice(D_c, size=d, replace=False)
            f = e @ (np.linalg.pinv(e[idx]) @ (S * g[idx]))
            R, L = np.mean(g * f), 0.5 * np.mean((S * g - f) ** 2)
            assert abs(R - extended.strength_dshot(d, D_c, S=S, form="projection")) < 1e-10
            assert abs(L - extended.loss_dshot(d, D_c, S=S)) < 1e-10
            assert abs(extended.strength_dshot(d, D_c, S=S) - (S - np.sqrt(2 * L))) < 1e-10


def test_dshot_learns_fully_with_enough_examples():
    rng = np.random.default_rng(1)
    R, L = _min_norm_learner(30, 45, 2.0, rng)
    assert L < 1e-18 and abs(R - 2.0) < 1e-9
    assert extended.strength_dshot(45, 30, S=2.0) == 2.0
    assert extended.strength_dshot(45, 30, S=2.0, form="projection") == 2.0


def test_strength_data_binomial_matches_monte_carlo():
    D, p, D_c, S = 3000, 0.2, 700.0, 5.0
    d = np.random.default_rng(0).binomial(D, p, size=200_000)
    mc = extended.strength_dshot(d, D_c, S=S).mean()
    got = extended.strength_data(D, p, D_c, S=S, average="binomial")
    assert abs(got - mc) < 1e-3 * S
    # and the expected-count shortcut is the code's theo_data: 1 - sqrt(max(0, 1 - D p / D_c))
    np.testing.assert_allclose(extended.strength_data(D, p, D_c, S=S) / S,
                               1 - np.sqrt(max(0.0, 1 - D * p / D_c)), rtol=1e-12)


def test_strength_data_binomial_by_hand():
    """Small case summed by hand: D = 3, p = 0.5, D_c = 2 -> counts 0..3 with R/S = 0, 1 - sqrt(1/2), 1, 1."""
    pmf = stats.binom.pmf(np.arange(4), 3, 0.5)
    want = pmf @ np.array([0.0, 1 - np.sqrt(0.5), 1.0, 1.0])
    assert abs(extended.strength_data(3, 0.5, 2.0, average="binomial") - want) < 1e-12


# ---------------------------------------------------------------- N_c units per skill (Prop. 2)

@pytest.mark.parametrize("N_c", [1, 3, 4])
def test_strength_width_matches_direct_fit(N_c):
    """Fill N functions e_{k,l} in frequency order (skill 1's N_c first, ...), fit f* = S sum_k g_k by
    least squares on all inputs, and measure R_k = E[g_k f | skill k]: equals Prop. 2 / Eq. 21."""
    n_skills, S, n_points = 4, 5.0, 300
    rng = np.random.default_rng(N_c)
    funcs = [_skill_functions(N_c, n_points, rng) if N_c > 1 else (None, rng.choice([-1.0, 1.0], n_points))
             for _ in range(n_skills)]
    # the inputs: n_points per skill, disjoint supports, so stack block-diagonally
    cols, gs = [], []
    for k, (e, g) in enumerate(funcs):
        e = g[:, None] if e is None else e
        for l in range(N_c):
            col = np.zeros(n_skills * n_points)
            col[k * n_points:(k + 1) * n_points] = e[:, l]
            cols.append(col)
        gk = np.zeros(n_skills * n_points)
        gk[k * n_points:(k + 1) * n_points] = g
        gs.append(gk)
    cols, gs = np.array(cols).T, np.array(gs).T            # (points, n_skills N_c), (points, n_skills)
    target = S * gs.sum(1)
    for N in range(0, n_skills * N_c + 2):
        n_use = min(N, cols.shape[1])
        f = np.zeros_like(target) if n_use == 0 else cols[:, :n_use] @ np.linalg.lstsq(cols[:, :n_use], target, rcond=None)[0]
        R = (gs * f[:, None]).reshape(n_skills, n_points, n_skills).mean(1).diagonal()   # E[g_k f | skill k]
        # Prop. 2 by a direct count: how many of skill k's functions are among the first N
        count = np.array([min(max(N - k * N_c, 0), N_c) for k in range(n_skills)])
        np.testing.assert_allclose(R, S * count / N_c, atol=1e-9)
        np.testing.assert_allclose(extended.strength_width(N, np.arange(n_skills), N_c, S=S), R, atol=1e-9)


def test_strength_width_prop2_q_r():
    """q = floor((N-1)/N_c) + 1, r = N - (q-1) N_c: R_k = S for k < q, S r/N_c at k = q, 0 beyond."""
    N_c, n_skills = 4, 6
    for N in range(1, 25):
        q = (N - 1) // N_c + 1
        r = N - (q - 1) * N_c
        want = np.array([1.0 if k < q else (r / N_c if k == q else 0.0) for k in range(1, n_skills + 1)])
        np.testing.assert_allclose(extended.strength_width(N, np.arange(n_skills), N_c), want, atol=1e-12)


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("call,name", [
    (lambda: extended.strength_time(1.0, 0.5, 0.0), "B2"),
    (lambda: extended.strength_time(1.0, 0.5, 0.1, convention="l2"), "convention"),
    (lambda: extended.strength_time(1.0, 1.5, 0.1), "p"),
    (lambda: extended.strength_dshot(-1, 10), "d"),
    (lambda: extended.strength_dshot(1, 0), "D_c"),
    (lambda: extended.strength_dshot(1, 10, form="x"), "form"),
    (lambda: extended.strength_data(0, 0.5, 10), "D"),
    (lambda: extended.strength_data(10.5, 0.5, 10, average="binomial"), "D"),
    (lambda: extended.strength_data(10, 0.5, 10, average="x"), "average"),
    (lambda: extended.strength_width(-1, 0, 4), "N"),
    (lambda: extended.strength_width(3, -1, 4), "skill"),
    (lambda: extended.strength_width(3, 0.5, 4), "skill"),
    (lambda: extended.strength_width(3, 0, 0), "N_c"),
])
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()
