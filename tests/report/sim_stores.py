"""Simulated stores with a known answer, built in memory for the verdict rules' error-rate checks.

Every claim's primary measurement is drawn as architecture effect + seed noise (normal; log-normal
for the log-scale metrics), with an optional planted NAS-vs-manual effect per claim in the study's
units of g (single-seed SD between models) and in the study's direction. Remedy cells share their
source cell's mean (no remedy effect unless planted); adversarially trained victims keep the
before-training gap unless a C10 effect is planted (which removes that share of it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from archrisk.report.claims import CLAIMS, find_primary
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


@dataclass(frozen=True)
class Design:
    n_nas: int
    n_manual: int
    seeds: int
    sd_arch: float = 1.0
    sd_seed: float = 0.5
    effects: dict = field(default_factory=dict)  # claim id -> planted g (study's units and direction)
    remedies: bool = True
    adv: bool = True
    n_random: int = 0  # random cells (C1r's control group): NAS's C1 mean minus a planted C1r effect


def _primary(cid: str):
    return CLAIMS[cid].primaries[0] if cid != "C3" else CLAIMS[cid].primaries[1]  # BadNets is what we store


def simulate(d: Design, rng: np.random.Generator) -> SeriesSet:
    nas = ["darts_v2"] + [f"nas{i}" for i in range(1, d.n_nas)]
    manual = [f"manual{i}" for i in range(d.n_manual)]
    random = [f"random{i}" for i in range(d.n_random)]
    groups = {a: "nas" for a in nas} | {a: "manual" for a in manual} | {a: "random" for a in random}
    if d.remedies:
        groups |= {a: "remedy" for a in REMEDIES}
    total = math.sqrt(d.sd_arch ** 2 + d.sd_seed ** 2)
    series: dict[Quantity, Series] = {}

    def draw(q: Quantity, means: dict[str, float], log: bool) -> Series:
        s = Series(q)
        for arch, mu in means.items():
            for seed in range(d.seeds):
                v = mu + d.sd_seed * rng.normal()
                s.add(arch, seed, math.exp(v) if log else v)
        series[q] = s
        return s

    latent_c1 = {}
    for cid, (kind, name, family, variant, key) in PRIMARY_Q.items():
        p = _primary(cid)
        shift = p.sign * d.effects.get(cid, 0.0) * total
        means = {a: d.sd_arch * rng.normal() + (shift if groups[a] == "nas" else 0.0) for a in nas + manual}
        if d.remedies and cid == "C4":  # remedy cells: their source's mean, plus a planted C9 change
            c9 = CLAIMS["C9"].primaries[0]
            means |= {r: means["darts_v2"] + c9.sign * d.effects.get("C9", 0.0) * d.sd_seed for r in REMEDIES}
        if cid == "C1":  # random cells: the NAS cells' shift minus the planted NAS-vs-random effect
            means |= {a: d.sd_arch * rng.normal() + shift - p.sign * d.effects.get("C1r", 0.0) * total for a in random}
        draw(Quantity(kind, name, family, variant, key), means, p.log)
        if cid == "C1":
            latent_c1 = means
    if d.adv:  # after adversarial training: lower overall, the gap kept unless C10 removes part of it
        keep = 1.0 - d.effects.get("C10", 0.0)
        gap = np.mean([latent_c1[a] for a in nas]) - np.mean([latent_c1[a] for a in manual])
        after = {a: latent_c1[a] - 1.0 - (1 - keep) * gap * (groups[a] == "nas") for a in nas + manual}
        draw(Quantity("attack", "pgd", "evasion", (("adv_train", "pgd"),), "success_rate"), after, False)
    return SeriesSet(series, groups)


def check_primaries_found(ss: SeriesSet) -> None:
    """Guard for the simulations: every claim finds the primary the simulation meant for it."""
    for cid, claim in CLAIMS.items():
        p, found = find_primary(ss, claim, adv=cid == "C10")
        assert found, f"{cid}: the simulated store has no primary"
