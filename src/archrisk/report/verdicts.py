"""The verdict vocabulary and its decision rule, fixed before any data is seen.

Each claim names one *primary* measurement with the study's direction, a smallest effect of
interest (SESOI) in that measurement's units and the study's standardised effect (Hedges g). Its
primary test gives one of:

- reproduced / reversed: the 95% interval excludes 0 and the Holm-adjusted p (across every claim's
  primary test) is below 0.05, in the study's direction / the other;
- no effect: the 95% interval lies inside (-SESOI, +SESOI), an equivalence result, and the design had
  the target power at the study's effect (the SESOI is in raw units: on a scale where the study's
  standardised effect would be smaller than the SESOI, a narrow interval alone proves nothing);
- inconclusive: neither, with the reason: too few architectures or seeds for a test, seeds that
  disagree on the ranking (the reliability of the architecture means, Spearman-Brown from the
  seed-to-seed rank agreement, below `RELIABILITY_MIN`), too little power, or a powered test whose
  interval still reaches the SESOI;
- conflicting: tests of one claim (at several scales, or its parts) decided in both directions;
- not measured: the store holds no primary measurement for the claim.

Power is that of the claim's t test at the study's effect size and at Holm's first-step level
alpha / m (a lower bound for Holm), so "reproduced" appears at about the rate the power predicts
when one claim carries an effect. The study ran one seed per model, so its g is in units of the
single-seed spread between models; with several seeds an architecture's mean is less noisy, and
`inference.noise` converts g accordingly. Secondary measurements are shown beside a claim and
never vote.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from archrisk.stats import inference
from archrisk.report.page import ci, fmt

VERDICTS = ("reproduced", "reversed", "no effect", "inconclusive", "conflicting", "not measured")
DECIDED = ("reproduced", "reversed", "no effect")
ALPHA = inference.ALPHA
TARGET_POWER = inference.TARGET_POWER
RELIABILITY_MIN = 0.5  # reliability of architecture means below this: they are mostly seed noise


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

    def units(self, x: float) -> str:
        return f"{fmt(x)} (x{fmt(math.exp(x))})" if self.log and math.isfinite(x) else fmt(x)


@dataclass
class PrimaryTest:
    """One primary test (a claim may have one per scale), before and after the multiplicity step."""

    claim: str
    primary: Primary
    series: str  # label of the series tested
    scale: str  # dataset/size of this test when a store holds several, else ''
    design: str  # "groups": NAS vs manual architectures; "paired": seeds of a paired change
    test: inference.TTest  # raw difference in compared units: NAS - manual, or the paired change
    sd_unit: float  # SD of one unit (an architecture's mean, or one seed's paired difference)
    inflation: float = 1.0  # converts the study's single-seed g into units of sd_unit
    reliability: float = math.nan  # seed-to-seed rank agreement of the measurement
    seeds: int = 0
    exact_p: float = math.nan  # permutation (groups) or sign-flip (paired) p, shown beside
    exact_p_min: float = math.nan  # the smallest p that exact test can give here
    p_adj: float = math.nan  # Holm-adjusted across every claim's primary tests
    alpha: float = ALPHA  # Holm's first-step level alpha / m, at which power is computed
    power: float = math.nan  # at the study's effect size
    mde: float = math.nan  # minimum detectable effect at TARGET_POWER, compared units
    mde_g: float = math.nan  # the same in the study's g units
    sd_arch: float = math.nan  # SD between architectures' true means (seed noise removed; groups design)
    verdict: str = "inconclusive"
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def n_units(self) -> tuple[int, int]:
        return self.test.n_a, self.test.n_b

    @property
    def mean_reliability(self) -> float:
        """Spearman-Brown reliability of the mean over `seeds` seeds from the seed-to-seed agreement r."""
        r, k = self.reliability, self.seeds
        if not math.isfinite(r) or k < 2:
            return math.nan
        return k * r / (1 + (k - 1) * r) if r > -1 / (k - 1) else -math.inf

    @property
    def oriented(self) -> float:
        """The estimate in the study's direction (> 0: the way the study found)."""
        return self.primary.sign * self.test.diff

    def plan(self, alpha_family: float) -> None:
        """Power and minimum detectable effect at the family's first-step level."""
        self.alpha = alpha_family
        na, nb = self.n_units
        if not self.test.testable:
            return
        self.power = inference.power_t(self.primary.g * self.inflation, na, nb, alpha_family)
        d = inference.detectable(na, nb, alpha_family)
        self.mde = d * self.sd_unit if math.isfinite(self.sd_unit) else math.nan
        self.mde_g = d / self.inflation

    def decide(self) -> None:
        t, p = self.test, self.primary
        na, nb = self.n_units
        if not t.testable:
            self.verdict = "inconclusive"
            self.reason = (f"too few architectures for a test ({na} NAS vs {nb} manual; each group needs 2)"
                           if self.design == "groups" else f"too few paired seeds for a test ({na}; needs 2)")
            return
        if self.mean_reliability < RELIABILITY_MIN:  # nan (one seed, few architectures) does not gate
            self.verdict = "inconclusive"
            self.reason = (f"seeds disagree: seed-to-seed rank agreement {fmt(self.reliability)}, so the mean of "
                           f"{self.seeds} seeds has reliability {fmt(self.mean_reliability)} < {RELIABILITY_MIN}")
            return
        if t.excludes(0.0) and self.p_adj < ALPHA:
            self.verdict = "reproduced" if self.oriented > 0 else "reversed"
            self.reason = f"Holm-adjusted p = {fmt(self.p_adj)} < {ALPHA}, interval excludes 0"
            return
        if t.within(p.sesoi) and self.power >= TARGET_POWER:
            self.verdict = "no effect"
            self.reason = f"the 95% interval lies inside +-{p.units(p.sesoi)}, the smallest effect of interest"
            return
        self.verdict = "inconclusive"
        if not (self.power >= TARGET_POWER):
            self.reason = (f"underpowered: power {fmt(self.power)} at the study's effect (g = {fmt(p.g)}); this "
                           f"design detects {p.units(self.mde)} (g = {fmt(self.mde_g)}) with power {TARGET_POWER}")
        else:
            self.reason = (f"no difference detected (Holm p = {fmt(self.p_adj)}), but the interval still reaches "
                           f"the smallest effect of interest +-{p.units(p.sesoi)}") + self._outlook()

    @property
    def floor(self) -> float:
        """Half-width the interval would keep with unlimited seeds of these architectures."""
        na, nb = self.n_units
        return inference.interval_floor(self.sd_arch, na, nb) if self.design == "groups" else math.nan

    def _outlook(self) -> str:
        """Whether more seeds could decide an inconclusive powered test, or only more architectures."""
        f, p = self.floor, self.primary
        if not math.isfinite(f):
            return ""
        if f >= p.sesoi:
            return (f"; with unlimited seeds it would still be about +-{p.units(f)} wide (the architectures differ by SD "
                    f"{fmt(self.sd_arch)} beyond seed noise), so only more architectures could decide it")
        return f"; more seeds could decide it: with unlimited seeds it would be about +-{p.units(f)} wide"

    def line(self) -> str:
        t, p = self.test, self.primary
        what = {"groups": "NAS - manual", "paired": "change"}[self.design]
        units = {"groups": f"{t.n_a} NAS vs {t.n_b} manual architectures", "paired": f"{t.n_a} paired seeds"}[self.design]
        scale = f" [{self.scale}]" if self.scale else ""
        exact = (f"; exact {'permutation' if self.design == 'groups' else 'sign-flip'} p = {fmt(self.exact_p)} "
                 f"(smallest possible {fmt(self.exact_p_min)})" if math.isfinite(self.exact_p) else "")
        rel = (f"; seed agreement {fmt(self.reliability)} (reliability of the means {fmt(self.mean_reliability)})"
               if math.isfinite(self.reliability) else "")
        log = " (log scale)" if p.log else ""
        return (f"Primary{scale}: {self.series}{log}: {what} = {ci(t.diff, t.lo, t.hi)} ({units}, {self.seeds} seeds; "
                f"study's direction {'+' if p.sign > 0 else '-'}), t-test p = {fmt(t.p)}, Holm-adjusted "
                f"{fmt(self.p_adj)}; power {fmt(self.power)} at the study's g = {fmt(p.g)} (alpha {fmt(self.alpha)}), "
                f"minimum detectable effect {p.units(self.mde)}; smallest effect of interest "
                f"+-{p.units(p.sesoi)}{exact}{rel} -> {self.verdict}")


def multiplicity(tests: list[PrimaryTest]) -> None:
    """Holm across every primary test, then power at alpha/m and each test's verdict."""
    p = [t.test.p for t in tests]
    adj = inference.holm(p)
    m = max(sum(math.isfinite(x) for x in p), 1)
    for t, a in zip(tests, adj):
        t.p_adj = a
        t.plan(ALPHA / m)
        t.decide()


def combine(verdicts: list[str]) -> str:
    """One claim's verdict from its tests (one per scale, or its parts)."""
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
