"""Where jobs run: in this process, in a local process pool, or on Ray.

Every executor takes job specs and hands back `(job_id, Outcome)` pairs; none of them touches
the store (the scheduler is the one writer). `slots` is how many jobs may be in flight at once.

Victim checkpoints. A train job writes its victim into the checkpoint cache of the machine it
ran on and records the file's SHA-256 in the store; the scheduler adds that record to the spec
of every job on the victim, which loads exactly those bytes or fails (it never retrains). The
local and process executors share this machine's cache. The Ray executor does not assume a
shared disk: a train task also returns its checkpoint files into Ray's object store (a second
return value, owned by the driver), and the driver passes that object to every task on the
victim; the worker checks it against the record and writes it into its own node's cache before
loading. A victim trained by an earlier audit is sent from the driver's own cache when it holds
the recorded file; otherwise a node that lacks it fails the job with a message saying so.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import sys
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from archrisk.errors import ArchriskError, InvalidValueError, UnknownNameError
from archrisk.runner.jobs import CHECKPOINT, run_job
from archrisk.store import Outcome

Setup = Callable[[], None] | None


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def worker_gpus(workers: int, jobs_per_gpu: int, n_gpus: int) -> list[int | None]:
    """The GPU each of `workers` pool workers is pinned to: `jobs_per_gpu` consecutive workers
    share one GPU, round-robin over `n_gpus` (None everywhere when there is no GPU)."""
    if jobs_per_gpu < 1:
        raise InvalidValueError(f"--jobs-per-gpu must be >= 1, got {jobs_per_gpu}")
    return [(k // jobs_per_gpu) % n_gpus if n_gpus else None for k in range(workers)]


def _visible_gpus() -> int:
    """GPUs this process may use, without initialising CUDA here (workers must do that after
    pinning): CUDA_VISIBLE_DEVICES when set, else the count torch reports."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return len([d for d in env.split(",") if d.strip()])
    import torch

    return torch.cuda.device_count()


def _pin(slot, gpus: list[int | None]) -> None:
    """Claim the next worker slot and show that worker only its GPU (before CUDA starts)."""
    if not gpus or gpus[0] is None:
        return
    with slot.get_lock():
        k, slot.value = slot.value, slot.value + 1
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [d.strip() for d in visible.split(",")] if visible else [str(i) for i in range(max(gpus) + 1)]
    os.environ["CUDA_VISIBLE_DEVICES"] = ids[gpus[k % len(gpus)]]


def _init_worker(threads: int, setup: Setup, slot=None, gpus: list[int | None] | None = None,
                 parent: int | None = None) -> None:
    """Pool worker start-up: die with the parent, pin to a GPU, share the cores fairly, run the
    user's setup."""
    if parent is not None:
        _die_with_parent(parent)
    _pin(slot, gpus or [])
    import torch

    torch.set_num_threads(threads)
    if setup is not None:
        setup()


def _die_with_parent(parent: int) -> None:
    """End this worker when the audit that started it (pid `parent`) ends, even by SIGKILL: an
    orphan would keep the cores its rerun needs, blocked for ever on the pool's queue (it holds that
    queue's other end itself, so it never sees the end of it).

    Linux: PR_SET_PDEATHSIG has the kernel kill the worker the moment the parent dies, even while it
    computes holding the GIL, at no cost. It covers only a parent that dies after the call, and the
    worker gets here only after seconds of imports, so the parent pid is compared once right after
    it: an orphan has been re-parented by then. Elsewhere (or without a usable prctl) a daemon
    thread compares it every second instead: portable, but it needs the GIL and lags a little."""
    armed = False
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) == 0  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)
    if not armed:
        import threading

        threading.Thread(target=_watch_parent, args=(parent,), name="archrisk-parent-watch", daemon=True).start()


def _watch_parent(parent: int, every_s: float = 1.0) -> None:
    """Exit the process once `parent` is no longer its parent (POSIX re-parents an orphan)."""
    import time

    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)


