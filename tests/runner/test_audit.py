"""audit in-process: complete grids, shared victims, resumption, failures, determinism, executors."""
from __future__ import annotations

import json
import os
from collections import Counter

import pytest
import runner_fakes
from runner_fakes import artifacts, query, study_toml, values

from archrisk.runner import JobFailedError, audit, parse_study, plan
from archrisk.store import Store

VGG = ("vgg13_bn",)  # the fastest tiny network
ONE = dict(seeds=(0, 1), archs=VGG, epochs=1)  # really trains: victims differ from their init


def _log_counts(path) -> Counter:
    if not os.path.exists(path):
        return Counter()
    return Counter(line.split(" ", 1)[1].strip() for line in open(path))


def test_complete_run_stores_every_result_with_shared_victims(tmp_path, cache):
    from archrisk.data import load_dataset
    from archrisk.train import Recipe, train_model

    store = tmp_path / "r.db"
    s = audit(study_toml(**ONE), store, progress=False)
    assert s.complete and s.counts["done"] == s.total == s.ran == 14 and not s.failures
    # one checkpoint per victim: every attack and metric job reused it
    assert len(list((cache / "checkpoints").glob("*.safetensors"))) == 2
    by = {(kind, name, seed, params, key): value for kind, name, seed, params, key, value in query(
        store, "SELECT j.kind, j.name, j.seed, j.params_json, r.key, r.value FROM tidy r JOIN jobs j ON j.id=r.job_id")}
    assert {k[4] for k in by if k[0] == "train"} == {"test_acc", "val_acc", "best_epoch", "epochs", "train_wall", "params", "flops"}
    assert all(v > 0 for k, v in by.items() if k[4] in ("params", "flops"))
    assert {k[4] for k in by if k[1] == "fake_evasion"} == {"success_rate", "clean_acc"}
    assert {k[4] for k in by if k[1] == "fake_norm"} == {"fake_norm", "fake_norm.stderr", "fake_norm.cost_s"}
    ds = load_dataset("synthetic", limit=120, val_fraction=0.05)
    recipe = Recipe(**json.loads(query(store, "SELECT recipe_json FROM jobs WHERE kind='train'")[0][0]))
    for seed in (0, 1):
        victim = train_model("vgg13_bn", ds, recipe=recipe, size="tiny", seed=seed, progress=False)
        assert victim.from_cache
        norm = sum(p.detach().double().square().sum().item() for p in victim.model.parameters())
        trained = by[("metric", "fake_norm", seed, '{"at":"trained","fake_weights":{"sleep":0.0}}', "fake_norm")]
        init = by[("metric", "fake_norm", seed, '{"at":"init","fake_weights":{"sleep":0.0}}', "fake_norm")]
        # float64 sums agree to ~1e-15; one epoch of training moves them far more than that
        assert trained == pytest.approx(norm, rel=1e-12) and init != pytest.approx(trained, rel=1e-7)
        assert by[("train", "train", seed, "{}", "test_acc")] == victim.test_acc
        for frac in (0.1, 0.3):  # the training attack saw the same clean victim
            p = json.dumps({"fraction": frac, "sleep": 0.0}, separators=(",", ":"), sort_keys=True)
            assert by[("attack", "fake_poison", seed, p, "clean_acc")] == victim.test_acc
    arts = artifacts(store)
    keys = Counter(k for _, k in arts)
    assert keys["curve.eps"] == keys["fooled"] == 4 and keys["config"] == 12 and keys["fake_norm.n_params"] == 4
    rocs = [json.loads(v) for (j, k), v in arts.items() if k == "roc"]  # arrays roc_fpr/roc_tpr -> the store's 'roc'
    assert len(rocs) == 4 and all(r == {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.7, 1.0]} for r in rocs)
    assert keys["roc_fpr"] == keys["roc_tpr"] == 0
    # every done job records what each of its result keys means, as its producer declared it
    assert keys["meaning"] == 14
    kind_name = dict((j, (k, n)) for j, k, n in query(store, "SELECT id, kind, name FROM jobs"))
    meant = {kind_name[j]: json.loads(v) for (j, k), v in arts.items() if k == "meaning"}
    assert meant[("attack", "fake_evasion")] == {
        "success_rate": {"direction": 1, "headline": True, "claims": ["C1"],
                         "description": "predictions changed (0..1)"},
        "clean_acc": {"direction": 0, "headline": False, "claims": [], "description": "clean accuracy (0..1)"}}
    assert meant[("attack", "fake_poison")]["acc_drop"]["headline"] is True
    assert set(meant[("metric", "fake_norm")]) == {"fake_norm"}  # no meaning for .stderr / .cost_s
    assert set(meant[("train", "train")]) == {"test_acc", "val_acc", "best_epoch", "epochs", "train_wall", "params", "flops"}
    assert all(m["direction"] == 0 and not m["headline"] for m in meant[("train", "train")].values())
    assert query(store, "SELECT DISTINCT version, device, host IS NOT NULL FROM jobs") == [("0.1.0", "cpu", 1)]

    # same study, same seeds, fresh cache and store: identical values (training redone from scratch)
    # - even with a job that wrecks the shared victim and dataset in place first
    os.environ["ARCHRISK_CACHE"] = str(tmp_path / "cache2")
    vandal = study_toml(**ONE).replace("[[attacks]]", '[[attacks]]\nname = "fake_evasion"\nparams = { vandal = true }\n\n[[attacks]]', 1)
    again = tmp_path / "again.db"
    audit(vandal, again, progress=False)
    wrecked = {j for (j,) in query(again, "SELECT id FROM jobs WHERE params_json LIKE '%vandal%'")}
    assert len(wrecked) == 2 and all(values(again)[(j, "clean_acc")] < 0.5 for j in wrecked)
    assert {k: v for k, v in values(again).items() if k[0] not in wrecked} == values(store)
    assert {k: v for k, v in artifacts(again).items() if k[0] not in wrecked} == arts


