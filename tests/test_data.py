import numpy as np
import pytest
import torch
from scipy import stats

from skillkit.data import MultitaskSparseParity, Sampler, SparseParity, parity, skill_probs, stream_keys


@pytest.fixture(scope="module")
def task():
    return MultitaskSparseParity(n_skills=5, n_bits=32, k=3, alpha=0.6, S=5.0, seed=0)


@pytest.fixture(scope="module")
def big_sample(task):
    return task.sample(200_000, generator=torch.Generator().manual_seed(123))


def test_contract_shapes_and_types(task):
    assert task.dim == 37
    assert task.probs.dtype == np.float64 and task.probs.shape == (5,)
    assert task.relevant_bits.shape == (5, 3) and task.relevant_bits.dtype.kind == "i"
    assert len(np.unique(task.relevant_bits)) == 15                 # disjoint between skills
    assert task.relevant_bits.min() >= 0 and task.relevant_bits.max() < 32
    x, skill, y = task.sample(64)
    assert x.dtype == torch.float32 and x.shape == (64, 37)
    assert skill.dtype == torch.int64 and skill.shape == (64,)
    assert y.dtype == torch.float32 and y.shape == (64,)
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    assert torch.equal(x[:, :5].argmax(1), skill) and torch.all(x[:, :5].sum(1) == 1)


def test_probs_are_the_power_law(task):
    # the paper's numbers for n_s = 5, alpha = 0.6, and the ratio of neighbours (k/(k+1))^(alpha+1)
    np.testing.assert_allclose(task.probs, [0.5927, 0.1955, 0.1022, 0.0645, 0.0451], atol=1e-4)
    np.testing.assert_allclose(task.probs[1:] / task.probs[:-1], (np.arange(1, 5) / np.arange(2, 6)) ** 1.6,
                               rtol=1e-12)


def test_frequencies_match_by_chi_square(task, big_sample):
    _, skill, _ = big_sample
    counts = np.bincount(skill.numpy(), minlength=5)
    chi2, pval = stats.chisquare(counts, task.probs * counts.sum())
    assert pval > 1e-4, (counts, chi2)
    # and a wrong exponent is rejected by the same test
    wrong = skill_probs(0.4, 5)
    assert stats.chisquare(counts, wrong * counts.sum()).pvalue < 1e-10


def test_basis_is_orthonormal_under_data(task, big_sample):
    x, _, _ = big_sample
    g = task.basis(x).double()
    gram = (g.T @ g / g.shape[0]).numpy()            # E[g_k g_l]
    n = g.shape[0]
    se = np.sqrt(task.probs * (1 - task.probs) / n)  # sampling error of the diagonal
    np.testing.assert_array_less(np.abs(np.diag(gram) - task.probs), 5 * se)
    off = gram - np.diag(np.diag(gram))
    assert np.all(off == 0.0)                        # disjoint supports: exactly zero pointwise
    # and conditional on skill k, g_k averages to zero (a balanced parity) with E[g_k^2] = 1
    for k in range(5):
        xk = task.sample_skill(k, 50_000, generator=torch.Generator().manual_seed(k))
        gk = task.basis(xk)[:, k].double()
        assert torch.all(gk.abs() == 1)
        assert abs(gk.mean().item()) < 5 / np.sqrt(50_000)


def test_labels_are_S_times_sum_of_basis(task, big_sample):
    x, _, y = big_sample
    assert torch.equal(y, task.S * task.basis(x).sum(1))
    assert set(torch.unique(y).tolist()) == {-5.0, 5.0}


def test_basis_matches_a_direct_parity(task):
    x, skill, _ = task.sample(500, generator=torch.Generator().manual_seed(9))
    bits = x[:, 5:].numpy().astype(int)
    for i in range(500):
        k = int(skill[i])
        sign = (-1) ** bits[i, task.relevant_bits[k]].sum()   # the paper's sign: +1 for even
        row = task.basis(x[i:i + 1])[0].numpy()
        assert row[k] == sign and np.count_nonzero(row) == 1


def test_same_seed_same_data():
    a = MultitaskSparseParity(seed=4)
    b = MultitaskSparseParity(seed=4)
    c = MultitaskSparseParity(seed=5)
    assert np.array_equal(a.relevant_bits, b.relevant_bits)
    assert not np.array_equal(a.relevant_bits, c.relevant_bits)
    xa, sa, ya = a.sample(100)
    xb, sb, yb = b.sample(100)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(a.sample(50, g1)[0], c.sample(50, g2)[0])   # same generator, same draws


@pytest.mark.parametrize("kwargs,name", [
    (dict(n_skills=0), "n_skills"), (dict(alpha=0.0), "alpha"), (dict(alpha=-1), "alpha"),
    (dict(S=0), "S"), (dict(k=40), "k"), (dict(n_skills=11, k=3, n_bits=32), "n_skills \\* k"),
    (dict(n_bits=2.5), "n_bits"),
])
def test_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        MultitaskSparseParity(**kwargs)


