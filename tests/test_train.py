"""skillkit.train: ensemble == models one by one, against plain torch optimisers, resume, data streams."""
import numpy as np
import pytest
import torch

from skillkit import measure
from skillkit import train as train_mod
from skillkit.data import MultitaskSparseParity
from skillkit.models import MLPEnsemble
from skillkit.train import Sampler, TrainConfig, TrainResult, _data_keys, evaluate_R, probe_set, train

pytestmark = pytest.mark.usefixtures("one_thread")



@pytest.fixture(scope="module")
def task():
    return MultitaskSparseParity(n_skills=3, n_bits=12, k=3, alpha=0.6, S=5.0, seed=1)


def _params(net, i):
    return [p.detach().clone() for p in net.model(i).parameters()]


def test_sampler_streams_are_per_model_labels_exact_and_frequencies_zipf(task):
    both = Sampler(task, [11, 22], 4000)
    alone = Sampler(task, [22], 4000)
    xa, y = both.batch(5)
    xa, y = xa.clone(), y.clone()                  # batch() reuses its buffer
    xa1, y1 = alone.batch(5)
    assert torch.equal(xa[1], xa1[0]) and torch.equal(y[1], y1[0])     # stream 1 is its own
    assert not torch.equal(xa[0], xa[1])
    assert not torch.equal(both.batch(6)[0], xa)                        # fresh every step
    assert torch.equal(y[0], task.target(xa[0, :, :task.dim]))         # labels are y = S sum_k g_k
    assert torch.all(xa[..., -1] == 1)
    big = Sampler(task, list(range(10)), 20000)
    xb, _, skill = big.make(0, 20000)
    freq = np.bincount(skill.flatten().numpy(), minlength=3) / skill.numel()
    np.testing.assert_allclose(freq, task.probs, atol=4 * np.sqrt(0.25 / skill.numel()))
    bits = xb[..., task.n_skills:task.dim]
    assert abs(bits.mean().item() - 0.5) < 0.002                        # uniform skill bits
    # bits pairwise uncorrelated
    c = np.corrcoef(bits.reshape(-1, task.n_bits).numpy().T)
    assert np.abs(c - np.eye(task.n_bits)).max() < 0.01


def test_int32_hash_equals_the_reference_and_table_equals_columnwise_rows():
    v = torch.randint(-2**31, 2**31 - 1, (5000,), dtype=torch.int32)
    got = (train_mod._mix32(v).to(torch.int64) & 0xFFFFFFFF).tolist()
    assert got == [train_mod._mix32_int(int(a) & 0xFFFFFFFF) for a in v.tolist()]
    for n_skills, n_bits in [(5, 32), (3, 40), (12, 60), (40, 120)]:  # rows of 1-5 words; 40 skills
                                                                       # take the searchsorted path
        t = MultitaskSparseParity(n_skills=n_skills, n_bits=n_bits, k=3, alpha=0.5, seed=2)
        fast = Sampler(t, [3, 4], 50)
        slow = Sampler(t, [3, 4], 50)
        slow._table = None
        xa, y, sk = fast.make(9, 300)
        xs, ys, _ = slow.make(9, 300)
        assert fast._table is not None and torch.equal(xa, xs) and torch.equal(y, ys)
        assert torch.equal(y[1], t.target(xa[1, :, :t.dim]))
        assert torch.equal(xa[..., :n_skills].argmax(-1), sk)
        wide = fast.make(1, 20000)[2].flatten().numpy()
        freq = np.bincount(wide, minlength=n_skills) / wide.size
        np.testing.assert_allclose(freq, t.probs, atol=5 * np.sqrt(t.probs.max() / wide.size))