def test_resume_runs_only_what_is_left(tmp_path, cache, monkeypatch):
    log = tmp_path / "log"
    monkeypatch.setenv("ARCHRISK_FAKE_LOG", str(log))
    store, text = tmp_path / "r.db", study_toml(archs=VGG)
    first = audit(text, store, progress=False, max_jobs=5)
    assert first.ran == 5 and first.counts["done"] == 5 and not first.complete
    second = audit(text, store, progress=False)
    assert second.complete and second.ran == second.total - 5 == 9
    assert audit(text, store, progress=False).ran == 0  # nothing left
    # all 12 attack/metric jobs are done, so each ran at least once; 12 executions: each exactly once
    assert sum(_log_counts(log).values()) == 12
    assert {a for (a,) in query(store, "SELECT attempts FROM jobs")} == {1}


def test_failures_are_recorded_and_the_grid_continues(tmp_path, cache):
    extra = ('[[attacks]]\nname = "fake_evasion"\nparams = { fail = true }\n'
             '[[attacks]]\nname = "fake_evasion"\nparams = { diverge = true }\n')
    store = tmp_path / "r.db"
    s = audit(study_toml(seeds=(0,), archs=VGG, extra=extra), store, progress=False)
    assert s.complete and s.counts == {"pending": 0, "running": 0, "done": 7, "failed": 1, "diverged": 1}
    err = {(f["status"], f["error"]) for f in s.failures}
    assert err == {("failed", "RuntimeError: fake attack failed on purpose"),
                   ("diverged", "DivergedError: training diverged: loss=nan at epoch 0 step 3; lower the "
                                "learning rate or enable gradient clipping")}
    tb = query(store, "SELECT a.json FROM artifacts a JOIN jobs j ON j.id=a.job_id WHERE j.status='failed'")
    assert len(tb) == 1 and all("fake attack failed on purpose" in t for (t,) in tb)
    assert query(store, "SELECT count(*) FROM results r JOIN jobs j ON j.id=r.job_id WHERE j.status!='done'") == [(0,)]


def test_diverged_training_skips_its_dependents_not_the_rest(tmp_path, cache):
    text = study_toml(seeds=(0,), archs=VGG, epochs=1).replace("batch_size = 64", "batch_size = 64\nlr = 1e30")
    s = audit(text, tmp_path / "r.db", progress=False)
    rows = query(tmp_path / "r.db", "SELECT kind, params_json, status, error FROM jobs")
    by_kind = Counter((k, st) for k, p, st, _ in rows if k != "metric") + \
        Counter((k + "@" + json.loads(p)["at"], st) for k, p, st, _ in rows if k == "metric")
    assert by_kind == {("train", "diverged"): 1, ("attack", "failed"): 4, ("metric@trained", "failed"): 1,
                       ("metric@init", "done"): 1}
    assert all(e.startswith("skipped: depends on train job") and e.endswith("which diverged")
               for k, _, st, e in rows if st == "failed")
    assert s.complete


def test_fail_fast_stops_then_a_rerun_finishes_without_repeating(tmp_path, cache, monkeypatch):
    log = tmp_path / "log"
    monkeypatch.setenv("ARCHRISK_FAKE_LOG", str(log))
    extra = '[[attacks]]\nname = "fake_evasion"\nparams = { fail = true, eps = 0.01 }\n'
    text, store = study_toml(seeds=(0,), archs=VGG, extra=extra), tmp_path / "r.db"
    with pytest.raises(JobFailedError, match=r"attack job \w+ \(fake_evasion on vgg13_bn, seed 0\) failed: "
                                             r"RuntimeError: fake attack failed on purpose; stopped by --fail-fast"):
        audit(text, store, progress=False, fail_fast=True)
    db = Store(store)
    c = db.counts()
    assert c["failed"] == 1 and c["pending"] > 0 and c["running"] == 0  # stopped; claims handed back
    db.close()
    s = audit(text, store, progress=False)
    assert s.complete and s.counts["failed"] == 1
    runs = _log_counts(log)
    assert sum(runs.values()) == 7  # 7 attack/metric jobs, each finished: none ran twice
    # --retry-failed runs the failed jobs again, and only those
    again = audit(text, store, progress=False, retry_failed=True)
    assert again.ran == 1 and again.counts["failed"] == 1
    assert sum(_log_counts(log).values()) == sum(runs.values()) + 1


