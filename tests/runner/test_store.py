"""The store: schema contract, refusal of foreign/corrupt files, atomic claims and commits,
reclaiming the jobs of dead owners."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from archrisk.cli import main
from archrisk.store import Outcome, Owner, Store, StoreError, open_store


def _jobs(n: int, deps: bool = False) -> tuple[list[dict], list[tuple[str, str]]]:
    rows = [{"id": f"j{i:03d}", "study_id": "s", "kind": "attack", "name": "a", "family": "evasion", "arch": "x",
             "arch_group": "nas", "spec_hash": "h", "genotype": None, "dataset": "d", "size": "tiny",
             "recipe_json": "{}", "seed": 0, "params_json": json.dumps({"i": i}), "priority": float(i),
             "spec_json": "{}"} for i in range(n)]
    return rows, ([(f"j{i:03d}", "j000") for i in range(1, n)] if deps else [])


def _store(path, n=4, deps=False) -> Store:
    db = Store(path, create=True)
    rows, d = _jobs(n, deps)
    db.add_study("s", "study", "p", "text", "{}", rows, d)
    return db


def test_schema_matches_the_contract(tmp_path):
    db = _store(tmp_path / "r.db")
    cols = lambda t: [r[1] for r in db.conn.execute(f"PRAGMA table_info({t})")]  # noqa: E731
    assert cols("meta") == ["key", "value"]
    assert cols("studies") == ["id", "name", "source_path", "source_text", "spec_json", "created"]
    assert cols("jobs")[:24] == ["id", "study_id", "kind", "name", "family", "arch", "arch_group", "spec_hash",
                                 "genotype", "dataset", "size", "recipe_json", "seed", "params_json", "status",
                                 "error", "wall_time", "host", "device", "version", "started", "finished",
                                 "attempts", "priority"]
    assert cols("results") == ["job_id", "key", "value"] and cols("artifacts") == ["job_id", "key", "json"]
    assert cols("tidy") == ["study_id", "job_id", "kind", "name", "family", "arch", "arch_group", "spec_hash",
                            "dataset", "size", "seed", "params_json", "key", "value", "device", "version",
                            "wall_time"]
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert dict(db.conn.execute("SELECT key, value FROM meta").fetchall())["schema_version"] == "2"
    db.close()


def test_store_module_does_not_import_torch():
    code = "import sys, archrisk.store, archrisk.runner.export; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_foreign_corrupt_and_missing_files_are_refused(tmp_path, capsys):
    good = tmp_path / "good.db"
    _store(good).close()
    cases = {"text.db": b"hello, not a database" * 10, "empty.db": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE people(name TEXT)")
    noapp = tmp_path / "noapp.db"
    with sqlite3.connect(noapp) as c:
        c.execute("CREATE TABLE meta(key TEXT, value TEXT)")
    truncated = tmp_path / "truncated.db"
    blob = good.read_bytes()
    truncated.write_bytes(blob[:len(blob) // 2])
    garbled = tmp_path / "garbled.db"
    garbled.write_bytes(blob[:100] + b"\xff" * (len(blob) - 100))
    for path, msg in [(tmp_path / "text.db", "not an SQLite database"), (tmp_path / "empty.db", "empty file"),
                      (foreign, "not an archrisk results store"), (noapp, "not an archrisk results store"),
                      (truncated, "corrupted"), (garbled, "corrupted"), (tmp_path / "missing.db", "no results store"),
                      (tmp_path, "is a directory")]:
        before = path.read_bytes() if path.is_file() else None
        with pytest.raises(StoreError, match=msg):
            Store(path, create=path.name != "missing.db")
        assert (path.read_bytes() if path.is_file() else None) == before  # never overwritten
        if path.name != "missing.db":
            assert not (tmp_path / "missing.db").exists()
        # the CLI says so in one line, exit 2
        rc = main(["status", str(path)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and "\n" not in err and str(path) in err
    assert not (tmp_path / "missing.db").exists()  # status never creates a store
    open_store(good).close()


def test_claim_is_atomic_across_connections(tmp_path):
    path = tmp_path / "r.db"
    _store(path, n=60).close()
    got: dict[str, list[str]] = {}

    def worker(k: int) -> None:
        db, owner = Store(path), Owner()
        got[owner.token] = []
        while rows := db.claim("s", owner, lease_s=60, limit=2):
            for r in rows:
                got[owner.token].append(r["id"])
                assert db.finish(r["id"], owner, Outcome("done", {"k": float(k)}))
        db.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [j for ids in got.values() for j in ids]
    assert sorted(claimed) == [f"j{i:03d}" for i in range(60)]  # each exactly once
    db = Store(path)
    assert db.counts("s")["done"] == 60
    assert tuple(db.conn.execute("SELECT count(*), max(attempts) FROM jobs").fetchone()) == (60, 1)


def test_dependencies_gate_claims_and_failures_cascade(tmp_path):
    db, me = _store(tmp_path / "r.db", n=3, deps=True), Owner()
    first = db.claim("s", me, 60, limit=5)
    assert [r["id"] for r in first] == ["j000"]  # the others wait for it
    assert db.claim("s", me, 60) == []
    db.finish("j000", me, Outcome("diverged", error="DivergedError: nan"))
    assert db.claim("s", me, 60) == []
    rows = {j["id"]: j for j in db.jobs("s")}
    assert rows["j001"]["status"] == rows["j002"]["status"] == "failed"
    assert "skipped: depends on attack job j000" in rows["j001"]["error"] and "diverged" in rows["j001"]["error"]
    assert db.reset("s") == 3 and db.counts("s")["pending"] == 3


def test_stale_claims_are_reclaimed_live_ones_are_not(tmp_path):
    db = _store(tmp_path / "r.db", n=3)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = Owner(pid=1)  # pid 1 is alive: its claim stands until its lease expires
    ghost = Owner(pid=dead.pid)
    other = Owner(pid=1)
    assert [r["id"] for r in db.claim("s", live, lease_s=60)] == ["j000"]
    assert [r["id"] for r in db.claim("s", other, lease_s=60)] == ["j001"]
    assert [r["id"] for r in db.claim("s", other, lease_s=60)] == ["j002"]
    # j001's owner was killed (a claim made by the ghost); j002's stopped renewing its lease
    db.conn.execute("UPDATE jobs SET claimed_by=?, pid=? WHERE id='j001'", (ghost.token, ghost.pid))
    db.conn.execute("UPDATE jobs SET lease_until=? WHERE id='j002'", (time.time() - 1,))
    me = Owner()
    taken = sorted(r["id"] for r in db.claim("s", me, 60, limit=5))
    assert taken == ["j001", "j002"]  # the dead pid's and the expired lease's, not the live one's
    # the ghost's late commit is refused: the job is someone else's now
    assert not db.finish("j001", ghost, Outcome("done", {"x": 1.0}))
    assert db.conn.execute("SELECT count(*) FROM results").fetchone()[0] == 0
    assert db.conn.execute("SELECT attempts FROM jobs WHERE id='j001'").fetchone()[0] == 2
    # renewing keeps a lease alive; releasing hands the jobs back
    db.renew(me, 60)
    assert db.release(me) == 2 and db.counts("s")["pending"] == 2


def test_commit_is_all_or_nothing(tmp_path):
    db, me = _store(tmp_path / "r.db", n=1), Owner()
    db.claim("s", me, 60)
    bad = Outcome("done", {"a": 1.0, "b": 2.0}, {"ok": [1, 2], "bad": object()})
    with pytest.raises(TypeError):
        db.finish("j000", me, bad)
    assert db.jobs("s")[0]["status"] == "running"
    assert db.conn.execute("SELECT count(*) FROM results").fetchone()[0] == 0
    assert db.finish("j000", me, Outcome("done", {"a": 1.0, "nan": float("nan")}, {"curve.eps": [{"eps": 0.1}]}))
    assert dict(db.conn.execute("SELECT key, value FROM results").fetchall()) == {"a": 1.0, "nan": None}
    assert [r["key"] for r in db.results("s")] == ["a", "nan"]
    assert list(db.artifacts("s")) == [{"job_id": "j000", "key": "curve.eps", "value": [{"eps": 0.1}]}]


def test_two_processes_creating_the_same_store_agree(tmp_path):
    path = tmp_path / "new.db"
    code = f"from archrisk.store import Store; Store({str(path)!r}, create=True).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    db = Store(path)
    assert db.conn.execute("SELECT count(*) FROM meta WHERE key='app'").fetchone()[0] == 1
    assert not list(tmp_path.glob(".*tmp*"))


def test_the_heartbeat_recovers_from_a_failed_renewal(tmp_path, monkeypatch):
    """A renewal that fails (the store busy past its timeout) is retried on a fresh connection at the
    next beat: leases keep being renewed, so running jobs are never handed out twice."""
    import sqlite3
    import threading

    from archrisk.runner.scheduler import Heartbeat

    db = Store(tmp_path / "r.db", create=True)
    rows, deps = _jobs(1)
    db.add_study("s", "x", "x", "", "{}", rows, deps)
    me = Owner()
    db.claim("s", me, 0.4)
    claimed = db.conn.execute("SELECT lease_until FROM jobs").fetchone()[0]
    real, calls, leases, enough = Store.renew, [], [], threading.Event()

    def flaky(self, owner, lease_s):
        calls.append(1)
        if len(calls) == 1:  # fail the way a busy commit can: the connection left inside a transaction
            self.conn.execute("BEGIN")
            raise sqlite3.OperationalError("database is locked")
        real(self, owner, lease_s)
        leases.append(self.conn.execute("SELECT lease_until FROM jobs").fetchone()[0])
        if len(leases) >= 3:
            enough.set()

    monkeypatch.setattr(Store, "renew", flaky)
    with Heartbeat(db.path, me, 0.4, db.timeout):
        assert enough.wait(timeout=60), "the heartbeat stopped renewing after the failed renewal"
    # the renewals after the failure were written: the lease moved past the claim's
    assert len(leases) >= 3 and claimed < leases[0]
    assert db.conn.execute("SELECT lease_until FROM jobs").fetchone()[0] == leases[-1]
    db.close()


def test_a_transaction_whose_commit_fails_is_rolled_back(tmp_path):
    """A failed COMMIT must not leave the connection inside a transaction (every later BEGIN would fail)."""
    import sqlite3

    db = Store(tmp_path / "r.db", create=True)
    other = sqlite3.connect(tmp_path / "r.db", timeout=0.1, isolation_level=None)
    db.conn.execute("PRAGMA busy_timeout=100")
    other.execute("BEGIN EXCLUSIVE")  # holds the lock: the writer's commit cannot finish
    with pytest.raises(sqlite3.OperationalError):
        with db.transaction() as c:
            c.execute("INSERT INTO meta VALUES ('k', 'v')")
    other.execute("ROLLBACK")
    assert not db.conn.in_transaction
    db.set_meta("k2", "v2")  # the connection still works
    assert db.meta()["k2"] == "v2"
    db.close()


def test_a_second_store_on_an_open_file_keeps_the_first_ones_locks(tmp_path):
    """Opening the store again in the same process (the lease heartbeat does) must not read the file
    with Python: closing that descriptor would drop the first connection's SQLite locks, and another
    process closing its own connection would then checkpoint and delete the -wal and -shm files
    under the open store (its later commits lost to a deleted file)."""
    path = tmp_path / "r.db"
    first = Store(path, create=True)
    first.set_meta("a", "1")
    second = Store(path)  # the heartbeat's connection
    second.set_meta("b", "2")
    other = subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                            "c.execute('SELECT count(*) FROM meta').fetchone(); c.close()", str(path)],
                           capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    assert (tmp_path / "r.db-wal").exists() and (tmp_path / "r.db-shm").exists()
    first.set_meta("c", "3")  # still lands in the live write-ahead log, which every reader sees
    seen = subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                           "print(c.execute(\"SELECT value FROM meta WHERE key='c'\").fetchone()[0])", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert seen.stdout.strip() == "3", seen.stderr
    second.close()
    first.close()
