"""The report end to end: files, HTML validity, numbers that match the store, odd stores, CLI."""
from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from report_helpers import check_report

from archrisk.cli import main
from archrisk.errors import DataError, InvalidValueError
from archrisk.report import write_report
from archrisk.store.fixtures import write_synthetic_store
from archrisk.report.claims import CLAIMS, VERDICTS
from archrisk.meaning import Meaning
from archrisk.store.fixtures import FixtureWriter

SECTIONS = ("summary", "groups", "curves", "shared", "explanations", "landscape", "remedies", "advtrain", "riskscore",
            "claims",
            "provenance")


@pytest.fixture
def full(full_report):
    return full_report


def _csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_full_report_is_valid_and_self_contained(full):
    _, index = full
    info = check_report(index)
    for sid in SECTIONS:
        assert sid in info["ids"]
    assert info["images"] >= 15
    assert "Missing:" not in info["text"]  # every section has data in the full fixture
    tables = sorted((index.parent / "tables").glob("*.csv"))
    assert len(tables) >= 10
    for t in tables:
        assert _csv(t) or t.name == "failed_jobs.csv"
    claims = _csv(index.parent / "tables" / "claims.csv")
    assert [c["id"] for c in claims] == list(CLAIMS)
    assert all(c["verdict"] in VERDICTS for c in claims)


def _arch_means(db, name, key, params="{}", adv=False):
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT j.arch, j.arch_group, r.value, j.recipe_json FROM results r JOIN jobs j ON j.id = r.job_id "
        "WHERE j.status='done' AND j.name=? AND r.key=? AND j.params_json=?", (name, key, params)).fetchall()
    by: dict = {}
    for arch, group, value, recipe in rows:
        if bool(json.loads(recipe).get("adv_train")) == adv:
            by.setdefault((arch, group), []).append(value)
    return {k: float(np.mean(v)) for k, v in by.items()}


def test_numbers_match_the_store(full):
    db, index = full
    means = _arch_means(db, "pgd", "success_rate")
    nas = np.mean([v for (a, g), v in means.items() if g == "nas"])
    man = np.mean([v for (a, g), v in means.items() if g == "manual"])
    row = next(r for r in _csv(index.parent / "tables" / "groups_evasion.csv") if r["quantity"] == "pgd: success_rate")
    assert float(row["NAS mean"]) == pytest.approx(nas)
    assert float(row["manual mean"]) == pytest.approx(man)
    assert float(row["NAS lo"]) < nas < float(row["NAS hi"])
    assert float(row["NAS - manual"]) == pytest.approx(nas - man)
    # the ranking of pgd follows the success rate, highest first
    ranks = {r["architecture"]: float(r["rank"]) for r in _csv(index.parent / "tables" / "risk_ranking.csv")
             if r["endpoint"] == "pgd: success_rate"}
    order = sorted(means, key=lambda k: -means[k])
    assert [ranks[a] for a, _ in order] == list(map(float, range(1, len(order) + 1)))


def test_ranking_orients_each_key_by_its_risk_direction(tmp_path):
    w = FixtureWriter(tmp_path / "s.db")
    # A is the easiest victim everywhere: highest success rate, *lowest* extraction KL (recorded as a
    # headline whose lower values are riskier)
    for arch, sr, kl in (("A", 0.9, 0.1), ("B", 0.5, 0.5), ("C", 0.1, 0.9)):
        w.job("attack", "pgd", "evasion", arch, "nas", 0, {}, {"success_rate": sr})
        w.job("attack", "knockoff", "extraction", arch, "manual", 0, {}, {"kl": kl},
              meanings={"kl": Meaning(-1, True, ("C4",))})
    index = write_report(w.close(), tmp_path / "out")
    rows = _csv(index.parent / "tables" / "risk_ranking.csv")
    mean_rank = {r["architecture"]: float(r["mean_risk_rank"]) for r in rows}
    assert mean_rank == {"A": 1.0, "B": 2.0, "C": 3.0}
    check_report(index)


