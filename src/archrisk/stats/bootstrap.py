"""Statistics for the report: cluster bootstrap intervals, permutation tests, rank correlations.

The unit of replication is the *architecture*: seeds of one architecture are not independent
evidence about a group of architectures. So

- a group mean is the mean of per-architecture means (each architecture weighs the same, whatever
  its number of seeds), and its interval comes from a two-stage bootstrap: resample architectures
  with replacement, then resample the seeds inside each drawn architecture. With one architecture
  only the second stage is left, which is the right interval for "this architecture, over seeds";
- the permutation test permutes group labels among architectures (exactly, over every split, when
  there are few enough), never among rows, which would treat seeds as independent architectures;
- rank correlations are computed on per-architecture means.

Everything takes a `numpy.random.Generator` or a seed so that a report is reproducible.
"""
from __future__ import annotations

import functools
import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _st

LEVEL = 0.95
N_BOOT = 2000
N_PERM = 9999
MAX_EXACT = 20000  # enumerate every split when there are at most this many


@dataclass(frozen=True)
class IntervalEstimate:
    """A point estimate with a percentile interval; lo/hi are nan when no interval can be formed."""

    value: float
    lo: float
    hi: float
    n_clusters: int  # architectures
    n_obs: int  # rows (architectures x seeds)

    def excludes(self, x: float = 0.0) -> bool:
        return bool(np.isfinite(self.lo) and (self.lo > x or self.hi < x))


@dataclass(frozen=True)
class PermTest:
    p: float
    exact: bool  # every split enumerated (else random permutations)
    n_perm: int  # number of splits evaluated
    p_min: float  # the smallest p-value this design can produce


@dataclass(frozen=True)
class Correlation:
    rho: float
    lo: float
    hi: float
    p: float
    n: int


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _percentile(draws: np.ndarray, level: float) -> tuple[float, float]:
    a = (1 - level) / 2
    lo, hi = np.quantile(draws, [a, 1 - a])
    return float(lo), float(hi)


