"""Loss-landscape section and claim C7: surfaces chosen and summarised right, verdict from curvature."""
from __future__ import annotations

import csv
import json
import sqlite3

import numpy as np
import pytest

from archrisk.report.judge import judge_all
from archrisk.store import load_store
from archrisk.store.fixtures import FixtureWriter, write_synthetic_store
from archrisk.report.landscapes import landscape_section
from archrisk.report.series import build_series

GRID = np.linspace(-0.5, 0.5, 5)
A, B = np.meshgrid(GRID, GRID, indexing="ij")
# (arch, group) -> curvature scale s of the seed-0 surface  c + s (a^2 + 2 b^2): Laplacian 2s + 4s = 6s
ARCHS = {("N1", "nas"): 1.0, ("N2", "nas"): 2.0, ("M1", "manual"): 3.0, ("M2", "manual"): 5.0}


def _surface(s: float, c: float = 0.1) -> list:
    return (c + s * (A ** 2 + 2 * B ** 2)).tolist()


def _job(w, arch, group, seed, at, s, in_scale, scalars):
    arts = {"landscape_conv_curvature.grid": GRID.tolist(), "landscape_conv_curvature.surface": _surface(s),
            "landscape_conv_rise.grid": GRID.tolist(), "landscape_conv_rise.surface": _surface(s),
            "landscape_input_curvature.grid": GRID.tolist(),
            # two inputs: the first is drawn; the second is a decoy ten times sharper
            "landscape_input_curvature.surfaces": [_surface(in_scale, 0.2), _surface(10 * in_scale, 0.2)]}
    w.job("metric", "landscape", "landscape", arch, group, seed, {"at": at}, scalars, arts)


def _store(path):
    w = FixtureWriter(path)
    for (arch, group), s in ARCHS.items():
        for seed in (0, 1):
            cur = 6 * s + seed  # the stored scalars (what the group comparison uses)
            _job(w, arch, group, seed, "trained", s * (1 + 9 * seed), 2 * s,
                 {"landscape_conv_curvature": cur, "landscape_conv_rise": s, "landscape_input_curvature": 12 * s})
        _job(w, arch, group, 0, "init", 100.0, 100.0, {})  # untrained point: not drawn
    _job(w, "R1", "remedy", 0, "trained", 7.0, 7.0, {})  # remedy cells are not drawn either
    w.job("metric", "landscape", "landscape", "N1", "nas", 0, {"at": "trained", "decoy": 1}, {},
          {"landscape_filter_curvature.grid": [0, 1], "landscape_filter_curvature.surface": [[1, 2]]})
    # malformed surface: skipped with a warning (its own parameters keep its job id apart; no scalars)
    w.job("metric", "landscape", "landscape", "N2", "nas", 0, {"at": "trained"}, {},
          {"landscape_conv_curvature.grid": GRID.tolist(), "landscape_conv_curvature.surface": _surface(50.0)},
          recipe={"adv_train": "pgd"})  # adversarially trained victim: not drawn
    return w.close()


def _tables(sec):
    return {t.slug: [dict(zip(t.columns, r)) for r in t.rows] for b in sec.blocks for t in b.tables}


