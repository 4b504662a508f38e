"""The study's declared protocol stays tied to the code it describes: every declared field exists,
and every default that differs from the study's carries a reason."""
from __future__ import annotations

import dataclasses

import pytest

from archrisk import protocol
from archrisk.attacks import list_attacks
from archrisk.report.deviations import same
from archrisk.train import Recipe

ATTACKS = {c.name: c for c in list_attacks()}


@pytest.mark.parametrize("name", sorted(protocol.ATTACKS))
def test_declared_attack_fields_exist_and_deviating_defaults_have_reasons(name):
    assert name in ATTACKS, f"{name} is declared but not registered"
    defaults = {f.name: f.default for f in dataclasses.fields(ATTACKS[name]) if f.default is not dataclasses.MISSING}
    cfg = ATTACKS[name]().config()  # defaults after __post_init__ (alpha resolved from eps)
    for field, s in protocol.ATTACKS[name].items():
        assert field in defaults, f"{name}.{field} is declared but is not a config field"
        if not same(cfg[field], s.study):
            assert s.reason or name in protocol.VARIANTS, f"{name}.{field}: default {cfg[field]!r} differs without a reason"


def test_recipe_fields_exist_and_match_the_study():
    defaults = Recipe()
    for field, s in protocol.RECIPE.items():
        value = getattr(defaults, field)
        assert value is None or same(value, s.study) or s.reason, field  # epochs None: the size preset's


def test_fixed_differences_name_real_attacks_and_match_the_code():
    from archrisk.train import loop

    for f in protocol.FIXED:
        assert set(f.applies) <= set(ATTACKS) | {"train"}, f.setting
    decay = next(f for f in protocol.FIXED if f.setting.startswith("weight decay"))
    assert decay.archrisk == ("decayed" if loop.DECAY_NORM_AND_BIAS else "exempt")
