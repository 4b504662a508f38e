"""An old store opens, migrates and resumes: a schema-1 store (tests/store/data/store_v1.db, written by
the schema-1 runner from STUDY_V1 with `max_jobs=8`: seed 0 done, seed 1 pending) gets exactly the ids
today's planner gives the same study text, keeps its finished work, and `audit` runs only what was pending."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from runner_fakes import query

from archrisk.runner import audit, parse_study, plan
from archrisk.store import Store

FIXTURE = Path(__file__).resolve().parents[1] / "store" / "data" / "store_v1.db"
STUDY_V1 = """name = "v1-store"
seeds = [0, 1]
size = "tiny"
archs = ["resnet18"]

[data]
name = "synthetic"
limit = 120
val_fraction = 0.05

[recipe]
epochs = 0
batch_size = 64

[[attacks]]
name = "fake_evasion"
params = { n = 48 }
grid = { eps = [0.2, 0.5] }

[[metrics]]
name = "hessian_top"
params = { hessian = { batches = 1, iters = 3, probes = 2 }, memory_limit_gb = 1.0 }
grid = { hessian.samples = [8, 16] }

[[metrics]]
name = "input_smoothness"
at = ["init", "trained"]
params = { input_smoothness = { samples = 8, radius = 0.25, steps = 2 } }

[[metrics]]
name = "gradient_variance"
params = { gradient_variance = { samples = 8, groups = 2 } }
"""


@pytest.mark.filterwarnings("ignore:hessian. Lanczos did not reach")  # 3 Lanczos steps: a fast study
def test_an_old_store_opens_migrates_and_resumes(tmp_path, cache):
    store = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, store)
    assert query(store, "SELECT source_text FROM studies") == [(STUDY_V1,)]
    old_done = {r[0]: r[1:] for r in query(store, "SELECT id, kind, name, seed, params_json FROM jobs "
                                                  "WHERE status='done'")}
    old_results = sorted(r[1:] for r in query(store, "SELECT job_id, key, value FROM results"))
    assert len(old_done) == 8 and {r[2] for r in old_done.values()} == {0}

    study = parse_study(STUDY_V1)
    jobs = {j.id: j for j in plan(study)}
    with Store(store) as db:  # opening it migrates it
        assert db.meta()["schema_version"] == "2"
        assert [s["id"] for s in db.studies()] == [study.id()]
        rows = {r["id"]: r for r in db.jobs()}
    assert set(rows) == set(jobs)  # the ids today's planner gives the same study
    assert {j: r["params_json"] for j, r in rows.items()} == {j: job.row(study.id())["params_json"]
                                                              for j, job in jobs.items()}
    assert {j: json.loads(r["spec_json"]) for j, r in rows.items()} == {j: job.spec for j, job in jobs.items()}
    assert sum(r["kind"] == "metric" and r["id"] not in old_done and r["status"] == "done" for r in rows.values()) == 5
    # finished work kept: the same done jobs (train and attacks under their old ids), results and artifacts
    done = {j for j, r in rows.items() if r["status"] == "done"}
    assert len(done) == 8 and {j for j in done if rows[j]["kind"] != "metric"} == {
        j for j, r in old_done.items() if r[0] != "metric"}
    assert sorted(r[1:] for r in query(store, "SELECT job_id, key, value FROM results")) == old_results
    assert {r[0] for r in query(store, "SELECT job_id FROM artifacts")} == done
    finished = {r[0]: r[1] for r in query(store, "SELECT id, finished FROM jobs WHERE status='done'")}

    s = audit(STUDY_V1, store, progress=False)
    assert s.complete and s.total == 16 and s.ran == 8 and s.counts["done"] == 16  # only the pending ones ran
    assert query(store, "SELECT count(*) FROM jobs") == [(16,)]
    assert query(store, "SELECT count(*) FROM studies") == [(1,)]
    assert {r[0]: r[1] for r in query(store, "SELECT id, finished FROM jobs WHERE id IN (%s)" % ",".join(
        "?" * len(finished)), *finished)} == finished  # no done job reran
    ran = {r[0] for r in query(store, "SELECT id FROM jobs WHERE seed=1 AND status='done'")}
    assert len(ran) == 8 and ran.isdisjoint(done)
