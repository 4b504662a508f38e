"""The one store package: torch-free, one schema for every writer, and no other module that talks SQL."""
from __future__ import annotations

import sqlite3
import subprocess
import sys

import re
from pathlib import Path

import archrisk.store as store
from archrisk.store.fixtures import FixtureWriter


def test_store_package_does_not_import_torch():
    code = "import archrisk.store, sys; assert 'torch' not in sys.modules, 'archrisk.store imported torch'"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


SRC = Path(__file__).resolve().parents[2] / "src" / "archrisk"


def test_the_old_store_shims_are_gone():
    assert not (SRC / "runner" / "store.py").exists() and not (SRC / "report" / "data.py").exists()


def test_only_the_store_package_writes_sql():
    """Every store read and write goes through archrisk.store: no SQL statement anywhere else."""
    sql = re.compile(r"\b(SELECT|INSERT|UPDATE|PRAGMA)\b")
    found = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py") if "store" not in p.relative_to(SRC).parts[:1]
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if sql.search(line)]
    assert not found, "SQL outside archrisk.store: " + ", ".join(found)


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
