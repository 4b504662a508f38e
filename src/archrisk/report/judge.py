"""Every claim's verdict from a store's series: its design's tests, Holm across the confirmatory
tests of all claims, then each claim's verdict, reason, evidence and caveats (secondary
measurements never vote)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from archrisk.report.advtrain import accuracy_costs
from archrisk.report.claims import PROTOCOL_CHANGES, Claim, Design, claims_of
from archrisk.report.compare import paired_diffs, remedy_pairs
from archrisk.report.designs import DESIGNS, GroupsDesign, find_primary, values
from archrisk.report.page import ci, fmt
from archrisk.report.series import SeriesSet
from archrisk.report.verdicts import DECIDED, VERDICTS, PrimaryTest, combine, multiplicity
from archrisk.stats import inference
from archrisk.stats.inference import TARGET_POWER

__all__ = ["VERDICTS", "Verdict", "Judgement", "judge_all", "ADJUSTED"]


@dataclass
class Verdict:
    id: str
    claim: str
    study: str
    verdict: str = "not measured"
    reason: str = ""
    tests: list[PrimaryTest] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # the primary test(s), then secondary measurements
    caveats: list[str] = field(default_factory=list)
    scale: str = ""

    @property
    def power(self) -> float:
        """The confirmatory power at the smallest effect of interest (the best of its tests)."""
        return max((t.power for t in self.tests if math.isfinite(t.power)), default=math.nan)

    @property
    def decidable(self) -> bool:
        """The design has the target power at the SESOI for this claim's confirmatory question."""
        return self.power >= TARGET_POWER


@dataclass
class Judgement:
    verdicts: list[Verdict]
    tests: list[PrimaryTest]
    protocol: int = 1
    estimand: str = "random"

    @property
    def measured(self) -> int:
        return sum(v.verdict != "not measured" for v in self.verdicts)

    @property
    def decidable(self) -> int:
        return sum(v.decidable for v in self.verdicts)

    @property
    def headline(self) -> str:
        n, m = self.decidable, self.measured
        if m == 0:
            return "No claim of the study is measured in this store."
        powered = f"power >= {TARGET_POWER} at the smallest effect of interest with this design"
        if n == 0:
            return (f"Pipeline check, not a reproduction: none of the {m} measured claims has {powered}; "
                    "its verdicts can neither confirm nor refute the study.")
        if 2 * n < m:
            return (f"Largely a pipeline check, not a reproduction: only {n} of the {m} measured claims "
                    f"{'has' if n == 1 else 'have'} {powered}; read the others' intervals, not their verdicts.")
        return (f"{n} of the {m} measured claims {'has' if n == 1 else 'have'} {powered}; the others are "
                "inconclusive unless their intervals decide.")


# ---------------------------------------------------------------- secondary evidence (never votes)

ADJUSTED = "Secondary (adjusted for log parameters and clean accuracy)"
MIN_ADJUSTED = 5  # architectures: the fit spends 4 degrees of freedom


def _series_of(ss: SeriesSet, t: PrimaryTest):
    return next(x for x in ss.series.values() if x.q.label == t.series)


def adjusted(ss: SeriesSet, t: PrimaryTest, vs: str = "manual") -> str:
    """The primary's NAS - `vs` difference with log parameter count and clean accuracy (at the test's
    scale) held fixed (OLS on per-architecture means), so a gap that is only size or accuracy shows as such."""
    s = _series_of(ss, t)
    params, acc = ss.victim_means("params", s.q.scale), ss.victim_means("test_acc", s.q.scale)
    if not params or not acc:
        return f"{ADJUSTED}: not computed: the store has no parameter counts or clean accuracies of the victims"
    vals = values(s, t.primary)
    archs = [a for a in [*s.archs(ss.groups, "nas"), *s.archs(ss.groups, vs)]
             if a in params and a in acc and params[a] > 0 and all(map(math.isfinite, vals[a].values()))]
    if len(archs) < MIN_ADJUSTED:
        return (f"{ADJUSTED}: not computed: {len(archs)} architectures with size and accuracy; "
                f"the fit needs at least {MIN_ADJUSTED}")
    w = inference.adjusted_difference([float(np.mean(list(vals[a].values()))) for a in archs],
                                      [ss.groups[a] == "nas" for a in archs],
                                      [[math.log(params[a]) for a in archs], [acc[a] for a in archs]])
    if not math.isfinite(w.p):
        return (f"{ADJUSTED}: not computed: group, size and accuracy cannot be separated here "
                "(collinear, or no residual degrees of freedom)")
    return (f"{ADJUSTED}: {t.series}: NAS - {vs} {ci(w.diff, w.lo, w.hi)} over {len(archs)} architectures "
            f"(raw {fmt(t.test.diff)}), unadjusted p = {fmt(w.p)}")


