"""How a claim is tested: its primary series found in the store, one test per scale, by its design.

- groups (C1-C8): NAS vs another group (manual; random for C1r and C8a), per architecture and seed;
  both estimands computed from each group's variance components (`archrisk.stats.estimands`);
- remedy (C9): per seed, the mean over remedy cells of (remedy - source cell) on the same seed,
  one-sample t with the exact sign-flip test beside it;
- gap (C10): per architecture and seed, the measurement before minus after adversarial training,
  NAS vs manual like a groups design: the change of the NAS-manual gap itself, not a non-significant
  gap after training read as "removed".

A design is a small strategy object: a new claim is a `Claim` entry, a new design one class here.
"""
from __future__ import annotations

import math

import numpy as np

from archrisk.meaning import budget
from archrisk.report import quality
from archrisk.report.claims import Claim, Design
from archrisk.report.compare import remedy_pairs
from archrisk.report.series import Series, SeriesSet, scale_label
from archrisk.report.verdicts import Estimate, Primary, PrimaryTest
from archrisk.stats import bootstrap, estimands, inference
from archrisk.stats.components import components
from archrisk.stats.estimands import FIXED, PAIRED, RANDOM

N_PERM = 1999  # random splits when exact enumeration is too big: the permutation p is shown, not decided on


def _key_matches(key: str, want: str) -> bool:
    return key.split("@", 1)[0] == want[:-2] if want.endswith("@*") else key == want


def _setting(s: Series) -> tuple:
    return s.q.name, tuple(kv for kv in s.q.variant if kv[0] not in ("dataset", "size", "recipe"))


def find_primary(ss: SeriesSet, claim: Claim, adv: bool = False) -> tuple[Primary | None, list[Series]]:
    """The claim's first candidate primary present, and its series to test (one per scale): among a
    scale's settings, the one at the study's protocol (`prefer`), else the one with most architectures."""
    for p in claim.primaries:
        hits = [s for q, s in ss.series.items() if q.kind == p.kind and (not p.names or q.name in p.names)
                and bool(q.param("adv_train")) == adv and _key_matches(q.key, p.key) and len(s.values) > 1]
        if not hits:
            continue
        out = []
        for scale in sorted({s.q.scale for s in hits}):
            top = {}  # per setting, the key at its largest budget
            for s in (s for s in hits if s.q.scale == scale):
                k = _setting(s)
                if k not in top or budget(s.q.key) > budget(top[k].q.key):
                    top[k] = s
            pref = [s for s in top.values() if all(s.q.param(k) == v for k, v in p.prefer)]
            out.append(min(pref or list(top.values()), key=lambda s: (-len(s.values), s.q.label)))
        return p, out
    return None, []


def transform(p: Primary, x: float) -> float:
    if not p.log:
        return x
    return math.log(x) if x > 0 else math.nan


def values(s: Series, p: Primary) -> dict[str, dict[int, float]]:
    return {a: {sd: transform(p, v) for sd, v in per.items()} for a, per in s.values.items()}


def _confirmatory(claim: Claim, ss: SeriesSet) -> str:
    wanted = ss.analysis.estimand
    return wanted if wanted in claim.estimands else claim.estimands[0]


def group_test(claim: Claim, p: Primary, ga: dict[str, list[float]], gb: dict[str, list[float]], series: Series,
               ss: SeriesSet, versus: str, label: str = "") -> PrimaryTest:
    """NAS (ga: architecture -> seed values) vs `versus` (gb), both estimands, from the groups' components."""
    fa = {a: v for a, v in ga.items() if np.all(np.isfinite(v))}
    fb = {a: v for a, v in gb.items() if np.all(np.isfinite(v))}
    named = set(ss.analysis.fixed_archs)  # the architectures the fixed-effects question names (all, if none)
    comps = {RANDOM: (components(list(fa.values())), components(list(fb.values()))),
             FIXED: tuple(components([v for a, v in g.items() if not named or a in named]) for g in (fa, fb))}
    tests = {FIXED: estimands.fixed_effects(*comps[FIXED]), RANDOM: estimands.random_effects(*comps[RANDOM])}
    perm = bootstrap.permutation_test([float(np.mean(v)) for v in fa.values()],
                                      [float(np.mean(v)) for v in fb.values()], n_perm=N_PERM)
    t = PrimaryTest(claim.id, p, label or series.q.label, scale_label(series.q.scale), "groups",
                    {e: Estimate(e, tests[e]) for e in claim.estimands}, _confirmatory(claim, ss), versus,
                    comps={e: comps[e] for e in claim.estimands},
                    match=quality.match(ss, series.q.scale, "nas", versus, series.q.family),
                    seeds=max((len(v) for v in [*fa.values(), *fb.values()]), default=0),
                    exact_p=perm.p, exact_p_min=perm.p_min)
    if p.log and len(fa) + len(fb) < len(ga) + len(gb):
        t.notes.append("architectures with a non-positive value were left out of the log-scale test")
    if claim.estimands == (RANDOM,):
        t.notes.append(f"{p.label} does not vary with the seed: only the population question (random effects) "
                       "applies to it")
    return t


