"""The verdict vocabulary and its decision rule, fixed before any data is seen.

Each claim names one *primary* measurement with the study's direction and a smallest effect of
interest (SESOI) in that measurement's units. A primary test answers a named question (estimand,
`archrisk.stats.estimands`): *fixed effects* (do these named architectures differ? seeds sampled)
or *random effects* (would another draw of architectures like them differ? Welch on architecture
means); the study registers which one is confirmatory (`archrisk.analysis`) and the report shows the
other beside it, without a vote. Its confirmatory answer gives one of:

- reproduced / reversed: the 95% interval excludes 0 and the Holm-adjusted p (across every claim's
  confirmatory primary test) is below 0.05, in the study's direction / the other; when the power at
  the SESOI is below 0.8 the reason says how much a significant estimate exaggerates an effect of
  that size (type M);
- no effect: the 95% interval lies inside (-SESOI, +SESOI), an equivalence result, with power 0.8 at
  the SESOI;
- inconclusive: neither, with the reason: too few architectures or seeds for a test, victims not
  trained to the same standard (the registered accuracy gate), too little power at the SESOI, or a
  powered test whose interval still reaches the SESOI; each says what would decide it (seeds per
  architecture for fixed effects, architectures per group for random effects);
- conflicting: tests of one claim (at several scales) decided in both directions;
- not measured: the store holds no primary measurement for the claim.

Power is at the SESOI in raw units, at Holm's first-step level alpha / m (a lower bound for Holm),
so "reproduced" appears at about the rate the power predicts when the true effect is the SESOI.
Beside it: power at the study's own raw gap where this is the study's measurement, and, as a labelled
sensitivity figure only, power at the study's standardised g transferred with the seed inflation.
The reliability of the architecture means (variance components, in [0, 1]) is shown, not gated on:
the tests carry seed noise in their standard errors. Secondary measurements never vote.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from scipy import optimize

from archrisk.report.page import ci, fmt
from archrisk.report.quality import Match
from archrisk.stats import estimands as est
from archrisk.stats.components import Components, inflation, pooled
from archrisk.stats.inference import ALPHA, TARGET_POWER, TTest, holm, power_t

VERDICTS = ("reproduced", "reversed", "no effect", "inconclusive", "conflicting", "not measured")
DECIDED = ("reproduced", "reversed", "no effect")


@dataclass(frozen=True)
class Primary:
    """A claim's pre-declared primary measurement."""

    label: str  # what it is, in words
    kind: str  # job kind: attack | metric | derived
    key: str  # result key; 'kl@*' = that key at the largest query budget (or without one)
    sesoi: float  # smallest effect of interest, in the compared units (log units when `log`)
    g: float  # the study's standardised effect (Hedges g), or the assumed one (see g_note)
    g_note: str  # where g comes from
    names: tuple[str, ...] = ()  # attack/metric job names accepted (empty: any)
    prefer: tuple[tuple[str, str], ...] = ()  # job parameters of the study's protocol, preferred among settings
    sign: int = 1  # +1: the study has the raw value higher for NAS (or after the remedy / before adv. training)
    log: bool = False  # compare log values (ratios): for positive scale-dependent quantities
    unit: str = ""  # unit of the raw value, for display
    study_gap: float = math.nan  # the study's own raw difference in these units, where this is its measurement

    def units(self, x: float) -> str:
        return f"{fmt(x)} (x{fmt(math.exp(x))})" if self.log and math.isfinite(x) else fmt(x)


def detectable_effect(se: float, df: float, alpha: float, power: float = TARGET_POWER) -> float:
    """The raw effect a t test with this standard error and df detects with the given power."""
    if not (math.isfinite(se) and df > 0):
        return math.nan
    if se == 0:
        return 0.0
    f = lambda e: est.power_nct(e, se, df, alpha) - power  # noqa: E731
    hi = se
    while f(hi) < 0:
        hi *= 2
    return float(optimize.brentq(f, 0.0, hi, xtol=se * 1e-4))


def _count(x: float, unit: str) -> str:
    if not math.isfinite(x):
        return f"more than {est.MOST:,} {unit}"
    return f"{x:,.0f} {unit}"


@dataclass
class Estimate:
    """One estimand's answer in one primary test, with its power and what would decide it."""

    estimand: str  # est.FIXED | est.RANDOM | est.PAIRED
    test: TTest
    power: float = math.nan  # at the SESOI, at the family's first-step level
    power_study: float = math.nan  # at the study's raw gap (where the measurement is the study's)
    power_g: float = math.nan  # sensitivity only: the study's g transferred with the seed inflation
    mde: float = math.nan  # the raw effect this design detects with power 0.8
    type_m: float = math.nan  # expected exaggeration of a significant estimate at the SESOI (decided, power < 0.8)
    needed: float = math.nan  # seeds per architecture (fixed), architectures per group (random), paired seeds
    needed_hi: float = math.nan  # random effects: at the top of the between-architecture SD's interval
    at_seeds: float = math.nan  # random effects: the seeds per architecture `needed` assumes

    def outlook(self) -> str:
        """What would give this question power 0.8 at the SESOI ('' where it cannot be computed)."""
        if math.isnan(self.needed):
            return ""
        if self.estimand == est.FIXED:
            return f"{_count(self.needed, 'seeds')} per architecture would give power {TARGET_POWER} at the SESOI"
        if self.estimand == est.PAIRED:
            return f"{_count(self.needed, 'paired seeds')} would give power {TARGET_POWER} at the SESOI"
        hi = (f" ({_count(self.needed_hi, '')}at the top of the between-architecture SD's 95% interval)"
              if self.needed_hi != self.needed and not math.isnan(self.needed_hi) else "")
        return (f"{_count(self.needed, 'architectures')} per group at {self.at_seeds:g} seeds each{hi} would give "
                f"power {TARGET_POWER} at the SESOI")