class LocalExecutor:
    """Runs each job in this process when polled: one at a time, no start-up cost."""

    def __init__(self, workers: int = 1, setup: Setup = None, **_: Any):
        if workers != 1:
            raise InvalidValueError(f"--workers {workers} needs --executor process or ray; "
                                    "the local executor runs one job at a time")
        self.slots = 1
        self._queue: list[tuple[str, dict, str]] = []
        if setup is not None:
            setup()

    def submit(self, job_id: str, spec: dict, device: str) -> None:
        self._queue.append((job_id, spec, device))

    def poll(self, timeout: float) -> list[tuple[str, Outcome]]:
        if not self._queue:
            return []
        job_id, spec, device = self._queue.pop(0)
        return [(job_id, run_job(spec, device))]

    def close(self, abort: bool = False) -> None:
        self._queue.clear()


class ProcessExecutor:
    """A pool of `workers` spawned processes (spawn, not fork: torch's thread pools do not
    survive a fork). A worker that dies fails only its own job; the pool is rebuilt."""

    def __init__(self, workers: int = 2, setup: Setup = None, device: str = "cpu", jobs_per_gpu: int = 1,
                 **_: Any):
        if workers < 1:
            raise InvalidValueError(f"--workers must be >= 1, got {workers}")
        self.slots, self._setup = workers, setup
        # On CUDA each worker sees one GPU; `jobs_per_gpu` workers share it (a small cell net
        # leaves most of a GPU idle, and several processes fill it: benchmarks/gpu_study.py).
        # Only plain 'cuda' is spread over the GPUs; 'cuda:N' names one GPU for every worker.
        self._gpus = worker_gpus(workers, jobs_per_gpu, _visible_gpus() if device == "cuda" else 0)
        self._futures: dict[cf.Future, str] = {}
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        ctx = mp.get_context("spawn")
        return cf.ProcessPoolExecutor(self.slots, mp_context=ctx, initializer=_init_worker,
                                      initargs=(_threads_per_worker(self.slots), self._setup,
                                                ctx.Value("i", 0), self._gpus, os.getpid()))

    def submit(self, job_id: str, spec: dict, device: str) -> None:
        self._futures[self._pool.submit(run_job, spec, device)] = job_id

    def poll(self, timeout: float) -> list[tuple[str, Outcome]]:
        if not self._futures:
            return []
        done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out, broken = [], False
        for fut in done:
            job_id = self._futures.pop(fut)
            try:
                out.append((job_id, fut.result()))
            except BrokenProcessPool as e:
                broken = True
                out.append((job_id, Outcome("failed", error=f"worker process died ({e})")))
        if broken:  # every other in-flight future of a broken pool fails too
            for fut, job_id in list(self._futures.items()):
                out.append((job_id, Outcome("failed", error="worker pool broke while this job ran")))
            self._futures.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        return out

    def close(self, abort: bool = False) -> None:
        """Shut the pool down; `abort` (the audit is being interrupted) also kills running jobs,
        whose claims the scheduler hands back."""
        if abort:
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.kill()
        self._pool.shutdown(wait=not abort, cancel_futures=True)
        self._futures.clear()


_RAY_SETUP_DONE = False


def _ray_run(spec: dict, device: str, threads: int, setup: Setup,
             victim_copy: dict | None = None) -> tuple[Outcome, dict | None]:
    """One job on a Ray worker: (its outcome, and for a done train job its checkpoint files)."""
    global _RAY_SETUP_DONE
    if not _RAY_SETUP_DONE:  # once per Ray worker process
        import torch

        torch.set_num_threads(threads)
        if setup is not None:
            setup()
        _RAY_SETUP_DONE = True
    from archrisk.train.checkpoint import pack

    outcome = run_job(spec, device, victim_copy)
    record = outcome.artifacts.get(CHECKPOINT) if spec["kind"] == "train" and outcome.status == "done" else None
    return outcome, pack(record["key"], record["sha256"]) if record else None


