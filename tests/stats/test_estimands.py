"""Variance components and the two estimands, checked on simulated data with a known answer.

Each check compares a rule with what it claims over many simulated designs: an interval's coverage of
its own estimand, a power's rejection rate, a sample size's power. Bounds allow for Monte Carlo error
(2.5 binomial standard errors of the number of simulations); seeds are fixed.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from archrisk.stats import estimands as est
from archrisk.stats.components import components, inflation, pooled
from archrisk.stats.inference import welch


def _band(level: float, n: int) -> float:
    return 2.5 * math.sqrt(level * (1 - level) / n)


def _group(rng, true_means, sd_seed: float, seeds: int) -> list[list[float]]:
    return [list(m + sd_seed * rng.normal(size=seeds)) for m in true_means]


def test_components_recover_their_parts_and_reliability_stays_in_range():
    rng = np.random.default_rng(0)
    tau2, rel = [], []
    for _ in range(400):
        c = components(_group(rng, rng.normal(0, 0.3, 12), 0.4, 3))
        tau2.append(c.var_arch)
        rel.append(c.reliability)
        assert c.n == 12 and c.df_seed == 24 and c.df_means == 11
    # truncation at 0 biases tau^2 upward a little; the mean stays near the truth (0.09)
    assert np.mean(tau2) == pytest.approx(0.09, abs=0.02)
    assert min(rel) >= 0 and max(rel) <= 1  # never negative, whatever the draw
    assert min(rel) == 0  # pure seed noise does happen here, and reads 0, not a negative number
    noise_only = components(_group(np.random.default_rng(1), np.zeros(10), 1.0, 2))
    assert 0 <= noise_only.reliability <= 0.5


def test_pooled_components_keep_the_group_difference_out():
    rng = np.random.default_rng(2)
    a = components(_group(rng, 5 + rng.normal(0, 0.1, 8), 0.1, 2))
    b = components(_group(rng, rng.normal(0, 0.1, 8), 0.1, 2))
    p = pooled([a, b])
    assert p.sd_means < 0.2 and p.n == 16 and p.df_means == 14  # the 5-unit gap is not spread
    assert 1 <= inflation(p) <= math.sqrt(2)


def test_random_effects_is_welch_on_architecture_means():
    rng = np.random.default_rng(3)
    ga, gb = _group(rng, rng.normal(1, 1, 5), 0.5, 3), _group(rng, rng.normal(0, 2, 7), 0.5, 2)
    t = est.random_effects(components(ga), components(gb))
    w = welch([np.mean(v) for v in ga], [np.mean(v) for v in gb])
    assert (t.diff, t.lo, t.hi, t.p, t.df) == pytest.approx((w.diff, w.lo, w.hi, w.p, w.df), rel=1e-9)


def _cover(kind: str, truth: str, n_sims: int, seed: int) -> float:
    """Coverage of the NAS - manual interval of `kind`, for the truth of `truth`: the named
    architectures' mean difference (fixed) or the population's (random, 0)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_sims):
        ta, tb = rng.normal(0, 0.3, 8), rng.normal(0, 0.3, 6)
        a, b = components(_group(rng, ta, 0.2, 2)), components(_group(rng, tb, 0.4, 2))
        t = est.fixed_effects(a, b) if kind == "fixed" else est.random_effects(a, b)
        target = ta.mean() - tb.mean() if truth == "fixed" else 0.0
        hits += t.lo <= target <= t.hi
    return hits / n_sims


@pytest.mark.parametrize("kind", ["fixed", "random"])
def test_each_estimand_interval_covers_its_own_question(kind):
    n = 600
    assert _cover(kind, kind, n, seed=4) >= 0.95 - _band(0.95, n)


def test_the_fixed_interval_does_not_answer_the_population_question():
    """Control: between-architecture spread the fixed interval leaves out (by design), so it undercovers
    the population's difference; the coverage checks above can fail."""
    assert _cover("fixed", "random", 400, seed=5) < 0.85


def test_fixed_effects_needs_seed_replication():
    one_seed = components([[0.1], [0.2], [0.3]])
    assert math.isnan(est.fixed_effects(one_seed, one_seed).p)
    assert math.isnan(est.power_fixed(0.1, one_seed, one_seed, 0.05))


