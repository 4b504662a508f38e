"""Read a results store into plain records, read-only, with sqlite3 alone (no torch, no runner):
what the report draws from. A store of an older schema version is read through a migrated copy in
memory (store/migrate.py), so the report sees one form; the file itself is migrated by the writer.

Columns are selected by name, so stores that grew extra columns still read; missing optional
columns read as None. Only the artifacts the report draws are loaded: curves, ROC, histories, attack configs,
evasion attacks' fooled/attacked test indices, loss-landscape surfaces with their grids, and what
each job's results mean (`meaning`, recorded by the runner from the producers' declarations).
"""
from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archrisk.errors import DataError
from archrisk.meaning import ARTIFACT, Meaning, read_recorded
from archrisk.store.migrate import upgradable, upgraded_copy
from archrisk.store.schema import SCORE_FIT_KEY, STATUSES
from archrisk.vocab import Group

log = logging.getLogger(__name__)

__all__ = ["SCORE_FIT_KEY", "StoredJob", "STATUSES", "StoreData", "connect_readonly", "load_store"]
_ARTIFACT_KEYS = (f"key LIKE 'curve.%' OR key IN ('roc', 'history', 'fooled', 'attacked', 'config', '{ARTIFACT}') OR "
                  "(key LIKE 'landscape%' AND (key LIKE '%.surface' OR key LIKE '%.surfaces' OR key LIKE '%.grid'))")


@dataclass(frozen=True)
class StoredJob:
    """One row of the jobs table, JSON columns parsed."""

    id: str
    study_id: str | None
    kind: str  # train | attack | metric
    name: str
    family: str
    arch: str
    group: str  # nas | manual | remedy | custom
    spec_hash: str | None
    genotype: str | None
    dataset: str | None
    size: str | None
    recipe: dict[str, Any]
    seed: int
    params: dict[str, Any]
    status: str
    error: str | None
    wall_time: float | None
    host: str | None
    device: str | None
    version: str | None
    attempts: int | None
    spec: dict[str, Any] = field(default_factory=dict)  # what a worker ran it from (stores written by the runner)

    @property
    def adv_train(self) -> str | None:
        """Adversarial-training method of the (victim's) recipe, if any."""
        value = self.recipe.get("adv_train") or self.params.get("adv_train")
        return str(value) if value else None


@dataclass
class StoreData:
    """Everything the report reads from one store."""

    path: str
    meta: dict[str, str]
    studies: list[dict[str, Any]]
    jobs: list[StoredJob]
    results: dict[str, dict[str, float]]  # job id -> key -> value (done jobs only)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # job id -> key -> parsed JSON

    @property
    def done(self) -> list[StoredJob]:
        return [j for j in self.jobs if j.status == "done"]

    def meanings(self, job_id: str) -> dict[str, Meaning] | None:
        """What the job's result keys mean, as its producer declared them; None when the job
        recorded no meaning (a store written before meanings were recorded)."""
        art = self.artifacts.get(job_id, {})
        return read_recorded(art[ARTIFACT]) if ARTIFACT in art else None

    def groups(self) -> dict[str, str]:
        """Architecture -> group label (the label of its first job)."""
        out: dict[str, str] = {}
        for j in self.jobs:
            out.setdefault(j.arch, j.group)
        return out


def _json(text: Any, what: str) -> dict[str, Any]:
    if text in (None, ""):
        return {}
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        log.warning("unreadable %s %r; treated as empty", what, text)
        return {}
    return value if isinstance(value, dict) else {"value": value}


def connect_readonly(path: Path) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True, timeout=10)
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        # A WAL store in a folder we cannot write to has no -shm to map: read it as immutable.
        con = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
    con.row_factory = sqlite3.Row
    return con


def _rows(con: sqlite3.Connection, sql: str) -> list[dict[str, Any]]:
    return [dict(r) for r in con.execute(sql).fetchall()]


def _job(row: dict[str, Any]) -> StoredJob:
    g = row.get
    return StoredJob(
        id=str(g("id")), study_id=g("study_id"), kind=str(g("kind") or ""), name=str(g("name") or ""),
        family=str(g("family") or ""), arch=str(g("arch") or "?"), group=str(g("arch_group") or Group.CUSTOM.value),
        spec_hash=g("spec_hash"), genotype=g("genotype"), dataset=g("dataset"), size=g("size"),
        recipe=_json(g("recipe_json"), "recipe"), seed=int(g("seed") or 0), params=_json(g("params_json"), "params"),
        status=str(g("status") or "pending"), error=g("error"), wall_time=g("wall_time"), host=g("host"),
        device=g("device"), version=g("version"), attempts=g("attempts"), spec=_json(g("spec_json"), "job spec"),
    )


def load_store(path: str | Path) -> StoreData:
    """Read a store. A missing file or a file that is not a results store raises DataError."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"results store {str(p)!r} does not exist; run `archrisk audit <study> --store {p}` first")
    try:
        con = connect_readonly(p)
        tables = {r["name"] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")}
        missing = {"jobs", "results"} - tables
        if missing:
            raise DataError(f"{str(p)!r} is not an archrisk results store (no {sorted(missing)[0]} table)")
        meta = {r["key"]: r["value"] for r in _rows(con, "SELECT * FROM meta")} if "meta" in tables else {}
        if upgradable(meta):  # an older store, read as its migration would leave it; the file is not written
            old, con = con, upgraded_copy(con)
            old.close()
            meta = {r["key"]: r["value"] for r in _rows(con, "SELECT * FROM meta")}
        studies = _rows(con, "SELECT * FROM studies") if "studies" in tables else []
        jobs = [_job(r) for r in _rows(con, "SELECT * FROM jobs")]
        done = {j.id for j in jobs if j.status == "done"}
        results: dict[str, dict[str, float]] = {}
        for r in con.execute("SELECT job_id, key, value FROM results"):
            if r["job_id"] in done and r["value"] is not None:
                results.setdefault(r["job_id"], {})[r["key"]] = float(r["value"])
        artifacts: dict[str, dict[str, Any]] = {}
        if "artifacts" in tables:
            for r in con.execute(f"SELECT job_id, key, json FROM artifacts WHERE {_ARTIFACT_KEYS}"):
                if r["job_id"] not in done:
                    continue
                try:
                    artifacts.setdefault(r["job_id"], {})[r["key"]] = json.loads(r["json"])
                except (TypeError, json.JSONDecodeError):
                    log.warning("unreadable artifact %s of job %s; skipped", r["key"], r["job_id"])
        con.close()
    except sqlite3.DatabaseError as e:
        raise DataError(f"{str(p)!r} is not a readable results store ({e})") from None
    return StoreData(str(p), meta, studies, jobs, results, artifacts)
