"""The study's claims C1..C10, each with a pre-declared primary measurement and rule (see `verdicts`),
and C1r, archrisk's control the study lacked: NAS cells against random cells of the same space.

A claim lists candidate primaries in order; the first the store holds is the primary. Among its
settings, the one run at the study's protocol (`prefer`) is tested, else the one with the most
architectures; a store mixing datasets or sizes gets one test per scale. Designs:

- groups (C1-C8): NAS vs manual (C1r: NAS vs random), Welch's t on per-architecture means;
- paired remedy (C9): per seed, the mean over remedy cells of (remedy - source cell) on the same
  seed, one-sample t with the exact sign-flip test beside;
- gap change (C10): per architecture, the measurement before minus after adversarial training,
  NAS vs manual by Welch's t: the change of the NAS-manual gap itself, not a non-significant gap
  after training read as "removed".

SESOIs are half the study's effect in the compared units where the study gives one
(`shared/reference/paper.md`); where it gives no number the SESOI and the assumed g say so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from archrisk.meaning import budget
from archrisk.registry import Registry
from archrisk.stats import bootstrap, inference
from archrisk.report.advtrain import accuracy_costs
from archrisk.report.compare import paired_diffs, remedy_pairs
from archrisk.report.page import ci, fmt
from archrisk.report.series import Series, SeriesSet
from archrisk.report.verdicts import DECIDED, TARGET_POWER, VERDICTS, Primary, PrimaryTest, combine, multiplicity

__all__ = ["CLAIMS", "VERDICTS", "Claim", "Verdict", "judge_all", "Judgement"]

_ASSUMED = "the study reports no per-model spread for this; a large effect (g = 1) is assumed"
_SCALE_KEYS = ("dataset", "size")
N_PERM = 1999  # random splits when exact enumeration is too big: the permutation p is shown, not decided on


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    study: str
    design: str  # groups | remedy | gap
    primaries: tuple[Primary, ...]
    versus: str = "manual"  # groups design: the group NAS is compared with
    bears: str = ""  # the claim whose measurements are its secondary evidence (default: its own id)

    @property
    def evidence_id(self) -> str:
        return self.bears or self.id


def _pgd(sign: int = 1, sesoi: float = 0.06, g: float = 2.37, note: str = "paper.md: C1 worst case, 7 vs 10 models") -> Primary:
    return Primary("PGD success rate (targeted L-inf, the study's protocol)", "attack", "success_rate", sesoi, g, note,
                   names=("pgd",), sign=sign, unit="fraction")


def _kl(sign: int, sesoi: float, g: float, note: str) -> tuple[Primary, ...]:
    return tuple(Primary(f"Knockoff thief {k.upper()} to the victim at the largest query budget", "attack", f"{k}@*",
                         sesoi, g, note, names=("knockoff",), sign=sign, unit="nats") for k in ("kl", "ce"))


CLAIMS: Registry[Claim] = Registry("claim")  # id -> claim, in the order the report shows them
for _claim in (
    Claim("C1", "NAS models are more vulnerable to evasion",
          "PGD success, worst case 70.2% vs 82.1%; best case 83.6% vs 97.0%", "groups", (_pgd(),)),
    Claim("C1r", "NAS cells are more vulnerable to evasion than random cells of the same space",
          "not in the study (random search is one of its ten methods): the control for whether NAS *selects* "
          "vulnerable cells", "groups",
          (_pgd(note="C1's effect (paper.md: C1 worst case, 7 vs 10 models), assumed for the random control"),),
          versus="random", bears="C1"),
    Claim("C2", "NAS models lose more accuracy under label-flip poisoning",
          "drop at p=0.2: 3.64 vs 7.02 points; at p=0.4: 10.20 vs 15.09", "groups",
          (Primary("accuracy drop after label-flip poisoning (fraction 0.2 where run)", "attack", "acc_drop", 0.017,
                   3.77, "paper.md: C2 at p = 0.2, 7 vs 7 models", names=("label_flip",),
                   prefer=(("fraction", "0.2"),), unit="fraction"),)),
    Claim("C3", "NAS models take backdoors more easily",
          "TrojanNN success 95.8% vs 99.6%; BadNets 90.5% vs 93.2%", "groups",
          (Primary("TrojanNN attack success rate", "attack", "asr", 0.019, 3.29, "paper.md: C3 TrojanNN, 7 vs 10 models",
                   names=("trojannn",), unit="fraction"),
           Primary("BadNets attack success rate", "attack", "asr", 0.0135, 1.05, "paper.md: C3 BadNets, 8 vs 10 models",
                   names=("badnets",), unit="fraction"))),
    Claim("C4", "NAS models are easier to steal",
          "extraction CE at 1k..16k queries: 3.06/2.85/2.39/1.95/1.35 vs 2.70/2.39/2.19/1.66/1.24", "groups",
          _kl(-1, 0.055, 0.39, "paper.md: C4 CE at 16k queries, 6 vs 9 models (SESOI: half its 0.11-nat gap)")),
    Claim("C5", "NAS models leak more membership", "AUC 0.514 vs 0.569", "groups",
          tuple(Primary(f"membership AUC ({n})", "attack", "auc", 0.03, 4.41,
                        "paper.md: C5, 7 vs 9 models, on folded AUCs (which inflate g)", names=(n,), unit="AUC")
                for n in ("boundary", "loss_threshold", "lira"))),
    Claim("C6", "NAS models have lower gradient variance", "after training: 4435 vs 1594 (sum of stds)", "groups",
          (Primary("gradient variance after training (the study's sum of per-parameter stds)", "metric", "grad_var",
                   0.51, 1.0, _ASSUMED + "; SESOI: half the log of the study's 4435/1594 ratio",
                   prefer=(("at", "trained"),), sign=-1, log=True),)),
    Claim("C7", "NAS models have smoother loss landscapes", "contour plots (qualitative)", "groups",
          tuple(Primary(label, "metric", key, math.log(1.5), 1.0, _ASSUMED + "; SESOI: a 1.5x difference",
                        prefer=(("at", "trained"),), sign=-1, log=True)
                for label, key in (("first-conv loss-surface curvature (the study's contours)", "landscape_conv_curvature"),
                                   ("top Hessian eigenvalue", "hessian_top")))),
    Claim("C8", "NAS prefers shallow cells with skips, which converge fast early",
          "cell depth/skip statistics; early-training curves", "groups",
          (Primary("early convergence (share of the best validation accuracy reached in the first half of training)", "derived", "early_acc_share", 0.05, 1.0,
                   _ASSUMED + "; SESOI: 5 accuracy points", unit="fraction"),)),
    Claim("C9", "Deeper cells / fewer skips reduce vulnerability, at a cost",
          "extraction CE at 16k: DARTS 1.31, DARTS-i 2.01, DARTS-ii 1.38, DARTS-iii 2.09; deep variants train slower",
          "remedy", _kl(+1, 0.26, 1.0, "the study's remedy changes of CE at 16k average 0.52 nats (SESOI: half); "
                        "no spread is reported, g = 1 is assumed") + (_pgd(-1, 0.06, 1.0, _ASSUMED),)),
    Claim("C10", "Adversarial training removes most of the evasion gap",
          "PGD success after PGD training: 41.9% vs 38.1%", "gap",
          (_pgd(+1, 0.04, 1.0, "the study's gap shrinks by 8.1 points (SESOI: half); " + _ASSUMED),)),
):
    CLAIMS.register(_claim.id, _claim)


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
        return max((t.power for t in self.tests if math.isfinite(t.power)), default=math.nan)

    @property
    def decidable(self) -> bool:
        """The design has the target power at the study's effect for this claim."""
        return self.power >= TARGET_POWER


