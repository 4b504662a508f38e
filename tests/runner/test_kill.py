"""Crash safety: SIGKILL at random points loses nothing, two processes share one store, and no
pool worker outlives a killed audit."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_fakes import artifacts, query, study_toml, values

from archrisk.runner import audit
from archrisk.store import pid_alive

SCRIPT = Path(__file__).with_name("runner_fakes.py")
# 28 jobs of >= 0.1 s each: long enough that five kills (< 0.6 s of progress each) cannot finish it
STUDY = dict(seeds=(0, 1, 2, 3), archs=("vgg13_bn",), sleep=0.1)


def _start(study: Path, store: Path, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), str(study), str(store), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _env(cache: Path, log: Path | None = None) -> dict:
    env = {**os.environ, "ARCHRISK_CACHE": str(cache)}
    if log is not None:
        env["ARCHRISK_FAKE_LOG"] = str(log)
    return env


def _consistent(store: Path) -> None:
    """What a reader may rely on at any instant: no result of an unfinished job, no half job."""
    assert query(store, "PRAGMA integrity_check") == [("ok",)]
    assert query(store, "SELECT count(*) FROM results r JOIN jobs j ON j.id=r.job_id WHERE j.status!='done'") == [(0,)]
    assert query(store, "SELECT count(*) FROM jobs WHERE status='done' AND id NOT IN (SELECT job_id FROM results)") == [(0,)]


def test_kill_9_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path, cache):
    study = tmp_path / "study.toml"
    study.write_text(study_toml(**STUDY))
    reference = tmp_path / "reference.db"
    ref = audit(study, reference, progress=False)  # in-process, with its own checkpoint cache
    assert ref.complete and ref.counts["done"] == ref.total == 28

    store, env = tmp_path / "killed.db", _env(tmp_path / "cache")
    rng = random.Random(1234)
    kills, history = 0, []
    while kills < 5:
        proc = _start(study, store, env)
        assert proc.stdout.readline().strip() == "ready"  # imports done: the audit itself starts now
        time.sleep(rng.uniform(0.05, 0.6))
        if proc.poll() is not None:  # finished before the kill: the grid was too short for this delay
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        _consistent(store)
        history.append(query(store, "SELECT count(*) FROM jobs WHERE status='done'")[0][0])
    assert kills == 5, f"only {kills} kills landed inside the audit (done after each: {history})"
    assert history[-1] < ref.total  # the kills interrupted real work
    proc = _start(study, store, env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and out.split()[-2] == "complete", err[-2000:]
    _consistent(store)
    assert query(store, "SELECT status, count(*) FROM jobs GROUP BY status") == [("done", 28)]
    assert values(store) == values(reference) and artifacts(store) == artifacts(reference)
    assert query(store, "SELECT count(*) FROM results")[0][0] == query(reference, "SELECT count(*) FROM results")[0][0]
    # some jobs really were cut short mid-run and redone
    assert query(store, "SELECT max(attempts) FROM jobs")[0][0] >= 2


def test_two_processes_share_a_store_and_never_run_a_job_twice(tmp_path):
    study = tmp_path / "study.toml"
    study.write_text(study_toml(**STUDY))
    store, log = tmp_path / "shared.db", tmp_path / "runs.log"
    env = _env(tmp_path / "cache", log)
    procs = [_start(study, store, env) for _ in range(2)]  # both create the store at once, too
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert all(o[0].split()[-2] == "complete" for o in outs)
    assert query(store, "SELECT status, count(*) FROM jobs GROUP BY status") == [("done", 28)]
    assert sum(int(o[0].split()[-1]) for o in outs) == 28  # every job ran in exactly one process
    assert query(store, "SELECT max(attempts) FROM jobs") == [(1,)]
    lines = open(log).read().splitlines()
    assert len(lines) == 24  # 24 attack/metric jobs executed once each, all done
    assert len({line.split()[0] for line in lines}) == 2  # and both processes did work
    _consistent(store)


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid`, read from /proc."""
    out = set()
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text() if entry.isdigit() else ""
        except OSError:  # ended meanwhile
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.add(int(entry))
    return out


def _wait(what, deadline_s: float, every_s: float = 0.05):
    """Poll `what()` until it is truthy (returned) or the deadline passes (None)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        got = what()
        if got:
            return got
        time.sleep(every_s)
    return None


def _gone(pids: set[int], deadline_s: float = 60.0) -> set[int]:
    """The pids still alive once all have ended or the (generous) deadline has passed."""
    _wait(lambda: not any(pid_alive(p) for p in pids), deadline_s, 0.2)
    return {p for p in pids if pid_alive(p)}


def _workers(audit_pid: int, moment: str, log: Path) -> set[int] | None:
    """Every child of the audit (3 pool workers and multiprocessing's resource tracker) once the 3
    workers exist ("starting") or have each begun a job ("working"); None before."""
    kids = _children(audit_pid)
    if moment == "starting":
        ready = sum(b"spawn_main" in _cmdline(k) for k in kids) == 3
    else:
        ready = len({line.split()[0] for line in log.read_text().splitlines()}) == 3
    return kids if ready else None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
@pytest.mark.parametrize("moment", ["starting", pytest.param("working", marks=pytest.mark.slow)])
def test_no_process_worker_outlives_a_killed_audit(tmp_path, moment):
    # starting: killed while its workers still import (before they can arm anything themselves);
    # working: killed while each worker is inside a job that would run for ten minutes
    study, log = tmp_path / "study.toml", tmp_path / "runs.log"
    study.write_text(study_toml(seeds=(0, 1, 2), archs=("vgg13_bn",), sleep=600))
    log.touch()
    proc = _start(study, tmp_path / "s.db", _env(tmp_path / "cache", log), "process", "3")
    started: set[int] = set()
    try:
        assert proc.stdout.readline().strip() == "ready"

        def ready():
            assert proc.poll() is None, f"the audit ended early: {proc.stderr.read()[-2000:]}"
            return _workers(proc.pid, moment, log)

        started = _wait(ready, 300) or set()
        assert started, f"the audit never had 3 workers {moment}"
        proc.kill()
        proc.wait()
        assert not _gone(started), f"processes {sorted(_gone(started, 0))} outlived the killed audit ({moment})"
    finally:
        proc.kill()
        proc.stdout.close()  # not read to the end: an orphan still holding the pipes would block that
        proc.stderr.close()
        for pid in started:  # what this test started, if a failure left it running
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


# A process that watches its parent with the executor's portable fallback only (no prctl), then sleeps;
# its parent waits for it (so a child that fails to start ends the test at once). Killing the parent
# must end the child.
WATCHED = """
import os, threading, time
from archrisk.runner.executors import _watch_parent
threading.Thread(target=_watch_parent, args=(os.getppid(), 0.05), daemon=True).start()
print(os.getpid(), flush=True)
time.sleep(600)
"""
PARENT = "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]])"


@pytest.mark.skipif(os.name != "posix", reason="an orphan is re-parented on POSIX only")
def test_the_portable_fallback_ends_a_worker_whose_parent_was_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT, WATCHED], stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = int(parent.stdout.readline())
        assert pid_alive(child)
        parent.kill()
        parent.wait()
        assert not _gone({child}), "the watched process outlived its killed parent"
    finally:
        parent.kill()
        parent.stdout.close()
        if child is not None and pid_alive(child):
            os.kill(child, signal.SIGKILL)
