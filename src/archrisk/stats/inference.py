"""Small-sample inference for verdicts: tests and intervals that hold with 3-10 architectures per group.

The percentile cluster bootstrap of `stats` is kept for display, but it undercovers with few
architectures (about 78% at 3 per group), so decisions use intervals with a known small-sample
distribution:

- group differences: Welch's t on per-architecture means (Satterthwaite degrees of freedom), so the
  seed noise of each architecture is carried inside its mean's spread;
- paired changes (a remedy against its source cell on the same seeds, a gap before and after
  adversarial training): a one-sample t on the paired differences, with the exact sign-flip
  randomisation test beside it;
- rank correlations: exact permutation p at small n (every ordering up to n = 9);
- a group difference adjusted for covariates (size, accuracy): OLS with a t interval;
- power and minimum detectable effects from the noncentral t distribution;
- Holm across a family of primary tests, Benjamini-Hochberg across an exploratory matrix.

Every function is pure and takes plain sequences; `tests/report` checks each one's error rates and
coverage on simulated data, not only against SciPy.
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import optimize
from scipy import stats as _st

ALPHA = 0.05
TARGET_POWER = 0.8
EXACT_SPEARMAN_N = 9  # 9! = 362,880 orderings; above that the t approximation is close enough


@dataclass(frozen=True)
class TTest:
    """A difference (or mean change) with its t interval and two-sided p; nan where undefined."""

    diff: float
    lo: float
    hi: float
    p: float
    df: float
    se: float
    n_a: int  # units in the first sample (architectures, or seeds for a paired change)
    n_b: int  # units in the second sample (0 for a one-sample / paired test)

    @property
    def testable(self) -> bool:
        return math.isfinite(self.p)

    def excludes(self, x: float = 0.0) -> bool:
        return bool(math.isfinite(self.lo) and (self.lo > x or self.hi < x))

    def within(self, margin: float) -> bool:
        """The whole interval inside (-margin, margin): an equivalence result."""
        return bool(math.isfinite(self.lo) and margin > 0 and -margin < self.lo and self.hi < margin)


_NAN_T = dict(lo=math.nan, hi=math.nan, p=math.nan, df=math.nan, se=math.nan)


def _finite(x: Sequence[float]) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x[np.isfinite(x)]


def welch(a: Sequence[float], b: Sequence[float], level: float = 1 - ALPHA) -> TTest:
    """mean(a) - mean(b) with Welch's t interval and p (units: one value per architecture)."""
    a, b = _finite(a), _finite(b)
    na, nb = a.size, b.size
    diff = float(a.mean() - b.mean()) if na and nb else math.nan
    if na < 2 or nb < 2:
        return TTest(diff, **_NAN_T, n_a=na, n_b=nb)
    va, vb = float(a.var(ddof=1)) / na, float(b.var(ddof=1)) / nb
    se = math.sqrt(va + vb)
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
        return TTest(diff, diff, diff, p, float(na + nb - 2), 0.0, na, nb)
    df = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
    half = float(_st.t.ppf(1 - (1 - level) / 2, df)) * se
    p = float(2 * _st.t.sf(abs(diff) / se, df))
    return TTest(diff, diff - half, diff + half, p, float(df), se, na, nb)


def one_sample(d: Sequence[float], level: float = 1 - ALPHA) -> TTest:
    """Mean of paired differences with its t interval (n - 1 degrees of freedom) and p."""
    d = _finite(d)
    n = d.size
    mean = float(d.mean()) if n else math.nan
    if n < 2:
        return TTest(mean, **_NAN_T, n_a=n, n_b=0)
    se = float(d.std(ddof=1) / math.sqrt(n))
    if se == 0:
        return TTest(mean, mean, mean, 1.0 if mean == 0 else 0.0, float(n - 1), 0.0, n, 0)
    half = float(_st.t.ppf(1 - (1 - level) / 2, n - 1)) * se
    return TTest(mean, mean - half, mean + half, float(2 * _st.t.sf(abs(mean) / se, n - 1)), float(n - 1), se, n, 0)


def sign_flip(d: Sequence[float]) -> tuple[float, float]:
    """Exact two-sided sign-flip randomisation test of mean(d) = 0: (p, smallest attainable p)."""
    d = _finite(d)
    n = d.size
    if n == 0:
        return math.nan, math.nan
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))  # [2^n, n]
    means = signs @ d / n
    obs = abs(d.mean())
    p = float(np.mean(np.abs(means) >= obs - 1e-12 * max(1.0, obs)))
    return p, 2.0 / 2 ** n