@dataclass
class Judgement:
    verdicts: list[Verdict]
    tests: list[PrimaryTest]

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
        powered = (f"power >= {TARGET_POWER} at the study's effect size with this design (architectures x seeds)")
        if n == 0:
            return (f"Pipeline check, not a reproduction: none of the {m} measured claims has {powered}; "
                    "its verdicts can neither confirm nor refute the study.")
        if 2 * n < m:
            return (f"Largely a pipeline check, not a reproduction: only {n} of the {m} measured claims "
                    f"{'has' if n == 1 else 'have'} {powered}; read the others' intervals, not their verdicts.")
        return (f"{n} of the {m} measured claims {'has' if n == 1 else 'have'} {powered}; the others are "
                "inconclusive unless their intervals decide.")


# ---------------------------------------------------------------- finding the primary series

def _key_matches(key: str, want: str) -> bool:
    return key.split("@", 1)[0] == want[:-2] if want.endswith("@*") else key == want


def _scale(s: Series) -> tuple[tuple[str, str], ...]:
    return tuple(kv for kv in s.q.variant if kv[0] in _SCALE_KEYS)


def _setting(s: Series) -> tuple:
    return s.q.name, tuple(kv for kv in s.q.variant if kv[0] not in _SCALE_KEYS)


def find_primary(ss: SeriesSet, claim: Claim, adv: bool = False) -> tuple[Primary | None, list[Series]]:
    """The claim's first candidate primary present, and its series to test (one per scale)."""
    for p in claim.primaries:
        hits = [s for q, s in ss.series.items() if q.kind == p.kind and (not p.names or q.name in p.names)
                and bool(q.param("adv_train")) == adv and _key_matches(q.key, p.key) and len(s.values) > 1]
        if not hits:
            continue
        out = []
        for scale in sorted({_scale(s) for s in hits}):
            here = [s for s in hits if _scale(s) == scale]
            top = {}  # per setting, the key at its largest budget
            for s in here:
                k = _setting(s)
                if k not in top or budget(s.q.key) > budget(top[k].q.key):
                    top[k] = s
            pref = [s for s in top.values() if all(s.q.param(k) == v for k, v in p.prefer)]
            pool = pref or list(top.values())
            out.append(min(pool, key=lambda s: (-len(s.values), s.q.label)))
        return p, out
    return None, []


