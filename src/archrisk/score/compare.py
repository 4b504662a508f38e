"""Two risk-score fits side by side, and the rule that decides which one to ship per family.

Shipping rule (`better_validated`): a family's fit is *eligible* if it was validated on at least
MIN_SHIP_ARCHS architectures and its leave-one-architecture-out rho has a finite 95% CI. Among the
eligible fits of a family, the one with the higher CI lower bound is better validated: the lower
bound rewards a higher held-out rho and a narrower interval (more architectures) at once, and
cannot be won by a small, lucky sample. A tie keeps the incumbent (the first file). If neither is
eligible the incumbent's fit stays (and scoring prints it as "not predicted" where `is_predicted`
says so). The ceiling (the target's seed noise) is shown, not ranked on: it bounds the target,
not the fit.

Per-family selection is sound only where both fits measured their signals the same way: one
coefficient file holds one signal config (probe task, size, samples, seed, threads) for every
family. Fits whose signal configs (or signal lists) match are merged per family, each family
keeping its own standardisation; otherwise one whole file is shipped, the one better validated
on more of the families both fitted. Either way the result records, per family, on which data it
was fitted (provenance "family_sources").
"""
from __future__ import annotations

import math
from dataclasses import replace

from archrisk.score.model import FamilyFit, ScoreModel

MIN_SHIP_ARCHS = 20  # below this a bootstrap CI over architectures is too coarse to compare fits by

COMPARE_COLUMNS = ["attack family", "{a} archs", "{a} LOAO rho", "{a} 95% CI", "{a} ceiling",
                   "{b} archs", "{b} LOAO rho", "{b} 95% CI", "{b} ceiling", "better validated"]


def eligible(fit: FamilyFit | None, min_archs: int = MIN_SHIP_ARCHS) -> bool:
    return (fit is not None and fit.n_archs >= min_archs and math.isfinite(fit.loao_rho)
            and all(math.isfinite(c) for c in fit.loao_ci))


def better_validated(a: FamilyFit | None, b: FamilyFit | None, min_archs: int = MIN_SHIP_ARCHS) -> str | None:
    """'a', 'b' or None (neither eligible) by the shipping rule above; a tie keeps 'a'."""
    ea, eb = eligible(a, min_archs), eligible(b, min_archs)
    if ea and eb:
        return "b" if b.loao_ci[0] > a.loao_ci[0] else "a"
    return "a" if ea else "b" if eb else None


def fitted_on(model: ScoreModel, family: str | None = None) -> dict:
    """The data a fit (or one family of a merged file) was fitted on: dataset, size, studies,
    architectures, seeds, store digest and date."""
    src = (model.provenance.get("family_sources") or {}).get(family) if family else None
    if src:
        return dict(src)
    p = model.provenance
    fit = model.families.get(family) if family else None
    return {"dataset": p.get("dataset"), "size": p.get("size"), "studies": list(p.get("studies") or []),
            "archs": fit.n_archs if fit else len(p.get("archs") or model.reference),
            "seeds": fit.seeds if fit else max((f.seeds for f in model.families.values()), default=0),
            "store_sha256": p.get("store_sha256"), "created": p.get("created")}


def describe(data: dict) -> str:
    studies = ", ".join(data.get("studies") or []) or "?"
    return (f"{data.get('dataset', '?')}/{data.get('size', '?')}, {data.get('archs', '?')} architectures, "
            f"{data.get('seeds', '?')} seeds, study {studies}, store {data.get('store_sha256') or '?'}")


def compare_rows(a: ScoreModel, b: ScoreModel, min_archs: int = MIN_SHIP_ARCHS) -> list[list]:
    """One row per family either fit has (COMPARE_COLUMNS); absent cells are None."""
    def cells(fit: FamilyFit | None) -> list:
        if fit is None:
            return [None] * 4
        return [fit.n_archs, fit.loao_rho, "[{:.2f}, {:.2f}]".format(*fit.loao_ci), fit.ceiling]

    rows = []
    for fam in sorted(set(a.families) | set(b.families)):
        fa, fb = a.families.get(fam), b.families.get(fam)
        rows.append([fam, *cells(fa), *cells(fb), better_validated(fa, fb, min_archs) or "neither"])
    return rows


def same_signals(a: ScoreModel, b: ScoreModel) -> bool:
    """Whether the two fits measured the same signals the same way (per-family merge is sound): the
    same signals and config, and the same values for every architecture both measured. The last
    catches a change in how a signal is computed that the config does not show (a fit made by an
    older archrisk), under which the other fit's coefficients would apply to differently scaled inputs."""
    if a.signals != b.signals or a.signal_config != b.signal_config:
        return False
    return all(_same(a.reference[arch].get(s, math.nan), b.reference[arch].get(s, math.nan))
               for arch in set(a.reference) & set(b.reference) for s in a.signals)


def _same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def ship(a: ScoreModel, b: ScoreModel, names: tuple[str, str] = ("a", "b"),
         min_archs: int = MIN_SHIP_ARCHS) -> tuple[ScoreModel, dict[str, str]]:
    """The coefficients to ship from incumbent `a` and challenger `b` by the shipping rule, and
    family -> name of the fit it came from. Merges per family where `same_signals`, else whole-file."""
    pick = {fam: better_validated(a.families.get(fam), b.families.get(fam), min_archs)
            or ("a" if fam in a.families else "b") for fam in set(a.families) | set(b.families)}
    if not same_signals(a, b):
        shared = [f for f in pick if f in a.families and f in b.families]
        whole = "b" if sum(pick[f] == "b" for f in shared) > len(shared) / 2 else "a"
        chosen = b if whole == "b" else a
        sources = {f: {"file": names[whole == "b"], **fitted_on(chosen, f)} for f in chosen.families}
        prov = {**chosen.provenance, "family_sources": sources,
                "shipping": "whole file: the fits measured their signals differently (config or values on shared "
                                "architectures), so families cannot mix"}
        return replace(chosen, provenance=prov), {f: names[whole == "b"] for f in chosen.families}
    families, sources = {}, {}
    for fam, side in sorted(pick.items()):
        m = b if side == "b" else a
        center, scale = m.standardiser(fam)
        fit = m.families[fam]
        families[fam] = fit if (center, scale) == (a.center, a.scale) else replace(fit, center=center, scale=scale)
        sources[fam] = {"file": names[side == "b"], **fitted_on(m, fam)}
    prov = {**a.provenance, "family_sources": sources,
            "groups": {**(b.provenance.get("groups") or {}), **(a.provenance.get("groups") or {})},
            "shipping": f"per family, the fit with the higher LOAO-rho CI lower bound among those validated "
                        f"on at least {min_archs} architectures (archrisk.score.compare)"}
    merged = ScoreModel(a.signals, a.center, a.scale, families, a.signal_config, {**b.reference, **a.reference}, prov)
    return merged, {f: s["file"] for f, s in sources.items()}
