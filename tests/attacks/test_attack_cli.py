"""archrisk attack / attacks: a table or a JSON record; bad input exits 2 with one line."""
from __future__ import annotations

import json

import pytest

from archrisk.cli import main

BASE = ["attack", "resnet18", "--dataset", "digits", "--size", "tiny", "--seed", "0"]


def test_attack_prints_metrics_table(digits_victim, capsys):
    assert main([*BASE, "--attack", "pgd", "--set", "n=20", "--set", "curve_eps=[0, 0.1]"]) == 0
    out = capsys.readouterr().out
    assert "success_rate" in out and "curve over eps" in out


def test_attack_json_record(digits_victim, capsys):
    assert main([*BASE, "--attack", "loss_threshold", "--set", "n=30", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["attack"] == "loss_threshold" and rec["config"]["n"] == 30 and 0 <= rec["metrics"]["auc"] <= 1


@pytest.mark.parametrize("argv", [["attacks"], ["attack", "--list"]])
def test_lists_attacks(argv, capsys):
    assert main([*argv, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"]: r for r in rows}
    assert names["pgd"]["family"] == "evasion" and names["pgd"]["defaults"]["steps"] == 7


@pytest.mark.parametrize("extra,words", [
    (["--attack", "nope"], "unknown attack 'nope'"),
    (["--attack", "pgd", "--set", "epsilon=1"], "no parameter 'epsilon'"),
    (["--attack", "pgd", "--set", "eps=-0.5"], "eps=-0.5 is out of range"),
    (["--attack", "label_flip", "--set", "fraction=2"], "fraction=2.0 is out of range"),
    (["--attack", "pgd", "--set", "eps"], "must look like key=value"),
    (["--attack", "knockoff", "--set", "budgets=[100000]"], "exceeds the attacker pool"),
])
def test_bad_input_exits_2_with_one_line(extra, words, digits_victim, capsys):
    assert main([*BASE, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
