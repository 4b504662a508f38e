"""Claim verdicts follow the data: planted effects are found, reversed ones reversed, nulls not."""
from __future__ import annotations

import pytest

from archrisk.report.claims import CLAIMS, VERDICTS
from archrisk.report.judge import judge_all
from archrisk.report.verdicts import TARGET_POWER, combine
from archrisk.store import load_store
from archrisk.store.fixtures import write_synthetic_store
from archrisk.report.series import build_series

ATTACK_CLAIMS = ("C1", "C2", "C3", "C4", "C5")


def _verdicts(tmp_path, **cfg) -> dict:
    db = write_synthetic_store(tmp_path / "s.db", **cfg)
    ss = build_series(load_store(db))
    return {v.id: v for v in judge_all(ss, {}, "synthetic").verdicts}


def test_every_claim_of_the_study_is_judged():
    assert list(CLAIMS) == ["C1", "C1r", *(f"C{i}" for i in range(2, 11))]
    r, c1 = CLAIMS["C1r"], CLAIMS["C1"]
    assert r.versus == "random" and [(p.key, p.names, p.sign, p.sesoi) for p in r.primaries] == [
        (p.key, p.names, p.sign, p.sesoi) for p in c1.primaries]


def test_the_random_control_is_not_measured_without_random_cells(tmp_path):
    v = _verdicts(tmp_path)["C1r"]
    assert v.verdict == "not measured" and "no random architectures" in v.reason


def test_combine_rule():
    assert combine([]) == "not measured"
    assert combine(["inconclusive"]) == "inconclusive"
    assert combine(["reproduced", "inconclusive"]) == "reproduced"
    assert combine(["reproduced", "reversed"]) == "conflicting"
    assert combine(["no effect", "no effect"]) == "no effect"
    assert combine(["no effect", "inconclusive"]) == "inconclusive"
    assert "not reproduced" not in VERDICTS  # a non-significant test is never read as evidence against


def test_planted_effect_is_reproduced(tmp_path):
    v = _verdicts(tmp_path, n_nas=8, n_manual=8, seeds=(0, 1, 2), effect=3.0)
    for cid in ATTACK_CLAIMS:
        assert v[cid].verdict == "reproduced", (cid, v[cid].evidence)
    # the fixture ties lower gradient variance and curvature to vulnerability, and remedies lower it
    assert v["C6"].verdict == "reproduced" and v["C7"].verdict == "reproduced"
    assert v["C9"].verdict == "reproduced"
    assert v["C10"].verdict == "not measured"
    assert all(x.verdict in VERDICTS for x in v.values())
    assert "8 NAS vs 8 manual architectures, 3 seeds" in v["C1"].evidence[0]


def test_opposite_effect_is_reversed(tmp_path):
    v = _verdicts(tmp_path, n_nas=8, n_manual=8, seeds=(0, 1, 2), effect=-3.0)
    for cid in ATTACK_CLAIMS:
        assert v[cid].verdict == "reversed", (cid, v[cid].evidence)


def test_no_effect_is_never_read_as_reversed_or_reproduced(tmp_path):
    v = _verdicts(tmp_path, n_nas=8, n_manual=8, seeds=(0, 1, 2), effect=0.0, rng_seed=3)
    assert v["C1"].verdict in ("inconclusive", "no effect"), v["C1"].evidence
    # a powered claim whose interval sits inside its smallest effect of interest is an equivalence result
    assert v["C2"].verdict == "no effect" and v["C2"].power >= TARGET_POWER


def test_demo_design_underpowered_claims_are_inconclusive_with_power_and_mde(tmp_path):
    """The demo's design (4 NAS vs 3 manual x 2 seeds): no claim below the target power is decided
    against the study; each says inconclusive and gives its power and minimum detectable effect."""
    v = _verdicts(tmp_path, n_nas=4, n_manual=3, seeds=(0, 1), effect=0.5)
    low = [x for x in v.values() if x.tests and x.power < TARGET_POWER]
    assert low
    for x in low:
        assert x.verdict in ("inconclusive", "reproduced"), (x.id, x.verdict)
        if x.verdict == "inconclusive" and "seeds disagree" not in x.reason:
            assert "underpowered: power" in x.reason and "detects" in x.reason, x.reason
        assert any("power" in e and "minimum detectable effect" in e for e in x.evidence)


def test_design_too_small_for_any_test_says_so(tmp_path):
    v = _verdicts(tmp_path, n_nas=2, n_manual=2, effect=5.0)
    assert v["C1"].verdict == "inconclusive"
    assert "power" in v["C1"].reason or "too few" in v["C1"].reason


def test_missing_group_gives_inconclusive_with_the_reason(tmp_path):
    v = _verdicts(tmp_path, n_nas=4, n_manual=0, remedies=False)
    for cid in ATTACK_CLAIMS:
        assert v[cid].verdict == "inconclusive" and "too few architectures" in v[cid].reason
    assert v["C9"].verdict == "not measured"  # no remedy cells


@pytest.mark.parametrize("scale, expected", [(0.0, "reproduced"), (1.0, "reversed")])
def test_adversarial_training_claim_tests_the_change_of_the_gap(tmp_path, scale, expected):
    """Gap removed by training: reproduced; gap kept or widened: the change of the gap says so."""
    v = _verdicts(tmp_path, n_nas=8, n_manual=8, seeds=(0, 1, 2), effect=3.0, adv_train=True, adv_scale=scale)
    assert v["C10"].verdict == expected, v["C10"].evidence
    assert "before minus after adversarial training" in v["C10"].evidence[0]



def test_a_primary_changes_only_for_studies_registered_under_the_new_protocol(tmp_path):
    """Protocol 1 (no [analysis] table, as the reference study v1) decides C4 on the thief's KL and C8 in
    one test; a study registering protocol 2 gets C4 on the study's own measure (cross-entropy) and C8
    in its two parts, the convergence part on a measure that does not depend on the run's length."""
    old = _verdicts(tmp_path, n_nas=6, n_manual=5)
    assert "knockoff: kl" in old["C4"].evidence[0] and "C8" in old and "C8a" not in old
    db = write_synthetic_store(tmp_path / "v2.db", n_nas=6, n_manual=5)
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("""UPDATE studies SET spec_json = '{"analysis": {"protocol": 2, "estimand": "fixed"}}'""")
    con.commit()
    con.close()
    j = judge_all(build_series(load_store(db)))
    new = {v.id: v for v in j.verdicts}
    assert j.protocol == 2 and j.estimand == "fixed"
    assert "C8" not in new and {"C8a", "C8b"} <= set(new)
    assert "knockoff: ce" in new["C4"].evidence[0] and "fixed effects" in new["C4"].evidence[0]
    assert any("protocol 2" in c for c in new["C4"].caveats)
    assert any(e.startswith("Secondary: knockoff: kl") for e in new["C4"].evidence)  # KL stays, secondary
    assert "epochs to reach 0.9" in new["C8b"].evidence[0]
    # C8a compares NAS cells with random cells of the space: this store has none
    assert new["C8a"].verdict == "not measured" and "no random architectures" in new["C8a"].reason