class GroupsDesign:
    name = Design.GROUPS

    def tests(self, ss: SeriesSet, claim: Claim) -> list[PrimaryTest]:
        p, series = find_primary(ss, claim)
        # the study's own claims are tested (and inconclusive) without manual nets, so the report says they
        # are missing; a control group's claim is tested only where that group was run
        return [self.compare(ss, claim, p, s, claim.versus) for s in series
                if claim.versus == "manual" or s.archs(ss.groups, claim.versus)]

    @staticmethod
    def compare(ss: SeriesSet, claim: Claim, p: Primary, s: Series, versus: str) -> PrimaryTest:
        vals = values(s, p)
        side = lambda g: {a: list(vals[a].values()) for a in s.archs(ss.groups, g)}  # noqa: E731
        return group_test(claim, p, side("nas"), side(versus), s, ss, versus)


class RemedyDesign:
    name = Design.REMEDY

    def tests(self, ss: SeriesSet, claim: Claim) -> list[PrimaryTest]:
        p, series = find_primary(ss, claim)
        return [t for s in series if (t := self._test(claim, p, s, ss)) is not None]

    @staticmethod
    def _test(claim: Claim, p: Primary, s: Series, ss: SeriesSet) -> PrimaryTest | None:
        pairs = [(r, src) for r, src in remedy_pairs(ss) if r in s.values and src in s.values]
        if not pairs:
            return None
        d = paired_seed_means(s, p, pairs)
        flip, flip_min = inference.sign_flip(d)
        t = PrimaryTest(claim.id, p, s.q.label, scale_label(s.q.scale), "paired",
                        {PAIRED: Estimate(PAIRED, inference.one_sample(d))}, PAIRED, "source cell",
                        sd_diff=float(np.std(d, ddof=1)) if len(d) > 1 else math.nan, seeds=len(d),
                        exact_p=flip, exact_p_min=flip_min)
        t.notes.append("cells: " + ", ".join(f"{r} vs {src}" for r, src in pairs))
        return t


def paired_seed_means(s: Series, p: Primary, pairs: list[tuple[str, str]]) -> list[float]:
    """Per seed: the mean over remedy cells of (remedy - source) on that seed."""
    vals = values(s, p)
    per_seed: dict[int, list[float]] = {}
    for remedy, source in pairs:
        r, src = vals.get(remedy, {}), vals.get(source, {})
        for sd in set(r) & set(src):
            per_seed.setdefault(sd, []).append(r[sd] - src[sd])
    return [float(np.mean(v)) for _, v in sorted(per_seed.items())]


class GapDesign:
    name = Design.GAP

    def tests(self, ss: SeriesSet, claim: Claim) -> list[PrimaryTest]:
        p, afters = find_primary(ss, claim, adv=True)
        pairs = [(a, adv_before(ss, a)) for a in afters]
        return [self._test(claim, p, a, b, ss) for a, b in pairs if b is not None]

    @staticmethod
    def _test(claim: Claim, p: Primary, after: Series, before: Series, ss: SeriesSet) -> PrimaryTest:
        va, vb = values(after, p), values(before, p)
        change: dict[str, list[float]] = {}
        for arch in set(va) & set(vb):
            shared = sorted(set(va[arch]) & set(vb[arch]))
            change[arch] = ([vb[arch][sd] - va[arch][sd] for sd in shared] if shared
                            else [float(np.mean(list(vb[arch].values())) - np.mean(list(va[arch].values())))])
        side = lambda g: {a: change[a] for a in sorted(change) if ss.groups.get(a) == g}  # noqa: E731
        label = f"{before.q.label}, before minus after adversarial training"
        return group_test(claim, p, side("nas"), side("manual"), before, ss, "manual", label)


def adv_before(ss: SeriesSet, after: Series) -> Series | None:
    plain = tuple(kv for kv in after.q.variant if kv[0] != "adv_train")
    for q, s in ss.series.items():
        if q.kind == after.q.kind and q.name == after.q.name and q.key == after.q.key and q.variant == plain:
            return s
    return None


DESIGNS = {d.name: d for d in (GroupsDesign(), RemedyDesign(), GapDesign())}
