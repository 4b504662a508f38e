"""Comparisons the report is made of: NAS vs manual, the risk ranking, remedies vs their source.

Architectures are the unit (see `stats`). Each group comparison carries two views: the cluster
bootstrap and permutation test of `stats` (for display) and Welch's t on per-architecture means
(`inference`), whose interval holds with 3-10 architectures per group and which verdicts use.
Remedies are compared with their source cell paired by seed (same seed, same data order).
Random streams are seeded from the series' name, so a report is the same every time it is built.
"""
from __future__ import annotations

import math
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

from archrisk.stats import bootstrap, inference
from archrisk.report.series import Scale, Series, SeriesSet
from archrisk.vocab import Group

ALPHA = 0.05
# Remedy cells of the study and the cell they were derived from; other remedy-group
# architectures are matched to the longest other architecture name they start with or contain.
REMEDY_SOURCES = {"darts_i": "darts_v2", "darts_ii": "darts_v2", "darts_iii": "darts_v2"}


def _seed(*parts: str) -> int:
    return zlib.crc32("|".join(parts).encode())


@dataclass(frozen=True)
class GroupComparison:
    series: Series
    a: str
    b: str
    n_a: int  # architectures in group a
    n_b: int
    seeds: int  # most seeds any architecture has
    mean_a: bootstrap.IntervalEstimate
    mean_b: bootstrap.IntervalEstimate
    diff: bootstrap.IntervalEstimate  # mean_a - mean_b
    perm: bootstrap.PermTest  # two-sided, labels permuted among architectures
    welch: inference.TTest  # mean_a - mean_b, Welch t on per-architecture means

    @property
    def testable(self) -> bool:
        return self.n_a >= 2 and self.n_b >= 2

    @property
    def powered(self) -> bool:
        """Whether this design can produce p < ALPHA at all."""
        return self.testable and self.perm.p_min < ALPHA

    def significant(self) -> bool:
        """A difference both the interval and the permutation test support."""
        return self.powered and self.diff.excludes(0.0) and self.perm.p < ALPHA


def compare_groups(s: Series, groups: dict[str, str], a: str = "nas", b: str = "manual",
                   n_boot: int = bootstrap.N_BOOT) -> GroupComparison:
    arch_a, arch_b = s.archs(groups, a), s.archs(groups, b)
    ca, cb = s.clusters(arch_a), s.clusters(arch_b)
    rng = np.random.default_rng(_seed(s.q.label, a, b))
    means = s.arch_means()
    return GroupComparison(
        series=s, a=a, b=b, n_a=len(arch_a), n_b=len(arch_b),
        seeds=max((len(v) for v in s.values.values()), default=0),
        mean_a=bootstrap.cluster_mean(ca, n_boot, rng=rng), mean_b=bootstrap.cluster_mean(cb, n_boot, rng=rng),
        diff=bootstrap.cluster_difference(ca, cb, n_boot, rng=rng),
        perm=bootstrap.permutation_test([means[x] for x in arch_a], [means[x] for x in arch_b], rng=rng),
        welch=inference.welch([means[x] for x in arch_a], [means[x] for x in arch_b]),
    )


@dataclass(frozen=True)
class RankRow:
    arch: str
    group: str
    acc: float  # mean clean test accuracy over seeds (nan when not trained in this store)
    params: float  # trainable parameters (nan when the store has none)
    flops: float  # multiply-accumulates of one forward pass on one input (nan when the store has none)
    mean_rank: float  # mean over attacks of the architecture's risk rank (1 = riskiest)
    cells: dict[str, tuple[float, float]]  # endpoint label -> (mean value, rank)


def rankable(ss: SeriesSet, scale: Scale | None = None) -> list[Series]:
    """Headline endpoints that can rank architectures: oriented, not adversarially trained, not constant
    (at `scale` when given)."""
    return [s for s in ss.endpoints(adv=False) if s.direction != 0 and s.spread() > 0 and len(s.values) > 1
            and (scale is None or s.q.scale == scale)]


def _ranks(values: dict[str, float], sign: int) -> dict[str, float]:
    from scipy.stats import rankdata

    archs = list(values)
    r = rankdata([-sign * values[a] for a in archs])  # rank 1 = riskiest, ties share the mean rank
    return dict(zip(archs, map(float, r)))


