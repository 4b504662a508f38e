"""Membership inference: AUC well above 0.5 on an overfit model, ~0.5 when members were never
trained on, and a ROC/AUC that matches scikit-learn and is never folded."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from archrisk.attacks import run_attack
from archrisk.attacks.common import auc, roc, tpr_at

QUICK = {"loss_threshold": {}, "boundary": dict(iters=3, evals=32, bisect=8), "lira": dict(shadows=2)}


def test_roc_auc_matches_sklearn_and_is_not_folded():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(300), np.zeros(300)]
    scores = np.round(rng.normal(labels * 0.5, 1.0), 1)  # rounding makes ties
    fpr, tpr = roc(scores, labels)
    assert auc(fpr, tpr) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auc(*roc(-scores, labels)) == pytest.approx(1 - roc_auc_score(labels, scores), abs=1e-12)  # below 0.5 stays
    assert tpr_at(fpr, tpr, 0.0) <= tpr_at(fpr, tpr, 0.01) <= tpr_at(fpr, tpr, 0.1)
    perfect = roc(np.r_[np.ones(5), np.zeros(5)], np.r_[np.ones(5), np.zeros(5)])
    assert tpr_at(*perfect, 0.001) == 1.0


@pytest.mark.parametrize("name", ["loss_threshold", "boundary", "lira"])
def test_membership_separates_overfit_model_and_not_control(name, overfit_victim, control_victim, small_digits):
    hit = run_attack(None, name, small_digits, victim=overfit_victim, n=120, **QUICK[name]).metrics
    null = run_attack(None, name, small_digits, victim=control_victim, n=120, **QUICK[name]).metrics
    assert hit["gap"] > 0.1, hit  # the victim really overfits
    # 120 + 120 samples: the AUC's standard error under the null is ~0.037, so 0.6 is ~3 SE above
    # chance and a control within 0.1 of 0.5 is consistent with it
    assert hit["auc"] > 0.6, hit
    assert abs(null["auc"] - 0.5) < 0.1, null
    assert hit["n"] == 120


def test_boundary_cost_is_reported(overfit_victim, small_digits):
    m = run_attack(None, "boundary", small_digits, victim=overfit_victim, n=40, **QUICK["boundary"]).metrics
    # 1 + draws + bisect + iters * (evals + halvings + bisect), at most
    assert 1 + 8 <= m["queries_per_sample"] <= 1 + 20 + 8 + 3 * (32 + 8 + 8)
