"""Size and accuracy confounds: shown beside every comparison, adjusted for in the claims, flagged."""
from __future__ import annotations

import math

import numpy as np

from archrisk.meaning import Meaning
from archrisk.stats import inference
from archrisk.report.judge import ADJUSTED, judge_all
from archrisk.store import load_store
from archrisk.store.fixtures import write_synthetic_store
from archrisk.analysis import Analysis
from archrisk.report import quality
from archrisk.report.results import nas_vs_manual, size_line, summary
from archrisk.report.series import Quantity, Series, SeriesSet, build_series


def _confounded(rng: np.random.Generator, n: int = 8, effect: float = 0.3, slope: float = 0.5):
    """NAS nets 20x smaller than manual ones; the outcome grows with log size and has a NAS effect."""
    is_nas = np.repeat([1.0, 0.0], n)
    logp = np.where(is_nas == 1, 10.5, 13.5) + 0.4 * rng.normal(size=2 * n)
    acc = 0.9 + 0.03 * rng.normal(size=2 * n)
    y = effect * is_nas + slope * logp + 0.1 * rng.normal(size=2 * n)
    return y, is_nas, logp, acc


def test_adjusted_difference_recovers_a_planted_effect_that_size_confounds():
    rng = np.random.default_rng(0)
    covered, raw_covered, n_sim = 0, 0, 400
    for _ in range(n_sim):
        y, g, logp, acc = _confounded(rng)
        adj = inference.adjusted_difference(y, g.astype(bool), [logp, acc])
        raw = inference.welch(y[g == 1], y[g == 0])
        covered += adj.lo <= 0.3 <= adj.hi
        raw_covered += raw.lo <= 0.3 <= raw.hi
        assert adj.df == 16 - 4 and adj.n_a == adj.n_b == 8
    # the adjusted interval holds its level; the raw difference is the size effect (-1.2), not 0.3
    assert 0.92 <= covered / n_sim <= 0.98, covered
    assert raw_covered == 0
    y, g, logp, acc = _confounded(np.random.default_rng(1))
    assert abs(inference.adjusted_difference(y, g.astype(bool), [logp, acc]).diff - 0.3) < 0.25
    assert inference.welch(y[g == 1], y[g == 0]).diff < -0.8


def test_adjusted_difference_is_undefined_without_residual_freedom_or_with_collinear_size():
    y, g = [1.0, 2.0, 3.0, 4.0], [True, True, False, False]
    assert math.isnan(inference.adjusted_difference(y, g, [[1.0, 2.0, 3.0, 4.0], [0.9, 0.8, 0.9, 0.7]]).p)
    logp = [1.0, 1.0, 2.0, 2.0, 1.0, 2.0]  # size is the group: no way to tell them apart
    out = inference.adjusted_difference([1, 2, 3, 4, 1.5, 3.5], [True, True, False, False, True, False],
                                        [logp, [0.9, 0.8, 0.9, 0.7, 0.85, 0.8]])
    assert math.isnan(out.p)


def _train(key: str, values: dict[str, float]) -> Series:
    s = Series(Quantity("train", "train", "train", (), key), meaning=Meaning())
    for a, v in values.items():
        s.add(a, 0, v)
        s.add(a, 1, v)
    return s


def _store(acc: dict[str, float]) -> SeriesSet:
    groups = {"n1": "nas", "n2": "nas", "n3": "nas", "m1": "manual", "m2": "manual", "m3": "manual"}
    atk = Series(Quantity("attack", "pgd", "evasion", (), "success_rate"), meaning=Meaning(1, True, ("C1",)))
    for i, a in enumerate(groups):
        atk.add(a, 0, 0.1 * i)
        atk.add(a, 1, 0.1 * i + 0.02)
    params = {"n1": 3e4, "n2": 4e4, "n3": 5e4, "m1": 6e5, "m2": 8e5, "m3": 9e5}
    flops = {a: 100 * p for a, p in params.items()}
    ss = [atk, _train("test_acc", acc), _train("params", params), _train("flops", flops)]
    return SeriesSet({s.q: s for s in ss}, groups)


def test_ranking_shows_size_and_group_sections_state_median_sizes_and_the_gate_flags_low_accuracy():
    acc = {"n1": 0.95, "n2": 0.94, "n3": 0.96, "m1": 0.80, "m2": 0.93, "m3": 0.94}
    ss = _store(acc)
    table = summary(ss).blocks[0].tables[0]
    for col, want in (("params", 6e5), ("FLOPs", 6e7), ("clean acc", 0.80)):
        i = table.columns.index(col)
        assert next(r[i] for r in table.rows if r[1] == "m1") == want
    line = size_line(ss, "nas", "manual", "NAS", "manual")
    assert "parameters 40,000 vs 800,000 (0.05x)" in line and "FLOPs 4,000,000 vs 80,000,000 (0.05x)" in line
    assert "clean accuracy 0.950 vs 0.930" in line
    sec = nas_vs_manual(ss, {})
    assert sec.blocks and all(line in b.text for b in sec.blocks)
    ss.analysis = Analysis(min_clean_acc=0.85)  # the registered flag rule
    flags = quality.flagged(quality.apply(ss))
    assert len(flags) == 2 and all(f.startswith("m1 seed") and "flagged" in f for f in flags), flags
    assert "m1" in ss.accuracy().values  # flagged, not excluded
    ss = _store(acc)
    ss.analysis = Analysis(min_clean_acc=0.85, below_min="exclude")
    quality.apply(ss)
    assert "m1" not in ss.accuracy().values and all("m1" not in s.values for s in ss.series.values())
    ss = _store({**acc, "m1": 0.86})
    ss.analysis = Analysis(min_clean_acc=0.85)
    assert not quality.flagged(quality.apply(ss))


def test_claims_carry_an_adjusted_line_or_say_why_not(tmp_path):
    ss = build_series(load_store(write_synthetic_store(tmp_path / "s.db", n_nas=5, n_manual=4)))
    lines = [e for v in judge_all(ss).verdicts if v.id == "C1" for e in v.evidence if e.startswith(ADJUSTED)]
    assert len(lines) == 1 and "NAS - manual" in lines[0] and "over 9 architectures" in lines[0], lines
    few = _store({"n1": 0.95, "n2": 0.94, "n3": 0.96, "m1": 0.80, "m2": 0.93, "m3": 0.94})
    del few.series[Quantity("train", "train", "train", (), "params")]
    c1 = next(v for v in judge_all(few).verdicts if v.id == "C1")
    assert any(e.startswith(ADJUSTED) and "no parameter counts" in e for e in c1.evidence), c1.evidence
    small = build_series(load_store(write_synthetic_store(tmp_path / "t.db", n_nas=2, n_manual=2, remedies=False)))
    c1 = next(v for v in judge_all(small).verdicts if v.id == "C1")
    assert any(e.startswith(ADJUSTED) and "at least 5" in e for e in c1.evidence), c1.evidence
    for v in judge_all(ss).verdicts:  # never votes: the verdict comes from the primary tests alone
        assert all(not e.startswith(ADJUSTED) for e in v.evidence[:len(v.tests)])