def bootstrap_ci(x: Sequence[float], n_boot: int = N_BOOT, level: float = LEVEL,
                 rng: np.random.Generator | int | None = 0) -> IntervalEstimate:
    """Percentile bootstrap interval of the mean of independent rows."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return IntervalEstimate(math.nan, math.nan, math.nan, 0, 0)
    if x.size == 1:
        return IntervalEstimate(float(x[0]), math.nan, math.nan, 1, 1)
    idx = _rng(rng).integers(0, x.size, size=(n_boot, x.size))
    lo, hi = _percentile(x[idx].mean(1), level)
    return IntervalEstimate(float(x.mean()), lo, hi, x.size, x.size)


def _clean(clusters: Sequence[Sequence[float]]) -> list[np.ndarray]:
    out = [np.asarray(c, dtype=float) for c in clusters]
    out = [c[np.isfinite(c)] for c in out]
    return [c for c in out if c.size]


def cluster_draws(clusters: Sequence[Sequence[float]], n_boot: int = N_BOOT,
                  rng: np.random.Generator | int | None = 0, within: bool = True) -> np.ndarray:
    """Bootstrap draws [n_boot] of the mean of cluster means (two-stage when `within`)."""
    cl = _clean(clusters)
    k = len(cl)
    if k == 0:
        return np.full(n_boot, math.nan)
    g = _rng(rng)
    sizes = np.array([c.size for c in cl])
    smax = int(sizes.max())
    table = np.zeros((k, smax))  # [archs, seeds], padded; padding is never read below
    for i, c in enumerate(cl):
        table[i, : c.size] = c
    arch = g.integers(0, k, size=(n_boot, k)) if k > 1 else np.zeros((n_boot, 1), dtype=int)
    if not within:
        return (table.sum(1) / sizes)[arch].mean(1)
    s = sizes[arch]  # [B, k] seeds of each drawn architecture
    seed = (g.random((n_boot, k, smax)) * s[..., None]).astype(int)  # [B, k, smax], < s
    vals = table[arch[..., None], seed]
    used = np.arange(smax) < s[..., None]
    return (np.where(used, vals, 0.0).sum(-1) / s).mean(1)


def cluster_mean(clusters: Sequence[Sequence[float]], n_boot: int = N_BOOT, level: float = LEVEL,
                 rng: np.random.Generator | int | None = 0) -> IntervalEstimate:
    """Mean of per-architecture means with a two-stage (architectures, then seeds) bootstrap interval."""
    cl = _clean(clusters)
    n_obs = sum(c.size for c in cl)
    if not cl:
        return IntervalEstimate(math.nan, math.nan, math.nan, 0, 0)
    value = float(np.mean([c.mean() for c in cl]))
    if n_obs < 2:
        return IntervalEstimate(value, math.nan, math.nan, len(cl), n_obs)
    lo, hi = _percentile(cluster_draws(cl, n_boot, rng), level)
    return IntervalEstimate(value, lo, hi, len(cl), n_obs)


def cluster_difference(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], n_boot: int = N_BOOT,
                       level: float = LEVEL, rng: np.random.Generator | int | None = 0) -> IntervalEstimate:
    """mean(a) - mean(b) of per-architecture means, groups resampled independently (two-stage each)."""
    ca, cb = _clean(a), _clean(b)
    if not ca or not cb:
        return IntervalEstimate(math.nan, math.nan, math.nan, len(ca) + len(cb), 0)
    value = float(np.mean([c.mean() for c in ca]) - np.mean([c.mean() for c in cb]))
    n_obs = sum(c.size for c in ca) + sum(c.size for c in cb)
    if n_obs < 3:
        return IntervalEstimate(value, math.nan, math.nan, len(ca) + len(cb), n_obs)
    g = _rng(rng)
    lo, hi = _percentile(cluster_draws(ca, n_boot, g) - cluster_draws(cb, n_boot, g), level)
    return IntervalEstimate(value, lo, hi, len(ca) + len(cb), n_obs)


@functools.lru_cache(maxsize=64)
def _splits(n: int, k: int) -> np.ndarray:
    """Every way to choose k of n units (reports test many series on one design: built once)."""
    return np.array(list(itertools.combinations(range(n), k)), dtype=np.int16)


def permutation_test(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided",
                     n_perm: int = N_PERM, rng: np.random.Generator | int | None = 0,
                     max_exact: int = MAX_EXACT) -> PermTest:
    """Permutation test of mean(a) - mean(b), labels permuted among the given units (architectures).

    Exact (every split, observed one included) when C(n, len(a)) <= max_exact; otherwise
    `n_perm` random splits with p = (1 + #{as extreme}) / (1 + n_perm).
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative {alternative!r}: use two-sided, greater or less")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    na, nb = a.size, b.size
    if na == 0 or nb == 0:
        return PermTest(math.nan, True, 0, math.nan)
    pooled = np.concatenate([a, b])
    n, total = pooled.size, pooled.sum()
    n_splits = math.comb(n, na)
    exact = n_splits <= max_exact
    if exact:
        idx = _splits(n, na)
    else:
        idx = np.argsort(_rng(rng).random((n_perm, n)), axis=1)[:, :na]
    sums = pooled[idx].sum(1)
    perm = sums / na - (total - sums) / nb
    obs = a.mean() - b.mean()
    tol = 1e-12 * max(1.0, abs(obs))  # ties in floating point count as "as extreme"
    if alternative == "two-sided":
        hits = np.abs(perm) >= abs(obs) - tol
    elif alternative == "greater":
        hits = perm >= obs - tol
    else:
        hits = perm <= obs + tol
    if exact:
        p = float(hits.mean())
        # generic data: only the observed split (and its mirror when groups are equal-sized) is as extreme
        p_min = (2.0 if alternative == "two-sided" and na == nb else 1.0) / n_splits
        return PermTest(p, True, n_splits, p_min)
    return PermTest(float((1 + hits.sum()) / (1 + n_perm)), False, n_perm, 1.0 / (1 + n_perm))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho (SciPy's: Pearson correlation of average ranks); nan, without a warning, when
    either input is constant or holds a NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _st.ConstantInputWarning)
        return float(_st.spearmanr(np.asarray(x, dtype=float), np.asarray(y, dtype=float)).statistic)


def spearman_ci(x: Sequence[float], y: Sequence[float], level: float = LEVEL) -> Correlation:
    """rho with a Fisher-z interval using Bonett & Wright's (2000) variance (1 + rho^2/2) / (n - 3).

    The p-value is a permutation p (exact up to n = 8, where the usual t approximation is poor).
    Needs n >= 4 for an interval.
    """
    from archrisk.stats.inference import spearman_p

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < 3:
        return Correlation(math.nan, math.nan, math.nan, math.nan, n)
    rho = spearman(x, y)
    if not np.isfinite(rho):
        return Correlation(math.nan, math.nan, math.nan, math.nan, n)
    p = spearman_p(x, y)
    if n < 4:
        return Correlation(rho, math.nan, math.nan, p, n)
    z = math.atanh(max(min(rho, 1 - 1e-12), -1 + 1e-12))
    half = _st.norm.ppf(1 - (1 - level) / 2) * math.sqrt((1 + rho * rho / 2) / (n - 3))
    return Correlation(rho, math.tanh(z - half), math.tanh(z + half), p, n)


def correlation_matrix(columns: Sequence[Sequence[float]]) -> np.ndarray:
    """Pairwise Spearman rho between columns over the rows where both are finite ([k, k])."""
    k = len(columns)
    out = np.full((k, k), math.nan)
    cols = [np.asarray(c, dtype=float) for c in columns]
    for i in range(k):
        for j in range(i, k):
            ok = np.isfinite(cols[i]) & np.isfinite(cols[j])
            if ok.sum() >= 3:
                out[i, j] = out[j, i] = spearman(cols[i][ok], cols[j][ok])
    return out