def test_user_input_is_escaped(tmp_path):
    w = FixtureWriter(tmp_path / "s.db", source='name = "<script>alert(3)</script>"')
    evil = "<script>alert(1)</script>"
    geno = '{"normal": "<img src=x onerror=alert(2)>"}'
    grid = [-1.0, 0.0, 1.0]
    surface = {"landscape_conv_curvature.grid": grid, "landscape_conv_curvature.surface": [[1, 0, 1], [0, 0, 0], [1, 0, 1]]}
    tex = r"$\foo$ tex"  # not valid mathtext: must be drawn as plain text
    for seed in (0, 1):
        for arch, group, sr in ((evil, "nas", 0.9), (tex, "nas", 0.8), ("resnet18", "manual", 0.4), ("vgg", "manual", 0.3)):
            w.job("attack", "pgd", "evasion", arch, group, seed, {"eps": "<b>x</b>"}, {"success_rate": sr + seed / 100},
                  {"fooled": [0, 1], "attacked": [0, 1, 2]}, genotype=geno if arch == evil else None)
            w.job("metric", "landscape", "landscape", arch, group, seed, {"at": "trained"},
                  {"landscape_conv_curvature": sr}, surface)
    w.job("attack", "pgd", "evasion", evil, "nas", 5, {}, {}, status="failed", error="<iframe src=evil>")
    index = write_report(w.close(), tmp_path / "out")
    info = check_report(index)  # would fail on a <script>, <iframe> or <img> outside the figures
    html = info["html"]
    for raw in ("<script>alert(1)", "<img src=x", "<iframe src=evil", "<b>x</b>", "<script>alert(3)"):
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert evil in info["text"]  # shown to the reader as text
    assert all("<" not in p.name for p in (index.parent / "figures").iterdir())


def _empty(path):
    return FixtureWriter(path).close()


def _failed_only(path):
    w = FixtureWriter(path)
    w.job("train", "train", "train", "darts_v2", "nas", 0, {}, {}, status="failed", error="boom")
    w.job("attack", "pgd", "evasion", "darts_v2", "nas", 0, {}, {}, status="diverged", error="nan")
    return w.close()


@pytest.mark.parametrize("make, says", [
    (_empty, "Missing: no attack results"),
    (_failed_only, "Missing: no attack results"),
    (lambda p: write_synthetic_store(p, n_nas=2, n_manual=2, remedies=False, seeds=(0,), fractions=(0.2,)),
     "Pipeline check, not a reproduction"),
])
def test_incomplete_stores_report_what_is_missing(tmp_path, make, says):
    index = write_report(make(tmp_path / "s.db"), tmp_path / "out")
    info = check_report(index)
    assert says in " ".join(info["text"].split())
    claims = _csv(index.parent / "tables" / "claims.csv")
    assert len(claims) == len(CLAIMS) and all(c["verdict"] in VERDICTS for c in claims)
    if make is _failed_only:
        assert {c["verdict"] for c in claims} == {"not measured"}
        failed = _csv(index.parent / "tables" / "failed_jobs.csv")
        assert {r["status"] for r in failed} == {"failed", "diverged"}


def test_report_never_imports_torch_and_leaves_the_store_unchanged(tmp_path):
    """Also: a store with one group missing (no manual nets) renders and says what is missing."""
    db = write_synthetic_store(tmp_path / "s.db", n_nas=3, n_manual=0, remedies=False, fractions=(0.2,))
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    code = ("import sys, archrisk.report as r; r.write_report(sys.argv[1], sys.argv[2]); "
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')); "
            "print('TORCH' if bad else 'CLEAN')")
    out = subprocess.run([sys.executable, "-c", code, str(db), str(tmp_path / "out")], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "CLEAN"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    info = check_report(tmp_path / "out" / "index.html")
    assert "Missing: 3 NAS and 0 manual architectures" in " ".join(info["text"].split())


def test_result_tables_depend_only_on_the_results(tmp_path):
    """A rerun of a study gives the same results with other wall times, hosts and dates: every result
    table comes out byte for byte the same (only the job log and the provenance record differ)."""
    a = write_synthetic_store(tmp_path / "a.db", n_nas=3, n_manual=3, fractions=(0.2,))
    b = tmp_path / "b.db"
    b.write_bytes(a.read_bytes())
    with sqlite3.connect(b) as c:
        c.execute("UPDATE jobs SET wall_time = wall_time * 3 + 1, started = started + 5e3, "
                  "finished = finished + 9e3, host = 'elsewhere'")
    c.close()
    write_report(a, tmp_path / "ra")
    write_report(b, tmp_path / "rb")
    tables = sorted(p.name for p in (tmp_path / "ra" / "tables").glob("*.csv"))
    differ = [n for n in tables if (tmp_path / "ra" / "tables" / n).read_bytes() != (tmp_path / "rb" / "tables" / n).read_bytes()]
    assert len(tables) > 10 and differ == ["jobs.csv", "provenance.csv"]


def _pgd_store(path, archs):
    w = FixtureWriter(path)
    for i, (arch, group) in enumerate(archs):
        for seed in (0, 1):
            w.job("attack", "pgd", "evasion", arch, group, seed, {}, {"success_rate": 0.1 * i + 0.01 * seed})
    return w.close()


def test_rerun_replaces_old_figures(tmp_path):
    write_report(_pgd_store(tmp_path / "a.db", [("darts_v2", "nas"), ("darts_i", "remedy"), ("vgg", "manual")]),
           tmp_path / "out")
    assert (tmp_path / "out" / "figures" / "remedies.png").exists()
    (tmp_path / "out" / "figures" / "mine.png").write_bytes(b"user file")
    index = write_report(_pgd_store(tmp_path / "b.db", [("darts_v2", "nas"), ("vgg", "manual")]), tmp_path / "out")
    assert not (tmp_path / "out" / "figures" / "remedies.png").exists()  # stale figure gone
    assert (tmp_path / "out" / "figures" / "mine.png").exists()  # files we did not write are kept
    (tmp_path / "out" / "figures" / "mine.png").unlink()
    check_report(index)


def test_bad_stores_raise_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        write_report(tmp_path / "nope.db", tmp_path / "out")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DataError, match="not a readable results store"):
        write_report(junk, tmp_path / "out")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.close()
    with pytest.raises(DataError, match="no jobs table"):
        write_report(other, tmp_path / "out")
    db = _empty(tmp_path / "s.db")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidValueError, match="is a file"):
        write_report(db, tmp_path / "file")


