"""Membership inference: AUC well above 0.5 on an overfit model, ~0.5 when members were never
trained on, and a ROC/AUC that matches scikit-learn and is never folded."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from archrisk.attacks import run_attack
from archrisk.attacks.common import auc, roc, tpr_at
from archrisk.errors import InvalidValueError

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


def _roc_by_thresholds(scores, labels):
    """The oracle: one point per distinct score t (descending), the rates of `score >= t`, after (0, 0)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    ts = np.unique(scores)[::-1]
    fpr = [0.0] + [np.count_nonzero(neg >= t) / max(len(neg), 1) for t in ts]
    tpr = [0.0] + [np.count_nonzero(pos >= t) / max(len(pos), 1) for t in ts]
    return np.array(fpr), np.array(tpr)


def test_roc_keeps_every_threshold_and_its_auc_is_the_tied_mann_whitney_statistic():
    rng = np.random.default_rng(1)
    for trial in range(300):
        n_pos, n_neg = rng.integers(1, 120, size=2)
        labels = np.r_[np.ones(n_pos), np.zeros(n_neg)]
        scores = rng.normal(labels * rng.uniform(-1, 2), 1.0)
        if trial % 4:
            scores = np.round(scores, trial % 4 - 1)  # 0, 1 or 2 decimals: many ties, some all tied
        perm = rng.permutation(len(labels))  # sample order must not matter
        fpr, tpr = roc(scores[perm], labels[perm])
        ref_fpr, ref_tpr = _roc_by_thresholds(scores, labels)
        np.testing.assert_array_equal(fpr, ref_fpr)  # exactly: the stored curve keeps every point
        np.testing.assert_array_equal(tpr, ref_tpr)
        pos, neg = scores[labels == 1], scores[labels == 0]
        u = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (n_pos * n_neg)
        assert auc(fpr, tpr) == pytest.approx(u, abs=1e-12)
        for max_fpr in (0.0, 0.001, 0.01, 0.1, 0.5):
            best = max(t for f, t in zip(ref_fpr, ref_tpr) if f <= max_fpr + 1e-12)
            assert tpr_at(fpr, tpr, max_fpr) == best


def test_tpr_at_needs_the_points_a_thinned_curve_drops():
    # three negatives and positives alternating: the curve is one diagonal line, and a thinned curve
    # (scikit-learn's drop_intermediate) keeps only its ends, losing the TPR at FPR 1/3
    scores, labels = np.array([6.0, 5, 4, 3, 2, 1]), np.array([1, 0, 1, 0, 1, 0])
    fpr, tpr = roc(scores, labels)
    assert len(fpr) == 7 and tpr_at(fpr, tpr, 1 / 3) == pytest.approx(2 / 3)


def test_roc_of_one_class_and_of_non_finite_scores():
    fpr, tpr = roc(np.array([0.3, 0.1, 0.3]), np.ones(3))  # no negatives: FPR 0, not NaN
    assert fpr.tolist() == [0.0, 0.0, 0.0] and tpr.tolist() == [0.0, 2 / 3, 1.0]
    with pytest.raises(InvalidValueError, match="1 of 3 membership scores"):
        roc(np.array([0.3, np.nan, 0.1]), np.array([1, 0, 1]))


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
