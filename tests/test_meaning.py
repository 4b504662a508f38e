"""Result meanings: validated values, a tolerant JSON form, patterns for budgeted keys, one headline."""
from __future__ import annotations

import json

import pytest

from archrisk.errors import ArchriskError
from archrisk.meaning import (Meaning, budget, check_table, headline_of, matches, read_recorded, record, resolve,
                              resolve_all)


def test_meaning_round_trips_through_json():
    m = Meaning(-1, False, ("C4", "C9"), "KL(victim || thief) (nats)")
    assert Meaning.from_json(json.loads(json.dumps(m.to_json()))) == m
    assert Meaning(claims=["C1"]).claims == ("C1",)  # lists from JSON become tuples


@pytest.mark.parametrize("stored, expected", [
    ({}, Meaning()),
    ({"direction": 1}, Meaning(1)),
    ({"direction": -3.0, "headline": True, "future_field": 1}, Meaning(-1, True)),
    ({"direction": "up", "headline": "yes", "claims": "C1", "description": 5}, Meaning()),
    ({"claims": ["C2", 7, "X9"]}, Meaning(claims=("C2",))),
    ("not a dict", Meaning()),
    (None, Meaning()),
])
def test_from_json_tolerates_missing_and_malformed_fields(stored, expected):
    assert Meaning.from_json(stored) == expected


@pytest.mark.parametrize("kw", [dict(direction=2), dict(direction=True), dict(claims=("claim1",))])
def test_bad_meaning_is_refused(kw):
    with pytest.raises(ArchriskError):
        Meaning(**kw)


def test_patterns_match_budgeted_keys_only_where_declared():
    table = {"agreement": Meaning(1, True), "agreement@*": Meaning(1, True), "kl@*": Meaning(-1)}
    assert matches("agreement@*", "agreement@16000") and not matches("agreement@*", "agreement")
    assert matches("tpr_at_1%fpr", "tpr_at_1%fpr") and not matches("a.c", "abc")  # only '*' is special
    assert resolve(table, "kl@1000") == Meaning(-1)
    assert resolve(table, "kl") == Meaning()  # declared only with a budget
    assert resolve(table, "success_rate") == Meaning()  # never guessed from the spelling


def test_the_largest_budget_is_the_one_headline():
    table = {"agreement": Meaning(1, True), "agreement@*": Meaning(1, True), "kl@*": Meaning(-1)}
    out = resolve_all(table, ["agreement@1000", "agreement@16000", "agreement@4000", "kl@16000", "x.stderr"])
    assert [k for k, m in out.items() if m.headline] == ["agreement@16000"]
    assert out["agreement@1000"] == Meaning(1) and "x.stderr" not in out
    # a key without a budget is the full measurement: it outranks every budget
    assert headline_of(resolve_all(table, ["agreement@16000", "agreement"])) == "agreement"
    assert budget("ce@2e3") == 2000.0 and budget("ce@big") == float("-inf")
    assert headline_of(resolve_all(table, ["kl@16000"])) is None


def test_record_and_read_back():
    meanings = resolve_all({"asr": Meaning(1, True, ("C3",))}, ["asr", "clean_acc"])
    assert read_recorded(json.loads(json.dumps(record(meanings)))) == meanings
    assert read_recorded([1, 2]) == {}


def test_tables_are_checked_for_headlines():
    ok = {"success_rate": Meaning(1, True), "n": Meaning()}
    assert check_table("attack X", ok, headlines=1) == ok
    # a key and its budgeted forms are one headline
    check_table("attack X", {"agreement": Meaning(1, True), "agreement@*": Meaning(1, True)}, headlines=1)
    with pytest.raises(ArchriskError, match="attack X declares no headline"):
        check_table("attack X", {"n": Meaning()}, headlines=1)
    with pytest.raises(ArchriskError, match="2 headline keys"):
        check_table("attack X", {"a": Meaning(1, True), "b": Meaning(1, True)}, headlines=1)
    with pytest.raises(ArchriskError, match="only attacks have one"):
        check_table("metric m", {"a": Meaning(1, True)}, headlines=0)
    with pytest.raises(ArchriskError, match="must map a result key to a Meaning"):
        check_table("attack X", {"a": {"direction": 1}}, headlines=None)
