"""Statistics against known distributions and SciPy."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from archrisk.stats import bootstrap


def test_bootstrap_ci_of_normal_mean_matches_theory():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=400)
    e = bootstrap.bootstrap_ci(x, n_boot=4000, rng=0)
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)  # the normal-theory interval
    assert e.value == pytest.approx(x.mean())
    assert e.lo == pytest.approx(x.mean() - half, abs=0.1 * half)
    assert e.hi == pytest.approx(x.mean() + half, abs=0.1 * half)


def test_bootstrap_ci_of_skewed_mean_is_asymmetric_like_the_truth():
    # exponential data: the sampling distribution of the mean is right-skewed (Gamma)
    x = np.random.default_rng(2).exponential(1.0, size=30)
    e = bootstrap.bootstrap_ci(x, n_boot=4000, rng=0)
    assert e.hi - e.value > e.value - e.lo


def _simulate(n_arch, n_seed, tau, sigma, rng):
    arch = rng.normal(0.0, tau, size=n_arch)  # true group mean is 0
    return [a + rng.normal(0.0, sigma, size=n_seed) for a in arch]


def test_cluster_interval_covers_at_nominal_rate():
    rng = np.random.default_rng(3)
    reps, hits = 300, 0
    for _ in range(reps):
        e = bootstrap.cluster_mean(_simulate(15, 3, tau=1.0, sigma=0.5, rng=rng), n_boot=1000, rng=rng)
        hits += e.lo <= 0.0 <= e.hi
    # 95% nominal; the Monte Carlo standard error of the rate is ~0.013
    assert 0.89 <= hits / reps <= 0.99


def test_resampling_rows_instead_of_architectures_undercovers():
    """Ablation: the naive row bootstrap treats seeds as independent architectures and undercovers."""
    rng = np.random.default_rng(4)
    reps, ours, naive = 200, 0, 0
    for _ in range(reps):
        cl = _simulate(10, 5, tau=1.0, sigma=0.2, rng=rng)
        e = bootstrap.cluster_mean(cl, n_boot=1000, rng=rng)
        r = bootstrap.bootstrap_ci(np.concatenate(cl), n_boot=1000, rng=rng)
        ours += e.lo <= 0.0 <= e.hi
        naive += r.lo <= 0.0 <= r.hi
    assert ours / reps >= 0.86
    assert naive / reps <= 0.75  # its interval is ~sqrt(5) too narrow


def test_cluster_difference_covers_and_weights_architectures_equally():
    rng = np.random.default_rng(5)
    reps, hits = 200, 0
    for _ in range(reps):
        a = _simulate(12, 2, tau=1.0, sigma=0.5, rng=rng)
        b = [c + 0.7 for c in _simulate(12, 2, tau=1.0, sigma=0.5, rng=rng)]
        e = bootstrap.cluster_difference(a, b, n_boot=1000, rng=rng)
        hits += e.lo <= -0.7 <= e.hi
    assert 0.88 <= hits / reps <= 0.99
    # an architecture with many seeds does not outweigh one with a single seed
    e = bootstrap.cluster_mean([[0.0] * 10, [1.0]])
    assert e.value == pytest.approx(0.5)


def test_single_architecture_interval_comes_from_its_seeds():
    e = bootstrap.cluster_mean([np.random.default_rng(6).normal(5.0, 1.0, size=200)], rng=0)
    assert e.n_clusters == 1
    assert e.lo < 5.0 < e.hi and e.hi - e.lo == pytest.approx(2 * 1.96 / math.sqrt(200), rel=0.2)
    one = bootstrap.cluster_mean([[1.0]])
    assert one.value == 1.0 and math.isnan(one.lo)


def test_exact_permutation_p_value_by_hand():
    # a=[1,2] vs b=[3,4]: of the 6 splits, {1,2} and {3,4} give |diff| = 2; the rest give 0 or 1
    r = bootstrap.permutation_test([1, 2], [3, 4])
    assert r.exact and r.n_perm == 6
    assert r.p == pytest.approx(2 / 6)
    assert r.p_min == pytest.approx(2 / 6)
    assert bootstrap.permutation_test([1, 2], [3, 4], alternative="less").p == pytest.approx(1 / 6)
    assert bootstrap.permutation_test([1, 2], [3, 4], alternative="greater").p == pytest.approx(1.0)
    assert bootstrap.permutation_test([1, 2, 3], [4, 5, 6, 7]).p_min == pytest.approx(1 / 35)


def test_permutation_p_value_is_uniform_under_the_null():
    rng = np.random.default_rng(7)
    ps = np.array([bootstrap.permutation_test(rng.normal(size=8), rng.normal(size=8)).p for _ in range(300)])
    assert st.kstest(ps, "uniform").statistic < 0.1  # the 1% critical value for n=300 is ~0.094
    hist, _ = np.histogram(ps, bins=5, range=(0, 1))
    assert hist.min() > 35 and hist.max() < 85  # 60 expected per bin
    assert np.mean(ps < 0.05) == pytest.approx(0.05, abs=0.035)


def test_permutation_test_matches_scipy_and_random_mode_agrees_with_exact():
    rng = np.random.default_rng(8)
    a, b = rng.normal(0.8, 1, size=7), rng.normal(0, 1, size=8)
    exact = bootstrap.permutation_test(a, b)
    def ref(statistic, alternative):
        return st.permutation_test((a, b), statistic, vectorized=True, n_resamples=math.inf,
                                   alternative=alternative).pvalue

    diff = lambda x, y, axis: x.mean(axis) - y.mean(axis)  # noqa: E731
    absdiff = lambda x, y, axis: abs(x.mean(axis) - y.mean(axis))  # noqa: E731
    assert exact.exact and exact.n_perm == math.comb(15, 7)
    assert exact.p == pytest.approx(ref(absdiff, "greater"), abs=1e-9)  # two-sided as |diff| >= |observed|
    assert bootstrap.permutation_test(a, b, "greater").p == pytest.approx(ref(diff, "greater"), abs=1e-9)
    assert bootstrap.permutation_test(a, b, "less").p == pytest.approx(ref(diff, "less"), abs=1e-9)
    approx = bootstrap.permutation_test(a, b, max_exact=10, n_perm=20000, rng=1)
    assert not approx.exact
    assert approx.p == pytest.approx(exact.p, abs=0.01)
    shifted = [bootstrap.permutation_test(rng.normal(2, 1, 8), rng.normal(0, 1, 8)).p for _ in range(50)]
    assert np.mean(np.array(shifted) < 0.05) > 0.8


@pytest.mark.parametrize("seed", range(5))
def test_spearman_matches_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, size=25).astype(float)  # many ties
    y = x + rng.normal(size=25)
    ref = st.spearmanr(x, y)
    c = bootstrap.spearman_ci(x, y)
    assert c.rho == pytest.approx(ref.statistic, abs=1e-12)
    assert c.p == pytest.approx(ref.pvalue, rel=1e-6)
    assert c.lo < c.rho < c.hi


def test_spearman_interval_covers_the_true_rank_correlation():
    r = 0.6
    true_rho_s = 6 / math.pi * math.asin(r / 2)  # Spearman's rho of a bivariate normal
    rng = np.random.default_rng(9)
    cov = [[1, r], [r, 1]]
    hits = 0
    for _ in range(300):
        x, y = rng.multivariate_normal([0, 0], cov, size=30).T
        c = bootstrap.spearman_ci(x, y)
        hits += c.lo <= true_rho_s <= c.hi
    assert 0.89 <= hits / 300 <= 0.99


def test_spearman_edge_cases():
    assert math.isnan(bootstrap.spearman_ci([1, 2], [2, 1]).rho)  # too few points
    c = bootstrap.spearman_ci([1, 2, 3], [3, 2, 1])
    assert c.rho == pytest.approx(-1.0) and math.isnan(c.lo)  # no interval below 4 points
    assert math.isnan(bootstrap.spearman([1, 1, 1, 1], [1, 2, 3, 4]))  # constant input


def test_correlation_matrix_matches_scipy_and_skips_missing():
    rng = np.random.default_rng(10)
    cols = rng.normal(size=(3, 12))
    cols[2, 0] = np.nan
    m = bootstrap.correlation_matrix(cols)
    assert np.allclose(np.diag(m), 1) and np.allclose(m, m.T)
    assert m[0, 1] == pytest.approx(st.spearmanr(cols[0], cols[1]).statistic)
    assert m[0, 2] == pytest.approx(st.spearmanr(cols[0, 1:], cols[2, 1:]).statistic)