def risk_ranking(ss: SeriesSet, scale: Scale = ()) -> tuple[list[Series], list[RankRow]]:
    """Architectures ordered by mean risk rank at one scale; each attack (all its settings together)
    counts once."""
    eps = rankable(ss, scale)
    acc_means, params, flops = (ss.victim_means(k, scale) for k in ("test_acc", "params", "flops"))
    per_attack: dict[str, dict[str, list[float]]] = {}
    cells: dict[str, dict[str, tuple[float, float]]] = {}
    for s in eps:
        means = s.arch_means()
        for arch, rank in _ranks(means, s.direction).items():
            per_attack.setdefault(arch, {}).setdefault(s.q.name, []).append(rank)
            cells.setdefault(arch, {})[s.q.label] = (means[arch], rank)
    rows = []
    for arch, attacks in per_attack.items():
        mean_rank = float(np.mean([np.mean(r) for r in attacks.values()]))
        rows.append(RankRow(arch, ss.group_of(arch), acc_means.get(arch, math.nan),
                            params.get(arch, math.nan), flops.get(arch, math.nan), mean_rank, cells[arch]))
    rows.sort(key=lambda r: (r.mean_rank, r.arch))
    return eps, rows


def rank_intervals(ss: SeriesSet, eps: list[Series], archs: list[str], n_boot: int = 500,
                   level: float = bootstrap.LEVEL) -> dict[str, tuple[float, float]]:
    """95% intervals of each architecture's position in the risk ranking (1 = riskiest), from a
    bootstrap over seeds: each draw resamples every architecture's seeds, ranks each endpoint, and
    ranks the architectures by mean rank as `risk_ranking` does."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(_seed("ranks", *archs))
    col = {a: i for i, a in enumerate(archs)}
    per_attack: dict[str, list[np.ndarray]] = {}
    for s in eps:
        draws = np.full((n_boot, len(archs)), np.nan)
        for a, vals in s.values.items():
            if a in col and vals:
                v = np.asarray(list(vals.values()), dtype=float)
                draws[:, col[a]] = v[rng.integers(0, v.size, (n_boot, v.size))].mean(1)
        oriented = -s.direction * draws
        ranks = np.where(np.isnan(draws), np.nan, rankdata(np.where(np.isnan(draws), np.inf, oriented), axis=1))
        per_attack.setdefault(s.q.name, []).append(ranks)
    if not per_attack:
        return {}
    with warnings.catch_warnings():  # an architecture an attack has not measured averages to nan: skipped
        warnings.simplefilter("ignore", RuntimeWarning)
        attack_ranks = np.stack([np.nanmean(np.stack(r), 0) for r in per_attack.values()])  # [attacks, B, archs]
        mean_rank = np.nanmean(attack_ranks, 0)  # [B, archs]
    position = rankdata(mean_rank, axis=1)  # ties share their mean position
    a = (1 - level) / 2
    lo, hi = np.quantile(position, [a, 1 - a], axis=0, method="inverted_cdf")  # positions that occurred
    return {x: (float(lo[i]), float(hi[i])) for x, i in col.items()}


def remedy_source(arch: str, archs: set[str]) -> str | None:
    if REMEDY_SOURCES.get(arch) in archs:
        return REMEDY_SOURCES[arch]
    hits = [a for a in archs if a != arch and a in arch]
    return max(hits, key=len) if hits else None


@dataclass(frozen=True)
class RemedyComparison:
    remedy: str
    source: str
    series: Series
    remedy_mean: bootstrap.IntervalEstimate  # over the remedy's seeds
    source_mean: bootstrap.IntervalEstimate
    diff: bootstrap.IntervalEstimate  # remedy - source, seeds resampled independently (display)
    paired: inference.TTest  # remedy - source over the seeds both have, paired by seed
    sign_flip_p: float  # exact sign-flip p of the paired differences
    sign_flip_min: float  # the smallest p the sign-flip test can give with this many seeds

    @property
    def risk_change(self) -> float:
        """Oriented change: negative = the remedy is less vulnerable (0 when the key has no direction)."""
        return self.paired.diff * self.series.direction

    def changed(self, alpha: float = ALPHA) -> bool:
        """A change the paired t test supports (interval excludes 0, p < alpha)."""
        return self.paired.excludes(0.0) and self.paired.p < alpha


def paired_diffs(s: Series, a: str, b: str) -> list[float]:
    """a - b on every seed both architectures were measured with (same seed: same data order)."""
    va, vb = s.values.get(a, {}), s.values.get(b, {})
    return [va[sd] - vb[sd] for sd in sorted(set(va) & set(vb))]


def remedy_pairs(ss: SeriesSet) -> list[tuple[str, str]]:
    archs = set(ss.groups)
    pairs = []
    for arch, group in sorted(ss.groups.items()):
        if group == "remedy":
            src = remedy_source(arch, archs)
            if src is not None:
                pairs.append((arch, src))
    return pairs


def compare_remedies(ss: SeriesSet, series: list[Series], n_boot: int = bootstrap.N_BOOT) -> list[RemedyComparison]:
    out = []
    for remedy, source in remedy_pairs(ss):
        for s in series:
            if remedy not in s.values or source not in s.values:
                continue
            r, src = list(s.values[remedy].values()), list(s.values[source].values())
            rng = np.random.default_rng(_seed(s.q.label, remedy, source))
            d = paired_diffs(s, remedy, source)
            flip_p, flip_min = inference.sign_flip(d)
            out.append(RemedyComparison(remedy, source, s, bootstrap.cluster_mean([r], n_boot, rng=rng),
                                        bootstrap.cluster_mean([src], n_boot, rng=rng),
                                        bootstrap.cluster_difference([r], [src], n_boot, rng=rng),
                                        inference.one_sample(d), flip_p, flip_min))
    return out


@dataclass(frozen=True)
class CorrRow:
    """Spearman rho of a property against an attack result over architectures (per-architecture means):
    pooled, within each group (pooled rho partly re-encodes group membership), and partial on log
    parameter count and clean accuracy (so it does not merely re-encode size or accuracy)."""

    x: Series
    y: Series
    corr: bootstrap.Correlation
    archs: list[str]
    within: dict[str, tuple[float, float, int]]  # group -> (rho, p, n)
    partial: tuple[float, float, int]  # (rho, p, n) controlling for the covariates


def covariates(ss: SeriesSet, scale: Scale = ()) -> dict[str, tuple[float, float]]:
    """Architecture -> (log parameter count, clean test accuracy) of standard-trained victims at `scale`."""
    acc, params = ss.accuracy(scale=scale), ss.trained("params", scale=scale)
    pm, am = (params.arch_means() if params else {}), (acc.arch_means() if acc else {})
    return {a: (math.log(pm[a]) if pm.get(a, 0) > 0 else math.nan, am.get(a, math.nan)) for a in set(pm) | set(am)}


def correlations(xs: list[Series], ys: list[Series], groups: dict[str, str] | None = None,
                 cov: dict[Scale, dict[str, tuple[float, float]]] | None = None) -> list[CorrRow]:
    """Every property against every attack result; the partial correlation holds fixed the covariates
    (`covariates`, by scale) of the attack's victims' scale."""
    groups, by_scale = groups or {}, cov or {}
    out = []
    for x in xs:
        mx = x.arch_means()
        for y in ys:
            my = y.arch_means()
            archs = sorted(set(mx) & set(my))
            corr = bootstrap.spearman_ci([mx[a] for a in archs], [my[a] for a in archs])
            within = {}
            for g in sorted({groups.get(a, Group.CUSTOM.value) for a in archs}):
                sub = [a for a in archs if groups.get(a, Group.CUSTOM.value) == g]
                c = bootstrap.spearman_ci([mx[a] for a in sub], [my[a] for a in sub])
                within[g] = (c.rho, c.p, c.n)
            cov = by_scale.get(y.q.scale, {})
            cv = [[cov.get(a, (math.nan, math.nan))[i] for a in archs] for i in (0, 1)]
            cv = [c for c in cv if np.isfinite(c).sum() >= 3]
            partial = inference.partial_spearman([mx[a] for a in archs], [my[a] for a in archs], cv) if cv \
                else (math.nan, math.nan, len(archs))
            out.append(CorrRow(x, y, corr, archs, within, partial))
    return out
