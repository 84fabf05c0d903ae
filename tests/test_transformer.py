"""Tests of skillkit.models.transformer and its torch.func ensemble: shapes, causality, independence, fitting."""
import pytest
import torch

from skillkit.data import MultitaskSparseParity
from skillkit.experiments import transformer_point
from skillkit.models import Ensemble, ParityTransformer
from skillkit.models.transformer import PAPER_CONFIG, SparseParityTransformer, TransformerConfig


def _model(n_models=3, causal=True, n_layers=1, seed=0, n_tokens=20, width=16):
    cfg = TransformerConfig(n_tokens=n_tokens, width=width, n_heads=2, n_layers=n_layers, mlp_ratio=2,
                            causal=causal)
    return SparseParityTransformer(cfg, n_models=n_models, seed=seed)


def test_paper_config():
    assert PAPER_CONFIG == TransformerConfig.paper()
    assert (PAPER_CONFIG.n_tokens, PAPER_CONFIG.width, PAPER_CONFIG.n_heads, PAPER_CONFIG.n_layers,
            PAPER_CONFIG.mlp_ratio, PAPER_CONFIG.causal) == (37, 512, 4, 1, 4, True)
    m = SparseParityTransformer(PAPER_CONFIG, n_models=1)
    # embedding 39*512+512, Q,K,V,O 4*(512*512+512), MLP 512*2048+2048+2048*512+512, 3 LayerNorms, read-out
    expected = (39 * 512 + 512) + 4 * (512 * 512 + 512) + (2 * 512 * 2048 + 2048 + 512) + 3 * 1024 \
        + 37 * 512 + 1
    assert m.n_params() == expected


def test_output_shapes():
    m = _model(n_models=3)
    x = torch.randint(0, 2, (7, 20)).float()
    assert m(x).shape == (3, 7)
    assert m(x.expand(3, 7, 20)).shape == (3, 7)
    assert m(x, hidden=True).shape == (3, 7, 20, 16)
    assert m.member(1)(x).shape == (7,)
    torch.testing.assert_close(m.member(1)(x), m(x)[1])
    with pytest.raises(ValueError, match=r"^x must have shape \(B, n_tokens\)"):
        m(torch.zeros(7, 19))
    with pytest.raises(ValueError, match=r"^x must have n_models = 3 rows"):
        m(torch.zeros(2, 7, 20), per_model=True)


def test_bad_config():
    with pytest.raises(ValueError, match=r"^width must be a multiple of n_heads"):
        TransformerConfig(width=10, n_heads=4)
    with pytest.raises(ValueError, match=r"^n_layers must be an integer"):
        TransformerConfig(n_layers=0)
    with pytest.raises(ValueError, match=r"^n_models must be an integer"):
        SparseParityTransformer(TransformerConfig(), n_models=0)
    with pytest.raises(ValueError, match=r"^members must all be of one class"):
        Ensemble([torch.nn.Linear(2, 2), torch.nn.Tanh()])


@pytest.mark.parametrize("n_layers", [1, 2])
def test_causal(n_layers):
    """Flipping bit j changes the hidden states at positions >= j only (and some of them)."""
    m = _model(n_models=2, n_layers=n_layers)
    x = torch.randint(0, 2, (5, 20)).float()
    h = m(x, hidden=True)
    for j in (3, 11, 19):
        x2 = x.clone()
        x2[:, j] = 1 - x2[:, j]
        h2 = m(x2, hidden=True)
        assert torch.equal(h[:, :, :j], h2[:, :, :j])
        assert (h[:, :, j:] - h2[:, :, j:]).abs().max() > 1e-3


def test_noncausal_sees_the_future():
    m = _model(n_models=1, causal=False)
    x = torch.randint(0, 2, (5, 20)).float()
    x2 = x.clone()
    x2[:, 19] = 1 - x2[:, 19]
    assert (m(x, hidden=True)[:, :, 0] - m(x2, hidden=True)[:, :, 0]).abs().max() > 1e-4


