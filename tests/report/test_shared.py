"""Shared vulnerability: histogram and Jaccard on a hand-computed example."""
from __future__ import annotations

import math

import numpy as np
import pytest

from archrisk.errors import InvalidValueError
from archrisk.report.shared import fooled_counts, jaccard, jaccard_matrix, over_seeds, shared_vulnerability

# Inputs 0..5. A fools {0,1,2}, B fools {1,2,3}, C fools {2,5}; nobody fools 4.
FOOLED = {"A": [0, 1, 2], "B": [1, 2, 3], "C": [2, 5]}
GROUPS = {"A": "nas", "B": "nas", "C": "manual"}
ALL = range(6)


def test_hand_computed_histogram_and_jaccard():
    # per input: 0->1 (A), 1->2 (A,B), 2->3, 3->1 (B), 4->0, 5->1 (C)
    assert fooled_counts(FOOLED, ALL).tolist() == [1, 2, 3, 1, 0, 1]
    # AB = |{1,2}| / |{0,1,2,3}| = 1/2; AC = |{2}| / |{0,1,2,5}| = 1/4; BC = |{2}| / |{1,2,3,5}| = 1/4
    np.testing.assert_allclose(jaccard_matrix(FOOLED, ["A", "B", "C"], ALL),
                               [[1, .5, .25], [.5, 1, .25], [.25, .25, 1]])
    sv = shared_vulnerability(FOOLED, GROUPS, universe=ALL)
    nas, manual = sv.groups["nas"], sv.groups["manual"]
    # nas (A, B) counts per input: 1, 2, 2, 1, 0, 0 -> bins 0: {4, 5}, 1: {0, 3}, 2: {1, 2}
    assert nas.histogram == (2, 2, 2) and nas.fractions == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert nas.mean_jaccard == pytest.approx(0.5) and nas.share_all == pytest.approx(1 / 3)
    assert nas.share_any == pytest.approx(4 / 6)
    # manual (C): fooled on {2, 5}; a single model has no pairs
    assert manual.histogram == (4, 2) and math.isnan(manual.mean_jaccard)
    assert sv.between[("manual", "nas")] == pytest.approx(0.25)  # mean of AC, BC
    assert sv.to_dict()["groups"]["manual"]["mean_jaccard"] is None


def test_common_inputs_from_attacked_sets():
    # C was not attacked on 0 and B not on 5: only 1..4 are common; A's fooled 0 drops out
    attacked = {"A": range(6), "B": range(5), "C": range(1, 6)}
    sv = shared_vulnerability(FOOLED, GROUPS, attacked=attacked)
    assert sv.inputs == (1, 2, 3, 4)
    # within 1..4: A {1,2}, B {1,2,3}, C {2} -> AB 2/3, AC 1/2, BC 1/3
    np.testing.assert_allclose(sv.jaccard, [[1, 2 / 3, .5], [2 / 3, 1, 1 / 3], [.5, 1 / 3, 1]])
    assert sv.groups["nas"].histogram == (1, 1, 2)  # 4 | 3 | 1, 2


def test_union_fallback_and_edge_cases():
    sv = shared_vulnerability(FOOLED, GROUPS)
    assert sv.inputs == (0, 1, 2, 3, 5) and sv.groups["nas"].histogram[0] == 1  # only 5 (nas-free)
    assert math.isnan(jaccard(set(), set())) and jaccard({1}, set()) == 0.0
    with pytest.raises(InvalidValueError, match="'D'"):
        shared_vulnerability(FOOLED, {**GROUPS, "D": "nas"}, universe=ALL)
    with pytest.raises(InvalidValueError):
        shared_vulnerability(FOOLED, {})


def test_over_seeds_gives_one_value_per_seed():
    seed1 = {"A": [0, 1], "B": [0, 1], "C": [4]}  # A and B identical: Jaccard 1
    series = over_seeds({0: FOOLED, 1: seed1}, GROUPS, attacked_by_seed={0: {m: ALL for m in GROUPS},
                                                                          1: {m: ALL for m in GROUPS}})
    assert series["nas"]["mean_jaccard"] == pytest.approx([0.5, 1.0])
    assert series["nas"]["share_all"] == pytest.approx([1 / 3, 2 / 6])
    assert series["nas"]["frac_0"] == pytest.approx([2 / 6, 4 / 6])
    assert series["between"]["manual|nas"] == pytest.approx([0.25, 0.0])
