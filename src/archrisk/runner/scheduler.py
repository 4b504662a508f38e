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
from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class AuditOptions:
    """How an audit runs (not what: that is the study)."""

    executor: str = "local"  # local | process | ray
    workers: int = 1
    fail_fast: bool = False  # stop at the first failed or diverged job (finished work is kept)
    progress: bool = True
    device: str | None = None  # default: the study's
    retry_failed: bool = False  # rerun the study's failed and diverged jobs
    ray_address: str | None = None
    lease_s: float = 120.0  # a claim not renewed for this long is handed to the next claimant
    poll_s: float = 0.25
    worker_setup: Setup = None  # runs once in every worker before its first job (e.g. registering attacks)
    max_jobs: int | None = None  # stop after this many jobs (staged runs)
    jobs_per_gpu: int = 1  # workers sharing each visible GPU (process executor: pinned; Ray: fractional)


def audit(study: str | Path | Study, store: str | Path, options: AuditOptions | None = None,
          **overrides) -> AuditSummary:
    """Run a study (a TOML path, TOML text, or a `Study`) into a results store; resumable.

    Finished jobs in the store are never rerun; failed and diverged ones are kept as they are
    unless `retry_failed`. `options` (an `AuditOptions`; keywords override its fields) say how.
    Raises JobFailedError when `fail_fast` and a job fails or diverges.
    """
    t0 = time.perf_counter()
    opts = replace(options or AuditOptions(), **overrides)
    spec, text, source = _load(study)
    jobs = plan(spec)
    sid = spec.id()
    device = opts.device or spec.device
    check_device(device)
    db = st.Store(store, create=True)
    try:
        ex = make_executor(opts.executor, opts.workers, opts.worker_setup, opts.ray_address, device,
                           opts.jobs_per_gpu)
    except BaseException:
        db.close()
        raise
    db.add_study(sid, spec.name, source, text, json.dumps(spec.spec(), sort_keys=True),
                 [j.row(sid) for j in jobs], [(j.id, d) for j in jobs for d in j.deps])
    if opts.retry_failed:
        db.reset(sid)
    run = _Run(db, ex, sid, device, opts, time.perf_counter() - t0)
    bar = tqdm(total=len(jobs), initial=run.finished(), unit="job", desc=spec.name, disable=not opts.progress,
               dynamic_ncols=True)
    try:
        run.loop(bar)
    finally:
        bar.close()
    counts = db.counts(sid)
    failures = [{k: j[k] for k in ("id", "kind", "name", "arch", "seed", "status", "error")}
                for j in db.jobs(sid) if j["status"] in ("failed", "diverged")]
    db.close()
    if run.stop_reason:
        raise JobFailedError(f"{run.stop_reason}; stopped by --fail-fast (finished work is kept; rerun to resume)")
    return AuditSummary(sid, spec.name, str(store), len(jobs), counts, run.ran, time.perf_counter() - t0,
                        run.setup, run.overhead, failures)


class _Run:
    """One audit's claim-run-commit loop over a study's jobs in a store, with an executor."""

    def __init__(self, db: st.Store, ex, sid: str, device: str, opts: AuditOptions, setup: float):
        self.db, self.ex, self.sid, self.device, self.opts = db, ex, sid, device, opts
        self.owner = st.Owner()
        self.inflight: dict[str, dict] = {}
        self.ran, self.stop_reason, self.setup, self.overhead = 0, None, setup, 0.0

    def finished(self) -> int:
        c = self.db.counts(self.sid)
        return c["done"] + c["failed"] + c["diverged"]

    def loop(self, bar: tqdm) -> None:
        """Claim and run until nothing is left (or max_jobs, or a fail-fast stop); on any exit the
        executor is closed and every claim still held handed back."""
        aborted = True
        try:
            with Heartbeat(self.db.path, self.owner, self.opts.lease_s, self.db.timeout):
                while self._step(bar):
                    pass
            aborted = False
        finally:
            self.ex.close(abort=aborted)
            self.db.release(self.owner)

    def _step(self, bar: tqdm) -> bool:
        """Submit what can run, then commit what finished; False when the audit is over."""
        opts, tick = self.opts, time.perf_counter()
        free = self.ex.slots - len(self.inflight)
        if opts.max_jobs is not None:
            free = min(free, opts.max_jobs - self.ran - len(self.inflight))
        if free > 0 and self.stop_reason is None:
            for row in self.db.claim(self.sid, self.owner, opts.lease_s, limit=free):
                self.inflight[row["id"]] = row
                self.ex.submit(row["id"], _with_victim(self.db, row), self.device)
                bar.set_postfix_str(f"{row['kind']} {row['name']} {row['arch']} s{row['seed']}", refresh=False)
        self.overhead += time.perf_counter() - tick
        if not self.inflight:
            _advance(bar, self.finished())
            counts = self.db.counts(self.sid)
            if self.stop_reason or (counts["pending"] == 0 and counts["running"] == 0):
                return False
            if opts.max_jobs is not None and self.ran >= opts.max_jobs:
                return False
            time.sleep(opts.poll_s)  # the rest is blocked on jobs another process is running
            return True
        for job_id, outcome in self.ex.poll(opts.poll_s):
            tick = time.perf_counter()
            self._commit(job_id, outcome)
            _advance(bar, self.finished())
            self.overhead += time.perf_counter() - tick
        return True

    def _commit(self, job_id: str, outcome: st.Outcome) -> None:
        row = self.inflight.pop(job_id)
        self.ran += 1
        if not self.db.finish(job_id, self.owner, outcome):
            log.warning("job %s was reclaimed by another process while it ran; its result is dropped", job_id)
        elif outcome.status != "done":
            log.warning("%s %s on %s (seed %s) %s: %s", row["kind"], row["name"], row["arch"], row["seed"],
                        outcome.status, outcome.error)
            if self.opts.fail_fast and self.stop_reason is None:
                self.stop_reason = (f"{row['kind']} job {job_id} ({row['name']} on {row['arch']}, seed "
                                    f"{row['seed']}) {outcome.status}: {outcome.error}")


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
            except (sqlite3.Error, st.StoreError) as e:  # busy beyond the timeout: the next beat tries again,
                log.warning("lease renewal failed (%s); retrying", e)  # on a fresh connection
                if db is not None:
                    db.close()
                db = None
        if db is not None:
            db.close()


def _advance(bar: tqdm, n: int) -> None:
    if n > bar.n:
        bar.update(n - bar.n)