def _rate(kind: str, effect: float, n_a: int, n_b: int, seeds: int, tau: float, sigma: float, alpha: float,
          n_sims: int, seed: int) -> tuple[float, float]:
    """(rejection rate, mean predicted power) with true difference `effect` (fixed effects: between the
    named architectures, whose means are centred per group; random effects: between populations)."""
    rng = np.random.default_rng(seed)
    hits, predicted = 0, []
    for _ in range(n_sims):
        ta, tb = rng.normal(0, tau, n_a), rng.normal(0, tau, n_b)
        if kind == "fixed":
            ta, tb = ta - ta.mean(), tb - tb.mean()
        a, b = components(_group(rng, ta + effect, sigma, seeds)), components(_group(rng, tb, sigma, seeds))
        t = est.fixed_effects(a, b) if kind == "fixed" else est.random_effects(a, b)
        hits += t.p < alpha
        predicted.append(est.power_fixed(effect, a, b, alpha) if kind == "fixed" else
                         est.power_random(effect, a, b, alpha))
    return hits / n_sims, float(np.mean(predicted))


@pytest.mark.parametrize("kind, effect", [("fixed", 0.12), ("random", 0.35), ("fixed", 0.0), ("random", 0.0)])
def test_reported_power_matches_the_rejection_rate(kind, effect):
    rate, power = _rate(kind, effect, 10, 7, 2, 0.2, 0.15, 0.05 / 12, 500, seed=6)
    if effect:
        assert 0.2 < power < 0.9, power  # a design where the check is sharp
        assert abs(rate - power) <= 0.1, (rate, power)
    else:
        assert rate <= 0.05 / 12 + _band(0.05 / 12, 500) and power == pytest.approx(0.05 / 12, rel=0.2)


def test_sample_sizes_reach_the_target_power_and_one_fewer_does_not():
    rng = np.random.default_rng(7)
    a = components(_group(rng, rng.normal(0, 0.08, 10), 0.12, 2))
    b = components(_group(rng, rng.normal(0, 0.08, 7), 0.12, 2))
    alpha = 0.05 / 12
    k = est.seeds_needed(0.06, a, b, alpha)
    assert est.power_fixed(0.06, a, b, alpha, seeds=k) >= 0.8 > est.power_fixed(0.06, a, b, alpha, seeds=k - 1)
    n = est.archs_needed(0.06, a, b, alpha, seeds=2)
    assert est.power_random(0.06, a, b, alpha, n=int(n), seeds=2) >= 0.8
    assert est.power_random(0.06, a, b, alpha, n=int(n) - 1, seeds=2) < 0.8
    hi = est.archs_needed(0.06, a, b, alpha, seeds=2, tau=(a.arch_interval()[1], b.arch_interval()[1]))
    assert hi >= n  # the top of the SD's interval asks for at least as many
    assert est.seeds_needed(1e-6, a, b, alpha) == math.inf


def test_a_design_sized_by_seeds_needed_has_that_power_in_simulation():
    """Sized on one pilot, the fixed-effects design at k seeds rejects at about the promised 0.8."""
    rng = np.random.default_rng(8)
    ta, tb = rng.normal(0, 0.08, 10), rng.normal(0, 0.08, 7)
    ta, tb = ta - ta.mean(), tb - tb.mean()
    pilot_a, pilot_b = components(_group(rng, ta, 0.12, 30)), components(_group(rng, tb, 0.12, 30))
    k = int(est.seeds_needed(0.06, pilot_a, pilot_b, 0.05 / 12))
    hits = sum(est.fixed_effects(components(_group(rng, ta + 0.06, 0.12, k)),
                                 components(_group(rng, tb, 0.12, k))).p < 0.05 / 12 for _ in range(400))
    assert abs(hits / 400 - 0.8) <= 0.08, (k, hits)


def test_type_m_matches_a_direct_simulation_of_the_test():
    """Exaggeration of significant estimates: 1 at high power, large at low power, and equal to what a
    simulation of the actual fixed-effects test gives."""
    assert est.type_m(1.0, 0.1, 30, 0.05) == pytest.approx(1.0, abs=0.01)
    rng = np.random.default_rng(9)
    alpha, effect, sig = 0.05, 0.05, []
    for _ in range(4000):
        a = components(_group(rng, np.zeros(6) + effect, 0.1, 2))
        b = components(_group(rng, np.zeros(6), 0.1, 2))
        t = est.fixed_effects(a, b)
        if t.p < alpha:
            sig.append(abs(t.diff))
    se = math.sqrt(0.1 ** 2 / 2 / 6 * 2)
    predicted = est.type_m(effect, se, 12, alpha)
    assert predicted > 1.5
    assert np.mean(sig) / effect == pytest.approx(predicted, rel=0.1)


def test_power_is_the_level_at_no_effect_and_grows_with_the_effect():
    assert est.power_nct(0.0, 1.0, 10, 0.05) == pytest.approx(0.05, abs=1e-9)
    ps = [est.power_nct(e, 1.0, 10, 0.05) for e in (0.5, 1, 2, 5)]
    assert ps == sorted(ps) and ps[-1] > 0.95