N_POWER_DRAWS = 20000  # Welch power by seeded simulation: its df is random, so no closed form exists


@functools.lru_cache(maxsize=64)
def _welch_draws(n_a: int, n_b: int, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standard-normal samples summarised per draw: (mean_a - mean_b, standard error, Welch critical
    value at alpha). The same draws serve every effect size (common random numbers), so power is
    monotone and reproducible; neither the standard error nor the df depends on the effect."""
    g = np.random.default_rng(n_a * 1000 + n_b)
    a, b = g.standard_normal((N_POWER_DRAWS, n_a)), g.standard_normal((N_POWER_DRAWS, n_b))
    va, vb = a.var(1, ddof=1) / n_a, b.var(1, ddof=1) / n_b
    df = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    return a.mean(1) - b.mean(1), np.sqrt(va + vb), _st.t.ppf(1 - alpha / 2, df)


def power_t(delta: float, n_a: int, n_b: int = 0, alpha: float = ALPHA) -> float:
    """Power of the two-sided test a verdict uses, at standardised effect `delta` (difference / SD of
    one unit): Welch's t for two samples of n_a and n_b units (equal spreads assumed), or the
    one-sample t for n_a paired units when n_b = 0 (noncentral t, exact)."""
    if n_b:
        if n_a < 2 or n_b < 2:
            return math.nan
        diff, se, crit = _welch_draws(n_a, n_b, alpha)
        return float(np.mean(np.abs(diff + delta) / se > crit))
    if n_a < 2:
        return math.nan
    df, ncp = n_a - 1, delta * math.sqrt(n_a)
    crit = _st.t.ppf(1 - alpha / 2, df)
    power = float(_st.nct.sf(crit, df, ncp) + _st.nct.cdf(-crit, df, ncp))
    if not math.isfinite(power):  # SciPy's noncentral t gives up far in the tail: the power is ~0 or ~1 there
        power = float(_st.norm.sf(crit - abs(ncp)))
    return min(max(power, 0.0), 1.0)


@functools.lru_cache(maxsize=512)
def detectable(n_a: int, n_b: int = 0, alpha: float = ALPHA, power: float = TARGET_POWER) -> float:
    """The standardised effect a verdict's test detects with the given power (nan if no test)."""
    if math.isnan(power_t(1.0, n_a, n_b, alpha)):
        return math.nan
    f = lambda d: power_t(d, n_a, n_b, alpha) - power  # noqa: E731
    hi = 1.0
    while f(hi) < 0:
        hi *= 2
        if hi > 1e6:
            return math.inf
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-4))


def seed_agreement(per_arch: dict[str, dict[int, float]]) -> tuple[float, int]:
    """Seed-to-seed rank agreement: the Spearman rho between two seeds' rankings of the
    architectures both measured, averaged over seed pairs weighted by those architectures' number,
    and the median number of seeds per architecture. Only pairs that at least half the architectures
    (and at least 4) share count; nan when none is left. With every architecture on the same seeds
    this is the plain mean pairwise rho; a few architectures given extra seeds (a remedy comparison)
    add many pairs of few architectures, which would otherwise outvote the pairs every architecture
    shares."""
    seeds = sorted({s for v in per_arch.values() for s in v})
    counts = [len(v) for v in per_arch.values() if v]
    k = int(np.median(counts)) if counts else 0
    least = max(4, math.ceil(len(counts) / 2))
    rhos, weights = [], []
    for i, a in enumerate(seeds):
        for b in seeds[i + 1:]:
            pairs = np.asarray([(v[a], v[b]) for v in per_arch.values() if a in v and b in v], dtype=float)
            pairs = pairs[np.isfinite(pairs).all(axis=1)] if len(pairs) else pairs
            if len(pairs) < least:
                continue
            if np.ptp(pairs[:, 0]) == 0 or np.ptp(pairs[:, 1]) == 0:
                continue
            rhos.append(float(_st.spearmanr(pairs[:, 0], pairs[:, 1])[0]))
            weights.append(len(pairs))
    if not rhos:
        return math.nan, k
    return float(np.average(rhos, weights=weights)), k


@functools.lru_cache(maxsize=4)
def _orderings(n: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n))), dtype=np.int8)  # [n!, n]


