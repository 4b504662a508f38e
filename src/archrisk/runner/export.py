"""Reading a store back out: a progress summary (`status`) and tidy tables (`export`).

No torch here: both work on any machine that has the store file.
"""
from __future__ import annotations

import csv
import io
import json
import os
import socket
from pathlib import Path
from typing import Any

from archrisk import jsonsafe
from archrisk.errors import ArchriskError, UnknownNameError
from archrisk.paths import check_output, write_output
from archrisk.store import Store, pid_alive, open_store

FORMATS = ("csv", "json", "parquet")
TABLES = ("tidy", "jobs", "artifacts")
# Job columns worth exporting (the claim bookkeeping stays inside the store).
JOB_EXPORT = ("id", "study_id", "kind", "name", "family", "arch", "arch_group", "spec_hash", "genotype",
              "dataset", "size", "seed", "params_json", "recipe_json", "status", "error", "wall_time",
              "host", "device", "version", "started", "finished", "attempts")


def status(store: str | os.PathLike, study: str | None = None) -> dict[str, Any]:
    """Progress of each study in a store: counts by status and kind, failures, running jobs."""
    with open_store(store) as db:
        out = {"store": str(store), "studies": []}
        sids = [db.resolve_study(study)] if study else [s["id"] for s in db.studies()]
        names = {s["id"]: s["name"] for s in db.studies()}
        for sid in sids:
            jobs = db.jobs(sid)
            by_kind: dict[str, dict[str, int]] = {}
            for j in jobs:
                by_kind.setdefault(j["kind"], {}).setdefault(j["status"], 0)
                by_kind[j["kind"]][j["status"]] += 1
            done = [j for j in jobs if j["status"] == "done" and j["wall_time"] is not None]
            out["studies"].append({
                "id": sid, "name": names[sid], "total": len(jobs), "counts": db.counts(sid),
                "by_kind": by_kind, "job_seconds": sum(j["wall_time"] for j in done),
                "failures": [{k: j[k] for k in ("id", "kind", "name", "arch", "seed", "status", "error")}
                             for j in jobs if j["status"] in ("failed", "diverged")],
                "running": [{**{k: j[k] for k in ("id", "kind", "name", "arch", "seed", "host", "pid", "started")},
                             "owner": _owner_state(j)} for j in jobs if j["status"] == "running"]})
    return out


def _owner_state(job: dict) -> str:
    """'alive', 'dead' (the next audit reclaims the job at once) or 'unknown' (another host: its lease decides)."""
    if job["host"] != socket.gethostname() or job["pid"] is None:
        return "unknown"
    return "alive" if pid_alive(job["pid"]) else "dead"


def rows(db: Store, table: str, study: str | None = None) -> list[dict[str, Any]]:
    sid = db.resolve_study(study)
    if table == "tidy":
        return db.results(sid)
    if table == "jobs":
        return [{k: j[k] for k in JOB_EXPORT} for j in db.jobs(sid)]
    if table == "artifacts":
        return [{**a, "value": json.dumps(a["value"], sort_keys=True)} for a in db.artifacts(sid)]
    raise UnknownNameError("table", table, TABLES)


def export(store: str | os.PathLike, fmt: str = "csv", out: str | os.PathLike | None = None,
           table: str = "tidy", study: str | None = None) -> Path:
    """Write one table of a store as csv, json or parquet; returns the file written.
    Default file: <store stem>-<table>.<fmt> beside the store."""
    if fmt not in FORMATS:
        raise UnknownNameError("export format", fmt, FORMATS)
    if table not in TABLES:
        raise UnknownNameError("table", table, TABLES)
    if fmt == "parquet":
        try:
            import pyarrow
            import pyarrow.parquet as pq
        except ImportError:
            raise ArchriskError("--format parquet needs pyarrow, which is not installed; "
                                "pip install 'archrisk[parquet]' or use --format csv|json") from None
    with open_store(store) as db:  # a missing or foreign store is told first
        # the output is checked before the store is read, and written without following a planted link
        path = check_output(out if out is not None else Path(store).with_name(f"{Path(store).stem}-{table}.{fmt}"),
                            "export output")
        data = rows(db, table, study)
        columns = _columns(db, table)
    if fmt == "csv":
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=columns)
        w.writeheader()
        w.writerows(data)
        body = buf.getvalue().encode("utf-8")
    elif fmt == "json":
        body = (jsonsafe.dumps(data, indent=1) + "\n").encode("utf-8")  # strict JSON: inf/nan -> null
    else:
        sink = pyarrow.BufferOutputStream()
        pq.write_table(pyarrow.Table.from_pylist(data) if data else
                       pyarrow.table({c: pyarrow.array([], pyarrow.string()) for c in columns}), sink)
        body = sink.getvalue().to_pybytes()
    write_output(path, body)
    return path


def _columns(db: Store, table: str) -> list[str]:
    if table == "jobs":
        return list(JOB_EXPORT)
    if table == "artifacts":
        return ["job_id", "key", "value"]
    return db.columns("tidy")
