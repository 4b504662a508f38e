"""The study's claims C1..C10, each judged from the store's data.

Verdicts:
- reproduced / reversed: the NAS - manual difference (or the remedy effect) points the study's way /
  the opposite way, with its 95% interval excluding 0 *and* the permutation p < 0.05;
- not reproduced: the test could have found the difference (p < 0.05 was attainable) but did not;
- insufficient data: fewer than 2 architectures in a group, no seeds to form an interval, or a design
  so small that no split of the architectures can reach p < 0.05;
- not measured: the store has no result that bears on the claim.
A claim spanning several settings (e.g. poisoning fractions) is reproduced when at least half of
the decided settings are and none is reversed (and symmetrically for reversed).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

from archrisk.report import stats
from archrisk.report.advtrain import accuracy_costs, adv_pairs
from archrisk.report.compare import GroupComparison, compare_groups, compare_remedies, rankable, remedy_pairs
from archrisk.report.page import ci, fmt
from archrisk.report.series import Series, SeriesSet

VERDICTS = ("reproduced", "not reproduced", "reversed", "insufficient data", "not measured")


@dataclass
class Verdict:
    id: str
    claim: str
    study: str  # the study's own evidence
    verdict: str = "not measured"
    evidence: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    scale: str = ""


@dataclass
class Context:
    ss: SeriesSet
    comparisons: dict  # Quantity -> GroupComparison, shared with the NAS-vs-manual section
    scale: str  # dataset, size

    def compare(self, s: Series) -> GroupComparison:
        if s.q not in self.comparisons:
            self.comparisons[s.q] = compare_groups(s, self.ss.groups)
        return self.comparisons[s.q]


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    study: str
    judge: Callable[[Context, Verdict], None]


CLAIMS: dict[str, Claim] = {}


def claim(id: str, text: str, study: str):
    def deco(fn: Callable[[Context, Verdict], None]):
        if id in CLAIMS:
            raise ValueError(f"claim {id} registered twice")
        CLAIMS[id] = Claim(id, text, study, fn)
        return fn
    return deco


def combine(subs: list[str]) -> str:
    decided = [s for s in subs if s in ("reproduced", "reversed", "not reproduced")]
    if not decided:
        return "insufficient data" if subs else "not measured"
    rep, rev = decided.count("reproduced"), decided.count("reversed")
    if rep and not rev and 2 * rep >= len(decided):
        return "reproduced"
    if rev and not rep and 2 * rev >= len(decided):
        return "reversed"
    return "not reproduced"


def _group_sub(c: GroupComparison, sign: int) -> str:
    if not c.testable or not c.powered:
        return "insufficient data"
    if c.significant():
        return "reproduced" if sign * c.diff.value > 0 else "reversed"
    return "not reproduced"


def judge_groups(ctx: Context, v: Verdict, series: list[tuple[Series, int]]) -> None:
    """series: (series, sign) where sign=+1 means the claim says NAS > manual on the raw value."""
    subs, agree, archs, seeds = [], 0, set(), set()
    for s, sign in series:
        c = ctx.compare(s)
        sub = _group_sub(c, sign)
        subs.append(sub)
        agree += sign * c.diff.value > 0
        archs.add((c.n_a, c.n_b))
        seeds.add(c.seeds)
        v.evidence.append(
            f"{s.q.label}: NAS {ci(c.mean_a.value, c.mean_a.lo, c.mean_a.hi)} vs manual "
            f"{ci(c.mean_b.value, c.mean_b.lo, c.mean_b.hi)}; NAS - manual {ci(c.diff.value, c.diff.lo, c.diff.hi)}, "
            f"p = {fmt(c.perm.p)} ({c.n_a} NAS vs {c.n_b} manual architectures) -> {sub}")
    v.verdict = combine(subs)
    if not series:
        return
    v.evidence.append(f"point estimates point the study's way in {agree} of {len(series)} settings")
    na = min(a for a, _ in archs)
    nb = min(b for _, b in archs)
    v.scale = f"{ctx.scale}; {na}+ NAS and {nb}+ manual architectures x {max(seeds)} seeds"
    if min(na, nb) < 5 or max(seeds) < 3:
        v.caveats.append(f"small sample ({na} NAS vs {nb} manual architectures, at most {max(seeds)} seeds): "
                         "intervals and p-values are rough")
    if "insufficient data" in subs and any(ctx.compare(s).testable and not ctx.compare(s).powered for s, _ in series):
        pmin = min(ctx.compare(s).perm.p_min for s, _ in series)
        v.caveats.append(f"with so few architectures no split can reach p < 0.05 (smallest possible p = {fmt(pmin)})")


def _attack(ctx: Context, family: str, all_keys: bool = False) -> list[tuple[Series, int]]:
    """NAS-more-vulnerable claims: sign = the key's risk direction."""
    if all_keys:
        ss = [s for s in ctx.ss.select(kind="attack", family=family) if s.direction and s.spread() > 0
              and not s.q.param("adv_train")]
    else:
        ss = [s for s in ctx.ss.endpoints(adv=False) if s.q.family == family and s.spread() > 0]
    return [(s, s.direction) for s in ss]


