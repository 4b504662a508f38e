"""The results store: one SQLite file holding studies, jobs, scalar results and artifacts.

Several processes may share a store. Writes run in `BEGIN IMMEDIATE` transactions (WAL mode, a
busy timeout), so claiming a job and committing its results are each atomic: a job is claimed
by exactly one owner, and a finished job's status, results and artifacts appear together or not
at all. A claim records the owner's host and pid and a lease that the owner renews; a `running`
job whose owner is dead (same host, pid gone) or whose lease ran out is handed to the next
claimant, so a run killed with SIGKILL loses only the jobs it had in flight.

The schema and what makes a file a store live in `schema.py`, creating and connecting to the file
in `files.py`; this module never imports torch.
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from archrisk import __version__
from archrisk.store.files import OPEN, Owner, connect, create_file, inode, pid_alive
from archrisk.store.migrate import upgradable, upgrade
from archrisk.store.schema import JOB_COLUMNS, JOB_FIELDS, STATUSES, StoreError, check_file, check_meta


@dataclass
class Outcome:
    """What running a job produced; plain data so it crosses process boundaries."""

    status: str  # done | failed | diverged
    results: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    wall_time: float = 0.0
    device: str = "cpu"
    version: str = __version__


class Store:
    """An open results store. `Store(path, create=True)` makes a new one when the file is absent;
    an existing file must be a valid archrisk store of this schema version, else StoreError (one of
    an older version is migrated first: store/migrate.py)."""

    def __init__(self, path: str | os.PathLike, *, create: bool = False, timeout: float = 60.0,
                 check: bool = True):
        self.path = Path(path)
        self.timeout = timeout
        if not self.path.exists():
            if not create:
                raise StoreError(f"no results store at {self.path}; run `archrisk audit <study.toml> "
                                 f"--store {self.path}` first")
            create_file(self.path, timeout)
        # Reading the file's first bytes with Python opens and closes it, and closing any descriptor of
        # a file drops every POSIX lock this process holds on it: SQLite's own, of a connection already
        # open here (the audit's, when its lease heartbeat opens a second one). Another process could
        # then take the database for unused, checkpoint it and delete the -wal and -shm files under the
        # open connection, whose later commits would go to a deleted file. So a file this process
        # already holds open is not read again: it was checked when it was first opened.
        self._inode = inode(self.path)
        if OPEN[self._inode] == 0:
            check_file(self.path)
        try:
            self.conn = connect(self.path, timeout)
            OPEN[self._inode] += 1
            self._validate(check)
        except BaseException as e:
            self.close()  # a store refused (foreign, too new, corrupt) is not left open
            if isinstance(e, sqlite3.DatabaseError):
                raise StoreError(f"{self.path} is corrupted or unreadable ({e}); restore a backup or "
                                 "choose another path") from None
            raise

    # ---- opening ------------------------------------------------------------------------------
    def _validate(self, check: bool) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        meta = self.meta() if "meta" in tables else {}
        if upgradable(meta):  # an older archrisk store: migrated once, in place, in one transaction
            upgrade(self.conn, self.path)
            meta = self.meta()
        check_meta(self.path, tables, meta)
        if check:
            verdict = self.conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise StoreError(f"{self.path} is corrupted ({verdict}); restore a backup or choose another path")

    def close(self) -> None:
        if getattr(self, "conn", None) is None:
            return
        self.conn.close()
        self.conn = None
        OPEN[self._inode] -= 1

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    class _Tx:
        def __init__(self, conn: sqlite3.Connection):
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlocks
            return self.conn

        def __exit__(self, exc_type, exc, tb) -> None:
            if exc_type is None:
                try:
                    self.conn.execute("COMMIT")
                    return
                except sqlite3.Error:  # e.g. busy past the timeout: never leave the connection in a transaction,
                    self.conn.execute("ROLLBACK")  # where every later BEGIN would fail
                    raise
            self.conn.execute("ROLLBACK")

    def transaction(self) -> Store._Tx:
        return Store._Tx(self.conn)

    # ---- planning -----------------------------------------------------------------------------
    def add_study(self, study_id: str, name: str, source_path: str, source_text: str, spec_json: str,
                  jobs: list[dict], deps: list[tuple[str, str]]) -> int:
        """Record a study and its jobs in one transaction; existing jobs (same id) are kept with
        their status and results. Returns how many jobs were new."""
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO studies VALUES (?, ?, ?, ?, ?, ?)",
                      (study_id, name, source_path, source_text, spec_json, time.time()))
            before = c.execute("SELECT count(*) FROM jobs").fetchone()[0]
            cols = ", ".join(JOB_COLUMNS)
            marks = ", ".join("?" * len(JOB_COLUMNS))
            c.executemany(f"INSERT OR IGNORE INTO jobs ({cols}, status, attempts) VALUES ({marks}, 'pending', 0)",
                          [tuple(j[k] for k in JOB_COLUMNS) for j in jobs])
            # The latest study to plan a job owns it in the `study_id` column; study_jobs keeps all.
            c.executemany("UPDATE jobs SET study_id=?, priority=? WHERE id=?",
                          [(study_id, j["priority"], j["id"]) for j in jobs])
            c.executemany("INSERT OR IGNORE INTO study_jobs VALUES (?, ?)", [(study_id, j["id"]) for j in jobs])
            c.executemany("INSERT OR IGNORE INTO deps VALUES (?, ?)", deps)
            return c.execute("SELECT count(*) FROM jobs").fetchone()[0] - before

    def reset(self, study_id: str, statuses: tuple[str, ...] = ("failed", "diverged")) -> int:
        """Put a study's finished-but-unsuccessful jobs back to pending (`--retry-failed`)."""
        marks = ", ".join("?" * len(statuses))
        with self.transaction() as c:
            return c.execute(
                f"UPDATE jobs SET status='pending', error=NULL, claimed_by=NULL, lease_until=NULL "
                f"WHERE status IN ({marks}) AND id IN (SELECT job_id FROM study_jobs WHERE study_id=?)",
                (*statuses, study_id)).rowcount

    # ---- claiming -----------------------------------------------------------------------------
    def _reclaim_stale(self, c: sqlite3.Connection, owner: Owner, now: float) -> int:
        stale = []
        for r in c.execute("SELECT id, claimed_by, host, pid, lease_until FROM jobs WHERE status='running'"):
            if r["claimed_by"] == owner.token:
                continue
            expired = r["lease_until"] is None or r["lease_until"] < now
            dead = (r["host"] == owner.host and r["pid"] is not None and r["pid"] != owner.pid
                    and not pid_alive(r["pid"]))
            if expired or dead:
                stale.append((r["id"], r["claimed_by"]))
        c.executemany("UPDATE jobs SET status='pending', claimed_by=NULL, lease_until=NULL "
                      "WHERE id=? AND claimed_by=? AND status='running'", stale)
        return len(stale)

    def _skip_blocked(self, c: sqlite3.Connection) -> int:
        """Fail pending jobs whose dependency failed or diverged (repeated for chains)."""
        total = 0
        while True:
            n = c.execute(
                "UPDATE jobs SET status='failed', finished=?, error=(SELECT 'skipped: depends on ' || k.kind "
                "|| ' job ' || k.id || ' (' || k.arch || ', seed ' || k.seed || '), which ' || k.status "
                "FROM deps d JOIN jobs k ON k.id=d.dep_id WHERE d.job_id=jobs.id AND k.status IN "
                "('failed','diverged') LIMIT 1) WHERE status='pending' AND EXISTS (SELECT 1 FROM deps d "
                "JOIN jobs k ON k.id=d.dep_id WHERE d.job_id=jobs.id AND k.status IN ('failed','diverged'))",
                (time.time(),)).rowcount
            total += n
            if n == 0:
                return total

    def claim(self, study_id: str, owner: Owner, lease_s: float, limit: int = 1) -> list[dict]:
        """Atomically take up to `limit` ready jobs (pending, every dependency done) of a study,
        best priority first, after reclaiming stale claims and skipping jobs whose dependency failed."""
        now = time.time()
        with self.transaction() as c:
            self._reclaim_stale(c, owner, now)
            self._skip_blocked(c)
            rows = c.execute(
                "SELECT j.* FROM jobs j JOIN study_jobs s ON s.job_id=j.id AND s.study_id=? "
                "WHERE j.status='pending' AND NOT EXISTS (SELECT 1 FROM deps d JOIN jobs k ON k.id=d.dep_id "
                "WHERE d.job_id=j.id AND k.status!='done') ORDER BY j.priority, j.id LIMIT ?",
                (study_id, limit)).fetchall()
            c.executemany(
                "UPDATE jobs SET status='running', claimed_by=?, host=?, pid=?, started=?, lease_until=?, "
                "attempts=coalesce(attempts, 0)+1 WHERE id=?",
                [(owner.token, owner.host, owner.pid, now, now + lease_s, r["id"]) for r in rows])
        return [dict(r) for r in rows]

    def renew(self, owner: Owner, lease_s: float) -> None:
        with self.transaction() as c:
            c.execute("UPDATE jobs SET lease_until=? WHERE claimed_by=? AND status='running'",
                      (time.time() + lease_s, owner.token))

    def release(self, owner: Owner) -> int:
        """Hand back every job this owner still holds (an audit stopping early)."""
        with self.transaction() as c:
            return c.execute("UPDATE jobs SET status='pending', claimed_by=NULL, lease_until=NULL "
                             "WHERE claimed_by=? AND status='running'", (owner.token,)).rowcount

    def finish(self, job_id: str, owner: Owner, outcome: Outcome) -> bool:
        """Commit a job's outcome atomically. False (nothing written) if the claim was lost."""
        now = time.time()
        with self.transaction() as c:
            n = c.execute(
                "UPDATE jobs SET status=?, error=?, wall_time=?, device=?, version=?, finished=?, "
                "lease_until=NULL WHERE id=? AND claimed_by=? AND status='running'",
                (outcome.status, outcome.error, outcome.wall_time, outcome.device, outcome.version,
                 now, job_id, owner.token)).rowcount
            if n == 0:
                return False
            c.execute("DELETE FROM results WHERE job_id=?", (job_id,))
            c.execute("DELETE FROM artifacts WHERE job_id=?", (job_id,))
            c.executemany("INSERT INTO results VALUES (?, ?, ?)",
                          [(job_id, k, _real(v)) for k, v in sorted(outcome.results.items())])
            c.executemany("INSERT INTO artifacts VALUES (?, ?, ?)",
                          [(job_id, k, json.dumps(v, sort_keys=True, default=_json_default))
                           for k, v in sorted(outcome.artifacts.items())])
        return True

    def dep_artifact(self, job_id: str, kind: str, key: str) -> tuple[str, Any] | None:
        """(dep id, value) of artifact `key` of the done `kind` job that `job_id` depends on (a
        victim's checkpoint record, for the job that attacks it); None when there is none."""
        row = self.conn.execute(
            "SELECT k.id, a.json FROM deps d JOIN jobs k ON k.id=d.dep_id JOIN artifacts a ON a.job_id=k.id "
            "WHERE d.job_id=? AND k.kind=? AND k.status='done' AND a.key=? ORDER BY k.id LIMIT 1",
            (job_id, kind, key)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def add_artifacts(self, rows: list[tuple[str, str, Any]]) -> int:
        """Add (job id, key, value) artifacts that a job lacks (an existing one is kept); returns how
        many were added. For artifacts derived after the fact (meanings recorded for an old store)."""
        with self.transaction() as c:
            return c.executemany("INSERT OR IGNORE INTO artifacts VALUES (?, ?, ?)",
                                 [(j, k, json.dumps(v, sort_keys=True, default=_json_default))
                                  for j, k, v in rows]).rowcount

    def write_job(self, row: dict[str, Any], results: dict[str, float], artifacts: dict[str, Any]) -> None:
        """Write one job as it is (any status, its own times), with its results and artifacts, and
        list it under its study: a store made outside the runner (test fixtures, imports)."""
        cols = [k for k in row if k in JOB_FIELDS]
        with self.transaction() as c:
            c.execute(f"INSERT INTO jobs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                      [row[k] for k in cols])
            c.execute("INSERT OR IGNORE INTO study_jobs VALUES (?, ?)", (row["study_id"], row["id"]))
            c.executemany("INSERT INTO results VALUES (?, ?, ?)",
                          [(row["id"], k, None if v is None else _real(v)) for k, v in results.items()])
            c.executemany("INSERT INTO artifacts VALUES (?, ?, ?)",
                          [(row["id"], k, json.dumps(v, default=_json_default)) for k, v in artifacts.items()])

    def set_meta(self, key: str, value: str) -> None:
        """Record a store-wide value (e.g. the latest risk-score fit); the schema keys are refused."""
        if key in ("app", "schema_version"):
            raise StoreError(f"meta key {key!r} belongs to the store's schema")
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # ---- reading ------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def columns(self, table: str) -> list[str]:
        """The columns of one of the store's tables or views, in order."""
        return [r[1] for r in self.conn.execute(f"PRAGMA table_info({_name(table)})")]

    def studies(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute(
            "SELECT id, name, source_path, created FROM studies ORDER BY created")]

    def resolve_study(self, study: str | None) -> str | None:
        """A study id from an id prefix or a name (the latest of that name); None = all studies."""
        if study is None:
            return None
        rows = self.conn.execute("SELECT id FROM studies WHERE id LIKE ? OR name=? ORDER BY created DESC",
                                 (study + "%", study)).fetchall()
        if not rows:
            known = [f"{s['name']} ({s['id'][:8]})" for s in self.studies()]
            raise StoreError(f"no study {study!r} in {self.path}; known: {', '.join(known) or 'none'}")
        return rows[0][0]

    def _where(self, study_id: str | None, alias: str = "j") -> tuple[str, tuple]:
        if study_id is None:
            return "1=1", ()
        return f"{alias}.id IN (SELECT job_id FROM study_jobs WHERE study_id=?)", (study_id,)

    def counts(self, study_id: str | None = None) -> dict[str, int]:
        where, args = self._where(study_id)
        out = dict.fromkeys(STATUSES, 0)
        for status, n in self.conn.execute(f"SELECT status, count(*) FROM jobs j WHERE {where} GROUP BY status", args):
            out[status] = n
        return out

    def jobs(self, study_id: str | None = None, status: str | None = None) -> list[dict]:
        where, args = self._where(study_id)
        if status is not None:
            where, args = where + " AND j.status=?", (*args, status)
        return [dict(r) for r in self.conn.execute(
            f"SELECT * FROM jobs j WHERE {where} ORDER BY priority, id", args)]

    def results(self, study_id: str | None = None) -> list[dict]:
        """The tidy view: one row per (done job, result key)."""
        where, args = self._where(study_id, alias="t")
        where = where.replace("t.id IN", "t.job_id IN")
        return [dict(r) for r in self.conn.execute(
            f"SELECT * FROM tidy t WHERE {where} ORDER BY job_id, key", args)]

    def artifacts(self, study_id: str | None = None, key: str | None = None) -> Iterator[dict]:
        """Artifacts of done jobs (only those named `key` when given)."""
        where, args = self._where(study_id)
        if key is not None:
            where, args = where + " AND a.key=?", (*args, key)
        for r in self.conn.execute(
                f"SELECT a.job_id, a.key, a.json FROM artifacts a JOIN jobs j ON j.id=a.job_id "
                f"WHERE j.status='done' AND {where} ORDER BY a.job_id, a.key", args):
            yield {"job_id": r["job_id"], "key": r["key"], "value": json.loads(r["json"])}


def _name(table: str) -> str:
    if not table.isidentifier():
        raise StoreError(f"{table!r} is not a table name")
    return table


def _real(v: Any) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v  # SQLite has no NaN; NULL is the honest "no value"


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "__dict__"):
        return vars(obj)
    raise TypeError(f"cannot store {type(obj).__name__} as JSON")


def open_store(path: str | os.PathLike) -> Store:
    """Open an existing store for reading (the report's entry point); StoreError if it is not one."""
    return Store(path, create=False)
