"""The scale trend: a claim's primary test at two scales side by side, and the change between them."""
from __future__ import annotations

import math

from archrisk.report.claims import CLAIMS
from archrisk.stats.inference import welch
from archrisk.report.scales import scale_trend
from archrisk.report.verdicts import Estimate, PrimaryTest
from archrisk.stats.components import components


def _test(scale: str, nas: list[float], manual: list[float], claim: str = "C1") -> PrimaryTest:
    t = welch(nas, manual)
    comps = (components([[x] for x in nas]), components([[x] for x in manual]))
    return PrimaryTest(claim, CLAIMS[claim].primaries[0], "PGD success", scale, "groups",
                       {"random": Estimate("random", t)}, "random", comps={"random": comps})


def test_a_gap_that_grows_with_scale_is_named_and_one_that_does_not_is_not():
    small = _test("dataset=digits, size=tiny", [0.50, 0.52, 0.51, 0.49], [0.50, 0.48, 0.51, 0.50])
    large = _test("dataset=mnist5k, size=tiny", [0.80, 0.82, 0.81, 0.79], [0.50, 0.48, 0.51, 0.50])
    sec = scale_trend([small, large])
    text = " ".join(sec.blocks[0].text)
    assert "larger at dataset=mnist5k" in text
    rows = sec.blocks[0].tables[0].rows
    assert [r[2] for r in rows] == ["dataset=digits, size=tiny", "dataset=mnist5k, size=tiny"]
    assert math.isclose(rows[1][3], large.test.diff)
    same = scale_trend([small, _test("dataset=mnist5k, size=tiny", [0.51, 0.50, 0.53, 0.48], [0.50, 0.49, 0.5, 0.5])])
    assert "cannot be told apart" in " ".join(same.blocks[0].text)


def test_no_section_with_one_scale():
    assert scale_trend([_test("", [0.5, 0.6], [0.4, 0.3])]) is None