def _scale_label(s: Series) -> str:
    return ", ".join(f"{k}={v}" for k, v in _scale(s))


def _transform(p: Primary, x: float) -> float:
    if not p.log:
        return x
    return math.log(x) if x > 0 else math.nan


def _values(s: Series, p: Primary) -> dict[str, dict[int, float]]:
    return {a: {sd: _transform(p, v) for sd, v in per.items()} for a, per in s.values.items()}


# ---------------------------------------------------------------- the three designs

def _group_test(claim: Claim, p: Primary, s: Series, groups: dict[str, str], a: str = "nas",
                b: str = "manual") -> PrimaryTest:
    vals = _values(s, p)
    ga = [list(vals[x].values()) for x in s.archs(groups, a)]
    gb = [list(vals[x].values()) for x in s.archs(groups, b)]
    ma = [float(np.mean(v)) for v in ga if np.all(np.isfinite(v))]
    mb = [float(np.mean(v)) for v in gb if np.all(np.isfinite(v))]
    nz = inference.noise([ga, gb])
    perm = bootstrap.permutation_test(ma, mb, n_perm=N_PERM)
    both = {x: vals[x] for x in [*s.archs(groups, a), *s.archs(groups, b)]}
    rel, seeds = inference.seed_agreement(both)
    t = PrimaryTest(claim.id, p, s.q.label, _scale_label(s), "groups", inference.welch(ma, mb), nz.sd_means,
                    nz.inflation, rel, seeds, perm.p, perm.p_min, sd_arch=nz.sd_arch)
    if p.log and len(ma) + len(mb) < len(ga) + len(gb):
        t.notes.append("architectures with a non-positive value were left out of the log-scale test")
    return t


def _paired_seed_means(s: Series, p: Primary, pairs: list[tuple[str, str]]) -> list[float]:
    """Per seed: the mean over remedy cells of (remedy - source) on that seed."""
    vals = _values(s, p)
    per_seed: dict[int, list[float]] = {}
    for remedy, source in pairs:
        r, src = vals.get(remedy, {}), vals.get(source, {})
        for sd in set(r) & set(src):
            per_seed.setdefault(sd, []).append(r[sd] - src[sd])
    return [float(np.mean(v)) for _, v in sorted(per_seed.items())]


