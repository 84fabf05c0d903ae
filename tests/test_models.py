"""skillkit.models: the batched MLP ensemble against plain per-model torch modules."""
import numpy as np
import pytest
import torch

from skillkit.models import MLPEnsemble

DIM = 37

pytestmark = pytest.mark.usefixtures("one_thread")



def test_forward_matches_plain_models_shared_and_per_model_inputs():
    net = MLPEnsemble(4, DIM, [3, 8, 8, 1], init_std=[0.1, 0.5, 1.0, 0.3], seed=[4, 0, 1, 9])
    x = torch.rand(50, DIM)
    xm = torch.rand(4, 50, DIM)
    out, outm = net(x), net(xm)
    assert out.shape == (4, 50) and outm.shape == (4, 50)
    for i in range(4):
        m = net.model(i)
        assert isinstance(m, torch.nn.Sequential) and m[0].out_features == net.widths[i]
        torch.testing.assert_close(out[i], m(x)[:, 0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(outm[i], m(xm[i])[:, 0], rtol=1e-5, atol=1e-6)


def test_model_i_equals_the_same_model_built_alone_and_init_is_gaussian():
    net = MLPEnsemble(3, DIM, [5, 20, 7], init_std=[0.01, 0.02, 0.03], seed=11)
    for i in range(3):
        alone = MLPEnsemble(1, DIM, net.widths[i], init_std=net.init_stds[i], seed=11 + i)
        for a, b in zip(net.model(i).parameters(), alone.model(0).parameters()):
            assert torch.equal(a, b)
    big = MLPEnsemble(1, DIM, 2000, init_std=0.05, seed=3)
    vals = torch.cat([p.flatten() for p in big.model(0).parameters()]).double()
    assert abs(vals.mean()) < 3 * 0.05 / np.sqrt(vals.numel())
    assert abs(vals.std() / 0.05 - 1) < 0.01
    # every weight AND bias is drawn: the biases are not zero
    assert big.model(0)[0].bias.abs().min() > 0 and big.model(0)[2].bias.abs() > 0


def test_masked_units_are_inert_even_with_nonzero_values():
    net = MLPEnsemble(3, DIM, [2, 6, 4], init_std=0.3, seed=0)
    with torch.no_grad():                      # put garbage in the padded (masked) units
        pad = net.mask == 0
        net.w1[:, :, :][pad[:, None, :].expand_as(net.w1)] = 7.0
        net.w2[pad] = -5.0
    x = torch.rand(64, DIM)
    y = torch.randn(3, 64)
    out = net(x)
    for i in range(3):
        torch.testing.assert_close(out[i], net.model(i)(x)[:, 0], rtol=1e-5, atol=1e-6)
    ((out - y) ** 2).mean(1).sum().backward()
    assert net.w1.grad[pad[:, None, :].expand_as(net.w1)].abs().max() == 0
    assert net.w2.grad[pad].abs().max() == 0
    xa = torch.cat([x, torch.ones(64, 1)], 1)
    _, (g1, g2, _) = net.loss_and_grad(xa, y)
    assert g1[pad[:, None, :].expand_as(g1)].abs().max() == 0
    assert g2[pad].abs().max() == 0


@pytest.mark.parametrize("shared", [True, False])
def test_hand_written_gradient_equals_autograd(shared):
    torch.manual_seed(0)
    net = MLPEnsemble(3, DIM, [5, 9, 9], init_std=0.5, seed=2)
    B = 300
    x = torch.randint(0, 2, (B, DIM)).float() if shared else torch.randint(0, 2, (3, B, DIM)).float()
    y = 5 * torch.sign(torch.randn(B if shared else (3, B)))
    out = net(x)
    yy = y if y.ndim == 2 else y[None]
    loss_ag = ((out - yy) ** 2).mean(1)
    loss_ag.sum().backward()
    xa = torch.cat([x, torch.ones(*x.shape[:-1], 1)], -1)
    for chunk in (None, 64, 7):            # row blocks must not change the result
        loss, (g1, g2, gb) = net.loss_and_grad(xa, y, chunk=chunk)
        torch.testing.assert_close(loss, loss_ag.detach(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(g1, net.w1.grad, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(g2, net.w2.grad, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(gb, net.b2.grad, rtol=1e-4, atol=1e-6)


def test_bad_arguments_raise_value_error_naming_the_parameter():
    with pytest.raises(ValueError, match=r"^n_models"):
        MLPEnsemble(0, DIM, 3)
    with pytest.raises(ValueError, match=r"^widths"):
        MLPEnsemble(2, DIM, [3, 4, 5])
    with pytest.raises(ValueError, match=r"^widths"):
        MLPEnsemble(2, DIM, [3, 0])
    with pytest.raises(ValueError, match=r"^init_std"):
        MLPEnsemble(2, DIM, 3, init_std=-1.0)
    with pytest.raises(ValueError, match=r"^x must have shape"):
        MLPEnsemble(2, DIM, 3)(torch.zeros(4, DIM + 1))