def _groups_secondary(ss: SeriesSet, claim: Claim, tests: list[PrimaryTest]) -> list[str]:
    used, vs, out = {t.series for t in tests}, claim.versus, []
    for s in ss.bearing_on(claim.evidence_id):
        if s.q.label in used or s.q.param("adv_train") or len(s.values) < 2:
            continue
        m = s.arch_means()
        w = inference.welch([m[a] for a in s.archs(ss.groups, "nas")], [m[a] for a in s.archs(ss.groups, vs)])
        if math.isfinite(w.diff):
            out.append(f"Secondary: {s.q.label}: NAS - {vs} {ci(w.diff, w.lo, w.hi)}, unadjusted p = {fmt(w.p)}")
    for t in tests:
        out.append(adjusted(ss, t, vs))
    for other in claim.also_versus:
        for t in tests:
            s = _series_of(ss, t)
            if s.archs(ss.groups, other):
                rt = GroupsDesign.compare(ss, claim, t.primary, s, other).estimates[t.confirmatory].test
                out.append(f"Secondary, NAS vs {other} cells: {ci(rt.diff, rt.lo, rt.hi)}, unadjusted p = {fmt(rt.p)}")
    return out


def _remedy_secondary(ss: SeriesSet, claim: Claim, tests: list[PrimaryTest]) -> list[str]:
    used, out = {t.series for t in tests}, []
    for s in [x for x in ss.series.values() if x.q.label in used]:
        for remedy, source in remedy_pairs(ss):
            d = paired_diffs(s, remedy, source)
            w = inference.one_sample(d)
            if math.isfinite(w.diff):
                out.append(f"Secondary: {remedy} - {source}, {s.q.label}: {ci(w.diff, w.lo, w.hi)} over "
                           f"{len(d)} paired seeds, unadjusted p = {fmt(w.p)}")
        acc = ss.accuracy(scale=s.q.scale)
        if acc is not None:
            for remedy, source in remedy_pairs(ss):
                d = paired_diffs(acc, remedy, source)
                w = inference.one_sample(d)
                if math.isfinite(w.diff):
                    out.append(f"Cost: clean accuracy {remedy} - {source}: {ci(w.diff, w.lo, w.hi)}")
    return out


def _gap_secondary(ss: SeriesSet, claim: Claim, tests: list[PrimaryTest]) -> list[str]:
    return [f"clean-accuracy cost of {c.method} training, {c.group}: {ci(c.change.value, c.change.lo, c.change.hi)} "
            f"over {c.archs} architectures" for c in accuracy_costs(ss) if c.archs]


SECONDARY = {Design.GROUPS: _groups_secondary, Design.REMEDY: _remedy_secondary, Design.GAP: _gap_secondary}


# ---------------------------------------------------------------- all claims

def judge_all(ss: SeriesSet, comparisons: dict | None = None, scale: str = "") -> Judgement:
    """Every claim's verdict under the protocol the store's studies registered; Holm runs across the
    confirmatory primary tests of all claims together."""
    claims = list(claims_of(ss.analysis.protocol).values())
    verdicts, tests = [], []
    for claim in claims:
        v = Verdict(claim.id, claim.text, claim.study, scale=scale)
        v.tests = DESIGNS[claim.design].tests(ss, claim)
        tests += v.tests
        verdicts.append(v)
    multiplicity(tests)
    for claim, v in zip(claims, verdicts):
        _explain(ss, claim, v)
    return Judgement(verdicts, tests, ss.analysis.protocol, ss.analysis.estimand)


def _explain(ss: SeriesSet, claim: Claim, v: Verdict) -> None:
    v.verdict = combine([t.verdict for t in v.tests])
    v.reason = "; ".join(dict.fromkeys(t.reason for t in v.tests if t.reason))
    if v.verdict == "not measured":
        names = ", ".join(p.label for p in claim.primaries)
        v.reason = f"the store has no primary measurement for this claim ({names})"
        if claim.versus not in ss.groups.values() and claim.design == Design.GROUPS and find_primary(ss, claim)[1]:
            v.reason = f"the store has no {claim.versus} architectures to compare the NAS cells with"
    for t in v.tests:
        v.evidence += t.lines()
        v.caveats += t.notes
        if t.match is not None and (note := t.match.caveat("NAS", t.versus)):
            v.caveats.append(note)
        if t.primary.g_note:
            v.caveats.append(f"effect size: {t.primary.g_note}")
    if ss.analysis.protocol > 1 and claim.id in PROTOCOL_CHANGES:
        v.caveats.append(f"protocol {ss.analysis.protocol}: {PROTOCOL_CHANGES[claim.id]}")
    v.caveats = list(dict.fromkeys(v.caveats))
    v.evidence += SECONDARY[claim.design](ss, claim, v.tests)
    if v.verdict in DECIDED or v.verdict == "conflicting":
        return
    if v.tests and any(t.design == "groups" and min(t.n_units) < 5 for t in v.tests):
        v.caveats.append("few architectures per group: read the interval and power, not the verdict alone")