def test_probe_R_matches_measure_skill_strengths(task):
    net = MLPEnsemble(2, task.dim, 16, init_std=1.0, seed=3)
    x, g = probe_set(task, 500, seed=4)
    R = evaluate_R(net, x, g, task.n_skills, task.S).numpy()
    for i in range(2):
        m = net.model(i)
        ref = measure.skill_strengths(lambda z: m(z), task, n=500,
                                      generator=torch.Generator().manual_seed(4 + 7919))
        np.testing.assert_allclose(R[i], ref / task.S, rtol=1e-5, atol=1e-7)
    # row blocks (here 256 rows, not aligned with the 500 rows per skill) do not change R
    Rb = evaluate_R(net, x, g, task.n_skills, task.S, max_elems=1).numpy()
    np.testing.assert_allclose(Rb, R, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_ensemble_equals_models_trained_one_by_one(task, opt):
    """The issue's equivalence test: different widths, seeds, init scales and learning rates."""
    widths, stds, seeds, lrs = [3, 10, 6], [0.3, 0.1, 0.5], [0, 5, 9], [0.01, 0.02, 0.005]
    cfg = dict(steps=40, batch=200, optimizer=opt, weight_decay=1e-3, log_every=10, probe_n=200, seed=2)
    net = MLPEnsemble(3, task.dim, widths, init_std=stds, seed=seeds)
    res = train(net, task, TrainConfig(lr=0.01, lr_per_model=lrs, **cfg), progress=False)
    assert res.steps.tolist() == [0, 10, 20, 30, 40]
    assert res.R.shape == (5, 3, 3) and res.loss.shape == (5, 3)
    for i in range(3):
        alone = MLPEnsemble(1, task.dim, widths[i], init_std=stds[i], seed=seeds[i])
        r1 = train(alone, task, TrainConfig(lr=lrs[i], **cfg), progress=False)
        for a, b in zip(_params(net, i), _params(alone, 0)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(res.R[:, i], r1.R[:, 0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(res.loss[:, i], r1.loss[:, 0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("opt,mom,wd,halve", [("sgd", 0.0, 0.0, None), ("sgd", 0.9, 1e-2, 7),
                                              ("adam", 0.0, 5e-3, 10)])
def test_training_matches_plain_torch_loop(task, opt, mom, wd, halve):
    """An independent implementation: nn.Sequential + torch.optim + MSELoss on the same batches."""
    cfg = TrainConfig(steps=25, batch=128, lr=0.05 if opt == "sgd" else 0.01, optimizer=opt,
                      momentum=mom, weight_decay=wd, lr_halve_every=halve, log_every=25,
                      probe_n=100, seed=3)
    net = MLPEnsemble(2, task.dim, [4, 9], init_std=0.2, seed=1)
    plain = [net.model(i) for i in range(2)]
    keys = _data_keys(net, cfg)
    train(net, task, cfg, progress=False)
    for i, m in enumerate(plain):
        if opt == "sgd":
            o = torch.optim.SGD(m.parameters(), lr=cfg.lr, momentum=mom, weight_decay=wd)
        else:
            o = torch.optim.Adam(m.parameters(), lr=cfg.lr, weight_decay=wd)
        sched = torch.optim.lr_scheduler.StepLR(o, step_size=halve or 10**9, gamma=0.5)
        smp = Sampler(task, [keys[i]], cfg.batch)
        for t in range(cfg.steps):
            xa, y = smp.batch(t)
            o.zero_grad()
            torch.nn.MSELoss()(m(xa[0, :, :task.dim])[:, 0], y[0]).backward()
            o.step()
            sched.step()
        for a, b in zip(_params(net, i), [p.detach() for p in m.parameters()]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


class _Wrapped(torch.nn.Module):
    """A generic ensemble module (not an MLPEnsemble): exercises the autograd path of train()."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.n_models, self.seeds = inner, inner.n_models, inner.seeds

    def forward(self, x):
        return self.inner(x)


@pytest.mark.parametrize("shared", [False, True])
def test_autograd_path_for_generic_models_equals_fast_path(task, shared):
    cfg = TrainConfig(steps=20, batch=100, lr=0.03, optimizer="sgd", momentum=0.5, log_every=10,
                      probe_n=100, shared_batch=shared, lr_per_model=[0.03, 0.01])
    a = MLPEnsemble(2, task.dim, [5, 8], init_std=0.3, seed=0)
    b = _Wrapped(MLPEnsemble(2, task.dim, [5, 8], init_std=0.3, seed=0))
    ra, rb = train(a, task, cfg, progress=False), train(b, task, cfg, progress=False)
    np.testing.assert_allclose(ra.R, rb.R, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ra.loss, rb.loss, rtol=1e-4, atol=1e-6)


def test_shared_batch_gives_every_model_the_same_data(task):
    cfg = TrainConfig(steps=15, batch=100, lr=0.02, log_every=5, probe_n=100, shared_batch=True)
    net = MLPEnsemble(2, task.dim, 6, init_std=0.3, seed=[4, 4])     # two identical models
    res = train(net, task, cfg, progress=False)
    np.testing.assert_allclose(res.R[:, 0], res.R[:, 1], rtol=1e-6)
    # without a shared batch each model's stream is keyed by its seed: different seeds, different data
    per_model = TrainConfig(**{**cfg.to_dict(), "shared_batch": False})
    keys = _data_keys(MLPEnsemble(3, task.dim, 6, seed=[4, 4, 5]), per_model)
    assert keys[0] == keys[1] != keys[2]
    assert len(_data_keys(net, cfg)) == 1


def test_fixed_training_set_epochs_and_full_batch(task):
    D = 64
    # full batch: the logged loss is the loss on the whole training set, and it is deterministic
    cfg = TrainConfig(steps=30, batch=500, D=D, lr=0.05, log_every=10, probe_n=100)
    net = MLPEnsemble(1, task.dim, 8, init_std=0.3, seed=0)
    m0 = net.model(0)
    smp = Sampler(task, _data_keys(net, cfg), 1)
    xa, y, _ = smp.make((1 << 41) + 12345, D)
    res = train(net, task, cfg, progress=False)
    ref0 = torch.nn.MSELoss()(m0(xa[0, :, :task.dim])[:, 0], y[0]).item()
    assert res.loss[0, 0] == pytest.approx(ref0, rel=1e-5)
    # minibatches: each epoch visits every training sample exactly once
    perm = smp.permutation(3, D)
    assert sorted(perm[0].tolist()) == list(range(D))
    assert not torch.equal(perm, smp.permutation(4, D))
    cfg2 = TrainConfig(steps=16, batch=16, D=D, lr=0.05, log_every=4, probe_n=100)
    res2 = train(MLPEnsemble(1, task.dim, 8, init_std=0.3, seed=0), task, cfg2, progress=False)
    assert np.all(np.isfinite(res2.loss))


def test_killed_run_resumes_from_checkpoint_to_the_same_result(task, tmp_path):
    cfg = TrainConfig(steps=60, batch=100, lr=0.01, optimizer="adam", log_every=10, probe_n=100,
                      checkpoint_every=20)
    full = MLPEnsemble(2, task.dim, [4, 7], init_std=0.2, seed=0)
    ref = train(full, task, cfg, progress=False)

    def kill(step, R, loss):
        if step == 50:
            raise KeyboardInterrupt

    ck = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        train(MLPEnsemble(2, task.dim, [4, 7], init_std=0.2, seed=0), task, cfg, checkpoint=ck,
              progress=False, callback=kill)
    assert ck.exists()
    seen = []
    resumed_net = MLPEnsemble(2, task.dim, [4, 7], init_std=0.2, seed=0)
    res = train(resumed_net, task, cfg, checkpoint=ck, progress=False,
                callback=lambda s, R, l: seen.append(s))
    assert seen == [40, 50, 60]                     # resumed at the last checkpoint (step 40)
    np.testing.assert_array_equal(res.steps, ref.steps)
    np.testing.assert_array_equal(res.R, ref.R)
    np.testing.assert_array_equal(res.loss, ref.loss)
    for a, b in zip(resumed_net.parameters(), full.parameters()):
        assert torch.equal(a, b)
    # a finished run's checkpoint returns at once with the same result
    again = train(MLPEnsemble(2, task.dim, [4, 7], init_std=0.2, seed=0), task, cfg, checkpoint=ck,
                  progress=False)
    np.testing.assert_array_equal(again.R, ref.R)
    with pytest.raises(ValueError, match="checkpoint"):
        train(MLPEnsemble(2, task.dim, [4, 7], init_std=0.2, seed=0), task,
              TrainConfig(**{**cfg.to_dict(), "lr": 0.02}), checkpoint=ck, progress=False)


def test_result_roundtrip_and_bad_config(task):
    net = MLPEnsemble(1, task.dim, 3, seed=0)
    res = train(net, task, TrainConfig(steps=3, batch=10, log_every=2, probe_n=10), progress=False)
    assert res.steps.tolist() == [0, 2, 3]
    back = TrainResult.from_dict(res.to_dict())
    np.testing.assert_array_equal(back.R, res.R)
    for bad, name in [(dict(optimizer="rmsprop"), "optimizer"), (dict(lr=0.0), "lr"),
                      (dict(lr_per_model=[0.1, 0.2]), "lr_per_model"), (dict(D=0), "D"),
                      (dict(precision="fp8"), "precision"), (dict(momentum=0.9, optimizer="adam"), "momentum")]:
        with pytest.raises(ValueError, match=name):
            train(net, task, TrainConfig(steps=2, batch=10, **bad), progress=False)
