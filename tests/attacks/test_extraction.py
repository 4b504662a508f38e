"""Knockoff extraction: agreement rises with queries, no queries means chance, metrics are right."""
from __future__ import annotations

import math

import pytest
import torch

from archrisk.attacks import run_attack
from archrisk.attacks.extraction import compare
from archrisk.errors import InvalidValueError


def test_compare_on_known_distributions():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = torch.tensor([0, 1])
    same = compare(p, p, y)
    entropy = -(p * p.log()).sum(1).mean().item()
    assert same["agreement"] == 1 and same["kl"] == pytest.approx(0, abs=1e-6)
    assert same["ce"] == pytest.approx(entropy, rel=1e-6) and same["thief_acc"] == 0.5
    uniform = compare(p, torch.full_like(p, 1 / 3), y)
    assert uniform["ce"] == pytest.approx(math.log(3), rel=1e-6)
    assert uniform["kl"] == pytest.approx(math.log(3) - entropy, rel=1e-5)


@pytest.mark.parametrize("sampling", ["random", "adaptive"])
def test_agreement_rises_with_queries(digits_victim, digits, sampling):
    r = run_attack(None, "knockoff", digits, victim=digits_victim, budgets=[0, 24, 288], thief_epochs=12, sampling=sampling)
    rows = r.curves["budget"]
    assert [row["budget"] for row in rows] == [0, 24, 288]
    agree = [row["agreement"] for row in rows]
    assert agree[0] < 0.3 and rows[0]["thief_acc"] < 0.3  # no queries: an untrained thief, at chance
    assert agree[0] < agree[1] < agree[2] and agree[2] > 0.75, agree
    assert rows[2]["kl"] < min(rows[0]["kl"], rows[1]["kl"])
    assert all(0 <= row["kl"] <= row["ce"] + 1e-6 for row in rows)
    queried = r.arrays["queried"]
    assert len(queried) == len(set(queried)) == 288


def test_budget_larger_than_pool_is_rejected(digits_victim, digits):
    with pytest.raises(InvalidValueError, match="exceeds the attacker pool of 288"):
        run_attack(None, "knockoff", digits, victim=digits_victim, budgets=[10, 5000])
