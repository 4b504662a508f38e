"""Pre-training risk score: predict an architecture's vulnerability before training it fully.

    from archrisk.score import score, fit_store
    r = score("darts_v2")                 # shipped coefficients; seconds on CPU at tiny
    r.risk["evasion"]                     # predicted vulnerability rank among the reference archs
    model = fit_store("results.db")       # refit on a results store (LOAO-validated)
    model.save("coefficients.json")

Signals (`signals.py`) -> ridge model on ranks (`model.py`) fitted to the attack results of a
store (`targets.py`). Every fit carries its leave-one-architecture-out Spearman rho per family.
"""
from __future__ import annotations

from archrisk.score.fit import MIN_RHO, PREDICTED_SHARE, RiskScore, fit_store, is_predicted, record_fit, score
from archrisk.score.model import DEFAULT_PATH, FamilyFit, ScoreModel, fit_model, load_model, structural_risk
from archrisk.score.signals import SIGNALS, SignalConfig, measure_signals
from archrisk.score.targets import StoreTargets, read_targets

__all__ = ["DEFAULT_PATH", "FamilyFit", "MIN_RHO", "PREDICTED_SHARE", "RiskScore", "is_predicted", "SIGNALS", "ScoreModel", "SignalConfig", "StoreTargets",
           "fit_model", "fit_store", "load_model", "measure_signals", "read_targets", "record_fit", "score",
           "structural_risk"]