class RayExecutor:
    """Ray tasks (one CPU each, or one GPU each on CUDA). Starts a local Ray instance with
    `workers` CPUs, or joins the cluster at `address` (`--ray-address`). The store stays with
    the driver (the only writer). Nodes need no shared disk for checkpoints: victims travel
    through Ray's object store (module docstring); the driver keeps each one until the audit
    ends (Ray spills to disk when its store fills). Datasets are still read from each node's
    ARCHRISK_DATA."""

    def __init__(self, workers: int = 2, setup: Setup = None, address: str | None = None,
                 device: str = "cpu", jobs_per_gpu: int = 1, **_: Any):
        try:
            import ray
        except ImportError:
            raise ArchriskError("the ray executor needs Ray, which is not installed; "
                                "pip install 'archrisk[ray]' or use --executor process") from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            # A local instance's workers get the driver's import path, so a setup function
            # defined next to the caller's script (or test) unpickles there too.
            kw = {"address": address} if address else {
                "num_cpus": workers,
                "runtime_env": {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}}
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)
        worker_gpus(1, jobs_per_gpu, 0)  # validates
        gpus = 1 / jobs_per_gpu if device.startswith("cuda") else 0  # Ray packs jobs_per_gpu tasks per GPU
        self._fn = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0, num_returns=2)(_ray_run)
        self.slots, self._setup = workers, setup
        self._threads = 1 if address else _threads_per_worker(workers)
        self._refs: dict[Any, str] = {}
        self._victims: dict[str, Any] = {}  # train job id -> object ref of its checkpoint files

    def _task(self, spec: dict):
        """The remote function for this job (a seam for placement options)."""
        return self._fn

    def _victim_copy(self, victim: dict | None):
        """The object ref of the recorded checkpoint to send along with a job on that victim."""
        if not victim:
            return None
        from archrisk.train.checkpoint import pack

        ref = self._victims.get(victim["job"])
        if ref is None:  # trained by an earlier audit: send this machine's copy if it is the recorded one
            blob = pack(victim["key"], victim["sha256"])
            if blob is not None:
                ref = self._victims[victim["job"]] = self._ray.put(blob)
        return ref

    def submit(self, job_id: str, spec: dict, device: str) -> None:
        outcome, files = self._task(spec).remote(spec, device, self._threads, self._setup,
                                                 self._victim_copy(spec.get("victim")))
        self._refs[outcome] = job_id
        if spec["kind"] == "train":
            self._victims[job_id] = files  # resolves to None if the job fails: nothing depends on it then

    def poll(self, timeout: float) -> list[tuple[str, Outcome]]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            job_id = self._refs.pop(ref)
            try:
                out.append((job_id, self._ray.get(ref)))
            except self._ray.exceptions.RayError as e:  # the worker died, not the job's own error
                out.append((job_id, Outcome("failed", error=f"Ray task failed: {' '.join(str(e).split())[:400]}")))
        return out

    def close(self, abort: bool = False) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._started:
            self._ray.shutdown()


EXECUTORS: dict[str, type] = {"local": LocalExecutor, "process": ProcessExecutor, "ray": RayExecutor}


def make_executor(name: str, workers: int, setup: Setup = None, address: str | None = None,
                  device: str = "cpu", jobs_per_gpu: int = 1):
    if name not in EXECUTORS:
        raise UnknownNameError("executor", name, list(EXECUTORS))
    if workers < 1:
        raise InvalidValueError(f"--workers must be >= 1, got {workers}")
    if jobs_per_gpu != 1 and name == "local":
        raise InvalidValueError(f"--jobs-per-gpu {jobs_per_gpu} needs --executor process or ray")
    return EXECUTORS[name](workers=workers, setup=setup, address=address, device=device,
                           jobs_per_gpu=jobs_per_gpu)
