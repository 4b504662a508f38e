"""The one store package: torch-free, one schema for every writer, the old import paths the same objects."""
from __future__ import annotations

import sqlite3
import subprocess
import sys

import archrisk.report.data as report_data
import archrisk.runner.store as runner_store
import archrisk.store as store
from archrisk.report.fixtures import FixtureWriter


def test_store_package_does_not_import_torch():
    code = "import archrisk.store, sys; assert 'torch' not in sys.modules, 'archrisk.store imported torch'"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_old_import_paths_are_the_store_package_not_twins():
    assert runner_store.Store is store.Store and runner_store.StoreError is store.StoreError
    assert runner_store.Outcome is store.Outcome and runner_store.open_store is store.open_store
    assert report_data.load_store is store.load_store and report_data.StoreData is store.StoreData
    assert report_data.STATUSES is store.STATUSES


def _schema(path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as c:
        return set(c.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))


def test_fixture_and_runner_stores_share_one_schema(tmp_path):
    real = tmp_path / "real.db"
    store.Store(real, create=True).close()
    fixture = FixtureWriter(tmp_path / "fixture.db").close()
    assert _schema(fixture) == _schema(real)
    with store.Store(fixture) as db:  # the writer's checks (app id, schema version) accept a fixture
        meta = db.meta()
    assert meta["app"] == store.APP_ID and meta["schema_version"] == store.SCHEMA_VERSION


def test_a_job_the_writer_commits_reads_back_through_the_loader(tmp_path):
    path = tmp_path / "r.db"
    job = {"id": "j1", "study_id": "s1", "kind": "attack", "name": "pgd", "family": "evasion", "arch": "darts_v2",
           "arch_group": "nas", "spec_hash": "h", "genotype": None, "dataset": "digits", "size": "tiny",
           "recipe_json": "{}", "seed": 3, "params_json": '{"eps": 0.1}', "priority": 0.0, "spec_json": "{}"}
    owner = store.Owner()
    with store.Store(path, create=True) as db:
        assert db.add_study("s1", "demo", "demo.toml", "", "{}", [job], []) == 1
        [claimed] = db.claim("s1", owner, lease_s=60)
        assert db.finish(claimed["id"], owner, store.Outcome("done", {"success_rate": 0.25}, {"fooled": [1, 4]}))
    data = store.load_store(path)
    [j] = data.jobs
    assert (j.status, j.arch, j.seed, j.params) == ("done", "darts_v2", 3, {"eps": 0.1})
    assert data.results == {"j1": {"success_rate": 0.25}} and data.artifacts == {"j1": {"fooled": [1, 4]}}