def test_bad_sample_sizes(task):
    with pytest.raises(ValueError, match=r"^n must be an integer in \[1, inf\]"):
        task.sample(0)
    with pytest.raises(ValueError, match=r"^skill must be an integer in \[0, 4\]"):
        task.sample_skill(5, 10)
    with pytest.raises(ValueError, match=r"^x must have shape \(n, dim\)"):
        task.basis(torch.zeros(3, 10))


def test_sparse_parity():
    sp = SparseParity(n_bits=20, k=4, seed=1)
    x, y = sp.sample(4096)
    assert x.shape == (4096, 20) and set(torch.unique(x).tolist()) == {-1.0, 1.0}
    direct = torch.prod(x[:, torch.as_tensor(sp.relevant_bits)], 1)
    assert torch.equal(y, direct)
    assert abs(y.mean().item()) < 0.1                      # balanced labels
    # labels are uncorrelated with any single bit (the hallmark of parity, k >= 2)
    corr = (x * y[:, None]).mean(0).abs().max().item()
    assert corr < 0.08
    with pytest.raises(ValueError, match=r"^k must be an integer in \[1, 3\]"):
        SparseParity(n_bits=3, k=4)


# ----- the counter-based sampler that feeds every training run ----------------------------------------
@pytest.fixture(scope="module")
def small_task():
    return MultitaskSparseParity(n_skills=3, n_bits=12, k=3, alpha=0.6, S=5.0, seed=1)


def test_sampler_streams_are_per_model_labels_exact_and_frequencies_zipf(small_task):
    both = Sampler(small_task, [11, 22], 4000)
    alone = Sampler(small_task, [22], 4000)
    xa, y = both.batch(5)
    xa, y = xa.clone(), y.clone()                  # batch() reuses its buffer
    xa1, y1 = alone.batch(5)
    assert torch.equal(xa[1], xa1[0]) and torch.equal(y[1], y1[0])     # stream 1 is its own
    assert not torch.equal(xa[0], xa[1])
    assert not torch.equal(both.batch(6)[0], xa)                        # fresh every step
    assert torch.equal(y[0], small_task.target(xa[0, :, :small_task.dim]))         # labels are y = S sum_k g_k
    assert torch.all(xa[..., -1] == 1)
    big = Sampler(small_task, list(range(10)), 20000)
    xb, _, skill = big.make(0, 20000)
    freq = np.bincount(skill.flatten().numpy(), minlength=3) / skill.numel()
    np.testing.assert_allclose(freq, small_task.probs, atol=4 * np.sqrt(0.25 / skill.numel()))
    bits = xb[..., small_task.n_skills:small_task.dim]
    assert abs(bits.mean().item() - 0.5) < 0.002                        # uniform skill bits
    # bits pairwise uncorrelated
    c = np.corrcoef(bits.reshape(-1, small_task.n_bits).numpy().T)
    assert np.abs(c - np.eye(small_task.n_bits)).max() < 0.01


def test_int32_hash_equals_the_reference_and_table_equals_columnwise_rows():
    v = torch.randint(-2**31, 2**31 - 1, (5000,), dtype=torch.int32)
    got = (parity._mix32(v).to(torch.int64) & 0xFFFFFFFF).tolist()
    assert got == [parity.mix32(int(a) & 0xFFFFFFFF) for a in v.tolist()]
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


def test_sampler_and_task_sample_draw_one_distribution(task):
    """Both ways of drawing samples give the same skill frequencies and the same bit statistics."""
    x_task, s_task, y_task = task.sample(100_000, generator=torch.Generator().manual_seed(3))
    xa, y, s_smp = Sampler(task, stream_keys(0, [7]), 1).make(5, 100_000)
    x_smp, s_smp, y_smp = xa[0, :, :task.dim], s_smp[0], y[0]
    counts = np.stack([np.bincount(s.numpy(), minlength=5) for s in (s_task, s_smp)])
    assert stats.chi2_contingency(counts).pvalue > 1e-4
    assert torch.equal(y_smp, task.target(x_smp)) and torch.equal(y_task, task.target(x_task))
    for x in (x_task, x_smp):
        assert abs(x[:, task.n_skills:].mean().item() - 0.5) < 0.003
        assert torch.equal(x[:, :task.n_skills].sum(1), torch.ones(x.shape[0]))


def test_stream_keys_depend_on_run_seed_and_model_seed_only():
    k = stream_keys(3, [10, 11, 10])
    assert k[0] == k[2] != k[1] and k == stream_keys(3, [10, 11, 10])
    assert stream_keys(4, [10])[0] != k[0]
    assert len(stream_keys(3, [10, 11], shared=True)) == 1
    with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, inf\]"):
        stream_keys(-1, [0])
