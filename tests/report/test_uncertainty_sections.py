"""Rankings with uncertainty, confound-aware correlations and exploratory multiplicity in the report."""
from __future__ import annotations

import math

import numpy as np
import pytest

from archrisk.meaning import Meaning
from archrisk.stats import inference
from archrisk.report.compare import correlations, rank_intervals, risk_ranking
from archrisk.report.results import summary
from archrisk.report.series import Quantity, Series, SeriesSet


def _series(key: str, values: dict[str, list[float]], kind: str = "attack", name: str = "pgd",
            family: str = "evasion") -> Series:
    riskier_when_higher = Meaning(direction=1, headline=kind == "attack", claims=("C1",))
    s = Series(Quantity(kind, name, family, (), key), meaning=riskier_when_higher)
    for a, vals in values.items():
        for sd, v in enumerate(vals):
            s.add(a, sd, v)
    return s


def test_rank_intervals_are_tight_for_separated_architectures_and_wide_for_noisy_ones():
    rng = np.random.default_rng(0)
    tight = _series("success_rate", {f"a{i}": list(i + 0.01 * rng.normal(size=3)) for i in range(4)})
    ss = SeriesSet({tight.q: tight}, {f"a{i}": "nas" for i in range(4)})
    eps, rows = risk_ranking(ss)
    pos = rank_intervals(ss, eps, [r.arch for r in rows])
    assert pos["a3"] == (1.0, 1.0) and pos["a0"] == (4.0, 4.0)  # success: higher = riskier
    noisy = _series("success_rate", {f"a{i}": list(0.01 * i + rng.normal(size=3)) for i in range(4)})
    ss = SeriesSet({noisy.q: noisy}, {f"a{i}": "nas" for i in range(4)})
    eps, rows = risk_ranking(ss)
    pos = rank_intervals(ss, eps, [r.arch for r in rows])
    widths = [hi - lo for lo, hi in pos.values()]
    assert min(widths) >= 1 and max(widths) >= 2, pos
    text = " ".join(t for b in summary(ss).blocks for t in b.text)
    assert "cannot be told apart" in text and "position" in text


def test_partial_rank_correlation_removes_a_shared_confound():
    rng = np.random.default_rng(1)
    size = rng.normal(size=40)
    x, y = size + 0.3 * rng.normal(size=40), size + 0.3 * rng.normal(size=40)
    pooled = inference.spearman_p(x, y)
    rho, p, n = inference.partial_spearman(x, y, [size])
    assert pooled < 1e-6 and abs(rho) < 0.3 and p > 0.05 and n == 40
    # and keeps a real association
    y2 = x + 0.1 * rng.normal(size=40)  # tied to x beyond what size explains
    rho2, p2, _ = inference.partial_spearman(x, y2, [size])
    assert rho2 > 0.5 and p2 < 1e-3


def test_correlations_are_given_within_groups_and_partial_on_size():
    """Pooled over groups, a property that only marks the group correlates with the attack; within each
    group it does not."""
    rng = np.random.default_rng(2)
    groups = {f"n{i}": "nas" for i in range(6)} | {f"m{i}": "manual" for i in range(6)}
    prop = _series("grad_var", {a: [(1.0 if g == "nas" else 0.0) + 0.01 * rng.normal()] for a, g in groups.items()},
                   kind="metric", name="gradient_variance", family="gradients")
    atk = _series("success_rate", {a: [(1.0 if g == "nas" else 0.0) + 0.3 * rng.normal()] for a, g in groups.items()})
    (row,) = correlations([prop], [atk], groups)
    assert row.corr.rho > 0.6 and row.corr.p < 0.05
    assert abs(row.within["nas"][0]) < 0.9 and row.within["nas"][2] == 6
    assert math.isnan(row.partial[0])  # no covariates given: no partial correlation claimed


def test_group_tables_carry_welch_intervals_and_bh_q(tmp_path):
    from archrisk.store import load_store
    from archrisk.store.fixtures import write_synthetic_store
    from archrisk.report.results import COMPARISON_COLUMNS, nas_vs_manual
    from archrisk.report.series import build_series

    ss = build_series(load_store(write_synthetic_store(tmp_path / "s.db", n_nas=5, n_manual=4)))
    sec = nas_vs_manual(ss, {})
    rows = [dict(zip(COMPARISON_COLUMNS, r)) for b in sec.blocks for t in b.tables for r in t.rows]
    ps = [r["Welch p"] for r in rows if math.isfinite(r["Welch p"])]
    qs = [r["BH q"] for r in rows if math.isfinite(r["BH q"])]
    assert len(ps) == len(qs) > 5
    assert all(q >= p - 1e-12 for p, q in zip(ps, qs))
    assert inference.benjamini_hochberg(ps) == pytest.approx(qs)
