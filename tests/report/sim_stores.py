"""Simulated stores with a known answer, built in memory for the verdict rules' error-rate checks.

Every claim's primary measurement is drawn as architecture effect + seed noise (normal; log-normal
for the log-scale metrics), in units of that claim's smallest effect of interest (SESOI), so one design
means the same for every claim: `sd_arch = 1` is a spread between architectures as large as the SESOI.
A planted effect (per claim, in SESOIs, in the study's direction) shifts the NAS cells. Remedy cells
share their source cell's mean (no remedy effect unless planted); adversarially trained victims keep the
before-training gap unless a C10 effect is planted (which removes that share of it).

`fixed_null` centres the architecture effects within each group, so the named architectures' group
means are exactly equal: the fixed-effects null (a random draw of architectures differs by chance, which
the fixed-effects question rightly detects). `confound` plants a training-state confound: the manual
nets are undertrained (clean accuracy about 0.3 lower) and every measurement of theirs moves by that
many SESOIs against the study's direction, with no architecture effect at all; `gate` registers the
victim quality gate (exclude below 0.5 clean accuracy, compare groups only within 0.05 of each other).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from archrisk.analysis import Analysis
from archrisk.report import quality
from archrisk.report.claims import CLAIMS
from archrisk.report.designs import find_primary
from archrisk.report.series import Quantity, Series, SeriesSet

# (kind, name, family, variant, key) of each group claim's primary, as the store would hold it
PRIMARY_Q = {
    "C1": ("attack", "pgd", "evasion", (), "success_rate"),
    "C2": ("attack", "label_flip", "poisoning", (("fraction", "0.2"),), "acc_drop"),
    "C3": ("attack", "badnets", "backdoor", (), "asr"),
    "C4": ("attack", "knockoff", "extraction", (), "kl"),
    "C5": ("attack", "boundary", "membership", (), "auc"),
    "C6": ("metric", "gradient_variance", "gradients", (("at", "trained"),), "grad_var"),
    "C7": ("metric", "landscape", "landscape", (("at", "trained"),), "landscape_conv_curvature"),
    "C8": ("derived", "early_convergence", "convergence", (), "early_acc_share"),
}
REMEDIES = ("darts_i", "darts_ii", "darts_iii")
GATE = Analysis(below_min="exclude", max_accuracy_gap=0.05)


@dataclass(frozen=True)
class Design:
    n_nas: int
    n_manual: int
    seeds: int
    sd_arch: float = 1.0  # in SESOIs of each claim
    sd_seed: float = 0.5
    effects: dict = field(default_factory=dict)  # claim id -> planted NAS shift in SESOIs (study's direction)
    remedies: bool = True
    adv: bool = True
    n_random: int = 0  # random cells (C1r's control group): NAS's C1 mean minus a planted C1r effect
    estimand: str = "random"  # the registered confirmatory question
    fixed_null: bool = False  # architecture effects centred within each group
    confound: float = 0.0  # manual nets undertrained, shifted by this many SESOIs against the study
    gate: bool = False  # register the victim quality gate (GATE)


def _primary(cid: str):
    return CLAIMS[cid].primaries[0] if cid != "C3" else CLAIMS[cid].primaries[1]  # BadNets is what we store


def _centred(x: np.ndarray, on: bool) -> np.ndarray:
    return x - x.mean() if on and x.size else x


def simulate(d: Design, rng: np.random.Generator) -> SeriesSet:
    nas = ["darts_v2"] + [f"nas{i}" for i in range(1, d.n_nas)]
    manual = [f"manual{i}" for i in range(d.n_manual)]
    random = [f"random{i}" for i in range(d.n_random)]
    groups = {a: "nas" for a in nas} | {a: "manual" for a in manual} | {a: "random" for a in random}
    if d.remedies:
        groups |= {a: "remedy" for a in REMEDIES}
    series: dict[Quantity, Series] = {}

    def draw(q: Quantity, means: dict[str, float], unit: float, log: bool) -> Series:
        s = Series(q)
        for arch, mu in means.items():
            for seed in range(d.seeds):
                v = unit * (mu + d.sd_seed * rng.normal())
                s.add(arch, seed, math.exp(v) if log else v)
        series[q] = s
        return s

    def arch_effects(archs: list[str]) -> dict[str, float]:
        return dict(zip(archs, _centred(d.sd_arch * rng.normal(size=len(archs)), d.fixed_null)))

    latent_c1 = {}
    for cid, (kind, name, family, variant, key) in PRIMARY_Q.items():
        p = _primary(cid)
        shift = p.sign * d.effects.get(cid, 0.0)
        means = {a: v + shift for a, v in arch_effects(nas).items()} | {
            a: v - p.sign * d.confound for a, v in arch_effects(manual).items()}
        if d.remedies and cid == "C4":  # remedy cells: their source's mean, plus a planted C9 change in C9's SESOIs
            c9 = CLAIMS["C9"].primaries[0]
            means |= {r: means["darts_v2"] + c9.sign * d.effects.get("C9", 0.0) * c9.sesoi / p.sesoi for r in REMEDIES}
        if cid == "C1":  # random cells: the NAS cells' shift minus the planted NAS-vs-random effect
            means |= {a: v + shift - p.sign * d.effects.get("C1r", 0.0) for a, v in arch_effects(random).items()}
        draw(Quantity(kind, name, family, variant, key), means, p.sesoi, p.log)
        if cid == "C1":
            latent_c1 = means
    if d.adv:  # after adversarial training: lower overall, the gap kept unless C10 removes part of it
        c10 = CLAIMS["C10"].primaries[0]
        keep = 1.0 - d.effects.get("C10", 0.0)
        gap = np.mean([latent_c1[a] for a in nas]) - np.mean([latent_c1[a] for a in manual])
        after = {a: latent_c1[a] - 1.0 - (1 - keep) * gap * (groups[a] == "nas") for a in nas + manual}
        draw(Quantity("attack", "pgd", "evasion", (("adv_train", "pgd"),), "success_rate"), after,
             CLAIMS["C1"].primaries[0].sesoi, c10.log)
    acc = Series(Quantity("train", "train", "train", (), "test_acc"))
    for arch, g in groups.items():
        base = 0.97 - (0.3 if d.confound and g == "manual" else 0.0)
        for seed in range(d.seeds):
            acc.add(arch, seed, min(base + (0.05 if base < 0.9 else 0.005) * rng.normal(), 1.0))
    series[acc.q] = acc
    ss = SeriesSet(series, groups, analysis=replace(GATE if d.gate else Analysis(), estimand=d.estimand))
    return quality.apply(ss)


def check_primaries_found(ss: SeriesSet) -> None:
    """Guard for the simulations: every claim finds the primary the simulation meant for it."""
    for cid, claim in CLAIMS.items():
        p, found = find_primary(ss, claim, adv=cid == "C10")
        assert found, f"{cid}: the simulated store has no primary"
