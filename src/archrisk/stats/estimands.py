"""The two questions a group comparison can answer, each with its interval, power and sample size.

- **fixed effects** (`FIXED`): do these named architectures differ? The architectures are the ones
  named; only seeds are sampled. The difference of the groups' mean architecture means has variance
  sum_g sigma_g^2 mean(1/k) / n_g (seed noise only), with Satterthwaite degrees of freedom from the
  groups' pooled seed variances. More seeds narrow it without limit.
- **random effects** (`RANDOM`): would another draw of architectures like these differ? Architectures
  are sampled too: Welch's t on architecture means (their spread carries both components). More seeds
  narrow it only down to the spread between architectures; beyond that only more architectures help.

Each has power at a raw effect (noncentral t on its degrees of freedom, at a stated level), what
would give it power 0.8 at that effect (seeds per architecture; architectures per group at a stated
number of seeds, with the between-architecture SD at its estimate and at the top of its interval),
and the expected exaggeration of a significant estimate when power is low (type M, by simulation).
Spreads are each group's own (`components`).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special as _sp
from scipy import stats as _st

from archrisk.stats.components import Components
from archrisk.stats.inference import ALPHA, TARGET_POWER, TTest

FIXED, RANDOM, PAIRED = "fixed", "random", "paired"
ESTIMANDS = (FIXED, RANDOM)
QUESTION = {
    FIXED: "fixed effects: do these named architectures differ (seeds sampled)?",
    RANDOM: "random effects: would another draw of architectures like these differ (architectures sampled)?",
    PAIRED: "these remedy cells against their source cell, paired by seed (seeds sampled)",
}
MOST = 100_000  # seeds or architectures: beyond this a design is reported as out of reach
TYPE_M_DRAWS = 20_000


def satterthwaite(diff: float, v_a: float, v_b: float, df_a: float, df_b: float, n_a: int, n_b: int,
                  level: float = 1 - ALPHA) -> TTest:
    """A difference with variance v_a + v_b, its t interval and two-sided p on Satterthwaite's df."""
    nan = dict(lo=math.nan, hi=math.nan, p=math.nan, df=math.nan, se=math.nan)
    if not all(map(math.isfinite, (diff, v_a, v_b))):
        return TTest(diff, **nan, n_a=n_a, n_b=n_b)
    se = math.sqrt(v_a + v_b)
    if se == 0:
        return TTest(diff, diff, diff, 1.0 if diff == 0 else 0.0, math.inf, 0.0, n_a, n_b)
    df = _df(v_a, v_b, df_a, df_b)
    half = float(_sp.stdtrit(df, 1 - (1 - level) / 2)) * se
    return TTest(diff, diff - half, diff + half, float(2 * _sp.stdtr(df, -abs(diff) / se)), df, se, n_a, n_b)


def _df(v_a: float, v_b: float, df_a: float, df_b: float) -> float:
    num = (v_a + v_b) ** 2
    den = (v_a ** 2 / df_a if df_a > 0 else (math.inf if v_a else 0.0)) + \
          (v_b ** 2 / df_b if df_b > 0 else (math.inf if v_b else 0.0))
    return num / den if den > 0 else math.inf


def _fixed_parts(a: Components, b: Components, seeds: float | None = None) -> tuple[float, float, float, float]:
    """(v_a, v_b, df_a, df_b) of the fixed-effects difference, at the measured seeds or `seeds` each."""
    out = []
    for g in (a, b):
        inv = g.inv_seeds if seeds is None else 1.0 / seeds
        df = g.df_seed if seeds is None else g.n * (seeds - 1)
        out.append((g.var_seed * inv / g.n if g.n else math.nan, df))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def fixed_effects(a: Components, b: Components, level: float = 1 - ALPHA) -> TTest:
    """mean(a) - mean(b) of the named architectures' means, seed noise only. Needs two seeds of some
    architecture in each group (otherwise seed noise cannot be measured): else nan p."""
    diff = a.mean - b.mean if a.n and b.n else math.nan
    if a.n < 1 or b.n < 1 or a.df_seed < 1 or b.df_seed < 1:
        return TTest(diff, math.nan, math.nan, math.nan, math.nan, math.nan, a.n, b.n)
    v_a, v_b, df_a, df_b = _fixed_parts(a, b)
    return satterthwaite(diff, v_a, v_b, df_a, df_b, a.n, b.n, level)


def random_effects(a: Components, b: Components, level: float = 1 - ALPHA) -> TTest:
    """Welch's t on architecture means: the population question (equals `inference.welch` on the means)."""
    diff = a.mean - b.mean if a.n and b.n else math.nan
    if a.n < 2 or b.n < 2:
        return TTest(diff, math.nan, math.nan, math.nan, math.nan, math.nan, a.n, b.n)
    return satterthwaite(diff, a.var_means / a.n, b.var_means / b.n, a.df_means, b.df_means, a.n, b.n, level)


