"""The study's claims C1..C10, each with pre-declared primary measurements, and C1r, archrisk's control
the study lacked (NAS cells against random cells of the same space). Pure data: how a claim is tested
is its design's (`designs`), how a test is decided is `verdicts`'.

A claim lists candidate primaries in order; the first the store holds is the primary. SESOIs are half
the study's effect in the compared units where the study gives one (`shared/reference/paper.md`);
where it gives none the SESOI and the assumed g say so. `study_gap` is the study's own raw difference
where the measurement is the study's, for the power beside the SESOI's.

Claims come in protocols, registered by a study (`archrisk.analysis`): a primary changes only for
studies registered after the change. Protocol 1 is what the reference study v1 registered; protocol
2 decides C4 on the study's own measure (the thief's cross-entropy; KL, which tracks how confident
the victim is, becomes secondary) and splits C8 into its parts: the selection (NAS vs random cells:
do NAS methods prefer shallow cells with skips?) and the convergence (NAS vs manual nets: do NAS
cells converge fast early?), the latter on a measure of the training curve that does not depend on
where a convergence rule stopped the run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

from archrisk.registry import Registry
from archrisk.report.verdicts import VERDICTS, Primary
from archrisk.stats.estimands import ESTIMANDS, RANDOM

__all__ = ["CLAIMS", "VERDICTS", "Claim", "Design", "claims_of", "PROTOCOL_CHANGES"]

_ASSUMED = "the study reports no per-model spread for this; a large effect (g = 1) is assumed"


class Design(str, Enum):
    """How a claim is tested (`designs.DESIGNS` holds one strategy per member)."""

    GROUPS = "groups"  # NAS vs another group of architectures
    REMEDY = "remedy"  # remedy cells against their source cell, paired by seed
    GAP = "gap"  # the change of the NAS-manual gap under adversarial training


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    study: str
    design: Design
    primaries: tuple[Primary, ...]
    versus: str = "manual"  # groups design: the group NAS is compared with
    bears: str = ""  # the claim whose measurements are its secondary evidence (default: its own id)
    estimands: tuple[str, ...] = ESTIMANDS  # the questions it can answer (a structure has no seed noise)
    also_versus: tuple[str, ...] = ()  # further groups its primary is compared with, as secondary evidence

    @property
    def evidence_id(self) -> str:
        return self.bears or self.id


def _pgd(sign: int = 1, sesoi: float = 0.06, g: float = 2.37, note: str = "paper.md: C1 worst case, 7 vs 10 models",
         gap: float = 0.119) -> Primary:
    return Primary("PGD success rate (targeted L-inf, the study's protocol)", "attack", "success_rate", sesoi, g, note,
                   names=("pgd",), sign=sign, unit="fraction", study_gap=gap)


def _thief(key: str, sign: int, sesoi: float, g: float, note: str, gap: float = math.nan) -> Primary:
    return Primary(f"Knockoff thief {key.upper()} to the victim at the largest query budget", "attack", f"{key}@*",
                   sesoi, g, note, names=("knockoff",), sign=sign, unit="nats", study_gap=gap)


_C4_NOTE = "paper.md: C4 CE at 16k queries, 6 vs 9 models (SESOI: half its 0.11-nat gap)"
_C9_NOTE = "the study's remedy changes of CE at 16k average 0.52 nats (SESOI: half); no spread is reported, g = 1 is assumed"

_V1 = (
    Claim("C1", "NAS models are more vulnerable to evasion",
          "PGD success, worst case 70.2% vs 82.1%; best case 83.6% vs 97.0%", Design.GROUPS, (_pgd(),)),
    Claim("C1r", "NAS cells are more vulnerable to evasion than random cells of the same space",
          "not in the study (random search is one of its ten methods): the control for whether NAS *selects* "
          "vulnerable cells", Design.GROUPS,
          (_pgd(note="C1's effect (paper.md: C1 worst case, 7 vs 10 models), assumed for the random control",
                gap=math.nan),), versus="random", bears="C1"),
    Claim("C2", "NAS models lose more accuracy under label-flip poisoning",
          "drop at p=0.2: 3.64 vs 7.02 points; at p=0.4: 10.20 vs 15.09", Design.GROUPS,
          (Primary("accuracy drop after label-flip poisoning (fraction 0.2 where run)", "attack", "acc_drop", 0.017,
                   3.77, "paper.md: C2 at p = 0.2, 7 vs 7 models", names=("label_flip",),
                   prefer=(("fraction", "0.2"),), unit="fraction", study_gap=0.0338),)),
    Claim("C3", "NAS models take backdoors more easily",
          "TrojanNN success 95.8% vs 99.6%; BadNets 90.5% vs 93.2%", Design.GROUPS,
          (Primary("TrojanNN attack success rate", "attack", "asr", 0.019, 3.29, "paper.md: C3 TrojanNN, 7 vs 10 models",
                   names=("trojannn",), unit="fraction", study_gap=0.038),
           Primary("BadNets attack success rate", "attack", "asr", 0.0135, 1.05, "paper.md: C3 BadNets, 8 vs 10 models",
                   names=("badnets",), unit="fraction", study_gap=0.027))),
    Claim("C4", "NAS models are easier to steal",
          "extraction CE at 1k..16k queries: 3.06/2.85/2.39/1.95/1.35 vs 2.70/2.39/2.19/1.66/1.24", Design.GROUPS,
          (_thief("kl", -1, 0.055, 0.39, _C4_NOTE), _thief("ce", -1, 0.055, 0.39, _C4_NOTE, gap=0.11))),
    Claim("C5", "NAS models leak more membership", "AUC 0.514 vs 0.569", Design.GROUPS,
          tuple(Primary(f"membership AUC ({n})", "attack", "auc", 0.03, 4.41,
                        "paper.md: C5, 7 vs 9 models, on folded AUCs (which inflate g)", names=(n,), unit="AUC")
                for n in ("boundary", "loss_threshold", "lira"))),
    Claim("C6", "NAS models have lower gradient variance", "after training: 4435 vs 1594 (sum of stds)", Design.GROUPS,
          (Primary("gradient variance after training (the study's sum of per-parameter stds)", "metric", "grad_var",
                   0.51, 1.0, _ASSUMED + "; SESOI: half the log of the study's 4435/1594 ratio",
                   prefer=(("at", "trained"),), sign=-1, log=True, study_gap=math.log(4435 / 1594)),)),
    Claim("C7", "NAS models have smoother loss landscapes", "contour plots (qualitative)", Design.GROUPS,
          tuple(Primary(label, "metric", key, math.log(1.5), 1.0, _ASSUMED + "; SESOI: a 1.5x difference",
                        prefer=(("at", "trained"),), sign=-1, log=True)
                for label, key in (("first-conv loss-surface curvature (the study's contours)", "landscape_conv_curvature"),
                                   ("top Hessian eigenvalue", "hessian_top")))),
    Claim("C8", "NAS prefers shallow cells with skips, which converge fast early",
          "cell depth/skip statistics; early-training curves", Design.GROUPS,
          (Primary("early convergence (share of the best validation accuracy reached in the first half of training)",
                   "derived", "early_acc_share", 0.05, 1.0, _ASSUMED + "; SESOI: 5 accuracy points", unit="fraction"),),
          also_versus=("random",)),
    Claim("C9", "Deeper cells / fewer skips reduce vulnerability, at a cost",
          "extraction CE at 16k: DARTS 1.31, DARTS-i 2.01, DARTS-ii 1.38, DARTS-iii 2.09; deep variants train slower",
          Design.REMEDY, (_thief("kl", +1, 0.26, 1.0, _C9_NOTE), _thief("ce", +1, 0.26, 1.0, _C9_NOTE, gap=0.52),
                     _pgd(-1, 0.06, 1.0, _ASSUMED, gap=math.nan))),
    Claim("C10", "Adversarial training removes most of the evasion gap",
          "PGD success after PGD training: 41.9% vs 38.1%", Design.GAP,
          (_pgd(+1, 0.04, 1.0, "the study's gap shrinks by 8.1 points (SESOI: half); " + _ASSUMED, gap=0.081),)),
)

_V1_BY_ID = {c.id: c for c in _V1}
_C8_STUDY = "cell depth/skip statistics; early-training curves"

# Protocol 2: what changed, claim by claim (the report lists it beside a protocol-2 verdict).
PROTOCOL_CHANGES = {
    "C4": "primary: the study's own measure, the thief's cross-entropy to the victim (KL, which tracks how "
          "confident the victim is, secondary)",
    "C8a": "C8's selection part: NAS vs random cells of the same space, on the cell structure",
    "C8b": "C8's convergence part: NAS vs manual nets, on a convergence speed that does not depend on where "
           "training stopped",
    "C9": "primary: the study's own measure, the thief's cross-entropy (as C4)",
}

_V2_PARTS = {  # protocol 2: each v1 claim it changes -> its replacement(s)
    "C4": (replace(_V1_BY_ID["C4"], primaries=(
        _thief("ce", -1, 0.055, 0.39, _C4_NOTE, gap=0.11),
        Primary("Knockoff thief label agreement with the victim at the largest query budget", "attack", "agreement@*",
                0.05, 1.0, _ASSUMED + "; SESOI: 5 points of agreement", names=("knockoff",), unit="fraction"))),),
    "C8": (Claim("C8a", "NAS prefers shallow cells with skips (the selection: NAS vs random cells of the same space)",
                 _C8_STUDY, Design.GROUPS, (Primary("skip connections in the normal cell", "metric", "cell_skips", 0.5, 1.0,
                                               _ASSUMED + "; SESOI: half a skip edge per cell", unit="edges"),),
                 versus="random", bears="C8", estimands=(RANDOM,)),
           Claim("C8b", "NAS cells converge fast early (NAS vs manual nets)", _C8_STUDY, Design.GROUPS,
                 (Primary("epochs to reach 0.9 of the run's best validation accuracy", "derived", "epochs_to_share",
                          1.0, 1.0, _ASSUMED + "; SESOI: one epoch", sign=-1, unit="epochs"),), bears="C8")),
    "C9": (replace(_V1_BY_ID["C9"], primaries=(_thief("ce", +1, 0.26, 1.0, _C9_NOTE, gap=0.52),
                                               _V1_BY_ID["C9"].primaries[2])),),
}
_V2 = tuple(x for c in _V1 for x in _V2_PARTS.get(c.id, (c,)))


def _registry(claims: tuple[Claim, ...]) -> Registry[Claim]:
    reg: Registry[Claim] = Registry("claim")
    for c in claims:
        reg.register(c.id, c)
    return reg


PROTOCOLS: dict[int, Registry[Claim]] = {1: _registry(_V1), 2: _registry(_V2)}
CLAIMS = PROTOCOLS[1]  # id -> claim under the protocol studies registered before protocols existed


def claims_of(protocol: int) -> Registry[Claim]:
    """The claims a study registered under `protocol` (archrisk.analysis), in the report's order."""
    return PROTOCOLS[protocol]