def spearman_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided p of Spearman's rho: exact permutation p (every ordering) up to n = 9, where the
    t approximation is poor; the t approximation (SciPy's `spearmanr`) above that."""
    rx = _st.rankdata(np.asarray(x, dtype=float))
    ry = _st.rankdata(np.asarray(y, dtype=float))
    n = rx.size
    if n < 3 or np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return math.nan
    if n > EXACT_SPEARMAN_N:
        return float(_st.spearmanr(rx, ry).pvalue)  # ranks of ranks are the ranks
    rx, ry = rx - rx.mean(), ry - ry.mean()
    obs = float(rx @ ry)
    stat = ry[_orderings(n)] @ rx  # the statistic under every reordering of y
    return float(np.mean(np.abs(stat) >= abs(obs) - 1e-9 * max(1.0, abs(obs))))


def partial_spearman(x: Sequence[float], y: Sequence[float], covariates: Sequence[Sequence[float]]) -> tuple[float, float, int]:
    """Spearman correlation of x and y with the covariates' ranks regressed out of both:
    (rho, two-sided p from t with n - 2 - k df, n). Rows with any non-finite value are dropped."""
    cols = [np.asarray(c, dtype=float) for c in (x, y, *covariates)]
    ok = np.all([np.isfinite(c) for c in cols], axis=0)
    n, k = int(ok.sum()), len(covariates)
    if n - 2 - k < 1:
        return math.nan, math.nan, n
    r = [_st.rankdata(c[ok]) for c in cols]
    design = np.column_stack([np.ones(n), *r[2:]])
    res = [v - design @ np.linalg.lstsq(design, v, rcond=None)[0] for v in r[:2]]
    den = math.sqrt(float(res[0] @ res[0]) * float(res[1] @ res[1]))
    if den == 0:
        return math.nan, math.nan, n
    rho = float(res[0] @ res[1] / den)
    df = n - 2 - k
    if abs(rho) >= 1:
        return rho, 0.0, n
    t = rho * math.sqrt(df / (1 - rho * rho))
    return rho, float(2 * _st.t.sf(abs(t), df)), n


def adjusted_difference(y: Sequence[float], is_a: Sequence[bool], covariates: Sequence[Sequence[float]],
                        level: float = 1 - ALPHA) -> TTest:
    """Group difference (a - b) adjusted for covariates: the is_a coefficient of the OLS fit of y on
    [1, is_a, *covariates] (one row per architecture), with its t interval on n - 2 - k degrees of
    freedom. With size confounded with group, the raw difference carries the size effect; this does
    not (if the effect is linear in the covariates). nan when the design is rank-deficient or has no
    residual degrees of freedom. Rows with a non-finite value are dropped."""
    cols = [np.asarray(y, dtype=float), np.asarray(is_a, dtype=float), *(np.asarray(c, dtype=float) for c in covariates)]
    ok = np.all([np.isfinite(c) for c in cols], axis=0)
    yv, g = cols[0][ok], cols[1][ok]
    n_a, n_b = int(g.sum()), int((1 - g).sum())
    X = np.column_stack([np.ones(yv.size), g, *(c[ok] for c in cols[2:])])  # [n, 2 + k]
    df = yv.size - X.shape[1]
    if df < 1 or n_a < 1 or n_b < 1 or np.linalg.matrix_rank(X) < X.shape[1]:
        return TTest(math.nan, **_NAN_T, n_a=n_a, n_b=n_b)
    beta, *_ = np.linalg.lstsq(X, yv, rcond=None)
    resid = yv - X @ beta
    sigma2 = float(resid @ resid) / df
    se = math.sqrt(sigma2 * float(np.linalg.inv(X.T @ X)[1, 1]))
    diff = float(beta[1])
    if se == 0:
        return TTest(diff, diff, diff, 1.0 if diff == 0 else 0.0, float(df), 0.0, n_a, n_b)
    half = float(_st.t.ppf(1 - (1 - level) / 2, df)) * se
    return TTest(diff, diff - half, diff + half, float(2 * _st.t.sf(abs(diff) / se, df)), float(df), se, n_a, n_b)


def holm(p: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (family-wise error); nan entries stay nan and are not counted."""
    p = np.asarray(p, dtype=float)
    idx = [i for i in np.argsort(p, kind="stable") if math.isfinite(p[i])]
    m, out, running = len(idx), np.full(p.size, math.nan), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def benjamini_hochberg(p: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate); nan entries stay nan."""
    p = np.asarray(p, dtype=float)
    idx = [i for i in np.argsort(p, kind="stable") if math.isfinite(p[i])]
    m, out, running = len(idx), np.full(p.size, math.nan), 1.0
    for rank in range(m - 1, -1, -1):
        i = idx[rank]
        running = min(running, m * p[i] / (rank + 1))
        out[i] = running
    return out.tolist()
