"""Gradient-descent simulation, linear, unbalanced and deep variants of the multilinear model
(skillkit.multilinear, chapters 2-3), checked against closed forms and scipy's solve_ivp."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from skillkit import multilinear as ml
from skillkit import simulate, variants

P = np.array([0.5, 0.2, 0.1])
S, R0 = 5.0, 0.01


def test_simulated_gd_tracks_closed_form_to_order_lr():
    """GD error against Eq. 11 shrinks linearly with the step size (Euler is first order)."""
    errs = []
    for lr, steps in ((1e-2, 1000), (1e-3, 10000)):
        run = simulate.product_model(P, steps, lr=lr, S=S, R0=R0, record_every=steps // 50)
        ref = ml.strength(run.steps[:, None], P, S=S, R0=R0, lr=lr)
        errs.append(np.abs(run.R - ref).max() / S)
    assert errs[1] < 2e-3                      # small step: tracks the flow
    assert 7 < errs[0] / errs[1] < 13          # first order in lr
    assert run.R.shape == (51, 3) and run.steps[-1] == 10000


def test_simulated_gd_reaches_S_and_respects_zero_share():
    run = simulate.product_model(np.array([0.5, 0.0]), 4000, lr=0.01, S=S, R0=R0, record_every=4000)
    assert run.R[-1, 0] == pytest.approx(S, rel=1e-9)
    assert run.R[-1, 1] == pytest.approx(R0, rel=1e-12)    # unseen skill never moves


def test_conserved_quantity():
    """a^2 - b^2 is conserved by the flow; one GD step multiplies it by 1 - lr^2 p^2 (S - ab)^2."""
    a0 = np.array([0.3, 0.05, 0.2])
    b0 = np.array([0.05, 0.3, 0.2])
    run = simulate.product_model(P, 1, lr=0.01, S=S, init=np.stack([a0, b0]))
    a1, b1 = run.factors
    g = P * (a0 * b0 - S)
    np.testing.assert_allclose(a1**2 - b1**2, (a0**2 - b0**2) * (1 - 0.01**2 * g**2), rtol=1e-12, atol=1e-15)
    long = simulate.product_model(P, 20000, lr=1e-4, S=S, init=np.stack([a0, b0]))
    c = long.factors[0] ** 2 - long.factors[1] ** 2
    np.testing.assert_allclose(c, a0**2 - b0**2, atol=2e-4)


def test_unbalanced_closed_form_vs_solve_ivp_and_gd():
    a0, b0, p = 0.3, 0.05, 0.5
    c = a0**2 - b0**2
    sol = solve_ivp(lambda t, R: p * np.sqrt(c**2 + 4 * R**2) * (S - R), (0, 5), [a0 * b0],
                    rtol=1e-11, atol=1e-12, dense_output=True)
    t = np.linspace(0, 5, 40)
    np.testing.assert_allclose(variants.strength_unbalanced(t, p, a0, b0, S), sol.sol(t)[0], atol=1e-8)
    # symmetric in a <-> b, and starting at R = 0 it still escapes (balanced it would not)
    np.testing.assert_allclose(variants.strength_unbalanced(t, p, b0, a0, S), variants.strength_unbalanced(t, p, a0, b0, S))
    assert variants.strength_unbalanced(5.0, p, 0.3, 0.0, S) > 0.99 * S
    run = simulate.product_model(np.array([p]), 5000, lr=1e-3, S=S, init=[[a0], [b0]], record_every=100)
    ref = variants.strength_unbalanced(run.steps * 1e-3, p, a0, b0, S)
    assert np.abs(run.R[:, 0] - ref).max() / S < 2e-3
    # tiny imbalance: the logistic closed form
    assert variants.strength_unbalanced(1.0, p, 0.1, 0.1 + 1e-7, S) == pytest.approx(
        float(ml.strength(1.0, p, S=S, R0=0.01 + 1e-8)), rel=1e-5)


def test_linear_closed_form_vs_solve_ivp_and_gd():
    sol = solve_ivp(lambda t, w: P * (S - w), (0, 30), np.zeros(3), rtol=1e-11, atol=1e-12, dense_output=True)
    t = np.linspace(0, 30, 31)
    np.testing.assert_allclose(variants.strength_linear(t[:, None], P, S=S), sol.sol(t).T, atol=1e-8)
    run = simulate.product_model(P, 3000, lr=0.01, S=S, depth=1, init=np.zeros((1, 3)), record_every=100)
    ref = variants.strength_linear(run.steps[:, None] * 0.01, P, S=S)
    assert np.abs(run.R - ref).max() / S < 5e-3
    # no delay: the linear model's slope at t = 0 is lr p S, the multilinear one only 2 lr p R0 (S - R0)
    assert variants.strength_linear(1e-6, 0.5, S=S) / 1e-6 == pytest.approx(0.5 * S, rel=1e-5)


def test_linear_loss_matches_sum_and_data_limit():
    from skillkit.data import skill_probs
    Ps = skill_probs(0.6, 200)
    T = np.array([0.0, 3.0, 30.0])
    direct = (Ps[:, None] * 0.5 * (S - variants.strength_linear(T[None, :], Ps[:, None], S=S)) ** 2).sum(0)
    np.testing.assert_allclose(variants.loss_linear(0.6, 200, T=T, S=S), direct, rtol=1e-12)
    # T = inf and finite D: one-shot learner, S^2/2 sum P (1 - P)^D (Eq. 60)
    D = 37
    np.testing.assert_allclose(variants.loss_linear(0.6, 200, D=D, S=S), 0.5 * S**2 * (Ps * (1 - Ps) ** D).sum(), rtol=1e-10)
    assert variants.loss_linear(0.6, 200, N=10, S=S) == pytest.approx(0.5 * S**2 * Ps[10:].sum())


def test_deep_model_depth_two_is_logistic_and_depth_one_is_linear():
    t = np.linspace(0, 20, 41)[:, None]
    np.testing.assert_allclose(variants.strength_deep(t, P, 2, S, R0), ml.strength(t, P, S=S, R0=R0), rtol=1e-8)
    np.testing.assert_allclose(variants.strength_deep(t, P, 1, S, R0), variants.strength_linear(t, P, S=S, R0=R0), rtol=1e-8)
    np.testing.assert_allclose(variants.emergence_time_deep(P, 2, S, R0), ml.emergence_time(P, S=S, R0=R0), rtol=1e-9)


def test_deep_model_l3_vs_solve_ivp_and_gd():
    L, p = 3, 0.5
    sol = solve_ivp(lambda t, R: variants.rhs_deep(R, p, L, S), (0, 15), [R0], rtol=1e-11, atol=1e-13, dense_output=True)
    t = np.linspace(0, 15, 31)
    np.testing.assert_allclose(variants.strength_deep(t, p, L, S, R0), sol.sol(t)[0], atol=1e-7)
    # the time to a level inverts the strength
    tau = variants.emergence_time_deep(p, L, S, R0, eps=0.5)
    assert float(variants.strength_deep(tau, p, L, S, R0)) == pytest.approx(0.5 * S, rel=1e-7)
    run = simulate.product_model(np.array([p]), 15000, lr=1e-3, S=S, R0=R0, depth=L, record_every=500)
    ref = variants.strength_deep(run.steps * 1e-3, p, L, S, R0)
    assert np.abs(run.R[:, 0] - ref).max() / S < 5e-3


def test_deep_emergence_time_power_law_in_R0():
    """For L > 2, tau_e ~ R0^-(L-2)/L / ((L-2) p S) as R0 -> 0 (instead of log S/R0)."""
    L, p = 4, 1.0
    for r0 in (1e-6, 1e-8):
        tau = float(variants.emergence_time_deep(p, L, S, r0))
        lead = r0 ** (-(L - 2) / L) / ((L - 2) * p * S)
        assert tau == pytest.approx(lead, rel=0.05)


def test_stage_margin_equals_eq41_times():
    alpha, eps = 0.6, 0.05
    Ps = ml.skill_probs(alpha, 6)
    for r0 in (1e-2, 1e-6):
        te = ml.emergence_time(Ps, S=S, R0=r0, eps=eps)
        ts = ml.saturation_time(Ps, S=S, R0=r0, eps=eps)
        np.testing.assert_allclose(ml.stage_margin(np.arange(5), alpha, S=S, R0=r0, eps=eps),
                                   (te[1:] - te[:-1]) / ts[:-1], rtol=1e-10)
    assert list(ml.stage_like(np.arange(3), alpha, S=S, R0=1e-2)) == [True, False, False]


@pytest.mark.parametrize("call,message", [
    (lambda: simulate.product_model(P, 0), r"^steps must be an integer in \[1, inf\]"),
    (lambda: simulate.product_model(P, 10, lr=-1.0), r"^lr must lie in \(0, inf\)"),
    (lambda: simulate.product_model(P, 10, S=1.0, R0=2.0), r"^R0 must lie in the open interval \(0, S\)"),
    (lambda: simulate.product_model(P, 10, init=np.ones((3, 3))), r"^init must broadcast to \(depth, \*p.shape\)"),
    (lambda: variants.strength_linear(1.0, 0.5, S=1.0, R0=1.0), r"^R0 must lie in \[0, S\)"),
    (lambda: variants.strength_unbalanced(1.0, 0.5, 0.0, 0.0), r"^a balanced start \(a0 = \+-b0\) needs a0 \* b0"),
    (lambda: variants.strength_unbalanced(1.0, 0.5, 3.0, 3.0, S=1.0), r"^a0 \* b0 must lie below S"),
    (lambda: variants.strength_deep(1.0, 0.5, 0), r"^depth must be an integer in \[1, inf\]"),
    (lambda: variants.time_to_deep(2.0, 0.5, 3, S=1.0), r"^R must lie in \[R0, S\)"),
    (lambda: ml.stage_margin(-1, 0.6), r"^skill must be a non-negative integer"),
    (lambda: ml.stage_margin(0, 0.6, S=1.0, R0=0.2), r"^R0 must lie below eps \* S"),
])
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _saxe_task(lams, d=4, n=64, seed=0):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.normal(size=(d, d)))
    V, _ = np.linalg.qr(rng.normal(size=(d, d)))
    lam = np.zeros(d)
    lam[:len(lams)] = lams
    M = U @ np.diag(lam) @ V.T
    Q, _ = np.linalg.qr(rng.normal(size=(n, d)))
    X = np.sqrt(n) * Q                       # whitened: X^T X / n = I
    return U, V, lam, X, X @ M.T


def test_linear_network_modes_follow_eq25():
    """Aligned balanced start: each mode u_k^T W v_k is the logistic of Eq. 25 with S = lambda_k."""
    U, V, lam, X, Y = _saxe_task([1.0, 0.5, 0.25])
    s0, lr, steps = 1e-3, 0.02, 1500
    O, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))   # any hidden rotation
    W1 = O @ np.diag(np.full(4, np.sqrt(s0))) @ V.T
    W2 = U @ np.diag(np.full(4, np.sqrt(s0))) @ O.T
    rec, W = simulate.linear_network(X, Y, W1, W2, steps, lr=lr, record_every=50)
    modes = np.einsum("ik,nij,jk->nk", U, W, V)[:, :3]
    ref = np.stack([ml.strength(rec * lr, 1.0, S=l, R0=s0) for l in lam[:3]], axis=1)
    assert np.abs(modes - ref).max() < 0.75 * lr * lam.max()   # Euler error, first order in lr
    off = np.einsum("ik,nij,jl->nkl", U, W, V)
    off[:, np.arange(4), np.arange(4)] = 0
    assert np.abs(off).max() < 1e-10                   # modes stay decoupled