def test_an_interrupted_audit_hands_its_claim_back(tmp_path, cache):
    text = study_toml(seeds=(0,), archs=VGG, extra='[[attacks]]\nname = "fake_evasion"\nparams = { interrupt = true }\n')
    store = tmp_path / "r.db"
    with pytest.raises(KeyboardInterrupt):
        audit(text, store, progress=False)
    rows = query(store, "SELECT status, claimed_by FROM jobs WHERE params_json LIKE '%interrupt%'")
    assert rows == [("pending", None)]  # not left 'running' under a live pid: the next run takes it at once
    assert query(store, "SELECT count(*) FROM jobs WHERE status='running'") == [(0,)]


def test_bad_executor_options(tmp_path):
    from archrisk.errors import ArchriskError

    with pytest.raises(ArchriskError, match="unknown executor 'slurm'"):
        audit(study_toml(), tmp_path / "r.db", executor="slurm", progress=False)
    with pytest.raises(ArchriskError, match="--workers 2 needs --executor process or ray"):
        audit(study_toml(), tmp_path / "r.db", workers=2, progress=False)


def test_scheduling_overhead_is_measured(tmp_path, cache):
    # its size is measured by benchmarks/bench_train_report.py (tests assert no durations)
    grid = ", ".join(str(0.01 * i) for i in range(1, 25))
    text = study_toml(seeds=(0,), archs=("vgg13_bn",)) + f'[[attacks]]\nname = "fake_evasion"\ngrid = {{ eps = [{grid}] }}\nparams = {{ n = 4 }}\n'
    s = audit(text, tmp_path / "r.db", progress=False)
    assert s.complete and s.ran == 31
    assert s.overhead_s > 0


def test_process_pool_gives_the_same_results_as_local(tmp_path, cache):
    text = study_toml(seeds=(0, 1), archs=VGG)
    local, pool = tmp_path / "local.db", tmp_path / "pool.db"
    audit(text, local, progress=False)
    s = audit(text, pool, executor="process", workers=2, progress=False, worker_setup=runner_fakes.install)
    assert s.complete and s.counts["done"] == s.total
    assert values(pool) == values(local) and artifacts(pool) == artifacts(local)
    pids = {p for (p,) in query(pool, "SELECT DISTINCT pid FROM jobs")}
    assert pids == {os.getpid()}  # one writer: workers return results, the scheduler commits


def test_ray_executor_matches_local(tmp_path, cache):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'archrisk[ray]')")
    text = study_toml(seeds=(0, 1), archs=VGG)
    local, distributed = tmp_path / "local.db", tmp_path / "ray.db"
    audit(text, local, progress=False)
    s = audit(text, distributed, executor="ray", workers=2, progress=False, worker_setup=runner_fakes.install)
    assert s.complete and values(distributed) == values(local)


def test_plan_and_store_agree_on_the_grid(tmp_path, cache):
    text = study_toml(seeds=(0,))
    audit(text, tmp_path / "r.db", progress=False, max_jobs=1)
    jobs = plan(parse_study(text))
    stored = {r[0]: r[1] for r in query(tmp_path / "r.db", "SELECT id, kind FROM jobs")}
    assert stored == {j.id: j.kind for j in jobs}
    assert len(query(tmp_path / "r.db", "SELECT * FROM deps")) == sum(len(j.deps) for j in jobs)


def test_the_report_shows_metric_parameters_nested_as_the_study_file_writes_them(tmp_path, cache):
    """params_json keeps the study file's tables ({"fake_weights": {"sleep": 0}}); the report labels the
    series fake_weights.sleep=0, as the study file spells it, with no name map in the store."""
    from archrisk.report.series import build_series
    from archrisk.store.read import load_store

    store = tmp_path / "r.db"
    audit(study_toml(seeds=(0,), archs=VGG), store, progress=False)
    params = [json.loads(p) for (p,) in query(store, "SELECT params_json FROM jobs WHERE kind='metric'")]
    assert params and all(p["fake_weights"] == {"sleep": 0.0} for p in params)
    data = load_store(store)
    assert set(data.meta) == {"app", "schema_version", "created_by", "created"}  # no parameter name map
    labels = {s.q.label for s in build_series(data).series.values() if s.q.kind == "metric"}
    assert labels and all("fake_weights.sleep=0" in x for x in labels), labels
    attack = {s.q.label for s in build_series(data).series.values() if s.q.name == "fake_poison"}
    assert attack and all(", sleep=0" in x for x in attack), attack  # attack parameters keep their names