def _metrics(ctx: Context, pattern: str) -> list[Series]:
    rx = re.compile(pattern, re.I)
    return [s for s in ctx.ss.explanatory() if rx.search(s.q.key) or rx.search(s.q.name)]


@claim("C1", "NAS models are more vulnerable to evasion", "PGD success, worst case 70.2% vs 82.1%; best case 83.6% vs 97.0%")
def _c1(ctx, v):
    judge_groups(ctx, v, _attack(ctx, "evasion"))


@claim("C2", "NAS models lose more accuracy under label-flip poisoning", "drop at p=0.2: 3.64 vs 7.02 points; at p=0.4: 10.20 vs 15.09")
def _c2(ctx, v):
    judge_groups(ctx, v, _attack(ctx, "poisoning"))


@claim("C3", "NAS models take backdoors more easily", "TrojanNN success 95.8% vs 99.6%; BadNets 90.5% vs 93.2%")
def _c3(ctx, v):
    judge_groups(ctx, v, _attack(ctx, "backdoor"))


@claim("C4", "NAS models are easier to steal", "extraction CE at 1k..16k queries: 3.06/2.85/2.39/1.95/1.35 vs 2.70/2.39/2.19/1.66/1.24")
def _c4(ctx, v):
    judge_groups(ctx, v, _attack(ctx, "extraction", all_keys=True))


@claim("C5", "NAS models leak more membership", "AUC 0.514 vs 0.569")
def _c5(ctx, v):
    judge_groups(ctx, v, _attack(ctx, "membership"))


@claim("C6", "NAS models have lower gradient variance", "after training: 4435 vs 1594 (sum of stds)")
def _c6(ctx, v):
    judge_groups(ctx, v, [(s, -1) for s in _metrics(ctx, r"grad.*var|gradient_variance") if s.spread() > 0])
    if v.evidence:
        v.caveats.append("the unnormalised statistic grows with parameter count (manual nets are larger); "
                         "prefer the normalised form where present")


@claim("C7", "NAS models have smoother loss landscapes", "contour plots (qualitative)")
def _c7(ctx, v):
    surfaces = [s for s in _metrics(ctx, r"^landscape_(conv|filter|input)_curvature$") if s.spread() > 0]
    if surfaces:
        judge_groups(ctx, v, [(s, -1) for s in surfaces])
        v.caveats.append("measured by the curvature (mean |Laplacian|) of the study's loss surfaces, the scalar "
                         "form of its contour plots (lower = smoother); see the loss-landscape section")
        return
    judge_groups(ctx, v, [(s, -1) for s in _metrics(ctx, r"hessian|sharp|rough|curvature|lipschitz|input_grad")
                          if s.spread() > 0])
    if v.evidence:
        v.caveats.append("no loss-surface curvature in this store: measured by scalar curvature/roughness proxies "
                         "(lower = smoother), not the study's contour plots")


def _faster_sign(key: str) -> int:
    return -1 if re.search(r"loss|epochs_to|time", key, re.I) else 1


@claim("C8", "NAS prefers shallow cells with skips, which converge fast early", "cell depth/skip statistics; early-training curves")
def _c8(ctx, v):
    conv = [s for s in _metrics(ctx, r"early|converg|^conv_") if s.spread() > 0]
    judge_groups(ctx, v, [(s, _faster_sign(s.q.key)) for s in conv])
    nas = {a for a, g in ctx.ss.groups.items() if g == "nas"}
    for key in ("depth", "skip"):
        for s in _metrics(ctx, rf"^{key}|{key}_|_{key}"):
            m = s.arch_means()
            cells = sorted(a for a in m if a in nas)
            if cells:
                v.evidence.append(f"{s.q.key} of NAS cells: mean {fmt(sum(m[a] for a in cells) / len(cells))} "
                                  f"over {len(cells)} cells")
            for c in conv:
                mc = c.arch_means()
                common = sorted(set(m) & set(mc))
                r = stats.spearman_ci([m[a] for a in common], [mc[a] for a in common])
                if r.n >= 4:
                    v.evidence.append(f"rho({s.q.key}, {c.q.key}) over {r.n} architectures: {ci(r.rho, r.lo, r.hi)}")


