"""The report section on victim quality: every trained victim with its clean accuracy, training length
and convergence, and each group's accuracy per scale, with the registered gate's decisions."""
from __future__ import annotations

import math

import numpy as np

from archrisk.report.page import Block, Section, Table
from archrisk.report.quality import flagged, group_accuracy
from archrisk.report.series import GROUP_ORDER, SeriesSet, scale_label

VICTIM_COLUMNS = ["architecture", "group", "scale", "seed", "clean_acc", "epochs", "converged", "status", "why"]
# The models attacks train themselves, and the result that says how well each was trained: an attack
# whose own models did not learn measures nothing (a thief that agrees with its victim on 0.2 of the
# images has not stolen it).
ATTACK_MODELS = {("knockoff", "agreement"): "thieves' label agreement with their victims",
                 ("knockoff", "thief_acc"): "thieves' clean accuracy",
                 ("label_flip", "clean_acc"): "poisoned models' clean accuracy",
                 ("badnets", "clean_acc"): "backdoored models' clean accuracy",
                 ("trojannn", "clean_acc"): "backdoored models' clean accuracy",
                 ("lira", "shadow_acc"): "shadow models' clean accuracy"}
MODEL_COLUMNS = ["attack", "result", "what", "scale", "victims", "median", "min", "max"]
GROUP_COLUMNS = ["scale", "group", "architectures", "median", "min", "max", "victims flagged", "victims excluded"]


def _converged(x: float) -> str:
    return "" if math.isnan(x) else ("yes" if x else "no (hit the cap)")


def victims_section(ss: SeriesSet) -> Section | None:
    if not ss.victims:
        return None
    a = ss.analysis
    sec = Section("victims", "Victims: clean accuracy and training state",
                  "Every standard-trained victim, by scale (dataset, size, recipe), architecture and seed, with its "
                  "clean test accuracy, the epochs it trained and whether a convergence rule stopped it (blank: "
                  f"a fixed-epoch recipe). The study registered: {a.describe()}. Excluded victims are left out "
                  "of every analysis of their scale; flagged ones stay in and are listed here.")
    sec.missing += flagged(ss)
    groups = sorted({v.group for v in ss.victims},
                    key=lambda g: (GROUP_ORDER.index(g) if g in GROUP_ORDER else len(GROUP_ORDER), g))
    summary = []
    for scale in sorted({v.scale for v in ss.victims}):
        for g in groups:
            acc = group_accuracy(ss, scale, g)
            mine = [v for v in ss.victims if v.scale == scale and v.group == g]
            if not mine:
                continue
            summary.append([scale_label(scale), g, len(acc.means), acc.median,
                            min(acc.means) if acc.means else math.nan, max(acc.means) if acc.means else math.nan,
                            sum(v.status == "flagged" for v in mine), sum(v.status == "excluded" for v in mine)])
    rows = [[v.arch, v.group, scale_label(v.scale), v.seed, v.clean_acc, v.epochs, _converged(v.converged), v.status,
             v.why] for v in ss.victims]
    sec.blocks.append(Block("Clean accuracy per group and scale", tables=[
        Table("accuracy_by_scale", "Clean accuracy of the included victims' architecture means", GROUP_COLUMNS,
              summary)]))
    models = attack_models(ss)
    if models:
        sec.blocks.append(Block("The models the attacks trained", tables=[
            Table("attack_models", "How well the attacks' own models trained (over victims)", MODEL_COLUMNS, models)]))
    sec.blocks.append(Block("Every victim", tables=[Table("victims", "Victims", VICTIM_COLUMNS, rows)]))
    return sec


def attack_models(ss: SeriesSet) -> list[list]:
    """Per attack setting and scale, the median (and range) over victims of its own models' quality."""
    rows = []
    for q, s in sorted(ss.series.items(), key=lambda kv: kv[0].label):
        what = ATTACK_MODELS.get((q.name, q.key.split("@", 1)[0]))
        if q.kind != "attack" or what is None or q.param("adv_train"):
            continue
        vals = [v for per in s.values.values() for v in per.values()]
        if vals:
            setting = ", ".join(f"{k}={v}" for k, v in q.variant if (k, v) not in q.scale)
            rows.append([f"{q.name} ({setting})" if setting else q.name, q.key, what, scale_label(q.scale),
                         len(vals), float(np.median(vals)), min(vals), max(vals)])
    return rows
