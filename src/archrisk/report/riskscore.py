"""Risk-score section: how well the pre-training score predicts the measured vulnerability.

`archrisk score --fit STORE` records its fit in the store's meta table (key SCORE_FIT_KEY, the
coefficient file's JSON); this section shows, per attack family, Spearman's rho between the
leave-one-architecture-out predictions and the measured vulnerability ranks with its bootstrap
interval, the predicted-vs-measured scatter and the coefficients. A store without a fit shows
the validation of the coefficients shipped with archrisk, labelled as such: those were fitted on
the reference study, not on this store's architectures. A store with its own fit also shows it
beside the shipped coefficients' validation, with the data each was fitted on and which one the
shipping rule (`archrisk.score.compare`) calls better validated. Reads JSON only (no torch).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from archrisk.report import plots
from archrisk.score.model import DEFAULT_PATH
from archrisk.store import SCORE_FIT_KEY, StoreData
from archrisk.report.page import Block, Fig, Section, Table, ci
from archrisk.vocab import Group

SHIPPED = DEFAULT_PATH  # the shipped coefficients

FAMILY_COLUMNS = ["attack family", "architectures", "LOAO rho", "rho lo", "rho hi", "seeds", "seed-seed rho",
                  "rho ceiling", "rho: parameter count", "rho: FLOPs", "beats both", "ridge", "target (attack settings)"]
ARCH_COLUMNS = ["architecture", "group", "attack family", "measured rank", "LOAO prediction"]


def _fit_from(store: StoreData) -> tuple[dict[str, Any] | None, str, list[str]]:
    """(fit, where it came from, problems)."""
    problems: list[str] = []
    text = store.meta.get(SCORE_FIT_KEY)
    if text:
        try:
            return json.loads(text), "this store's fit (`archrisk score --fit`)", problems
        except json.JSONDecodeError:
            problems.append(f"the store's {SCORE_FIT_KEY!r} entry is not valid JSON; refit with `archrisk score --fit`")
    try:
        return json.loads(SHIPPED.read_text()), (
            "the reference fit shipped with archrisk, not this store's architectures (no risk-score fit on this "
            f"store; add one with `archrisk score --fit {store.path}`)"), problems
    except (OSError, json.JSONDecodeError):
        problems.append("the shipped coefficients are missing or unreadable")
        return None, "", problems


def critical_rho(n: int, alpha: float = 0.05) -> float:
    """Smallest |Spearman rho| with a two-sided p < alpha over n pairs (the t approximation)."""
    from scipy.stats import t

    q = float(t.ppf(1 - alpha / 2, n - 2))
    return q / math.sqrt(n - 2 + q * q)


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) else math.nan  # JSON null (a NaN) -> NaN


def risk_score_section(store: StoreData) -> Section:
    sec = Section("riskscore", "Pre-training risk score: predicted vs measured vulnerability",
                  "The score predicts each architecture's vulnerability rank (0 = least, 1 = most vulnerable "
                  "among the fitted architectures) from signals measured before full training. Each "
                  "architecture is predicted by a model fitted without it (leave-one-architecture-out); rho "
                  "is Spearman's between those predictions and the measured ranks, with a 95% bootstrap "
                  "interval over architectures. The measured ranks are noisy themselves: with several seeds, their "
                  "seed-to-seed agreement gives a ceiling (square root of the Spearman-Brown reliability of the "
                  "seed mean).")
    fit, source, problems = _fit_from(store)
    sec.missing.extend(problems)
    families = (fit or {}).get("families") or {}
    if not isinstance(families, dict) or not families:
        if fit is not None:
            sec.missing.append("the risk-score fit holds no attack family")
        return sec
    prov = fit.get("provenance") or {}
    groups = prov.get("groups") or {}
    rows, arch_rows, panels, text = [], [], [], []
    for fam, f in sorted(families.items()):
        lo, hi = (list(f.get("loao_ci") or []) + [None, None])[:2]
        rho, lo, hi = _num(f.get("loao_rho")), _num(lo), _num(hi)
        agree, ceiling = _num(f.get("seed_agreement")), _num(f.get("ceiling"))
        base = f.get("baselines") or {}
        rp, rf = _num(base.get("parameter count")), _num(base.get("FLOPs"))
        beats = "" if not base else ("yes" if math.isfinite(rho) and rho > max(x for x in (rp, rf, -math.inf)
                                                                              if math.isfinite(x)) else "no")
        rows.append([fam, f.get("n_archs"), rho, lo, hi, f.get("seeds") or None, agree, ceiling, rp, rf, beats,
                     _num(f.get("ridge")), f.get("target", "")])
        n = f.get("n_archs") or 0
        bound = (f"; the target's seeds agree to rho {agree:.2f}, so about {ceiling:.2f} is the most any score "
                 "could reach" if math.isfinite(ceiling) else "")
        crit = f"; |rho| >= {critical_rho(n):.2f} is needed for p < 0.05 at this size" if n >= 4 else ""
        size = (f"; parameter count alone reaches {rp:.2f} and FLOPs {rf:.2f} held out, so the score "
                f"{'beats' if beats == 'yes' else 'does not beat'} model size" if base else "")
        text.append(f"{fam}: rho {ci(rho, lo, hi)} over {n} architectures{crit}{bound}{size}.")
        measured, predicted = f.get("measured") or {}, f.get("predicted") or {}
        pts = []
        for a in sorted(measured):
            if a in predicted:
                g = groups.get(a, Group.CUSTOM.value)
                pts.append((a, g, _num(predicted[a]), _num(measured[a])))
                arch_rows.append([a, g, fam, _num(measured[a]), _num(predicted[a])])
        panels.append(plots.Scatter(f"{fam}: rho {ci(rho, lo, hi)}", "LOAO prediction", "measured rank", tuple(pts)))
    signals = list(fit.get("signals") or [])
    coef_rows = [[s, *[_num((families[fam].get("coef") or [math.nan] * len(signals))[i])
                        for fam in sorted(families)]] for i, s in enumerate(signals)]
    where = ", ".join(f"{k} {prov[k]}" for k in ("dataset", "size") if prov.get(k))
    text.insert(0, f"Source: {source}" + (f"; {where}, fitted {prov.get('created', '?')}." if where else "."))
    block = Block("Validation per attack family", text,
                  [Fig("riskscore_loao", "risk score: predicted vs measured", plots.scatters(panels, cols=3),
                       "Each point is an architecture; x is its prediction by a model fitted without it.")],
                  [Table("riskscore_validation", "Leave-one-architecture-out validation", FAMILY_COLUMNS, rows),
                   Table("riskscore_coefficients", "Coefficients on standardised signals",
                         ["signal", *sorted(families)], coef_rows),
                   Table("riskscore_archs", "Measured and predicted rank per architecture", ARCH_COLUMNS, arch_rows)])
    sec.blocks.append(block)
    if fit is not None and source.startswith("this store"):
        beside = _beside_shipped(store.meta.get(SCORE_FIT_KEY), sec.missing)
        if beside is not None:
            sec.blocks.append(beside)
    return sec


def _beside_shipped(store_fit: str, missing: list[str]) -> Block | None:
    """The store's fit beside the shipped coefficients, per family, by the shipping rule."""
    from archrisk.errors import ArchriskError
    from archrisk.score.compare import COMPARE_COLUMNS, MIN_SHIP_ARCHS, compare_rows, describe, fitted_on
    from archrisk.score.model import ScoreModel

    try:
        shipped, mine = ScoreModel.from_json(SHIPPED.read_text()), ScoreModel.from_json(store_fit)
    except (OSError, ArchriskError) as e:
        missing.append(f"the store's fit could not be set beside the shipped coefficients ({e})")
        return None
    rows = compare_rows(shipped, mine)
    names = {"a": "shipped", "b": "this store", None: "neither"}
    text = [f"Shipped: fitted on {describe(fitted_on(shipped))}.", f"This store: fitted on {describe(fitted_on(mine))}.",
            f"Better validated (the shipping rule): the higher lower bound of the LOAO rho's 95% interval among fits "
            f"validated on at least {MIN_SHIP_ARCHS} architectures; a tie keeps the shipped fit."]
    for r in rows:
        r[-1] = names.get(r[-1], r[-1])
    return Block("This store's fit beside the shipped coefficients", text, [],
                 [Table("riskscore_vs_shipped", "Held-out validation: shipped vs this store's fit",
                        [c.format(a="shipped", b="this store") for c in COMPARE_COLUMNS], rows)])
