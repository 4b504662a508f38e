"""The models attacks train (poisoned retrains, backdoor fine-tunes, LiRA's shadows, Knockoff thieves)
follow the victim recipe's convergence rule with their own length as the cap, and each attack
records its model's accuracy and, under the rule, the epochs it ran and whether the rule ended it."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import archrisk.attacks.poisoning as poisoning
from archrisk.arch.user import from_factory
from archrisk.attacks import get_attack, run_attack
from archrisk.attacks.extraction import train_thief
from archrisk.attacks.common import probs_of
from archrisk.train import resolve_recipe
from archrisk.train.convergence import plateaued

CAP = 8  # the victim's epochs: the cap of retrains and shadows
PATIENCE = 1
RULED = resolve_recipe("study", "tiny", patience=PATIENCE)
FIXED = resolve_recipe("study", "tiny")
# attack -> (its parameters, the prefix of its convergence keys, its model's accuracy key)
ATTACKS = {
    "label_flip": ({"fraction": 0.2}, "retrain", "clean_acc"),
    "badnets": ({"finetune_epochs": 5}, "finetune", "clean_acc"),
    "lira": ({"shadows": 2, "n": 60}, "shadow", "shadow_acc"),
    "knockoff": ({"budgets": [144, 288], "thief_epochs": 10}, "thief", "thief_acc"),
}


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.fixture
def trainings(monkeypatch):
    """Every TrainRequest the attacks' retraining sends, with its result."""
    seen = []
    real = poisoning.run_training

    def spy(req):
        seen.append((req, real(req)))
        return seen[-1][1]

    monkeypatch.setattr(poisoning, "run_training", spy)
    return seen


def _run(name, digits, recipe):
    params, _, _ = ATTACKS[name]
    return run_attack(mlp, name, digits, recipe=recipe, epochs=CAP, cache=False, **params).metrics


@pytest.mark.parametrize("name", ["label_flip", "badnets", "lira"])
def test_retraining_attacks_follow_the_rule_and_record_what_it_did(digits, trainings, name):
    m = _run(name, digits, RULED)
    params, prefix, acc = ATTACKS[name]
    cap = params.get("finetune_epochs", CAP)
    assert trainings and all((req.recipe.patience, req.epochs) == (PATIENCE, cap) for req, _ in trainings)
    models = [r for req, r in trainings if req.tag]  # the attack's own models (not label_flip's clean reference)
    assert len(models) == params.get("shadows", 1)
    assert m[f"{prefix}_epochs_run"] == pytest.approx(sum(r.epochs_run for r in models) / len(models))
    assert m[f"{prefix}_converged"] == pytest.approx(sum(r.converged for r in models) / len(models))
    assert all(r.converged == plateaued([h.val_acc for h in r.history], PATIENCE) for r in models)
    if name == "lira":
        assert m[acc] == pytest.approx(sum(r.test_acc for r in models) / len(models))
    elif name == "label_flip":
        assert m[acc] == models[0].test_acc
    assert 0.0 <= m[acc] <= 1.0


def test_knockoff_thieves_follow_the_rule_and_record_what_it_did(digits):
    m = _run("knockoff", digits, RULED)
    assert 1 <= m["thief_epochs_run"] <= 10 and m["thief_converged"] in (0.0, 1.0)
    assert 0.0 <= m["thief_acc"] <= 1.0


def test_a_thief_under_the_rule_stops_where_it_says_and_keeps_its_best_epoch(digits):
    victim = from_factory(mlp, "tiny", 1)
    torch.manual_seed(0)
    p = torch.softmax(victim(digits.pool.x) * 3, 1).detach()  # any labeller serves: soft labels to imitate
    labels = probs_of(victim, digits.val.x, torch.device("cpu")).argmax(1)
    torch.manual_seed(1)
    thief = from_factory(mlp, "tiny", 1)
    cap = 30
    thief, scores = train_thief(thief, digits.pool.x, p, epochs=cap, batch_size=32, lr=0.05, device=torch.device("cpu"),
                                gen=torch.Generator().manual_seed(0), val=(digits.val.x, labels), patience=2)
    stop = next((i for i in range(1, cap + 1) if plateaued(scores[:i], 2)), cap)
    assert len(scores) == stop and not thief.training
    agreement = (probs_of(thief, digits.val.x, torch.device("cpu")).argmax(1) == labels).float().mean().item()
    assert agreement == max(scores)  # the best epoch's weights, not the last's
    _, none = train_thief(from_factory(mlp, "tiny", 1), digits.pool.x, p, epochs=2, batch_size=32, lr=0.05,
                          device=torch.device("cpu"), gen=torch.Generator().manual_seed(0))
    assert none == []  # no rule: no validation pass


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_without_the_rule_attacks_record_accuracy_and_no_convergence_keys(digits, name):
    m = _run(name, digits, FIXED)
    _, prefix, acc = ATTACKS[name]
    assert 0.0 <= m[acc] <= 1.0
    assert not {f"{prefix}_epochs_run", f"{prefix}_converged"} & set(m)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_new_keys_are_declared_descriptive(name):
    _, prefix, acc = ATTACKS[name]
    declared = type(get_attack(name)).meanings_of([f"{prefix}_epochs_run", f"{prefix}_converged", acc])
    for key in (f"{prefix}_epochs_run", f"{prefix}_converged"):
        assert declared[key].description and declared[key].direction == 0 and not declared[key].headline
    assert declared[acc].description and not declared[acc].headline