def _remedy_test(claim: Claim, p: Primary, s: Series, ss: SeriesSet) -> PrimaryTest | None:
    pairs = [(r, src) for r, src in remedy_pairs(ss) if r in s.values and src in s.values]
    if not pairs:
        return None
    d = _paired_seed_means(s, p, pairs)
    flip, flip_min = inference.sign_flip(d)
    sd = float(np.std(d, ddof=1)) if len(d) > 1 else math.nan
    t = PrimaryTest(claim.id, p, s.q.label, _scale_label(s), "paired", inference.one_sample(d), sd, 1.0,
                    seeds=len(d), exact_p=flip, exact_p_min=flip_min)
    t.notes.append("cells: " + ", ".join(f"{r} vs {src}" for r, src in pairs))
    return t


def _gap_test(claim: Claim, p: Primary, after: Series, before: Series, groups: dict[str, str]) -> PrimaryTest:
    va, vb = _values(after, p), _values(before, p)
    change: dict[str, list[float]] = {}
    for arch in set(va) & set(vb):
        shared = sorted(set(va[arch]) & set(vb[arch]))
        change[arch] = ([vb[arch][sd] - va[arch][sd] for sd in shared] if shared
                        else [float(np.mean(list(vb[arch].values())) - np.mean(list(va[arch].values())))])
    ga = [change[x] for x in sorted(change) if groups.get(x) == "nas"]
    gb = [change[x] for x in sorted(change) if groups.get(x) == "manual"]
    ma, mb = [float(np.mean(v)) for v in ga], [float(np.mean(v)) for v in gb]
    nz = inference.noise([ga, gb])
    perm = bootstrap.permutation_test(ma, mb, n_perm=N_PERM)
    return PrimaryTest(claim.id, p, f"{before.q.label}, before minus after adversarial training", _scale_label(after),
                       "groups", inference.welch(ma, mb), nz.sd_means, nz.inflation,
                       seeds=max((len(v) for v in change.values()), default=0), exact_p=perm.p,
                       exact_p_min=perm.p_min, sd_arch=nz.sd_arch)


def _adv_before(ss: SeriesSet, after: Series) -> Series | None:
    plain = tuple(kv for kv in after.q.variant if kv[0] != "adv_train")
    for q, s in ss.series.items():
        if q.kind == after.q.kind and q.name == after.q.name and q.key == after.q.key and q.variant == plain:
            return s
    return None


def primary_tests(ss: SeriesSet, claim: Claim) -> list[PrimaryTest]:
    if claim.design == "gap":
        p, afters = find_primary(ss, claim, adv=True)
        pairs = [(a, _adv_before(ss, a)) for a in afters]
        return [_gap_test(claim, p, a, b, ss.groups) for a, b in pairs if b is not None]
    p, series = find_primary(ss, claim)
    if claim.design == "remedy":
        return [t for s in series if (t := _remedy_test(claim, p, s, ss)) is not None]
    # the study's own claims are tested (and inconclusive) without manual nets, so the report says they
    # are missing; the random control is a claim only where random cells were run
    return [_group_test(claim, p, s, ss.groups, "nas", claim.versus) for s in series
            if claim.versus == "manual" or s.archs(ss.groups, claim.versus)]


# ---------------------------------------------------------------- secondary evidence (never votes)