@claim("C9", "Deeper cells / fewer skips reduce vulnerability, at a cost", "extraction CE at 16k: DARTS 1.31, DARTS-i 2.01, DARTS-ii 1.38, DARTS-iii 2.09; deep variants train slower")
def _c9(ctx, v):
    pairs = remedy_pairs(ctx.ss)
    if not pairs:
        return
    subs, seeds = [], set()
    for c in compare_remedies(ctx.ss, rankable(ctx.ss)):
        seeds |= {len(c.series.values[c.remedy]), len(c.series.values[c.source])}
        if c.diff.excludes(0.0):
            sub = "reproduced" if c.risk_change < 0 else "reversed"
        else:
            sub = "not reproduced" if math.isfinite(c.diff.lo) else "insufficient data"  # nan: no interval
        subs.append(sub)
        v.evidence.append(f"{c.remedy} vs {c.source}, {c.series.q.label}: {ci(c.diff.value, c.diff.lo, c.diff.hi)} -> {sub}")
    costs = [s for s in [ctx.ss.accuracy(), *ctx.ss.select(kind="derived")] if s is not None]
    for c in compare_remedies(ctx.ss, costs):
        v.evidence.append(f"cost, {c.remedy} vs {c.source}, {c.series.q.label}: {ci(c.diff.value, c.diff.lo, c.diff.hi)}")
    v.verdict = combine(subs)
    v.scale = f"{ctx.scale}; {len(pairs)} remedy cells x {max(seeds, default=0)} seeds"
    if seeds and max(seeds) < 3:
        v.caveats.append(f"at most {max(seeds)} seeds per cell: intervals over seeds are rough")


@claim("C10", "Adversarial training removes most of the evasion gap", "PGD success after PGD training: 41.9% vs 38.1%")
def _c10(ctx, v):
    pairs = adv_pairs(ctx.ss)
    if not pairs:
        return
    subs = []
    for s, before in pairs:
        ca = ctx.compare(s)
        if before is None or not ca.powered:
            subs.append("insufficient data")
            v.evidence.append(f"{s.q.label}: {ca.n_a} NAS vs {ca.n_b} manual architectures after adversarial "
                              f"training{'' if before else ', and no standard-training result to compare'} "
                              "-> insufficient data")
            continue
        cb = ctx.compare(before)
        gap_b, gap_a = s.direction * cb.diff.value, s.direction * ca.diff.value
        if not cb.significant() or gap_b <= 0:
            sub = "insufficient data"  # no gap in the study's direction to remove
        elif not ca.significant() and abs(gap_a) <= 0.5 * gap_b:
            sub = "reproduced"
        elif ca.significant() and gap_a >= gap_b:
            sub = "reversed"
        else:
            sub = "not reproduced"
        subs.append(sub)
        v.evidence.append(f"{s.q.name}: NAS - manual before {ci(cb.diff.value, cb.diff.lo, cb.diff.hi)}, after "
                          f"{ci(ca.diff.value, ca.diff.lo, ca.diff.hi)} (p = {fmt(ca.perm.p)}) -> {sub}")
    for c in accuracy_costs(ctx.ss):
        if c.archs:
            v.evidence.append(f"clean-accuracy cost of {c.method} training, {c.group}: "
                              f"{ci(c.change.value, c.change.lo, c.change.hi)} over {c.archs} architectures")
    v.verdict = combine(subs)
    v.scale = ctx.scale


def judge_all(ss: SeriesSet, comparisons: dict, scale: str) -> list[Verdict]:
    ctx = Context(ss, comparisons, scale)
    out = []
    for c in CLAIMS.values():
        v = Verdict(c.id, c.text, c.study, scale=scale)
        c.judge(ctx, v)
        if v.verdict == "not measured" and not v.evidence:
            v.evidence.append("the store has no result bearing on this claim")
        out.append(v)
    return out