def test_cli_writes_the_report(tmp_path, capsys):
    db = _failed_only(tmp_path / "s.db")
    assert main(["report", str(db), "-o", str(tmp_path / "out"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["index"].endswith("index.html") and (tmp_path / "out" / "index.html").is_file()


def test_cli_bad_store_is_one_line_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.db"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.db" in err and "does not exist" in err


@pytest.mark.slow
def test_twenty_architectures_five_attacks_three_seeds(tmp_path):
    # its duration is measured by benchmarks/bench_train_report.py, never asserted here
    db = write_synthetic_store(tmp_path / "s.db", n_nas=10, n_manual=10, remedies=False, seeds=(0, 1, 2),
                               fractions=(0.2,))
    index = write_report(db, tmp_path / "out")
    check_report(index)


def test_reads_a_store_written_by_the_runner(tmp_path):
    """The contract end to end: jobs planned, claimed and finished through the runner's own store."""
    runner_store = pytest.importorskip("archrisk.store")
    store = runner_store.Store(tmp_path / "r.db", create=True)
    rates = {("darts_v2", "nas"): 0.9, ("enas", "nas"): 0.8, ("resnet18", "manual"): 0.4, ("vgg13_bn", "manual"): 0.3}
    jobs = [dict(id=f"{a}-{seed}", study_id="st", kind="attack", name="pgd", family="evasion", arch=a, arch_group=g,
                 spec_hash="h", genotype=None, dataset="digits", size="tiny", recipe_json='{"adv_train": null}',
                 seed=seed, params_json="{}", priority=0.0, spec_json="{}") for a, g in rates for seed in (0, 1)]
    store.add_study("st", "demo", "studies/demo.toml", "[study]\nname = 'demo'", "{}", jobs, [])
    owner = runner_store.Owner()
    for j in store.claim("st", owner, 60.0, limit=100):
        if j["id"] == "enas-1":
            outcome = runner_store.Outcome("failed", error="RuntimeError: boom")
        else:
            rate = rates[(j["arch"], j["arch_group"])] + 0.01 * j["seed"]
            outcome = runner_store.Outcome("done", {"success_rate": rate, "n": 100.0},
                                           {"curve.eps": [{"eps": e, "success_rate": rate * e * 10} for e in (0.01, 0.03)]})
        assert store.finish(j["id"], owner, outcome)
    store.close()
    index = write_report(tmp_path / "r.db", tmp_path / "out")
    check_report(index)
    row = next(r for r in _csv(index.parent / "tables" / "groups_evasion.csv") if r["quantity"] == "pgd: success_rate")
    assert float(row["NAS mean"]) == pytest.approx((0.905 + 0.80) / 2)  # enas has only seed 0
    assert float(row["manual mean"]) == pytest.approx((0.405 + 0.305) / 2)
    assert [r["status"] for r in _csv(index.parent / "tables" / "failed_jobs.csv")] == ["failed"]
    assert (index.parent / "figures" / "curves_runs.png").is_file()


def test_store_without_a_score_fit_shows_the_shipped_reference(full):
    import json

    from archrisk.report.riskscore import SHIPPED

    _, index = full
    text = " ".join(check_report(index)["text"].split())
    assert "no risk-score fit on this store" in text and "the reference fit shipped with archrisk" in text
    shipped = json.loads(SHIPPED.read_text())["families"]
    rows = {r["attack family"]: r for r in _csv(index.parent / "tables" / "riskscore_validation.csv")}
    assert float(rows["evasion"]["LOAO rho"]) == pytest.approx(shipped["evasion"]["loao_rho"])


def test_groups_a_study_names_are_compared_like_nas_vs_manual(tmp_path):
    """Renaming the groups must not change the numbers: the study-groups comparison of 'arm_a' vs
    'arm_b' equals the NAS-vs-manual comparison of the same store under the built-in names."""
    kw = dict(n_nas=3, n_manual=3, remedies=False, fractions=(0.2,), adv_train=False, landscapes=False)
    base = write_report(write_synthetic_store(tmp_path / "base.db", **kw), tmp_path / "base")
    db = write_synthetic_store(tmp_path / "arms.db", **kw)
    con = sqlite3.connect(db)
    con.execute("UPDATE jobs SET arch_group = CASE arch_group WHEN 'nas' THEN 'arm_a' WHEN 'manual' THEN 'arm_b' "
                "ELSE arch_group END")
    con.commit()
    con.close()
    arms = write_report(db, tmp_path / "arms")
    text = " ".join(check_report(arms)["text"].split())
    assert "The study's own groups, compared pairwise" in text and "arm_a vs arm_b" in text
    before = _csv(base.parent / "tables" / "groups_evasion.csv")
    after = _csv(arms.parent / "tables" / "groups_arm_a_vs_arm_b_evasion.csv")
    assert len(before) == len(after) > 0
    for b, a in zip(before, after):
        assert (a["arm_a mean"], a["arm_b mean"], a["arm_a - arm_b"], a["permutation p"]) == \
            (b["NAS mean"], b["manual mean"], b["NAS - manual"], b["permutation p"])
    assert "study_groups" not in base.read_text()  # no section when the store has no groups of its own


def test_deviations_table_lists_a_deviation_from_the_config(tmp_path):
    from archrisk.report.deviations import collect

    w = FixtureWriter(tmp_path / "s.db")
    study_pgd = {"eps": 8 / 255, "alpha": 2 / 255, "steps": 7, "n": 1000, "targeted": True, "target": "least_likely",
                 "criterion": "confident", "random_start": False}
    w.job("attack", "pgd", "evasion", "darts_v2", "nas", 0, {}, {"success_rate": 0.5}, {"config": study_pgd})
    w.job("attack", "pgd", "evasion", "resnet18", "manual", 0, {"eps": 0.3}, {"success_rate": 0.5},
          {"config": {**study_pgd, "eps": 0.3, "alpha": 0.075}})
    w.job("train", "train", "train", "resnet18", "manual", 0, {}, {"epochs": 6.0}, recipe={"batch_size": 96})
    index = write_report(w.close(), tmp_path / "out")
    rows = {r["setting"]: r for r in _csv(index.parent / "tables" / "deviations.csv")}
    assert rows["pgd.eps"]["this run"] == "0.3" and rows["pgd.eps"]["reason"] == "set in the study file"
    assert rows["pgd.eps"]["jobs"] == "1"  # the job at the study's settings is not a deviation
    assert rows["pgd.alpha"]["reason"] != "set in the study file"  # followed eps: archrisk's default rule
    assert "pgd.steps" not in rows and "pgd.criterion" not in rows
    assert rows["recipe.epochs"]["the study"] == "200" and rows["recipe.epochs"]["this run"] == "6"
    assert "recipe.batch_size" not in rows
    assert "weight decay on batch-norm and bias parameters" in rows  # a code-level difference, for the victims
    check_report(index)
    # no attack jobs and no victims: nothing to list
    assert collect(__import__("archrisk.store", fromlist=["load_store"]).load_store(FixtureWriter(tmp_path / "e.db").close())) == []


def test_a_registered_plan_is_cited_and_unfinished_jobs_are_announced(tmp_path):
    """The synthetic store holds one pending job: the top of the report says the store is incomplete.
    With a plan, the plan is named and every section but the claims is marked exploratory."""
    db = write_synthetic_store(tmp_path / "s.db", n_nas=3, n_manual=3, fractions=(0.2,))
    plan = tmp_path / "PLAN.md"
    plan.write_text("the plan\n")
    index = write_report(db, tmp_path / "out", plan=plan)
    text = " ".join(check_report(index)["text"].split())
    assert "Incomplete store: 1 of" in text
    assert "Analysis plan: " in text and "(exploratory)" in text and "(confirmatory" in text
    plain = " ".join(check_report(write_report(db, tmp_path / "out2"))["text"].split())
    assert "(exploratory)" not in plain and "Analysis plan" not in plain


def test_long_series_labels_keep_distinct_stable_file_names():
    from archrisk.report.series import Quantity

    variant = (("at", "trained"), ("gradient_variance.samples", "128"), ("dataset", "mnist5k"))
    keys = ("grad_var", "grad_var_norm", "grad_snr", "grad_var_per_sqrt_p")
    slugs = [Quantity("metric", "gradient_variance", "gradient_variance", variant, k).slug for k in keys]
    assert len(set(slugs)) == len(keys) and all(len(s) <= 80 for s in slugs)
    assert slugs == [Quantity("metric", "gradient_variance", "gradient_variance", variant, k).slug for k in keys]
    assert Quantity("attack", "pgd", "evasion", (("eps", "0.2"),), "success_rate").slug == "pgd_eps_0_2_success_rate"
