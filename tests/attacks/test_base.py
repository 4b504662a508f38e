"""The shared interface: registry, parameter checking, records, run_attack; every registered attack
runs end to end (so a new registration is tested for free)."""
from __future__ import annotations


import json
import math
from dataclasses import dataclass
from typing import ClassVar

import pytest

from archrisk.attacks import FAMILIES, Attack, AttackResult, get_attack, list_attacks, register_attack, run_attack
from archrisk.attacks.base import unregister_attack
from archrisk.errors import InvalidValueError, UnknownNameError
from archrisk.meaning import Meaning, matches

# The smallest settings at which each attack does real work on digits.
TINY = {
    "pgd": dict(n=20), "pgd_l2": dict(n=20), "apgd": dict(n=20, steps=5), "nes": dict(n=10, queries=43, pop=10),
    "nes_matched": dict(n=10, queries=43),
    "label_flip": dict(fraction=0.1, retrain_epochs=1), "badnets": dict(finetune_epochs=1),
    "blended": dict(finetune_epochs=1), "trojannn": dict(finetune_epochs=1, trigger_steps=3, trigger_images=16),
    "trojannn_strong": dict(finetune_epochs=1, trigger_steps=3, trigger_images=16),
    "knockoff": dict(budgets=[20, 40], thief_epochs=1),
    "loss_threshold": dict(n=20), "boundary": dict(n=10, iters=1, evals=8, bisect=4), "lira": dict(n=20, shadows=1),
}


def test_registry_covers_all_families():
    ours = [c for c in list_attacks() if c.__module__.startswith("archrisk.")]  # not other tests' fakes
    assert {c.family for c in ours} == set(FAMILIES)
    assert set(TINY) == {c.name for c in ours}, "add the new attack to TINY"


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_attack_runs_and_records(name, digits_victim, digits):
    r = run_attack(None, name, digits, victim=digits_victim, **TINY[name])
    assert isinstance(r, AttackResult) and r.attack == name and r.metrics
    rec = json.loads(json.dumps(r.to_record()))
    assert rec["config"] == json.loads(json.dumps(get_attack(name, **TINY[name]).config()))
    assert rec["spec_hash"] == digits_victim.spec.hash() and rec["seed"] == 0 and rec["wall_time"] > 0
    assert all(isinstance(v, float) for v in rec["metrics"].values())
    # every scalar it returns is declared (an undeclared key would reach the report meaning nothing)
    declared = type(get_attack(name)).meanings
    assert [k for k in r.metrics if not any(matches(p, k) for p in declared)] == []


CLAIM = {"evasion": "C1", "poisoning": "C2", "backdoor": "C3", "extraction": "C4", "membership": "C5"}


@pytest.mark.parametrize("cls", list_attacks(), ids=lambda c: c.name)
def test_every_attack_declares_one_oriented_headline_for_its_claim(cls):
    heads = {k.split("@")[0]: m for k, m in cls.meanings.items() if m.headline}
    assert len(heads) == 1
    (m,) = heads.values()
    assert m.direction != 0 and m.claims == (CLAIM[cls.family],) and m.description
    # keys that bear on the claim are oriented; keys that bear on none have no direction
    assert all(bool(x.claims) == (x.direction != 0) for x in cls.meanings.values())


def test_an_attack_without_a_headline_is_refused():
    @dataclass(frozen=True)
    class Quiet(Attack):
        name: ClassVar[str] = "quiet_test_attack"
        family: ClassVar[str] = "evasion"
        meanings: ClassVar[dict[str, Meaning]] = {"success_rate": Meaning(1, False, ("C1",))}

    with pytest.raises(InvalidValueError, match="Quiet declares no headline"):
        register_attack(Quiet)
    assert "quiet_test_attack" not in {c.name for c in list_attacks()}
    Quiet.meanings = {"success_rate": Meaning(1, True, ("C1",))}
    try:
        register_attack(Quiet)
        assert type(get_attack("quiet_test_attack")).meanings_of(["success_rate", "other"]) == {
            "success_rate": Meaning(1, True, ("C1",)), "other": Meaning()}
    finally:
        unregister_attack("quiet_test_attack")
    assert "quiet_test_attack" not in {c.name for c in list_attacks()}


def test_same_seed_same_result_other_seed_differs(digits_victim, digits):
    a = run_attack(None, "pgd", digits, victim=digits_victim, n=30, target="random")
    b = run_attack(None, "pgd", digits, victim=digits_victim, n=30, target="random")
    c = run_attack(None, "pgd", digits, victim=digits_victim, n=30, target="random", seed=1)
    assert a.arrays == b.arrays
    assert a.metrics.keys() == b.metrics.keys()
    for k, v in a.metrics.items():  # nan (e.g. mean_iters when nothing succeeded) equals nan here
        assert v == b.metrics[k] or (math.isnan(v) and math.isnan(b.metrics[k])), k
    assert a.arrays["target"] != c.arrays["target"]


@pytest.mark.parametrize("name,params,match", [
    ("pgd", dict(eps=-0.1), "eps=-0.1 is out of range"),
    ("pgd", dict(steps=2.5), "steps=2.5 must be of type int"),
    ("pgd", dict(target="median"), "target='median' is not one of"),
    ("pgd", dict(curve_eps=[0.1, -1]), "curve_eps"),
    ("label_flip", dict(fraction=1.5), r"fraction=1.5 is out of range; it must be in \[0, 1\]"),
    ("knockoff", dict(budgets=[-1]), "budgets"),
    ("pgd", dict(epsilon=0.1), "has no parameter 'epsilon'"),
])
def test_bad_parameters_raise_one_line(name, params, match):
    with pytest.raises(InvalidValueError, match=match) as e:
        get_attack(name, **params)
    assert "\n" not in str(e.value)


def test_unknown_attack():
    with pytest.raises(UnknownNameError, match="unknown attack 'pgdd'"):
        get_attack("pgdd")


def test_lists_from_the_command_line_become_tuples():
    assert get_attack("pgd", curve_eps=[0, 0.1]).curve_eps == (0.0, 0.1)
    assert get_attack("pgd", steps=3.0).steps == 3 and isinstance(get_attack("pgd", steps=3.0).steps, int)


def test_run_attack_trains_the_victim_through_the_cache(digits, digits_victim):
    r = run_attack("resnet18", "loss_threshold", digits, n=20)  # digits_victim's checkpoint: a cache hit
    assert r.spec_hash == digits_victim.spec.hash()
    with pytest.raises(InvalidValueError, match="victim= is a resnet18"):
        run_attack("vgg13_bn", "pgd", digits, victim=digits_victim)
