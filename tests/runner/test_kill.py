"""Crash safety: SIGKILL at random points loses nothing, and two processes share one store."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from runner_fakes import artifacts, query, study_toml, values

from archrisk.runner import audit

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
