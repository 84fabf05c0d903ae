"""The multilinear model's closed forms against independent computations."""
import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from skillkit import measure, multilinear, scaling, theory
from skillkit.data import MultitaskSparseParity, skill_probs


def gradient_flow(p, S, a0, lr, t_eval):
    """Integrate Eqs. 30-34 for one skill: da/dt = -lr p b (ab - S), db/dt = -lr p a (ab - S)."""
    def rhs(_, y):
        a, b = y
        err = a * b - S
        return [-lr * p * b * err, -lr * p * a * err]
    sol = solve_ivp(rhs, (0, t_eval[-1]), [a0, a0], t_eval=t_eval, rtol=1e-11, atol=1e-13, method="DOP853")
    return sol.y[0] * sol.y[1]


@pytest.mark.parametrize("p,S,R0,lr", [(0.5, 1.0, 0.01, 1.0), (0.1, 5.0, 2.78e-5, 0.02), (0.03, 2.0, 0.5, 3.0)])
def test_strength_matches_gradient_flow(p, S, R0, lr):
    delay = np.log(S / R0) / (2 * lr * p * S)          # time to the midpoint, roughly
    t = np.linspace(0, 2 * delay + 6 / (lr * p * S), 400)
    numeric = gradient_flow(p, S, np.sqrt(R0), lr, t)
    closed = multilinear.strength(t, p, S=S, R0=R0, lr=lr)
    np.testing.assert_allclose(closed, numeric, rtol=1e-6)
    assert closed[-1] / S > 0.99               # it does saturate within the window


def test_strength_limits_and_broadcasting():
    t = np.array([0.0, np.inf])
    np.testing.assert_allclose(multilinear.strength(t, 0.2, S=2.0, R0=0.1), [0.1, 2.0])
    assert multilinear.strength(np.inf, 0.0, S=2.0, R0=0.1) == pytest.approx(0.1)   # unseen skill keeps R0
    out = multilinear.strength(np.linspace(0, 10, 7)[:, None], skill_probs(0.6, 4)[None, :])
    assert out.shape == (7, 4)
    assert np.all(np.diff(out, axis=0) > 0) and np.all(np.diff(out[1:], axis=1) < 0)   # at t = 0 all equal R0


@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_emergence_and_saturation_times(eps):
    p, S, R0, lr = 0.2, 5.0, 0.01, 0.5
    te = multilinear.emergence_time(p, S, R0, lr, eps)
    ts = multilinear.saturation_time(p, S, R0, lr, eps)
    assert multilinear.strength(te, p, S, R0, lr) / S == pytest.approx(eps, rel=1e-10)
    assert multilinear.strength(te + ts, p, S, R0, lr) / S == pytest.approx(1 - eps, rel=1e-10)
    # tau ∝ 1/p, i.e. ∝ k^(alpha+1) for Zipf skills
    P = skill_probs(0.6, 5)
    times = multilinear.emergence_time(P, S, R0, lr, eps)
    np.testing.assert_allclose(times / times[0], (np.arange(1, 6)) ** 1.6, rtol=1e-12)


def test_loss_infinite_data_is_the_per_skill_sum():
    alpha, n, S, R0 = 0.6, 40, 2.0, 0.05
    T = np.array([0.0, 3.0, 30.0, 300.0, np.inf])
    P = skill_probs(alpha, n)
    for N in (n, 17):
        direct = []
        for t in T:
            total = 0.0
            for k in range(n):
                R = multilinear.strength(t, P[k], S=S, R0=R0) if k < N else 0.0
                total += P[k] * 0.5 * (S - R) ** 2
            direct.append(total)
        np.testing.assert_allclose(multilinear.loss(alpha, n, T=T, N=N, S=S, R0=R0), direct, rtol=1e-12)


def test_loss_finite_data_at_infinite_time_matches_monte_carlo():
    alpha, n, S, R0, D = 0.6, 200, 1.0, 0.01, 300
    P = skill_probs(alpha, n)
    rng = np.random.default_rng(0)
    draws = rng.multinomial(D, P, size=20_000)                       # training sets of size D
    per_set = (0.5 * (S - R0) ** 2 * (draws == 0) * P).sum(1)        # unseen skills keep R0
    mc, se = per_set.mean(), per_set.std() / np.sqrt(per_set.size)
    exact = multilinear.loss(alpha, n, D=D, S=S, R0=R0)
    assert abs(exact - mc) < 4 * se, (exact, mc, se)
    # the same expectation through the finite-T path at a time long enough to learn every seen skill
    np.testing.assert_allclose(multilinear.loss(alpha, n, D=D, T=1e7, S=S, R0=R0), exact, rtol=1e-9)


