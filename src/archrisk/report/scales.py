"""The scale trend: each claim's primary test at every scale of the store, side by side, and the change
of the effect between scales (does the NAS - manual gap grow with scale?). Exploratory: the plan
registers one test per scale, not their comparison."""
from __future__ import annotations

import math
from collections import defaultdict

from scipy import stats as _st

from archrisk.stats.inference import ALPHA
from archrisk.report.page import Block, Section, Table, ci, fmt
from archrisk.report.verdicts import PrimaryTest


def _change(a: PrimaryTest, b: PrimaryTest) -> tuple[float, float, float]:
    """b - a with a Welch-Satterthwaite interval from the two tests' standard errors."""
    ta, tb = a.test, b.test
    d = tb.diff - ta.diff
    va, vb = ta.se ** 2, tb.se ** 2
    if not all(map(math.isfinite, (d, va, vb, ta.df, tb.df))) or va + vb == 0:
        return d, math.nan, math.nan
    df = (va + vb) ** 2 / (va ** 2 / ta.df + vb ** 2 / tb.df)
    half = float(_st.t.ppf(1 - ALPHA / 2, df)) * math.sqrt(va + vb)
    return d, d - half, d + half


def _standardised(t: PrimaryTest) -> float:
    return t.test.diff / t.sd_unit if t.sd_unit and math.isfinite(t.sd_unit) else math.nan


def scale_trend(tests: list[PrimaryTest]) -> Section | None:
    by_claim: dict[tuple[str, str], list[PrimaryTest]] = defaultdict(list)
    for t in tests:
        by_claim[(t.claim, t.primary.label)].append(t)
    multi = {k: sorted(v, key=lambda t: t.scale) for k, v in by_claim.items() if len({t.scale for t in v}) > 1}
    if not multi:
        return None
    rows, text = [], []
    for (claim, label), ts in multi.items():
        for t in ts:
            rows.append([claim, label, t.scale, t.test.diff, t.test.lo, t.test.hi, _standardised(t), t.test.n_a,
                         t.test.n_b, t.verdict])
        first, last = ts[0], ts[-1]
        d, lo, hi = _change(first, last)
        if math.isfinite(lo):
            word = ("larger" if d * first.primary.sign > 0 else "smaller") if lo > 0 or hi < 0 else None
            how = (f"the gap in the study's direction is {word} at {last.scale}" if word
                   else "the two scales cannot be told apart")
            text.append(f"{claim}, {label}: {last.scale} minus {first.scale}: {ci(d, lo, hi)}; {how} (standardised "
                        f"effects {fmt(_standardised(first))} and {fmt(_standardised(last))}).")
        else:
            text.append(f"{claim}, {label}: the change between scales cannot be estimated (a test without an interval).")
    table = Table("scale_trend", "Primary tests by scale", ["claim", "primary", "scale", "estimate", "lo", "hi", "standardised",
                                             "units_a", "units_b", "verdict"], rows,
                  note="estimate: NAS minus the compared group (remedies: the paired change), raw units; "
                       "standardised: over the SD of one unit (an architecture's mean)")
    intro = ("Each claim tested at more than one scale, side by side. The scales differ in data, resolution and "
             "attack budget, so raw differences compare loosely; the standardised effects compare the gap's size "
             "relative to the spread between architectures. Exploratory: not a registered test.")
    return Section("scale-trend", "Scale trend: does the gap grow with scale?", intro,
                   [Block("Primary tests at each scale", text=text, tables=[table])])
