"""Victim quality keyed by scale: a store of two scales whose accuracies differ gets each scale's own
accuracies in the adjusted secondaries, the gate's flags and the tables; the registered gate is read
from the store's studies and applied exactly as written."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from archrisk.errors import InvalidValueError
from archrisk.report import quality, write_report
from archrisk.store import load_store
from archrisk.store.fixtures import FixtureWriter
from archrisk.report.judge import ADJUSTED, judge_all
from archrisk.report.series import build_series
from archrisk.stats import inference

NAS = [f"n{i}" for i in range(5)]
MANUAL = [f"m{i}" for i in range(4)]
# clean accuracy per scale: at digits the manual nets are undertrained (and m0 below 0.5); at mnist5k not
ACC = {"digits": {**{a: 0.95 + 0.005 * i for i, a in enumerate(NAS)}, "m0": 0.40, "m1": 0.62, "m2": 0.70, "m3": 0.66},
       "mnist5k": {**{a: 0.97 - 0.004 * i for i, a in enumerate(NAS)}, **{a: 0.93 + 0.01 * i for i, a in enumerate(MANUAL)}}}


def _store(path, analysis=None):
    w = FixtureWriter(path, analysis=analysis)
    rng = np.random.default_rng(0)
    for dataset, accs in ACC.items():
        for arch in NAS + MANUAL:
            group = "nas" if arch in NAS else "manual"
            for seed in (0, 1):
                acc = accs[arch] + (0.002 if seed else 0.0)
                params = 4e4 * (1 + NAS.index(arch) % 3) if group == "nas" else 5e4 * (1 + MANUAL.index(arch))
                w.job("train", "train", "train", arch, group, seed, {},
                      {"test_acc": acc, "val_acc": acc, "params": params, "flops": 100 * params, "epochs": 6},
                      dataset=dataset)
                # success falls with accuracy and has a group effect at digits only
                rate = 0.9 - 0.5 * acc + (0.05 if group == "nas" and dataset == "digits" else 0) + 0.01 * rng.normal()
                w.job("attack", "pgd", "evasion", arch, group, seed, {}, {"success_rate": rate}, dataset=dataset)
    return w.close()


def test_a_two_scale_store_keys_every_accuracy_lookup_by_scale(tmp_path):
    ss = build_series(load_store(_store(tmp_path / "s.db")))
    digits = next(sc for sc in ss.scales() if ("dataset", "digits") in sc)
    with pytest.raises(ValueError, match="mixes 2 scales"):
        ss.trained("test_acc")  # a lookup without its scale would mix them
    assert ss.victim_means("test_acc", digits)["m0"] == pytest.approx(0.401)
    # the adjusted secondary of the digits test holds the digits accuracies fixed, not mnist5k's
    c1 = next(v for v in judge_all(ss).verdicts if v.id == "C1")
    line = next(e for e in c1.evidence if e.startswith(ADJUSTED) and "dataset=digits" in e)
    means = {a: float(np.mean(list(v.values()))) for a, v in
             next(s for q, s in ss.series.items() if q.key == "success_rate" and q.scale == digits).values.items()}
    archs = NAS + MANUAL
    own = inference.adjusted_difference([means[a] for a in archs], [a in NAS for a in archs],
                                        [[math.log(ss.victim_means("params", digits)[a]) for a in archs],
                                         [ss.victim_means("test_acc", digits)[a] for a in archs]])
    mnist = next(sc for sc in ss.scales() if ("dataset", "mnist5k") in sc)
    other = inference.adjusted_difference([means[a] for a in archs], [a in NAS for a in archs],
                                          [[math.log(ss.victim_means("params", mnist)[a]) for a in archs],
                                           [ss.victim_means("test_acc", mnist)[a] for a in archs]])
    assert f"{own.diff:.3g}" in line and f"{other.diff:.3g}" not in line, (line, own.diff, other.diff)
    # every group test states its own scale's clean accuracy
    tests = {t.scale: t for t in c1.tests}
    assert tests["dataset=digits"].match.b.median == pytest.approx(np.median([0.401, 0.621, 0.701, 0.661]))
    assert tests["dataset=mnist5k"].match.b.median == pytest.approx(np.median([0.931, 0.941, 0.951, 0.961]))


def test_the_flag_rule_applies_per_scale_and_the_tables_hold_each_scale(tmp_path):
    index = write_report(_store(tmp_path / "s.db"), tmp_path / "out")  # the defaults: flag below 0.5
    tables = index.parent / "tables"
    with (tables / "victims.csv").open() as f:
        rows = list(csv.DictReader(f))
    flagged = {(r["architecture"], r["scale"]) for r in rows if r["status"] == "flagged"}
    assert flagged == {("m0", "dataset=digits")}  # m0 trains fine at mnist5k
    assert len(rows) == 2 * 2 * 9 and {r["status"] for r in rows} == {"included", "flagged"}
    with (tables / "accuracy_by_scale.csv").open() as f:
        by = {(r["scale"], r["group"]): float(r["median"]) for r in csv.DictReader(f)}
    assert by[("dataset=digits", "manual")] == pytest.approx(np.median([0.401, 0.621, 0.701, 0.661]))
    assert by[("dataset=mnist5k", "manual")] == pytest.approx(np.median([0.931, 0.941, 0.951, 0.961]))
    html = index.read_text()
    assert "m0 seed 0 [dataset=digits]: flagged (clean accuracy 0.400 below 0.5)" in html


def test_a_registered_exclusion_and_accuracy_gap_are_applied_as_written(tmp_path):
    ss = build_series(load_store(_store(tmp_path / "s.db", {"below_min": "exclude", "max_accuracy_gap": 0.05})))
    digits = next(sc for sc in ss.scales() if ("dataset", "digits") in sc)
    assert "m0" not in ss.accuracy(scale=digits).values  # excluded from every series of its scale
    assert all("m0" not in s.values for q, s in ss.series.items() if q.scale == digits)
    assert "m0" in ss.accuracy(scale=next(sc for sc in ss.scales() if sc != digits)).values
    c1 = {t.scale: t for t in next(v for v in judge_all(ss).verdicts if v.id == "C1").tests}
    blocked = c1["dataset=digits"]
    assert blocked.verdict == "inconclusive" and "not trained to the same standard" in blocked.reason
    assert "registered 0.05" in blocked.reason
    assert "not trained to the same standard" not in c1["dataset=mnist5k"].reason


def test_studies_that_register_different_analyses_cannot_share_a_report(tmp_path):
    db = _store(tmp_path / "s.db", {"protocol": 2})
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("INSERT INTO studies VALUES ('study1', 'other', 'x.toml', '', '{}', 2e9)")
    con.commit()
    con.close()
    with pytest.raises(InvalidValueError, match="register different analyses"):
        build_series(load_store(db))


def test_reliability_and_accuracy_lines_never_show_a_negative_or_missing_scale(tmp_path):
    ss = build_series(load_store(_store(tmp_path / "s.db")))
    for t in judge_all(ss).tests:
        assert t.reliability >= 0 or math.isnan(t.reliability)
        assert t.match is not None and "clean accuracy at this scale" in t.lines()[0]
    assert quality.UNMATCHED == 0.05


def test_the_fixed_effects_question_can_name_a_subset_while_the_population_question_uses_all(tmp_path):
    named = ["n0", "n1", "n2", "m1", "m2"]
    ss = build_series(load_store(_store(tmp_path / "s.db", {"estimand": "fixed", "fixed_archs": named})))
    t = next(v for v in judge_all(ss).verdicts if v.id == "C1").tests[0]
    assert t.confirmatory == "fixed"
    assert t.estimates["fixed"].test.n_a == 3 and t.estimates["fixed"].test.n_b == 2
    assert t.estimates["random"].test.n_a == 5 and t.estimates["random"].test.n_b == 4
    assert "3 NAS vs 2 manual" in t.lines()[0] and "5 NAS vs 4 manual" in t.lines()[1]


def test_the_models_the_attacks_train_are_summarised_per_setting(tmp_path):
    """A thief that barely agrees with its victim has stolen nothing: the report says how well each
    attack's own models trained (median over victims), and the README findings quote it."""
    from archrisk.report.readme_table import findings_markdown
    from archrisk.store.fixtures import write_synthetic_store

    index = write_report(write_synthetic_store(tmp_path / "s.db", n_nas=3, n_manual=2, fractions=(0.1, 0.2)),
                   tmp_path / "out")
    with (index.parent / "tables" / "attack_models.csv").open() as f:
        rows = {(r["attack"], r["result"]): r for r in csv.DictReader(f)}
    thieves = rows[("knockoff", "agreement")]
    assert thieves["what"].startswith("thieves' label agreement") and int(thieves["victims"]) == 2 * (3 + 2 + 3)
    assert {a for a, k in rows if k == "clean_acc"} == {"label_flip (fraction=0.1)", "label_flip (fraction=0.2)"}
    assert f"median {float(thieves['median']):.3g}" in findings_markdown(index.parent / "tables")
