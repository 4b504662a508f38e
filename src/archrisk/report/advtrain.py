"""Adversarial-training section (claim C10): the NAS-vs-manual evasion gap before and after.

A victim is adversarially trained when its recipe sets `adv_train` (the job's recipe JSON); its
results form series whose variant holds ('adv_train', method). Each evasion endpoint of such
victims is paired with the same attack setting on standard-trained victims. The clean-accuracy
cost is the per-architecture change of test accuracy, paired by seed (adversarially trained minus
standard), averaged over the group's architectures with the two-stage bootstrap of `stats`.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from archrisk.report import plots
from archrisk.stats import bootstrap
from archrisk.report.compare import compare_groups
from archrisk.report.page import Block, Fig, Section, Table, ci
from archrisk.report.series import Series, SeriesSet

GROUPS = (("nas", "NAS"), ("manual", "manual"))
GAP_COLUMNS = ["attack", "victim training", "NAS archs", "manual archs", "seeds", "NAS mean", "NAS lo", "NAS hi",
               "manual mean", "manual lo", "manual hi", "NAS - manual", "diff lo", "diff hi", "permutation p"]
COST_COLUMNS = ["adversarial training", "group", "architectures", "standard acc", "lo", "hi",
                "adv-trained acc", "lo", "hi", "change", "change lo", "change hi"]


def adv_pairs(ss: SeriesSet) -> list[tuple[Series, Series | None]]:
    """(adversarially trained evasion endpoint, the same setting on standard victims or None)."""
    out = []
    for s in ss.endpoints(adv=True):
        if s.q.family != "evasion":
            continue
        plain = tuple(kv for kv in s.q.variant if kv[0] != "adv_train")
        before = [b for b in ss.endpoints(adv=False) if b.q.name == s.q.name and b.q.variant == plain]
        out.append((s, before[0] if before else None))
    return out


@dataclass(frozen=True)
class Cost:
    method: str
    group: str
    archs: int
    before: bootstrap.IntervalEstimate  # clean test accuracy, standard training
    after: bootstrap.IntervalEstimate  # adversarially trained
    change: bootstrap.IntervalEstimate  # after - before, paired by seed within each architecture


def _acc_series(ss: SeriesSet) -> tuple[Series | None, dict[str, Series]]:
    std, adv = None, {}
    for s in ss.select(kind="train", key="test_acc"):
        m = s.q.param("adv_train")
        rest = [kv for kv in s.q.variant if kv[0] != "adv_train"]
        if rest:  # other variants (several datasets/sizes) are not paired here
            continue
        if m:
            adv[m] = s
        else:
            std = s
    return std, adv


def accuracy_costs(ss: SeriesSet) -> list[Cost]:
    std, adv = _acc_series(ss)
    if std is None:
        return []
    out = []
    for method, s in sorted(adv.items()):
        for g, _ in GROUPS:
            archs = [a for a in s.archs(ss.groups, g) if a in std.values]
            diffs = [[s.values[a][sd] - std.values[a][sd] for sd in sorted(s.values[a]) if sd in std.values[a]]
                     for a in archs]
            rng = np.random.default_rng(zlib.crc32(f"{method}|{g}".encode()))
            out.append(Cost(method, g, len([d for d in diffs if d]), bootstrap.cluster_mean(std.clusters(archs), rng=rng),
                            bootstrap.cluster_mean(s.clusters(archs), rng=rng), bootstrap.cluster_mean(diffs, rng=rng)))
    return out


def _row(attack: str, training: str, c) -> list:
    return [attack, training, c.n_a, c.n_b, c.seeds, c.mean_a.value, c.mean_a.lo, c.mean_a.hi, c.mean_b.value,
            c.mean_b.lo, c.mean_b.hi, c.diff.value, c.diff.lo, c.diff.hi, c.perm.p]


def advtrain_section(ss: SeriesSet, comparisons: dict) -> Section:
    sec = Section("advtrain", "Adversarial training (claim C10: it removes most of the evasion gap)",
                  "Evasion success on standard and adversarially trained victims (recipe adv_train), NAS vs "
                  "manual, with the same intervals and tests as the NAS-vs-manual section; then what the "
                  "training cost in clean test accuracy (change paired by seed within each architecture).")
    pairs = adv_pairs(ss)
    if not pairs:
        sec.missing.append("no evasion results on adversarially trained victims (set the recipe's adv_train in a study)")
        return sec
    rows, panels, text = [], [], []
    for after, before in pairs:
        method = after.q.param("adv_train")
        name = before.q.label if before else after.q.label
        bars = []
        for training, s in (("standard", before), (f"{method}-trained", after)):
            if s is None:
                continue
            c = comparisons.get(s.q) or compare_groups(s, ss.groups)
            comparisons[s.q] = c
            rows.append(_row(name, training, c))
            bars += [plots.Bar(f"{label}\n{training}", g, e.value, e.lo, e.hi)
                     for (g, label), e in zip(GROUPS, (c.mean_a, c.mean_b))]
        if before is None:
            sec.missing.append(f"{after.q.label}: no result of the same attack on standard-trained victims")
        else:
            cb, ca = comparisons[before.q], comparisons[after.q]
            gap_b, gap_a = before.direction * cb.diff.value, after.direction * ca.diff.value
            removed = f"; {1 - gap_a / gap_b:.0%} of the gap removed" if gap_b > 0 else ""
            text.append(f"{name}: NAS - manual {ci(cb.diff.value, cb.diff.lo, cb.diff.hi)} before, "
                        f"{ci(ca.diff.value, ca.diff.lo, ca.diff.hi)} after {method} training{removed}.")
        panels.append((name, bars))
    sec.blocks.append(Block("Evasion before and after", text, [Fig(
        "advtrain_evasion", "evasion before and after adversarial training", plots.bars(panels, cols=3),
        "Group means of per-architecture means with 95% two-stage bootstrap intervals.")],
        [Table("advtrain_evasion", "Evasion success: NAS vs manual, standard and adversarially trained victims",
               GAP_COLUMNS, rows)]))
    costs = accuracy_costs(ss)
    if not costs:
        sec.missing.append("no clean accuracy of both standard and adversarially trained victims (train jobs): "
                           "the accuracy cost is unknown")
        return sec
    crow = [[c.method, c.group, c.archs, c.before.value, c.before.lo, c.before.hi, c.after.value, c.after.lo,
             c.after.hi, c.change.value, c.change.lo, c.change.hi] for c in costs]
    by_method: dict[str, dict[str, Cost]] = {}
    for c in costs:
        by_method.setdefault(c.method, {})[c.group] = c
    text, panels = [], []
    for m, by_g in by_method.items():
        text.append(f"{m} training changes clean test accuracy by " + "; ".join(
            f"{lab} {ci(by_g[g].change.value, by_g[g].change.lo, by_g[g].change.hi)} ({by_g[g].archs} architectures)"
            for g, lab in GROUPS if by_g[g].archs) + " (adversarially trained - standard, paired by seed).")
        panels.append((f"clean accuracy, {m}", [plots.Bar(f"{lab}\n{when}", g, e.value, e.lo, e.hi)
                                                 for g, lab in GROUPS for when, e in
                                                 (("standard", by_g[g].before), (m, by_g[g].after))]))
    sec.blocks.append(Block("Clean-accuracy cost", text,
        [Fig("advtrain_accuracy", "clean accuracy before and after", plots.bars(panels, cols=3))],
        [Table("advtrain_accuracy", "Clean test accuracy: standard vs adversarially trained", COST_COLUMNS, crow)]))
    return sec
