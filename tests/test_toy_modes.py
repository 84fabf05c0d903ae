"""The width-3 weight-shared ReLU toy of App. G (Fig. 8): exact fit, mode bookkeeping, early growth rates."""
import numpy as np
import pytest
import torch

from skillkit import calibrate, multilinear
from skillkit.experiments import emergence
from skillkit.models import WeightSharedParityNet


pytestmark = pytest.mark.usefixtures("one_thread")


def test_four_parameters_and_exact_solution():
    net = WeightSharedParityNet(1)
    assert sum(p.numel() for p in net.parameters()) == 4
    x, g = WeightSharedParityNet.inputs()
    assert x.shape == (8, 3) and torch.all(g == x[:, 0] * x[:, 1] * x[:, 2]) and g.sum() == 0
    for S in (1.0, 5.0):
        w, c = WeightSharedParityNet.solution(S)
        with torch.no_grad():
            net.w[:] = torch.tensor(w)
            net.c[:] = c
        torch.testing.assert_close(net(x)[0], S * g, rtol=0, atol=1e-12)
        # at the solution each unit's mode is S times its share, and the shares sum to one
        np.testing.assert_allclose(net.modes()[0].detach().numpy(), S * np.array(WeightSharedParityNet.SHARES), atol=1e-12)
    assert abs(sum(WeightSharedParityNet.SHARES) - 1) < 1e-15


def test_shares_are_the_overlaps_of_the_fixed_features():
    x, g = WeightSharedParityNet.inputs()
    s = x.sum(1).numpy()
    for (p, q), eps, share in zip(WeightSharedParityNet.PATTERNS, WeightSharedParityNet.SIGNS, WeightSharedParityNet.SHARES):
        phi = np.maximum(p * s + q, 0)
        assert abs(np.mean(g.numpy() * eps * phi) - share) < 1e-15


def test_modes_sum_to_the_networks_strength_at_any_parameters():
    torch.manual_seed(0)
    net = WeightSharedParityNet(6, init_std=1.0, seed=3)
    with torch.no_grad():
        net.w.mul_(torch.sign(torch.randn(6, 3)))       # negative weights too
        net.c.copy_(torch.randn(6))
    x, g = net.inputs()
    R = (g * net(x)).mean(1)
    torch.testing.assert_close(net.modes().sum(1), R, rtol=0, atol=1e-13)
    assert R.abs().min() > 1e-3                          # not a trivial 0 == 0


def test_early_growth_rate_of_each_mode_is_the_derived_one():
    """Near zero, w_i(t+1) = w_i(t) (1 + 2 lr S share_i), so R_i grows by (1 + 2 lr S share_i)^2 per step
    (gradient flow: rate 4 lr S share_i, i.e. B_i^2 = 2 share_i in the model's 2 lr B^2 S)."""
    S, lr, n = 1.0, 0.01, 40
    res = emergence.train_toy_modes(S=S, lr=lr, steps=n, n_models=3, init_std=1e-4, log_every=n, progress=False)
    rate = np.log(res["modes"][-1] / res["modes"][0]) / n            # (n_models, 3)
    shares = np.array(WeightSharedParityNet.SHARES)
    want = 2 * np.log1p(2 * lr * S * shares)
    np.testing.assert_allclose(rate, np.broadcast_to(want, rate.shape), rtol=1e-4)
    np.testing.assert_allclose(want, 4 * lr * S * shares, rtol=0.03)


def test_training_reaches_the_exact_fit_and_the_fit_recovers_a_known_B2():
    res = emergence.train_toy_modes(S=2.0, lr=0.02, steps=3000, n_models=2, init_std=0.1, log_every=50, progress=False)
    assert res["R_over_S"].shape == (61, 2) and res["modes"].shape == (61, 2, 3)
    np.testing.assert_allclose(res["R_over_S"][-1], 1.0, atol=1e-3)
    np.testing.assert_allclose(res["modes"][-1], np.broadcast_to(res["shares"], (2, 3)), atol=1e-3)
    assert np.all(res["loss"][-1] < 1e-5) and res["loss"][0].min() > 1.0
    # fit plumbing and convention: a curve made by the model with B2 = 1/3 gives back 1/3
    T = res["steps"]
    R0 = np.array([0.01, 0.002])
    fake = dict(res, R_over_S=np.stack([multilinear.strength(T, 1.0, S=2.0, R0=2.0 * r, lr=0.02 / 3) / 2.0 for r in R0], 1))
    fit = calibrate.fit_toy_B2(fake)
    np.testing.assert_allclose(fit.values, 1 / 3, rtol=1e-6)


@pytest.mark.parametrize("call,name", [
    (lambda: WeightSharedParityNet(0), "n_models"),
    (lambda: WeightSharedParityNet(1, init_std=0.0), "init_std"),
    (lambda: WeightSharedParityNet(1, seed=-1), "seed"),
    (lambda: WeightSharedParityNet(1)(torch.zeros(4, 2)), "x"),
    (lambda: WeightSharedParityNet.solution(-1.0), "S"),
    (lambda: emergence.train_toy_modes(lr=0.0, steps=1), "lr"),
    (lambda: emergence.train_toy_modes(steps=0), "steps"),
    (lambda: emergence.train_toy_modes(S=-2.0, steps=1), "S"),
])
def test_bad_input(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()