def test_ensemble_members_are_independent():
    """Member i of an ensemble is the same function whatever the rest; gradients do not mix."""
    m = _model(n_models=3, seed=4)
    x = torch.randint(0, 2, (6, 20)).float()
    out = m(x)
    assert not torch.allclose(out[0], out[1])          # different initialisations
    xs = x.expand(3, 6, 20).clone()
    xs[1] = torch.randint(0, 2, (6, 20)).float()        # change model 1's batch only
    out2 = m(xs)
    torch.testing.assert_close(out2[0], out[0])
    torch.testing.assert_close(out2[2], out[2])
    m.zero_grad()
    m(x)[1].sum().backward()
    for p in m.parameters():
        if p.grad is None:
            continue
        assert p.grad[0].abs().max() == 0 and p.grad[2].abs().max() == 0
    assert max(p.grad[1].abs().max() for p in m.parameters() if p.grad is not None) > 0


def test_member_equals_model_trained_alone():
    """Member i of an ensemble built with seed s is the single model built with seed s + i."""
    x = torch.randint(0, 2, (4, 20)).float()
    ens = _model(n_models=3, seed=5)
    assert ens.seeds == (5, 6, 7)
    torch.testing.assert_close(ens(x)[2], _model(n_models=1, seed=7)(x)[0])
    alone = ParityTransformer(ens.config, seed=7)
    torch.testing.assert_close(ens(x)[2], alone(x), rtol=1e-5, atol=1e-6)


def test_seed_is_deterministic():
    x = torch.randint(0, 2, (4, 20)).float()
    torch.testing.assert_close(_model(seed=7)(x), _model(seed=7)(x))
    assert not torch.allclose(_model(seed=7)(x), _model(seed=8)(x))


def test_overfits_tiny_batch():
    """Adam drives the 1/2-MSE on 16 fixed multitask-sparse-parity samples to (almost) zero."""
    torch.manual_seed(0)
    task = MultitaskSparseParity(n_skills=5, n_bits=15, k=3, alpha=0.9, S=1.0, seed=0)
    x, _, y = task.sample(16, generator=torch.Generator().manual_seed(1))
    m = SparseParityTransformer(TransformerConfig(n_tokens=task.dim, width=16, n_heads=2, mlp_ratio=2),
                                n_models=1, seed=0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)             # tiny tensors: one thread avoids contention on a shared machine
    try:
        for _ in range(200):
            loss = 0.5 * ((m(x) - y) ** 2).mean()
            first = loss.item() if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    assert first > 0.1
    assert 0.5 * ((m(x) - y) ** 2).mean(1).max().item() < 1e-3


def test_transformer_point_through_the_training_loop():
    """One sweep point through skillkit.train: shapes of the logged curves, and determinism."""
    c = dict(n_skills=3, n_bits=6, k=2, alpha=0.9, width=8, n_heads=2, n_models=2, steps=4, batch=16,
             lr=1e-3, optimizer="sgd", momentum=0.9, log_every=2, probe_n=32)
    r = transformer_point(c, device="cpu", progress=False)
    assert r["steps"].tolist() == [0, 2, 4]
    assert r["R_over_S"].shape == (3, 2, 3) and r["loss"].shape == (3, 2)
    assert abs(r["probs"].sum() - 1) < 1e-12
    torch.testing.assert_close(torch.as_tensor(transformer_point(c, device="cpu", progress=False)["R_over_S"]),
                               torch.as_tensor(r["R_over_S"]))
    one = transformer_point(dict(c, n_skills=1, n_models=3), device="cpu", progress=False)
    assert one["R_over_S"].shape == (3, 3, 1) and one["probs"].tolist() == [1.0]
    with pytest.raises(ValueError, match=r"^config has unknown keys \['device'\]"):
        transformer_point(dict(c, device="cpu"), device="cpu")
