"""Variance components of one measurement across architectures and seeds.

A measurement y of architecture i on seed j is modelled as y_ij = mu_g + a_i + e_ij within a group g:
a_i the architecture's own deviation (variance tau_g^2, "between architectures"), e_ij seed noise
(variance sigma_g^2, "between seeds"). From the per-architecture seed values of one group:

- sigma^2 is the pooled within-architecture variance (sum of squares over sum of k_i - 1);
- the variance of the architecture means is tau^2 + sigma^2 * mean(1/k_i), so tau^2 is that
  variance minus the seed part, truncated at 0 (seed noise can explain all of the spread);
- the reliability of an architecture mean, tau^2 / (tau^2 + sigma^2 mean(1/k_i)), is in [0, 1] by
  construction: how much of the spread between the means is the architectures, not their seeds.

Both the fixed-effects question (seeds sampled, architectures named) and the random-effects one
(architectures sampled too) read their standard errors from these components (`estimands`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _st

LEVEL = 0.95


def _finite(x: Sequence[float]) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x[np.isfinite(x)]


@dataclass(frozen=True)
class Components:
    """One group's (or several groups' pooled) variance components; nan where undefined."""

    n: int  # architectures with at least one finite value
    seeds: float  # mean seeds per architecture
    inv_seeds: float  # mean over architectures of 1 / seeds (the seed part of an architecture mean's variance)
    var_means: float  # variance of the architecture means (ddof 1; pooled within groups when pooled)
    df_means: int  # its degrees of freedom
    var_seed: float  # pooled within-architecture (seed) variance
    df_seed: int  # its degrees of freedom: sum of (seeds - 1)
    mean: float = math.nan  # mean of the architecture means (one group only)

    @property
    def var_arch(self) -> float:
        """tau^2: the variance of the architectures' true means, seed noise removed, truncated at 0."""
        if not (math.isfinite(self.var_means) and math.isfinite(self.var_seed)):
            return math.nan
        return max(self.var_means - self.var_seed * self.inv_seeds, 0.0)

    @property
    def sd_arch(self) -> float:
        return math.sqrt(self.var_arch) if math.isfinite(self.var_arch) else math.nan

    @property
    def sd_seed(self) -> float:
        return math.sqrt(self.var_seed) if math.isfinite(self.var_seed) else math.nan

    @property
    def sd_means(self) -> float:
        return math.sqrt(self.var_means) if math.isfinite(self.var_means) else math.nan

    @property
    def reliability(self) -> float:
        """Share of the architecture means' variance that is the architectures' own (0..1)."""
        tau2 = self.var_arch
        if not math.isfinite(tau2):
            return math.nan
        total = tau2 + self.var_seed * self.inv_seeds
        return tau2 / total if total > 0 else math.nan

    def arch_interval(self, level: float = LEVEL) -> tuple[float, float]:
        """An interval for tau (SD between architectures): the chi-square interval of the means'
        variance on its degrees of freedom, less the seed part, truncated at 0 (approximate: the
        seed part is taken as known)."""
        if self.df_means < 1 or not math.isfinite(self.var_arch):
            return math.nan, math.nan
        a = (1 - level) / 2
        lo_v = self.df_means * self.var_means / _st.chi2.ppf(1 - a, self.df_means)
        hi_v = self.df_means * self.var_means / _st.chi2.ppf(a, self.df_means)
        seed = self.var_seed * self.inv_seeds
        return math.sqrt(max(lo_v - seed, 0.0)), math.sqrt(max(hi_v - seed, 0.0))

    def mean_variance(self, seeds: float | None = None, tau: float | None = None) -> float:
        """Variance of one architecture mean over `seeds` seeds (default: as measured), between-
        architecture SD `tau` (default: the estimate)."""
        t2 = self.var_arch if tau is None else tau * tau
        seed = self.inv_seeds if seeds is None else 1.0 / seeds
        return t2 + self.var_seed * seed


def components(group: Sequence[Sequence[float]]) -> Components:
    """The components of one group, given each architecture's seed values."""
    arrays = [v for v in (_finite(x) for x in group) if v.size]
    n = len(arrays)
    if n == 0:
        return Components(0, math.nan, math.nan, math.nan, 0, math.nan, 0)
    k = np.array([v.size for v in arrays], dtype=float)
    means = np.array([v.mean() for v in arrays])
    ss = float(sum(((v - v.mean()) ** 2).sum() for v in arrays))
    df_seed = int((k - 1).sum())
    return Components(n, float(k.mean()), float((1 / k).mean()),
                      float(means.var(ddof=1)) if n > 1 else math.nan, n - 1,
                      ss / df_seed if df_seed else math.nan, df_seed, float(means.mean()))


def pooled(groups: Sequence[Components]) -> Components:
    """Components pooled over groups (within-group spreads only: the group difference is not spread)."""
    gs = [g for g in groups if g.n]
    if not gs:
        return Components(0, math.nan, math.nan, math.nan, 0, math.nan, 0)
    n = sum(g.n for g in gs)
    df_m = sum(g.df_means for g in gs if math.isfinite(g.var_means))
    df_s = sum(g.df_seed for g in gs if math.isfinite(g.var_seed))
    var_m = sum(g.var_means * g.df_means for g in gs if math.isfinite(g.var_means)) / df_m if df_m else math.nan
    var_s = sum(g.var_seed * g.df_seed for g in gs if math.isfinite(g.var_seed)) / df_s if df_s else math.nan
    seeds = sum(g.seeds * g.n for g in gs) / n
    inv = sum(g.inv_seeds * g.n for g in gs) / n
    return Components(n, seeds, inv, var_m, df_m, var_s, df_s)


def inflation(c: Components) -> float:
    """sqrt(single-seed variance / variance of an architecture mean), clipped to [1, sqrt(seeds)]:
    converts a standardised effect measured with one seed per model (the study's Hedges g) into
    units of the SD of architecture means. A sensitivity figure only: it assumes the study's spread
    between models was this measurement's."""
    if not (math.isfinite(c.var_means) and math.isfinite(c.var_seed)) or c.var_means <= 0:
        return 1.0
    single = c.var_arch + c.var_seed
    return min(max(math.sqrt(single / c.var_means), 1.0), math.sqrt(c.seeds))