def _secondary(ss: SeriesSet, claim: Claim, tests: list[PrimaryTest]) -> list[str]:
    used = {t.series for t in tests}
    out = []
    if claim.design == "groups":
        vs = claim.versus
        for s in ss.bearing_on(claim.evidence_id):
            if s.q.label in used or s.q.param("adv_train") or len(s.values) < 2:
                continue
            m = s.arch_means()
            w = inference.welch([m[a] for a in s.archs(ss.groups, "nas")], [m[a] for a in s.archs(ss.groups, vs)])
            if math.isfinite(w.diff):
                out.append(f"Secondary: {s.q.label}: NAS - {vs} {ci(w.diff, w.lo, w.hi)}, unadjusted p = {fmt(w.p)}")
        for t in tests:
            out.append(_adjusted(ss, t, vs))
        if claim.id == "C8" and any(g == "random" for g in ss.groups.values()):
            for t in tests:
                s = next(x for x in ss.series.values() if x.q.label == t.series)
                rt = _group_test(claim, t.primary, s, ss.groups, "nas", "random")
                out.append(f"Secondary, NAS vs random cells of the same space: {ci(rt.test.diff, rt.test.lo, rt.test.hi)}"
                           f", unadjusted p = {fmt(rt.test.p)}")
    if claim.design == "remedy":
        for s in [x for x in ss.series.values() if x.q.label in used]:
            for remedy, source in remedy_pairs(ss):
                d = paired_diffs(s, remedy, source)
                w = inference.one_sample(d)
                if math.isfinite(w.diff):
                    out.append(f"Secondary: {remedy} - {source}, {s.q.label}: {ci(w.diff, w.lo, w.hi)} over "
                               f"{len(d)} paired seeds, unadjusted p = {fmt(w.p)}")
        acc = ss.accuracy()
        if acc is not None:
            for remedy, source in remedy_pairs(ss):
                d = paired_diffs(acc, remedy, source)
                w = inference.one_sample(d)
                if math.isfinite(w.diff):
                    out.append(f"Cost: clean accuracy {remedy} - {source}: {ci(w.diff, w.lo, w.hi)}")
    if claim.design == "gap":
        for c in accuracy_costs(ss):
            if c.archs:
                out.append(f"clean-accuracy cost of {c.method} training, {c.group}: "
                           f"{ci(c.change.value, c.change.lo, c.change.hi)} over {c.archs} architectures")
    return out


ADJUSTED = "Secondary (adjusted for log parameters and clean accuracy)"
MIN_ADJUSTED = 5  # architectures: the fit spends 4 degrees of freedom


def _adjusted(ss: SeriesSet, t: PrimaryTest, vs: str = "manual") -> str:
    """The primary's NAS - `vs` difference with log parameter count and clean accuracy held fixed
    (OLS on per-architecture means), so a gap that is only size or accuracy shows as such."""
    s = next(x for x in ss.series.values() if x.q.label == t.series)
    params, acc = ss.victim_means("params"), ss.victim_means("test_acc")
    if not params or not acc:
        return f"{ADJUSTED}: not computed: the store has no parameter counts or clean accuracies of the victims"
    vals = _values(s, t.primary)
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


# ---------------------------------------------------------------- all claims

def judge_all(ss: SeriesSet, comparisons: dict | None = None, scale: str = "") -> Judgement:
    """Every claim's verdict; Holm runs across the primary tests of all claims together."""
    verdicts, tests = [], []
    for claim in CLAIMS.values():
        v = Verdict(claim.id, claim.text, claim.study, scale=scale)
        v.tests = primary_tests(ss, claim)
        tests += v.tests
        verdicts.append(v)
    multiplicity(tests)
    for claim, v in zip(CLAIMS.values(), verdicts):
        v.verdict = combine([t.verdict for t in v.tests])
        reasons = dict.fromkeys(t.reason for t in v.tests if t.reason)
        v.reason = "; ".join(reasons)
        if v.verdict == "not measured":
            names = ", ".join(p.label for p in claim.primaries)
            v.reason = f"the store has no primary measurement for this claim ({names})"
            if claim.versus not in ss.groups.values() and claim.design == "groups" and find_primary(ss, claim)[1]:
                v.reason = f"the store has no {claim.versus} architectures to compare the NAS cells with"
        for t in v.tests:
            v.evidence.append(t.line())
            v.caveats += t.notes
            if t.primary.g_note:
                v.caveats.append(f"effect size: {t.primary.g_note}")
        v.caveats = list(dict.fromkeys(v.caveats))
        v.evidence += _secondary(ss, claim, v.tests)
        if v.verdict in DECIDED or v.verdict == "conflicting":
            continue
        if v.tests and any(t.design == "groups" and min(t.n_units) < 5 for t in v.tests):
            v.caveats.append("few architectures per group: read the interval and power, not the verdict alone")
    return Judgement(verdicts, tests)