def power_nct(effect: float, se: float, df: float, alpha: float) -> float:
    """Power of a two-sided t test at level alpha when the true difference is `effect` and the
    estimate's standard error `se` (noncentral t on df degrees of freedom; SciPy's special functions,
    which sample-size searches call thousands of times)."""
    if not all(map(math.isfinite, (effect, se))) or not df > 0:
        return math.nan
    if se == 0:
        return 1.0 if effect != 0 else alpha
    ncp = abs(effect) / se
    if math.isinf(df) or df > 1e6:
        crit = float(_sp.ndtri(1 - alpha / 2))
        return float(_sp.ndtr(ncp - crit) + _sp.ndtr(-crit - ncp))
    crit = float(_sp.stdtrit(df, 1 - alpha / 2))
    power = float(1 - _sp.nctdtr(df, ncp, crit) + _sp.nctdtr(df, ncp, -crit))
    if not math.isfinite(power):  # far in the tail the noncentral t's series gives up
        power = float(_sp.ndtr(ncp - crit))
    return min(max(power, 0.0), 1.0)


def power_fixed(effect: float, a: Components, b: Components, alpha: float, seeds: float | None = None) -> float:
    """Fixed-effects power at `effect` with the measured seeds, or `seeds` per architecture."""
    if a.n < 1 or b.n < 1 or not (math.isfinite(a.var_seed) and math.isfinite(b.var_seed)):
        return math.nan
    v_a, v_b, df_a, df_b = _fixed_parts(a, b, seeds)
    if df_a < 1 or df_b < 1:
        return math.nan
    return power_nct(effect, math.sqrt(v_a + v_b), _df(v_a, v_b, df_a, df_b), alpha)


def power_random(effect: float, a: Components, b: Components, alpha: float, n: int | None = None,
                 seeds: float | None = None, tau: tuple[float, float] | None = None) -> float:
    """Random-effects power at `effect`: as measured (each group's spread of architecture means), or
    for `n` architectures per group at `seeds` seeds with between-architecture SDs `tau`."""
    if n is None:
        if a.n < 2 or b.n < 2:
            return math.nan
        v_a, v_b = a.var_means / a.n, b.var_means / b.n
        return power_nct(effect, math.sqrt(v_a + v_b), _df(v_a, v_b, a.df_means, b.df_means), alpha)
    ta, tb = tau if tau is not None else (None, None)
    v_a, v_b = a.mean_variance(seeds, ta) / n, b.mean_variance(seeds, tb) / n
    return power_nct(effect, math.sqrt(v_a + v_b), _df(v_a, v_b, n - 1, n - 1), alpha)


def smallest(power_at, start: int, target: float) -> float:
    """The smallest integer x >= start with power_at(x) >= target (power grows with x): doubling,
    then bisection; inf when even MOST does not reach it, nan when power is undefined."""
    p = power_at(start)
    if not math.isfinite(p):
        return math.nan
    if p >= target:
        return float(start)
    lo, hi = start, start * 2
    while power_at(hi) < target:
        lo, hi = hi, hi * 2
        if hi > MOST:
            return math.inf
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if power_at(mid) < target else (lo, mid)
    return float(hi)


def seeds_needed(effect: float, a: Components, b: Components, alpha: float, power: float = TARGET_POWER) -> float:
    """Seeds per architecture for fixed-effects power `power` at `effect` with these architectures."""
    return smallest(lambda k: power_fixed(effect, a, b, alpha, seeds=k), 2, power)


def archs_needed(effect: float, a: Components, b: Components, alpha: float, seeds: float,
                 tau: tuple[float, float] | None = None, power: float = TARGET_POWER) -> float:
    """Architectures per group for random-effects power `power` at `effect`, each measured on `seeds`
    seeds, with between-architecture SDs `tau` (default: the estimates)."""
    return smallest(lambda n: power_random(effect, a, b, alpha, n=n, seeds=seeds, tau=tau), 2, power)


def pairs_needed(effect: float, sd: float, alpha: float, power: float = TARGET_POWER) -> float:
    """Paired seeds for a one-sample t test's power `power` at `effect`, one seed's difference having SD `sd`."""
    if not (math.isfinite(sd) and sd > 0):
        return math.nan
    return smallest(lambda n: power_nct(effect, sd / math.sqrt(n), n - 1, alpha), 2, power)


def type_m(effect: float, se: float, df: float, alpha: float, draws: int = TYPE_M_DRAWS, seed: int = 0) -> float:
    """Expected exaggeration of a significant estimate (Gelman and Carlin's type M): the mean |estimate|
    among significant draws over the true `effect`, when the estimate has standard error `se` (itself
    estimated on df degrees of freedom). Seeded, so a report gives the same number every time."""
    if not (math.isfinite(effect) and effect != 0 and math.isfinite(se) and se > 0 and df > 0):
        return math.nan
    rng = np.random.default_rng(seed)
    est = abs(effect) + se * rng.standard_normal(draws)
    se_hat = se * (np.sqrt(rng.chisquare(df, draws) / df) if math.isfinite(df) else 1.0)
    crit = float(_st.t.ppf(1 - alpha / 2, df)) if math.isfinite(df) else float(_st.norm.ppf(1 - alpha / 2))
    sig = np.abs(est) / se_hat > crit
    return float(np.abs(est[sig]).mean() / abs(effect)) if sig.any() else math.inf
