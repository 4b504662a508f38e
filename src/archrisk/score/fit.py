"""Scoring an architecture with a fitted model, and fitting a model on a results store."""
from __future__ import annotations

import datetime
import hashlib
import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from archrisk import __version__
from archrisk.errors import InvalidValueError
from archrisk.score.model import ScoreModel, baseline_rhos, fit_model, load_model
from archrisk.score.signals import SIGNALS, SignalConfig, measure_signals, size_signals
from archrisk.score.targets import read_targets


# A family's risk is "not predicted" (shown as such, not as a number) unless its held-out (LOAO)
# Spearman rho is clearly positive (95% CI above 0, rho >= MIN_RHO), reaches PREDICTED_SHARE of
# its ceiling (the rho that seed noise allows, where the store had two seeds or more to know it) and
# beats the same held-out rho of parameter count and of FLOPs alone (where the fit measured them).
MIN_RHO = 0.2
PREDICTED_SHARE = 0.5


def is_predicted(validation: dict) -> bool:
    """Whether a family's held-out validation supports printing its risk (rule above)."""
    rho, ci, ceiling = validation.get("rho"), validation.get("ci") or [math.nan, math.nan], validation.get("ceiling")
    if rho is None or not math.isfinite(rho) or rho < MIN_RHO or not ci[0] > 0:
        return False
    baselines = [b for b in (validation.get("baselines") or {}).values() if b is not None and math.isfinite(b)]
    if baselines and not rho > max(baselines):  # no better than ranking by model size
        return False
    return not (ceiling is not None and math.isfinite(ceiling) and rho < PREDICTED_SHARE * ceiling)


@dataclass(frozen=True)
class RiskScore:
    arch: str
    risk: dict[str, float]  # family -> predicted vulnerability rank in [0, 1] among the reference archs
    signals: dict[str, float]  # the measured signals (see SIGNALS)
    contributions: dict[str, dict[str, float]]  # family -> signal -> coef * standardised value
    validation: dict[str, dict]  # family -> {rho, ci, n_archs, ceiling}: how far to trust each risk
    seconds: float

    def to_dict(self) -> dict:
        return {"arch": self.arch, "risk": self.risk, "signals": self.signals, "predicted": self.predicted,
                "contributions": self.contributions, "validation": self.validation, "seconds": self.seconds}

    @property
    def predicted(self) -> dict[str, bool]:
        """family -> whether its risk is backed by its validation (`is_predicted`)."""
        return {f: is_predicted(v) for f, v in self.validation.items()}


def score(arch: str, *, model: ScoreModel | str | Path | None = None, device: str = "cpu",
          signal_fn: Callable[[str, SignalConfig], dict[str, float]] | None = None) -> RiskScore:
    """Measure `arch`'s signals with the fitted model's config and predict its risk per family."""
    t0 = time.perf_counter()
    m = model if isinstance(model, ScoreModel) else load_model(model)
    cfg = SignalConfig(**m.signal_config)
    sig = (signal_fn or (lambda a, c: measure_signals(a, c, device)))(arch, cfg)
    sig = {k: v for k, v in sig.items() if not k.startswith("_")}
    return RiskScore(arch, m.predict(sig), sig, {f: m.contributions(sig, f) for f in m.families},
                     {f: {"rho": fit.loao_rho, "ci": list(fit.loao_ci), "n_archs": fit.n_archs, "ceiling": fit.ceiling,
                          "baselines": dict(fit.baselines)} for f, fit in m.families.items()}, time.perf_counter() - t0)


