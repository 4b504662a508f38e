"""audit, status, export: run a study into a results store and read it back."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from archrisk.cli.app import app
from archrisk.cli.common import STORE, JSON, Executor, _device, console, print_json, store_arg, table
from archrisk.paths import check_output

OLD_STORE = typer.Argument(None, help="(deprecated: use --store) results store", show_default=False)


@app.command()
def audit(
    study: str = typer.Argument(..., help="study file (TOML), e.g. studies/demo.toml"),
    store: str = STORE,
    executor: Executor = typer.Option("local", "--executor", "-x", help="where jobs run"),
    workers: int = typer.Option(1, "--workers", "-w", help="parallel jobs (process and ray executors)"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda | cuda:N | mps (default: the study's)",
                                         callback=_device),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="stop at the first failed or diverged job"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="run failed and diverged jobs again"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="join an existing Ray cluster"),
    jobs_per_gpu: int = typer.Option(1, "--jobs-per-gpu", help="workers sharing each GPU (process and ray executors)"),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
    json_out: bool = JSON,
) -> None:
    """Run a study; kill and rerun at any time: it resumes, redoing only unfinished jobs."""
    # Before the study is read, planned or run: an existing store must be a writable file; a new one's
    # folder is created here, as every output's is (the store module creates only the file).
    store = str(check_output(store, "--store"))
    Path(store).parent.mkdir(parents=True, exist_ok=True)
    import signal
    import threading

    from archrisk.runner import AuditOptions, audit as run

    def stop(signum, frame):  # SIGTERM unwinds like Ctrl-C: claims are handed back before exiting
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main_thread else None
    try:
        s = run(study, store, AuditOptions(executor=executor, workers=workers, fail_fast=fail_fast,
                                           progress=not (no_progress or json_out), device=device,
                                           retry_failed=retry_failed, ray_address=ray_address,
                                           jobs_per_gpu=jobs_per_gpu))
    except KeyboardInterrupt:
        _stderr(f"interrupted: finished jobs are kept in {store}; rerun the same command to resume")
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    if json_out:
        print_json({"study_id": s.study_id, "name": s.name, "store": s.store, "total": s.total,
                    "counts": s.counts, "ran": s.ran, "wall_time": s.wall_time, "setup_s": s.setup_s,
                    "overhead_s": s.overhead_s,
                    "failures": s.failures})
        return
    c = s.counts
    console.print(f"{s.name}: {c['done']}/{s.total} jobs done, {c['failed']} failed, {c['diverged']} diverged "
                  f"({s.ran} run now in {s.wall_time:.1f}s; setup {s.setup_s:.1f}s, scheduling {s.overhead_s:.2f}s); "
                  f"store {s.store}",
                  highlight=False)
    if s.failures:
        table("failed jobs", ["kind", "name", "arch", "seed", "status", "error"],
              [[f["kind"], f["name"], f["arch"], f["seed"], f["status"], f["error"]] for f in s.failures[:20]])


def _stderr(line: str) -> None:
    import sys

    sys.stderr.write(line + "\n")


@app.command()
def status(
    old_store: Optional[str] = OLD_STORE,
    store: str = STORE,
    study: Optional[str] = typer.Option(None, "--study", help="study name or id prefix (default: all)"),
    json_out: bool = JSON,
) -> None:
    """Progress of each study in a store: jobs by status and kind, failures, running jobs."""
    from archrisk.runner.export import status as get_status

    store = store_arg(store, old_store)
    rep = get_status(store, study)
    if json_out:
        print_json(rep)
        return
    if not rep["studies"]:
        console.print(f"{store}: no studies yet")
    for s in rep["studies"]:
        c = s["counts"]
        finished = c["done"] + c["failed"] + c["diverged"]
        console.print(f"[bold]{s['name']}[/bold] ({s['id'][:8]}): {finished}/{s['total']} finished, "
                      f"{c['running']} running, {c['pending']} pending; {s['job_seconds']:.0f} job-seconds")
        kinds = sorted(s["by_kind"])
        table("jobs", ["kind", "pending", "running", "done", "failed", "diverged"],
              [[k, *(s["by_kind"][k].get(x, 0) for x in ("pending", "running", "done", "failed", "diverged"))]
               for k in kinds])
        if s["failures"]:
            table("failures", ["kind", "name", "arch", "seed", "status", "error"],
                  [[f["kind"], f["name"], f["arch"], f["seed"], f["status"], f["error"]] for f in s["failures"]])
        if s["running"]:
            table("running", ["kind", "name", "arch", "seed", "host", "pid", "owner"],
                  [[r["kind"], r["name"], r["arch"], r["seed"], r["host"], r["pid"], r["owner"]] for r in s["running"]])


@app.command()
def export(
    old_store: Optional[str] = OLD_STORE,
    store: str = STORE,
    fmt: str = typer.Option("csv", "--format", "-f", help="csv | json | parquet (needs pyarrow)"),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="file to write (default: <store>-<table>.<format>)"),
    table_name: str = typer.Option("tidy", "--table", help="tidy (one row per result) | jobs | artifacts"),
    study: Optional[str] = typer.Option(None, "--study", help="study name or id prefix (default: all)"),
) -> None:
    """Write a store's results as a tidy table."""
    from archrisk.runner.export import export as do_export

    store = store_arg(store, old_store)
    if out is not None:
        out = str(check_output(out, "--out"))  # named as typed; the library checks the default path too
    path = do_export(store, fmt, out, table_name, study)
    console.print(f"wrote {path}", highlight=False)
