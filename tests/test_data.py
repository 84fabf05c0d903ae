import numpy as np
import pytest
import torch
from scipy import stats

from skillkit.data import MultitaskSparseParity, SparseParity, skill_probs


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
    k = np.arange(1, 6)
    expected = k ** -1.6 / np.sum(k ** -1.6)
    np.testing.assert_allclose(task.probs, expected, rtol=1e-12)
    # the paper's numbers for n_s = 5, alpha = 0.6
    np.testing.assert_allclose(task.probs, [0.5927, 0.1955, 0.1022, 0.0645, 0.0451], atol=1e-4)


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
    with pytest.raises(ValueError, match=name):
        MultitaskSparseParity(**kwargs)


def test_bad_sample_sizes(task):
    with pytest.raises(ValueError, match="n must"):
        task.sample(0)
    with pytest.raises(ValueError, match="skill index"):
        task.sample_skill(5, 10)
    with pytest.raises(ValueError, match="shape"):
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
    with pytest.raises(ValueError, match="k"):
        SparseParity(n_bits=3, k=4)
