"""`audit`: plan a study into the store, then claim, run and commit its jobs until none is left.

The scheduler is the only writer. It claims ready jobs (atomically, so processes sharing a store
split the work), hands them to an executor, and commits each outcome in its own transaction as
soon as it arrives. A background heartbeat renews its leases; on any exit it hands back what it
still holds. Killing it at any point loses at most the jobs in flight, which the next run
(or another process sharing the store) reclaims.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from archrisk.errors import ArchriskError
from archrisk import store as st
from archrisk.runner.config import Study, check_device, load_study, parse_study
from archrisk.runner.executors import Setup, make_executor
from archrisk.runner.jobs import CHECKPOINT
from archrisk.runner.plan import plan

log = logging.getLogger(__name__)


class JobFailedError(ArchriskError):
    """A job failed under --fail-fast; the audit stopped (finished work is kept)."""


@dataclass
class AuditSummary:
    study_id: str
    name: str
    store: str
    total: int  # jobs in the study
    counts: dict[str, int]  # by status, after this run
    ran: int  # jobs this call finished (any status)
    wall_time: float
    setup_s: float  # reading and validating the study (imports included), planning, recording the grid
    overhead_s: float  # time spent scheduling jobs: claiming, submitting, committing, progress
    failures: list[dict] = field(default_factory=list)  # {id, kind, name, arch, seed, status, error}

    @property
    def complete(self) -> bool:
        return self.counts["pending"] == 0 and self.counts["running"] == 0


def _load(study: str | Path | Study) -> tuple[Study, str, str]:
    if isinstance(study, Study):
        return study, json.dumps(study.spec(), indent=1), "<object>"
    if isinstance(study, str) and "\n" in study:  # TOML text
        return parse_study(study, "<string>"), study, "<string>"
    s, text = load_study(study)
    return s, text, str(Path(study).resolve())


def audit(study: str | Path | Study, store: str | Path, executor: str = "local", workers: int = 1,
          fail_fast: bool = False, progress: bool = True, *, device: str | None = None,
          retry_failed: bool = False, ray_address: str | None = None, lease_s: float = 120.0,
          poll_s: float = 0.25, worker_setup: Setup = None, max_jobs: int | None = None,
          jobs_per_gpu: int = 1) -> AuditSummary:
    """Run a study (a TOML path, TOML text, or a `Study`) into a results store; resumable.

    Finished jobs in the store are never rerun; failed and diverged ones are kept as they are
    unless `retry_failed`. `worker_setup` runs once in every worker before its first job (e.g.
    to register custom attacks). `max_jobs` stops after that many jobs (for staged runs).
    `jobs_per_gpu` workers share each visible GPU (process executor: pinned per worker; Ray:
    fractional GPU resources).
    Raises JobFailedError when `fail_fast` and a job fails or diverges.
    """
    t0 = time.perf_counter()
    spec, text, source = _load(study)
    jobs = plan(spec)
    sid = spec.id()
    device = device or spec.device
    check_device(device)
    db = st.Store(store, create=True)
    try:
        ex = make_executor(executor, workers, worker_setup, ray_address, device, jobs_per_gpu)
    except BaseException:
        db.close()
        raise
    owner = st.Owner()
    deps = [(j.id, d) for j in jobs for d in j.deps]
    db.add_study(sid, spec.name, source, text, json.dumps(spec.spec(), sort_keys=True),
                 [j.row(sid) for j in jobs], deps)
    if retry_failed:
        db.reset(sid)
    setup, overhead = time.perf_counter() - t0, 0.0
    inflight: dict[str, dict] = {}
    ran, stop_reason = 0, None
    finished = lambda c: c["done"] + c["failed"] + c["diverged"]  # noqa: E731
    counts = db.counts(sid)
    bar = tqdm(total=len(jobs), initial=finished(counts), unit="job", desc=spec.name, disable=not progress,
               dynamic_ncols=True)
    aborted = True
    try:
        with Heartbeat(db.path, owner, lease_s, db.timeout):
            while True:
                tick = time.perf_counter()
                free = ex.slots - len(inflight)
                if max_jobs is not None:
                    free = min(free, max_jobs - ran - len(inflight))
                if free > 0 and stop_reason is None:
                    for row in db.claim(sid, owner, lease_s, limit=free):
                        inflight[row["id"]] = row
                        ex.submit(row["id"], _with_victim(db, row), device)
                        bar.set_postfix_str(f"{row['kind']} {row['name']} {row['arch']} s{row['seed']}", refresh=False)
                overhead += time.perf_counter() - tick
                if not inflight:
                    counts = db.counts(sid)
                    _advance(bar, finished(counts))
                    if stop_reason or (counts["pending"] == 0 and counts["running"] == 0):
                        break
                    if max_jobs is not None and ran >= max_jobs:
                        break
                    time.sleep(poll_s)  # the rest is blocked on jobs another process is running
                    continue
                for job_id, outcome in ex.poll(poll_s):
                    tick = time.perf_counter()
                    row = inflight.pop(job_id)
                    ran += 1
                    if not db.finish(job_id, owner, outcome):
                        log.warning("job %s was reclaimed by another process while it ran; its result is dropped", job_id)
                    elif outcome.status != "done":
                        log.warning("%s %s on %s (seed %s) %s: %s", row["kind"], row["name"], row["arch"],
                                    row["seed"], outcome.status, outcome.error)
                        if fail_fast and stop_reason is None:
                            stop_reason = (f"{row['kind']} job {job_id} ({row['name']} on {row['arch']}, seed "
                                           f"{row['seed']}) {outcome.status}: {outcome.error}")
                    counts = db.counts(sid)
                    _advance(bar, finished(counts))
                    overhead += time.perf_counter() - tick
        aborted = False
    finally:
        ex.close(abort=aborted)
        db.release(owner)
        bar.close()
    counts = db.counts(sid)
    failures = [{k: j[k] for k in ("id", "kind", "name", "arch", "seed", "status", "error")}
                for j in db.jobs(sid) if j["status"] in ("failed", "diverged")]
    db.close()
    if stop_reason:
        raise JobFailedError(f"{stop_reason}; stopped by --fail-fast (finished work is kept; rerun to resume)")
    return AuditSummary(sid, spec.name, str(store), len(jobs), counts, ran, time.perf_counter() - t0,
                        setup, overhead, failures)


def _with_victim(db: st.Store, row: dict) -> dict:
    """The job's spec plus its train job's checkpoint record (`victim`: job, key, sha256), so
    the worker loads exactly the recorded weights. Stores written before train jobs recorded
    one leave the spec as it is (the victim then comes from the local cache, as before)."""
    spec = json.loads(row["spec_json"])
    found = db.dep_artifact(row["id"], "train", CHECKPOINT)
    if found is not None:
        spec["victim"] = {"job": found[0], **found[1]}
    return spec


class Heartbeat:
    """Renews an owner's leases from a background thread (own connection) while jobs run."""

    def __init__(self, path: Path, owner: st.Owner, lease_s: float, timeout: float = 60.0):
        self.path, self.owner, self.lease_s, self.timeout = path, owner, lease_s, timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="archrisk-lease", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        db = None
        while not self._stop.wait(self.lease_s / 4):
            try:  # this thread's own connection: the audit's is busy committing results
                db = db or st.Store(self.path, timeout=self.timeout, check=False)
                db.renew(self.owner, self.lease_s)
            except (sqlite3.Error, st.StoreError):  # busy beyond the timeout: the next beat tries again
                pass
        if db is not None:
            db.close()


def _advance(bar: tqdm, n: int) -> None:
    if n > bar.n:
        bar.update(n - bar.n)