def test_surfaces_first_seed_trained_point_and_their_summaries(tmp_path):
    store = load_store(_store(tmp_path / "s.db"))
    assert all(set(a) - {"meaning"} <= {"landscape_conv_curvature.grid", "landscape_conv_curvature.surface", "landscape_conv_rise.grid",
                          "landscape_conv_rise.surface", "landscape_input_curvature.grid",
                          "landscape_input_curvature.surfaces", "landscape_filter_curvature.grid",
                          "landscape_filter_curvature.surface"} for a in store.artifacts.values())
    ss = build_series(store)
    comparisons: dict = {}
    sec = landscape_section(store, ss, comparisons)
    rows = _tables(sec)["landscape_surfaces"]
    assert {(r["surface"], r["architecture"]) for r in rows} == {(k, a) for k in ("conv", "input") for a, _ in ARCHS}
    for r in rows:
        s = ARCHS[(r["architecture"], r["group"])] * (2 if r["surface"] == "input" else 1)
        assert (r["seed"], r["measured at"], r["grid points"], r["span"]) == (0, "trained", 5, 0.5)
        assert r["mean |Laplacian|"] == pytest.approx(6 * s)
        assert r["centre loss"] == pytest.approx(0.2 if r["surface"] == "input" else 0.1)
        assert r["max rise on grid"] == pytest.approx(s * (0.25 + 2 * 0.25))  # at the corners
    assert [f.slug for f in sec.blocks[0].figures] == ["landscape_conv"]
    comp = {r["quantity"]: r for r in _tables(sec)["groups_landscape"]}
    conv = comp["landscape (at=trained): landscape_conv_curvature"]
    # per-architecture means over seeds of 6s + seed: N 6.5, 12.5; M 18.5, 30.5
    assert conv["NAS mean"] == pytest.approx(9.5) and conv["manual mean"] == pytest.approx(24.5)
    assert conv["NAS - manual"] == pytest.approx(-15.0)
    assert any(q.key == "landscape_conv_curvature" for q in comparisons)  # shared with the claims
    assert not sec.missing


def test_no_landscape_results_is_said(tmp_path):
    w = FixtureWriter(tmp_path / "s.db")
    w.job("attack", "pgd", "evasion", "A", "nas", 0, {}, {"success_rate": 0.5})
    store = load_store(w.close())
    sec = landscape_section(store, build_series(store), {})
    assert sec.missing == ["no loss-landscape results (metric family 'landscape') in this store"]


def _c7(tmp_path, **cfg):
    db = write_synthetic_store(tmp_path / "s.db", n_nas=8, n_manual=8, seeds=(0, 1, 2), effect=3.0,
                               remedies=False, fractions=(0.2,), **cfg)
    return {v.id: v for v in judge_all(build_series(load_store(db)), {}, "synthetic").verdicts}["C7"]


def test_c7_uses_surface_curvature_over_the_proxies(tmp_path):
    # Hessian and other proxies say NAS is smoother; the planted surfaces say the opposite
    v = _c7(tmp_path, landscape_sign=-1.0)
    assert v.verdict == "reversed", v.evidence
    # the pre-declared primary is the study's first-conv surface; the other surfaces and proxies are secondary
    assert v.evidence[0].startswith("Primary") and "landscape_conv_curvature" in v.evidence[0]
    assert any(e.startswith("Secondary") and "hessian_top" in e for e in v.evidence[1:])
    # without surfaces the next declared primary (the top Hessian eigenvalue) decides
    v = _c7(tmp_path, landscapes=False)
    assert v.verdict == "reproduced" and "hessian_top" in v.evidence[0]


def test_full_report_draws_the_stored_surfaces(full_report):
    db, index = full_report
    con = sqlite3.connect(db)
    stored = {arch: value for arch, value in con.execute(
        "SELECT j.arch, r.value FROM results r JOIN jobs j ON j.id=r.job_id "
        "WHERE r.key='landscape_conv_curvature' AND j.seed=0 AND j.arch_group IN ('nas', 'manual')")}
    with open(index.parent / "tables" / "landscape_surfaces.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["surface"] == "conv"]
    assert {r["architecture"] for r in rows} == set(stored)
    for r in rows:  # the fixture's surfaces are quadratics whose stored curvature is exactly their Laplacian
        assert float(r["mean |Laplacian|"]) == pytest.approx(stored[r["architecture"]], rel=1e-9)
    for kind in ("conv", "filter", "input"):
        assert (index.parent / "figures" / f"landscape_{kind}.png").is_file()
    claims = {c["id"]: c for c in csv.DictReader(open(index.parent / "tables" / "claims.csv", newline=""))}
    assert "landscape_conv_curvature" in claims["C7"]["evidence"]
    assert json.loads(con.execute("SELECT json FROM artifacts WHERE key='landscape_conv_curvature.grid' LIMIT 1")
                      .fetchone()[0])[0] == pytest.approx(-0.5)