def fit_store(path: str | Path, *, study: str | None = None, dataset: str | None = None, size: str | None = None,
              signal_config: SignalConfig | None = None, device: str = "cpu",
              signal_fn: Callable[[str, SignalConfig], dict[str, float]] | None = None,
              progress: bool = False, record: bool = True) -> ScoreModel:
    """Fit the score on the attack results of a store: measure every architecture's signals
    (the default probe task at the store's size unless `signal_config` says otherwise), then fit and
    validate per family. `dataset`/`size` pick the results where a store holds several (default:
    the most common; provenance "store_holds" lists them all). `signal_fn(arch, cfg)` replaces the measurement (tests, caching).
    With `record` the fit is also written into the store, where the report shows its validation."""
    from tqdm.auto import tqdm

    t = read_targets(path, study, dataset, size)
    cfg = signal_config or SignalConfig(size=t.size)
    ds = None
    if signal_fn is None:
        from archrisk.data import load_dataset

        ds = load_dataset(cfg.dataset, limit=cfg.limit)
    measure = signal_fn or (lambda a, c: measure_signals(a, c, device, dataset=ds))
    signals, seconds = {}, {}
    for label in tqdm(sorted(t.archs), desc="signals", disable=not progress, leave=False):
        s0 = time.perf_counter()
        raw = measure(t.archs[label], cfg)
        seconds[label] = time.perf_counter() - s0
        signals[label] = {k: v for k, v in raw.items() if not k.startswith("_")}
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    provenance = {"store": str(path), "store_sha256": digest, "studies": t.studies, "dataset": t.dataset,
                  "size": t.size, "seeds": t.seeds, "store_holds": t.available,
                  "victim_data_limit": t.data_limit, "settings": t.settings,
                  "groups": t.groups, "archs": t.archs, "signal_seconds": seconds, "version": __version__,
                  "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    labels = {f: "; ".join(s) for f, s in t.settings.items()}
    model = fit_model(signals, t.targets, tuple(SIGNALS), cfg.to_dict(), provenance, labels, agreement=t.agreement)
    if record:
        record_fit(path, model)
    return model


def record_fit(path: str | Path, model: ScoreModel) -> bool:
    """Store `model` in the results store's meta table (the latest fit replaces an earlier one).
    A store that cannot be written (read-only file or folder) costs a warning, not the fit."""
    import sqlite3

    from archrisk.store import SCORE_FIT_KEY, open_store

    try:
        with open_store(path) as db:
            db.set_meta(SCORE_FIT_KEY, model.to_json())
        return True
    except sqlite3.Error as e:
        logging.getLogger(__name__).warning("the fit was not recorded in %s (%s); the report will not show it", path, e)
        return False


def with_size_baselines(model: ScoreModel) -> ScoreModel:
    """`model` with each family's parameter-count and FLOPs baselines measured, for a fit recorded
    before baselines were: every reference architecture is rebuilt from the fit's provenance on its
    probe task and must give the parameter count the fit measured (else InvalidValueError: the code
    no longer builds what was fitted). The ranks a family was fitted on are its stored `measured`
    ranks; a rank transform leaves the held-out Spearman rho unchanged, so the baselines are exact."""
    from archrisk.data import load_dataset

    cfg = SignalConfig(**model.signal_config)
    ds = load_dataset(cfg.dataset, limit=cfg.limit)
    sizes = {}
    for label, arch in sorted((model.provenance.get("archs") or {}).items()):
        sizes[label] = size_signals(arch, ds, cfg.size)
        stored = model.reference.get(label, {}).get("log_params", math.nan)
        if not abs(sizes[label]["log_params"] - stored) < 1e-9:
            raise InvalidValueError(f"{label} ({arch}) now builds with 10^{sizes[label]['log_params']:.4f} parameters, "
                                    f"the fit measured 10^{stored:.4f}; refit instead")
    families = {}
    for fam, fit in model.families.items():
        names = sorted(fit.measured)
        if not set(names) <= set(sizes):
            raise InvalidValueError(f"the fit's provenance does not name every {fam} architecture; refit instead")
        families[fam] = replace(fit, baselines=baseline_rhos(sizes, names, [fit.measured[a] for a in names]))
    return replace(model, families=families)
