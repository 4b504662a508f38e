"""Schema 1 -> 2 (store/migrate.py) on a store written by archrisk's schema-1 runner: metric
parameters nested, every changed id recomputed and every reference to it rewritten, in one
transaction, once; the reader reads the old file through a migrated copy without writing it.

data/store_v1.db: `audit(tests/runner/test_migrate_resume.py STUDY_V1, max_jobs=8)` with the runner's
fakes installed, by the schema-1 code (before metric parameters kept their nested form), then
VACUUMed at 1 KiB pages: seed 0's 8 jobs done, seed 1's 8 pending.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from archrisk.store import SCHEMA_VERSION, Store, StoreError, load_store
from archrisk.store.migrate import V1_NAMES, nest_v1

FIXTURE = Path(__file__).parent / "data" / "store_v1.db"
STUDY_V1 = "eb8c642ae89f2549"  # the fixture study's schema-1 id

# What each metric parameter was called in schema 1 (metrics.base.stored_index() of that code): the
# flat names its params_json, spec_json and ids hold. Frozen: the migration of existing stores reads them.
STORED = {
    "hessian_samples": ("hessian", "samples"), "hessian_batches": ("hessian", "batches"),
    "hessian_iters": ("hessian", "iters"), "hessian_tol": ("hessian", "tol"), "hessian_probes": ("hessian", "probes"),
    "hessian_trace_rse": ("hessian", "trace_rse"), "hessian_probes_max": ("hessian", "probes_max"),
    "hessian_chunk": ("hessian", "chunk"),
    "input_samples": ("input_smoothness", "samples"), "lipschitz_radius": ("input_smoothness", "radius"),
    "lipschitz_steps": ("input_smoothness", "steps"), "input_chunk": ("input_smoothness", "chunk"),
    "grad_samples": ("gradient_variance", "samples"), "grad_split": ("gradient_variance", "split"),
    "grad_clip": ("gradient_variance", "clip"), "grad_groups": ("gradient_variance", "groups"),
    "grad_chunk": ("gradient_variance", "chunk"), "grad_bn_batches": ("gradient_variance", "bn_batches"),
    "ntk_samples": ("ntk", "samples"), "ntk_batches": ("ntk", "batches"), "ntk_chunk": ("ntk", "chunk"),
    "conv_k": ("convergence", "k"), "conv_epochs": ("convergence", "epochs"),
    "landscape_points": ("landscape", "points"), "landscape_conv_span": ("landscape", "conv_span"),
    "landscape_filter_span": ("landscape", "filter_span"), "landscape_input_span": ("landscape", "input_span"),
    "landscape_samples": ("landscape", "samples"), "landscape_inputs": ("landscape", "inputs"),
    "landscape_radius": ("landscape", "radius"), "landscape_batch": ("landscape", "batch"),
}


@pytest.fixture
def old(tmp_path) -> Path:
    path = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, path)
    return path


def rows(path: Path, sql: str, *args) -> list[tuple]:
    with closing(sqlite3.connect(str(path))) as con:
        return con.execute(sql, args).fetchall()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key(kind: str, name: str, seed: int, params_json: str) -> tuple:
    """A job told apart without its id (schema-1 params nested, as both forms then read)."""
    return kind, name, seed, json.dumps(nest_v1(json.loads(params_json)), sort_keys=True)


def test_the_frozen_flat_names_are_schema_1s():
    assert V1_NAMES == STORED


def test_nest_v1_nests_flat_and_dotted_names_and_leaves_the_rest_on_top():
    assert nest_v1({"hessian_samples": 8, "lipschitz_radius": 0.5, "at": "init", "memory_limit_gb": 1.0,
                    "newfam.samples": 3}) == {"hessian": {"samples": 8}, "input_smoothness": {"radius": 0.5},
                                              "at": "init", "memory_limit_gb": 1.0, "newfam": {"samples": 3}}
    assert nest_v1({"hessian_samples": [8, 16], "hessian_iters": 3}) == {"hessian": {"samples": [8, 16], "iters": 3}}
    assert nest_v1({}) == {} and nest_v1({"eps": 0.1}) == {"eps": 0.1}


def test_the_writer_migrates_an_old_store_once_rewriting_every_id_and_reference(old):
    before = {r[0]: r[1:] for r in rows(old, "SELECT id, kind, name, seed, params_json, status FROM jobs")}
    old_deps = rows(old, "SELECT job_id, dep_id FROM deps")
    results = {(r[0], r[1]): r[2] for r in rows(old, "SELECT job_id, key, value FROM results")}
    arts = {(r[0], r[1]): r[2] for r in rows(old, "SELECT job_id, key, json FROM artifacts")}
    with Store(old) as db:
        assert db.meta()["schema_version"] == SCHEMA_VERSION == "2"
        assert "metric_param_names" not in db.meta()
    after = {r[0]: r[1:] for r in rows(old, "SELECT id, kind, name, seed, params_json, status FROM jobs")}
    new_id = {_key(*a[:4]): i for i, a in after.items()}
    moved = {i: new_id[_key(*b[:4])] for i, b in before.items()}  # old id -> new id
    assert set(moved.values()) == set(after) and len(after) == len(before) == 16
    # metric jobs with parameters got new ids; train and attack jobs kept theirs
    assert {i for i, n in moved.items() if i != n} == {i for i, b in before.items() if b[0] == "metric"}
    for i, (kind, name, seed, params, status) in after.items():
        spec = rows(old, "SELECT spec_json FROM jobs WHERE id=?", i)[0][0]
        assert i == hashlib.sha256(spec.encode()).hexdigest()[:20]  # as the planner computes it
        if kind != "train":  # the spec holds the params_json's parameters
            assert json.loads(spec)["params"] == {k: v for k, v in json.loads(params).items() if k != "at"}
    hessian = [json.loads(a[3]) for a in after.values() if a[1] == "hessian_top"]
    assert {json.dumps(p, sort_keys=True) for p in hessian} == {json.dumps(
        {"at": "trained", "hessian": {"batches": 1, "iters": 3, "probes": 2, "samples": n}, "memory_limit_gb": 1.0},
        sort_keys=True) for n in (8, 16)}
    # statuses, results and artifacts moved with their job (metric configs nested alike)
    assert {moved[i]: b[4] for i, b in before.items()} == {i: a[4] for i, a in after.items()}
    assert {(moved[j], k): v for (j, k), v in results.items()} == {(r[0], r[1]): r[2] for r in rows(
        old, "SELECT job_id, key, value FROM results")}
    new_arts = {(r[0], r[1]): r[2] for r in rows(old, "SELECT job_id, key, json FROM artifacts")}
    assert set(new_arts) == {(moved[j], k) for j, k in arts}
    for (j, k), text in arts.items():
        want = nest_v1(json.loads(text)) if k == "config" and before[j][0] == "metric" else json.loads(text)
        assert json.loads(new_arts[(moved[j], k)]) == want
    assert any(k == "config" and "input_smoothness" in json.loads(v) for (j, k), v in new_arts.items())
    # the study: spec nested, id recomputed as Study.id() does, every reference to it rewritten
    ((sid, spec),) = rows(old, "SELECT id, spec_json FROM studies")
    assert sid != STUDY_V1 and sid == hashlib.sha256(spec.encode()).hexdigest()[:16]
    assert json.loads(spec)["metrics"][0]["grid"] == {"hessian": {"samples": [8, 16]}}
    assert rows(old, "SELECT DISTINCT study_id FROM study_jobs") == rows(old, "SELECT DISTINCT study_id FROM jobs") \
        == [(sid,)]
    assert {r[0] for r in rows(old, "SELECT job_id FROM study_jobs")} == set(after)
    deps = rows(old, "SELECT job_id, dep_id FROM deps")
    assert deps and all(a in after and b in after for a, b in deps)
    assert {(moved[a], moved[b]) for a, b in old_deps} == set(deps)
    # opened again: already at 2, left alone
    dump = rows(old, "SELECT * FROM jobs ORDER BY id")
    with Store(old):
        pass
    assert rows(old, "SELECT * FROM jobs ORDER BY id") == dump


def test_the_reader_reads_an_old_store_migrated_in_memory_without_writing_it(old, tmp_path):
    digest = sha(old)
    data = load_store(old)
    assert sha(old) == digest and rows(old, "SELECT value FROM meta WHERE key='schema_version'") == [("1",)]
    assert data.meta["schema_version"] == "2" and "metric_param_names" not in data.meta
    migrated = tmp_path / "migrated.db"
    shutil.copyfile(FIXTURE, migrated)
    Store(migrated).close()
    on_disk = load_store(migrated)  # what the writer's migration left
    view = lambda d: sorted((j.id, j.study_id, j.status, json.dumps(j.params, sort_keys=True), json.dumps(  # noqa: E731
        j.spec, sort_keys=True)) for j in d.jobs)
    assert view(data) == view(on_disk) and data.results == on_disk.results and data.artifacts == on_disk.artifacts
    assert [s["id"] for s in data.studies] == [s["id"] for s in on_disk.studies]
    assert {json.dumps(j.params, sort_keys=True) for j in data.jobs if j.name == "gradient_variance"} == {
        json.dumps({"at": "trained", "gradient_variance": {"groups": 2, "samples": 8}}, sort_keys=True)}


def test_a_failing_migration_leaves_the_old_store_as_it_was(old):
    """Two schema-1 jobs that nest to one job (a hand-edited store) stop the migration: nothing of
    it is written."""
    with closing(sqlite3.connect(str(old))) as con:
        jid, spec = con.execute("SELECT id, spec_json FROM jobs WHERE name='gradient_variance' LIMIT 1").fetchone()
        twin = json.loads(spec)
        twin["params"] = {f"gradient_variance.{k.removeprefix('grad_')}": v for k, v in twin["params"].items()}
        con.execute("INSERT INTO jobs (id, kind, name, seed, params_json, spec_json, status) "
                    "SELECT 'twin', kind, name, seed, params_json, ?, status FROM jobs WHERE id=?",
                    (json.dumps(twin), jid))
        con.commit()
    digest = sha(old)
    with pytest.raises(StoreError, match=r"cannot migrate: two jobs would both get the id [0-9a-f]{20}"):
        Store(old)
    assert sha(old) == digest and rows(old, "SELECT value FROM meta WHERE key='schema_version'") == [("1",)]


def test_a_store_of_a_newer_schema_is_refused(old):
    with closing(sqlite3.connect(str(old))) as con:
        con.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
        con.commit()
    with pytest.raises(StoreError, match=r"has store schema version '3'; this archrisk reads version '2'"):
        Store(old)
