"""Victim quality: every trained victim's clean accuracy and training state, keyed by architecture,
scale (dataset, size, recipe) and seed, and the study's registered gate applied to them.

The gate (`archrisk.analysis`) is applied once, when the series are built: a victim below the
registered clean accuracy (or, where required, one whose training hit its epoch cap without
converging) is flagged, or excluded from every series of its scale, as the study registered. A group
comparison then shows both groups' clean-accuracy distribution at its scale, and where the study
registered a largest accuracy gap, a comparison whose groups' medians differ by more is not decided:
its difference may be the victims' training state, not their architecture.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from archrisk.analysis import Analysis

if TYPE_CHECKING:  # type hints only: series.py builds the set and calls `apply`
    from archrisk.report.series import Scale, SeriesSet

UNMATCHED = 0.05  # median clean-accuracy gap shown as a caveat where the study registered no gate
# Measurements that do not depend on how a victim was trained (a cell's structure) pass the gap rule.
UNTRAINED_FAMILIES = ("structure",)
STATUSES = ("included", "flagged", "excluded")


@dataclass(frozen=True)
class Victim:
    """One standard-trained victim and what the gate made of it."""

    arch: str
    group: str
    scale: tuple
    seed: int
    clean_acc: float
    epochs: float  # epochs trained (run, under a convergence rule)
    converged: float  # 1: stopped by the convergence rule, 0: hit its cap, nan: fixed-epoch recipe
    status: str = "included"
    why: str = ""


def _value(ss: SeriesSet, key: str, scale, arch: str, seed: int) -> float:
    s = ss.trained(key, scale=scale)
    return float(s.values.get(arch, {}).get(seed, math.nan)) if s is not None else math.nan


def victims(ss: SeriesSet) -> list[Victim]:
    """Every standard-trained victim of the store, by scale, architecture and seed (ungated)."""
    out = []
    for scale in ss.scales():
        acc = ss.accuracy(scale=scale)
        if acc is None:
            continue
        for arch in sorted(acc.values):
            for seed in sorted(acc.values[arch]):
                out.append(Victim(arch, ss.group_of(arch), scale, seed, acc.values[arch][seed],
                                  _value(ss, "epochs", scale, arch, seed), _value(ss, "converged", scale, arch, seed)))
    return out


def assess(v: Victim, a: Analysis) -> Victim:
    """The gate's status for one victim, as the study registered it."""
    problems = []
    if v.clean_acc < a.min_clean_acc:
        problems.append(f"clean accuracy {v.clean_acc:.3f} below {a.min_clean_acc:g}")
    if a.require_converged and v.converged == 0:
        problems.append(f"hit its epoch cap ({v.epochs:g}) without converging")
    if not problems:
        return v
    return replace(v, status="excluded" if a.excludes else "flagged", why="; ".join(problems))


def apply(ss: SeriesSet) -> SeriesSet:
    """Assess every victim and remove the excluded ones' values from every standard-trained series
    of their scale (attacks, metrics, derived and train results alike); returns `ss`."""
    ss.victims = [assess(v, ss.analysis) for v in victims(ss)]
    gone = {(v.scale, v.arch, v.seed) for v in ss.victims if v.status == "excluded"}
    if gone:
        for q, s in ss.series.items():
            if q.param("adv_train"):
                continue
            for arch in list(s.values):
                for seed in [sd for sd in s.values[arch] if (q.scale, arch, sd) in gone]:
                    del s.values[arch][seed]
                if not s.values[arch]:
                    del s.values[arch]
    return ss


@dataclass(frozen=True)
class Accuracy:
    """One group's clean accuracy at one scale: its architectures' means over included seeds."""

    group: str
    means: tuple[float, ...]

    @property
    def median(self) -> float:
        return float(np.median(self.means)) if self.means else math.nan

    def text(self, label: str) -> str:
        if not self.means:
            return f"{label}: no clean accuracy"
        return (f"{label} median {self.median:.3f} (range {min(self.means):.3f}-{max(self.means):.3f}, "
                f"{len(self.means)} architectures)")


def group_accuracy(ss: SeriesSet, scale, group: str) -> Accuracy:
    means = ss.victim_means("test_acc", scale)
    return Accuracy(group, tuple(v for a, v in sorted(means.items()) if ss.groups.get(a) == group))


@dataclass(frozen=True)
class Match:
    """How alike two groups' victims were trained at one scale, and whether the gate lets them be compared."""

    a: Accuracy
    b: Accuracy
    limit: float | None  # the registered largest median gap (None: not registered)

    @property
    def gap(self) -> float:
        return self.a.median - self.b.median

    def line(self, la: str, lb: str) -> str:
        return f"clean accuracy at this scale: {self.a.text(la)}; {self.b.text(lb)}"

    @property
    def blocked(self) -> bool:
        return self.limit is not None and math.isfinite(self.gap) and abs(self.gap) > self.limit

    def reason(self, la: str, lb: str) -> str:
        """Why the gate refuses this comparison ('' when it does not)."""
        if not self.blocked:
            return ""
        return (f"the groups' victims are not trained to the same standard: median clean accuracy {la} "
                f"{self.a.median:.3f} vs {lb} {self.b.median:.3f}, a gap of {abs(self.gap):.3f} over the registered "
                f"{self.limit:g}")

    def caveat(self, la: str, lb: str) -> str:
        """A note where the gap is large but no gate was registered ('' otherwise)."""
        if self.limit is not None or not math.isfinite(self.gap) or abs(self.gap) <= UNMATCHED:
            return ""
        return (f"not like with like: median clean accuracy {la} {self.a.median:.3f} vs {lb} {self.b.median:.3f} "
                f"(gap {abs(self.gap):.3f} > {UNMATCHED:g}); the difference may be the victims' training state, "
                "not their architecture (this study registered no accuracy gate)")


def match(ss: SeriesSet, scale: Scale, a: str, b: str, family: str = "") -> Match:
    limit = None if family in UNTRAINED_FAMILIES else ss.analysis.max_accuracy_gap
    return Match(group_accuracy(ss, scale, a), group_accuracy(ss, scale, b), limit)


def flagged(ss: SeriesSet) -> list[str]:
    """One line per flagged or excluded victim, for the report's notes."""
    return [f"{v.arch} seed {v.seed}{' [' + ', '.join(f'{k}={x}' for k, x in v.scale) + ']' if v.scale else ''}: "
            f"{v.status} ({v.why})" for v in ss.victims if v.status != "included"]
