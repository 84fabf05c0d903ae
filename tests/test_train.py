"""skillkit.train: ensemble == models one by one, against a plain torch loop, resume, data streams."""
import dataclasses

import numpy as np
import pytest
import torch

from skillkit import measure
from skillkit.data import MultitaskSparseParity, Sampler, probe_set, stream_keys
from skillkit.measure import ensemble_strengths
from skillkit.models import MLPEnsemble
from skillkit.train import Run, TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def task():
    return MultitaskSparseParity(n_skills=3, n_bits=12, k=3, alpha=0.6, S=5.0, seed=1)


def _params(net, i):
    return [p.detach().clone() for p in net.model(i).parameters()]


def test_probe_R_matches_measure_skill_strengths(task):
    net = MLPEnsemble(2, task.dim, 16, init_std=1.0, seed=3)
    x, g = probe_set(task, 500, seed=4)
    R = ensemble_strengths(net, x, g, task.n_skills, task.S).numpy()
    for i in range(2):
        m = net.model(i)
        ref = measure.skill_strengths(lambda z: m(z), task, n=500,
                                      generator=torch.Generator().manual_seed(4 + 7919))
        np.testing.assert_allclose(R[i], ref / task.S, rtol=1e-5, atol=1e-7)
    # row blocks (here 256 rows, not aligned with the 500 rows per skill) do not change R
    Rb = ensemble_strengths(net, x, g, task.n_skills, task.S, max_elems=1).numpy()
    np.testing.assert_allclose(Rb, R, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_ensemble_equals_models_trained_one_by_one(task, opt):
    """Different widths, seeds and init scales in one ensemble: each model trains as it would alone."""
    widths, stds, seeds = [3, 10, 6], [0.3, 0.1, 0.5], [0, 5, 9]
    cfg = TrainConfig(steps=40, batch=200, lr=0.01, optimizer=opt, weight_decay=1e-3, log_every=10, probe_n=200,
                      seed=2)
    net = MLPEnsemble(3, task.dim, widths, init_std=stds, seed=seeds)
    res = train(net, task, cfg, progress=False)
    assert res.steps.tolist() == [0, 10, 20, 30, 40]
    assert res.R_over_S.shape == (5, 3, 3) and res.loss.shape == (5, 3)
    for i in range(3):
        alone = MLPEnsemble(1, task.dim, widths[i], init_std=stds[i], seed=seeds[i])
        r1 = train(alone, task, cfg, progress=False)
        for a, b in zip(_params(net, i), _params(alone, 0)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(res.R_over_S[:, i], r1.R_over_S[:, 0], rtol=1e-4, atol=1e-6)
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
    keys = stream_keys(cfg.seed, net.seeds)
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
    """A generic ensemble module without ``loss_and_grad``: exercises the autograd path of train()."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.n_models, self.seeds = inner, inner.n_models, inner.seeds

    def forward(self, x):
        return self.inner(x)


@pytest.mark.parametrize("shared", [False, True])
def test_autograd_path_for_generic_models_equals_fast_path(task, shared):
    cfg = TrainConfig(steps=20, batch=100, lr=0.03, optimizer="sgd", momentum=0.5, log_every=10,
                      probe_n=100, shared_batch=shared)
    a = MLPEnsemble(2, task.dim, [5, 8], init_std=0.3, seed=0)
    b = _Wrapped(MLPEnsemble(2, task.dim, [5, 8], init_std=0.3, seed=0))
    ra, rb = train(a, task, cfg, progress=False), train(b, task, cfg, progress=False)
    np.testing.assert_allclose(ra.R_over_S, rb.R_over_S, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ra.loss, rb.loss, rtol=1e-4, atol=1e-6)


def test_shared_batch_gives_every_model_the_same_data(task):
    cfg = TrainConfig(steps=15, batch=100, lr=0.02, log_every=5, probe_n=100, shared_batch=True)
    net = MLPEnsemble(2, task.dim, 6, init_std=0.3, seed=[4, 4])     # two identical models
    res = train(net, task, cfg, progress=False)
    np.testing.assert_allclose(res.R_over_S[:, 0], res.R_over_S[:, 1], rtol=1e-6)
    # without a shared batch each model's stream is keyed by its seed: different seeds, different data
    keys = stream_keys(cfg.seed, MLPEnsemble(3, task.dim, 6, seed=[4, 4, 5]).seeds)
    assert keys[0] == keys[1] != keys[2]
    assert len(stream_keys(cfg.seed, net.seeds, shared=True)) == 1
    assert len(Run(net, task, cfg).sampler.keys) == 1


def test_fixed_training_set_epochs_and_full_batch(task):
    D = 64
    # full batch: the logged loss is the loss on the whole training set, and it is deterministic
    cfg = TrainConfig(steps=30, batch=500, D=D, lr=0.05, log_every=10, probe_n=100)
    net = MLPEnsemble(1, task.dim, 8, init_std=0.3, seed=0)
    m0 = net.model(0)
    smp = Sampler(task, stream_keys(cfg.seed, net.seeds), 1)
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
    np.testing.assert_array_equal(res.R_over_S, ref.R_over_S)
    np.testing.assert_array_equal(res.loss, ref.loss)
    for a, b in zip(resumed_net.parameters(), full.parameters()):
        assert torch.equal(a, b)
    # a finished run's checkpoint returns at once with the same result
    again = train(MLPEnsemble(2, task.dim, [4, 7], init_std=0.2, seed=0), task, cfg, checkpoint=ck,
                  progress=False)
    np.testing.assert_array_equal(again.R_over_S, ref.R_over_S)
    with pytest.raises(ValueError, match=r"^checkpoint .* was written by a different net or config"):
        train(MLPEnsemble(2, task.dim, [4, 7], init_std=0.2, seed=0), task,
              dataclasses.replace(cfg, lr=0.02), checkpoint=ck, progress=False)


def test_checkpoint_is_loaded_as_weights_only_and_a_corrupt_one_is_a_clear_error(task, tmp_path):
    cfg = TrainConfig(steps=10, batch=50, lr=0.01, log_every=5, probe_n=50, checkpoint_every=5)
    ck = tmp_path / "run.pt"
    train(MLPEnsemble(1, task.dim, 4, seed=0), task, cfg, checkpoint=ck, progress=False)
    torch.load(ck, weights_only=True)                         # tensors and plain values only
    ck.write_bytes(ck.read_bytes()[:200])                     # truncated
    with pytest.raises(ValueError, match=r"^checkpoint .*run\.pt.* cannot be loaded .*delete it"):
        train(MLPEnsemble(1, task.dim, 4, seed=0), task, cfg, checkpoint=ck, progress=False)
    evil = tmp_path / "evil.pt"                              # a pickle that would run code
    torch.save({"signature": print}, evil)
    with pytest.raises(ValueError, match=r"^checkpoint .*evil\.pt.* cannot be loaded"):
        train(MLPEnsemble(1, task.dim, 4, seed=0), task, cfg, checkpoint=evil, progress=False)


def test_result_dict_and_bad_config(task):
    net = MLPEnsemble(1, task.dim, 3, seed=0)
    res = train(net, task, TrainConfig(steps=3, batch=10, log_every=2, probe_n=10), progress=False)
    assert res.steps.tolist() == [0, 2, 3]
    np.testing.assert_array_equal(np.asarray(res.to_dict()["R_over_S"]), res.R_over_S)
    for bad, name in [(dict(optimizer="rmsprop"), "optimizer"), (dict(lr=0.0), "lr"), (dict(D=0), "D"),
                      (dict(momentum=0.9, optimizer="adam"), "momentum"), (dict(steps=-1), "steps"),
                      (dict(lr_halve_every=0), "lr_halve_every")]:
        with pytest.raises(ValueError, match=rf"^{name} must"):
            TrainConfig(**{"steps": 2, "batch": 10, **bad})
    with pytest.raises(ValueError, match=r"^task must be a MultitaskSparseParity"):
        train(net, object(), TrainConfig(steps=1, batch=2), progress=False)
    with pytest.raises(ValueError, match=r"^net\.dim \(3\) must equal task\.dim"):
        train(MLPEnsemble(1, 3, 2), task, TrainConfig(steps=1, batch=2), progress=False)
