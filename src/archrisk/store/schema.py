"""What makes a file an archrisk results store: the one schema, its app id and version.

The runner's writer, the report's reader and the test fixtures all build or check stores from
this module, so a store written by any of them opens in all the others.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from archrisk.errors import ArchriskError

# 2: metric parameters nested per family in params_json, spec_json and the ids (migrate.py upgrades 1)
SCHEMA_VERSION = "2"
APP_ID = "archrisk-results"
STATUSES = ("pending", "running", "done", "failed", "diverged")
SQLITE_MAGIC = b"SQLite format 3\x00"

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE studies(id TEXT PRIMARY KEY, name TEXT, source_path TEXT, source_text TEXT,
    spec_json TEXT, created REAL);
CREATE TABLE jobs(id TEXT PRIMARY KEY, study_id TEXT, kind TEXT, name TEXT, family TEXT,
    arch TEXT, arch_group TEXT, spec_hash TEXT, genotype TEXT, dataset TEXT, size TEXT,
    recipe_json TEXT, seed INTEGER, params_json TEXT, status TEXT, error TEXT, wall_time REAL,
    host TEXT, device TEXT, version TEXT, started REAL, finished REAL, attempts INTEGER,
    priority REAL,
    -- beyond the shared contract: what a worker needs to run the job, and the claim
    spec_json TEXT, claimed_by TEXT, pid INTEGER, lease_until REAL);
CREATE TABLE results(job_id TEXT, key TEXT, value REAL, PRIMARY KEY(job_id, key));
CREATE TABLE artifacts(job_id TEXT, key TEXT, json TEXT, PRIMARY KEY(job_id, key));
-- a job may belong to several studies (identical jobs are shared, never rerun)
CREATE TABLE study_jobs(study_id TEXT, job_id TEXT, PRIMARY KEY(study_id, job_id));
-- job_id can start once every dep_id is done
CREATE TABLE deps(job_id TEXT, dep_id TEXT, PRIMARY KEY(job_id, dep_id));
CREATE INDEX jobs_status ON jobs(status, priority);
CREATE INDEX deps_dep ON deps(dep_id);
CREATE VIEW tidy AS SELECT j.study_id, j.id AS job_id, j.kind, j.name, j.family, j.arch,
    j.arch_group, j.spec_hash, j.dataset, j.size, j.seed, j.params_json, r.key, r.value,
    j.device, j.version, j.wall_time
    FROM results r JOIN jobs j ON j.id = r.job_id WHERE j.status = 'done';
"""

# Every column of `jobs`, and those a planner fills in (the rest belong to execution).
JOB_FIELDS = ("id", "study_id", "kind", "name", "family", "arch", "arch_group", "spec_hash", "genotype", "dataset",
              "size", "recipe_json", "seed", "params_json", "status", "error", "wall_time", "host", "device",
              "version", "started", "finished", "attempts", "priority", "spec_json", "claimed_by", "pid",
              "lease_until")
# The meta key under which `archrisk score --refit` records its fit (the report reads it).
SCORE_FIT_KEY = "score_fit"

JOB_COLUMNS = ("id", "study_id", "kind", "name", "family", "arch", "arch_group", "spec_hash",
               "genotype", "dataset", "size", "recipe_json", "seed", "params_json", "priority",
               "spec_json")


class StoreError(ArchriskError):
    """The store file is missing, corrupt, foreign, or from an incompatible version."""


def create_schema(conn: sqlite3.Connection, created_by: str) -> None:
    """Create every table and the meta rows that mark the file as a store of this version.
    Statement by statement (not executescript, which commits), so the caller's transaction holds."""
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("app", APP_ID), ("schema_version", SCHEMA_VERSION), ("created_by", created_by),
        ("created", repr(time.time()))])


def check_file(path: Path) -> None:
    """Refuse anything that is not an SQLite file before SQLite touches it."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a results store; give a file path")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(16)
    if size == 0:
        raise StoreError(f"{path} is an empty file, not an archrisk results store; delete it or choose another path")
    if head != SQLITE_MAGIC:
        raise StoreError(f"{path} is not an archrisk results store (not an SQLite database); choose another path")


def check_meta(path: Path, tables: set[str], meta: dict[str, str]) -> None:
    """Refuse an SQLite file that is not an archrisk store, or one of another schema version (an
    older one that migrate.py upgrades is migrated before this check)."""
    if "meta" not in tables or meta.get("app") != APP_ID:
        raise StoreError(f"{path} is an SQLite database but not an archrisk results store; choose another path")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise StoreError(f"{path} has store schema version {meta.get('schema_version')!r}; "
                         f"this archrisk reads version {SCHEMA_VERSION!r}")