def test_loss_finite_data_finite_time_matches_monte_carlo():
    alpha, n, S, R0, D, T = 0.6, 100, 1.0, 0.01, 500, 40.0
    P = skill_probs(alpha, n)
    rng = np.random.default_rng(1)
    d = rng.binomial(D, P, size=(40_000, n))                            # marginal counts per skill
    L = (P * 0.5 * (S - multilinear.strength(T, d / D, S=S, R0=R0)) ** 2).sum(1)
    exact = multilinear.loss(alpha, n, D=D, T=T, S=S, R0=R0)
    assert abs(exact - L.mean()) < 4 * L.std() / np.sqrt(L.size)


def test_loss_shapes_and_validation():
    out = multilinear.loss(0.6, 100, T=np.logspace(0, 3, 11)[:, None], N=np.array([10, 50, 100]))
    assert out.shape == (11, 3)
    assert np.all(np.diff(out, axis=0) <= 0) and np.all(np.diff(out, axis=1) <= 0)
    for kwargs, name in [(dict(T=-1), "T"), (dict(D=0), "D"), (dict(D=2.5), "D"), (dict(N=0), "N"),
                         (dict(N=101), "N"), (dict(R0=1.5), "R0"), (dict(S=-1), "S"), (dict(lr=0), "lr")]:
        with pytest.raises(ValueError, match=rf"^{name} must"):
            multilinear.loss(0.6, 100, **kwargs)
    with pytest.raises(ValueError, match=r"^alpha"):
        multilinear.loss(0.0, 100)
    with pytest.raises(ValueError, match=r"^eps"):
        multilinear.emergence_time(0.1, eps=1.0)
    with pytest.raises(ValueError, match=r"^R0"):
        multilinear.emergence_time(0.1, S=1.0, R0=0.1, eps=0.05)
    with pytest.raises(ValueError, match=r"^p"):
        multilinear.strength(1.0, 1.5)


def test_exponents():
    e = theory.exponents(0.6)
    assert e == pytest.approx({"time": -0.375, "data": -0.375, "params": -0.6, "compute": -0.6 / 2.6})
    with pytest.raises(ValueError, match=r"^alpha"):
        theory.exponents(-0.1)


def test_fit_power_law_recovers_exponent():
    rng = np.random.default_rng(0)
    x = np.logspace(0, 4, 50)
    y = 3.0 * x ** -0.375 * np.exp(rng.normal(0, 0.01, x.size))
    fit = scaling.fit_power_law(x, y)
    A, e = fit
    assert e == pytest.approx(-0.375, abs=4 * fit.exponent_stderr) and fit.exponent_stderr < 0.002
    assert A == pytest.approx(3.0, rel=0.02)
    win = scaling.fit_power_law(np.r_[x, 1e6], np.r_[y, 1.0], window=(1, 1e4))
    assert win.n_points == 50 and win.exponent == pytest.approx(e)
    with pytest.raises(ValueError, match=r"^y must"):
        scaling.fit_power_law([1, 2, 3], [1, 0, 2])
    with pytest.raises(ValueError, match=r"^need at least 3 points"):
        scaling.fit_power_law([1, 2], [1, 2])


def test_time_law_exponent_emerges_from_the_exact_loss():
    """The exact loss at n_s = 10^5 follows T^(-alpha/(alpha+1)) in its power-law window."""
    alpha = 0.6
    T = np.logspace(2, 4, 30)
    L = multilinear.loss(alpha, 100_000, T=T)
    _, e = scaling.fit_power_law(T, L)
    assert e == pytest.approx(theory.exponents(alpha)["time"], rel=0.03)


def test_skill_strengths_of_the_exact_target_is_S():
    task = MultitaskSparseParity(n_skills=5, n_bits=20, k=3, S=5.0, seed=2)
    R = measure.skill_strengths(task.target, task, n=2000, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(R, 5.0, rtol=0, atol=1e-12)
    # a function that knows only skill 3 at half strength: R = (0, 0, 2.5, 0, 0) up to sampling noise
    half3 = lambda x: 0.5 * task.S * task.basis(x)[:, 2]
    R = measure.skill_strengths(half3, task, n=2000)
    np.testing.assert_allclose(R, [0, 0, 2.5, 0, 0], atol=1e-12)
    # a constant function has no overlap with any parity: |R| within sampling error
    R = measure.skill_strengths(lambda x: torch.ones(x.shape[0]), task, n=20000)
    assert np.all(np.abs(R) < 5 / np.sqrt(20000))
    with pytest.raises(ValueError, match=r"^f must"):
        measure.skill_strengths(lambda x: torch.ones(x.shape[0], 2), task, n=10)