@dataclass
class PrimaryTest:
    """One primary test (a claim may have one per scale), before and after the multiplicity step."""

    claim: str
    primary: Primary
    series: str  # label of the series tested
    scale: str  # dataset/size/recipe of this test when a store holds several, else ''
    design: str  # "groups": NAS vs another group; "paired": seeds of a paired change
    estimates: dict[str, Estimate]  # by estimand; the confirmatory one decides
    confirmatory: str
    versus: str = "manual"
    # groups: each group's variance components, per estimand (the fixed-effects question may be about
    # a registered subset of the architectures, the named ones; the random-effects one uses them all)
    comps: dict[str, tuple[Components, Components]] = field(default_factory=dict)
    sd_diff: float = math.nan  # paired: SD of one seed's paired difference
    match: Match | None = None  # groups: how alike the two groups' victims were trained
    seeds: int = 0
    exact_p: float = math.nan  # permutation (groups) or sign-flip (paired) p, shown beside
    exact_p_min: float = math.nan  # the smallest p that exact test can give here
    p_adj: float = math.nan  # Holm-adjusted across every claim's confirmatory primary tests
    alpha: float = ALPHA  # Holm's first-step level alpha / m, at which power is computed
    verdict: str = "inconclusive"
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def main(self) -> Estimate:
        return self.estimates[self.confirmatory]

    @property
    def test(self) -> TTest:
        return self.main.test

    @property
    def power(self) -> float:
        return self.main.power

    @property
    def n_units(self) -> tuple[int, int]:
        return self.test.n_a, self.test.n_b

    @property
    def oriented(self) -> float:
        """The estimate in the study's direction (> 0: the way the study found)."""
        return self.primary.sign * self.test.diff

    @property
    def pooled(self) -> Components | None:
        """The confirmatory question's components, pooled within groups."""
        c = self.comps.get(self.confirmatory)
        return pooled(c) if c else None

    @property
    def reliability(self) -> float:
        """Share of the spread of architecture means that is the architectures' own (0..1)."""
        return self.pooled.reliability if self.pooled else math.nan

    @property
    def sd_unit(self) -> float:
        """SD of one unit: an architecture's mean (pooled within groups), or one seed's paired change."""
        return self.pooled.sd_means if self.pooled else self.sd_diff

    def plan(self, alpha_family: float) -> None:
        """Each estimand's power, detectable effect, type M and sample size at the family's level."""
        self.alpha = alpha_family
        p = self.primary
        for e in self.estimates.values():
            t = e.test
            if not t.testable:
                continue
            e.power = est.power_nct(p.sesoi, t.se, t.df, alpha_family)
            e.power_study = est.power_nct(p.study_gap, t.se, t.df, alpha_family)
            e.mde = detectable_effect(t.se, t.df, alpha_family)
            self._size(e, alpha_family)

    def _size(self, e: Estimate, alpha: float) -> None:
        p = self.primary
        if e.estimand == est.PAIRED:
            e.needed = est.pairs_needed(p.sesoi, self.sd_diff, alpha)
            return
        a, b = self.comps[e.estimand]
        if e.estimand == est.FIXED:
            e.needed = est.seeds_needed(p.sesoi, a, b, alpha)
            return
        both = pooled((a, b))
        e.power_g = power_t(p.g * inflation(both), a.n, b.n, alpha)
        e.at_seeds = max(round(both.seeds), 1)
        if math.isfinite(a.var_seed) and math.isfinite(b.var_seed):
            e.needed = est.archs_needed(p.sesoi, a, b, alpha, e.at_seeds)
            tops = (a.arch_interval()[1], b.arch_interval()[1])
            if all(map(math.isfinite, tops)):
                e.needed_hi = est.archs_needed(p.sesoi, a, b, alpha, e.at_seeds, tau=tops)

    def decide(self) -> None:
        t, p, e = self.test, self.primary, self.main
        na, nb = self.n_units
        if not t.testable:
            self.verdict = "inconclusive"
            if self.design == "paired":
                self.reason = f"too few paired seeds for a test ({na}; needs 2)"
            elif e.estimand == est.FIXED and na >= 1 and nb >= 1:
                self.reason = ("the fixed-effects question needs seed noise measured in both groups (two seeds of "
                               "some architecture in each)")
            else:
                self.reason = (f"too few architectures for a test ({na} NAS vs {nb} {self.versus}; each group "
                               f"needs {1 if e.estimand == est.FIXED else 2})")
            return
        blocked = self.match.reason("NAS", self.versus) if self.match else ""
        if blocked:
            self.verdict, self.reason = "inconclusive", blocked
            return
        question = f"{e.estimand} effects" if e.estimand != est.PAIRED else "paired"
        power = f"power {fmt(e.power)} at the smallest effect of interest +-{p.units(p.sesoi)} ({question})"
        if t.excludes(0.0) and self.p_adj < ALPHA:
            self.verdict = "reproduced" if self.oriented > 0 else "reversed"
            self.reason = f"Holm-adjusted p = {fmt(self.p_adj)} < {ALPHA}, interval excludes 0"
            if e.power < TARGET_POWER:
                e.type_m = est.type_m(p.sesoi, t.se, t.df, self.alpha)
                self.reason += (f"; {power}: a significant estimate exaggerates a true effect of that size about "
                                f"x{fmt(e.type_m)} on average (type M)")
            return
        if t.within(p.sesoi) and e.power >= TARGET_POWER:
            self.verdict = "no effect"
            self.reason = f"the 95% interval lies inside +-{p.units(p.sesoi)}, the smallest effect of interest"
            return
        self.verdict = "inconclusive"
        outlook = e.outlook()
        tail = f"; {outlook}" if outlook else ""
        if not e.power >= TARGET_POWER:
            self.reason = (f"underpowered: {power}; this design detects {p.units(e.mde)} with power "
                           f"{TARGET_POWER}{tail}")
        else:
            self.reason = (f"no difference detected (Holm p = {fmt(self.p_adj)}), but the interval still reaches "
                           f"the smallest effect of interest +-{p.units(p.sesoi)}{tail}")

    def lines(self) -> list[str]:
        """The evidence: the confirmatory answer first, then the other question's, each with its power."""
        others = [e for e in self.estimates.values() if e.estimand != self.confirmatory]
        return [self._line(self.main, True), *(self._line(e, False) for e in others)]

    def _line(self, e: Estimate, main: bool) -> str:
        t, p = e.test, self.primary
        what = f"NAS - {self.versus}" if self.design == "groups" else "change"
        units = (f"{t.n_a} NAS vs {t.n_b} {self.versus} architectures" if self.design == "groups"
                 else f"{t.n_a} paired seeds")
        scale = f" [{self.scale}]" if self.scale else ""
        log = " (log scale)" if p.log else ""
        role = "Primary" if main else "Other question (does not vote)"
        adjusted = f", Holm-adjusted {fmt(self.p_adj)}" if main else ""
        study = f"; power {fmt(e.power_study)} at the study's raw gap {p.units(p.study_gap)}" \
            if math.isfinite(e.power_study) else ""
        sens = f"; sensitivity: power {fmt(e.power_g)} at the study's g = {fmt(p.g)} transferred" \
            if math.isfinite(e.power_g) else ""
        outlook = e.outlook()
        text = (f"{role}{scale}, {est.QUESTION[e.estimand]}: {p.label} ({self.series}){log}: {what} = "
                f"{ci(t.diff, t.lo, t.hi)} "
                f"({units}, {self.seeds} seeds; study's direction {'+' if p.sign > 0 else '-'}), t-test p = "
                f"{fmt(t.p)}{adjusted}; power {fmt(e.power)} at the smallest effect of interest +-{p.units(p.sesoi)} "
                f"(alpha {fmt(self.alpha)}){study}{sens}; minimum detectable effect {p.units(e.mde)}"
                f"{'; ' + outlook if outlook else ''}")
        if main:
            exact = (f"; exact {'permutation' if self.design == 'groups' else 'sign-flip'} p = {fmt(self.exact_p)} "
                     f"(smallest possible {fmt(self.exact_p_min)})" if math.isfinite(self.exact_p) else "")
            rel = (f"; reliability of the architecture means {fmt(self.reliability)} (variance components)"
                   if math.isfinite(self.reliability) else "")
            acc = f"; {self.match.line('NAS', self.versus)}" if self.match else ""
            text += f"{exact}{rel}{acc} -> {self.verdict}"
        return text


def multiplicity(tests: list[PrimaryTest]) -> None:
    """Holm across every confirmatory primary test, then power at alpha/m and each test's verdict."""
    p = [t.test.p for t in tests]
    adj = holm(p)
    m = max(sum(math.isfinite(x) for x in p), 1)
    for t, a in zip(tests, adj):
        t.p_adj = a
        t.plan(ALPHA / m)
        t.decide()


def combine(verdicts: list[str]) -> str:
    """One claim's verdict from its tests (one per scale)."""
    if not verdicts:
        return "not measured"
    if "reproduced" in verdicts and "reversed" in verdicts:
        return "conflicting"
    for v in ("reproduced", "reversed"):
        if v in verdicts:
            return v
    if all(v == "no effect" for v in verdicts):
        return "no effect"
    return "inconclusive"
