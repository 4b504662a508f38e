"""Store migrations: an older store is brought to this schema version once, in one transaction.

Schema 1 -> 2: metric parameters keep the form a study writes them in, nested per metric family
({"hessian": {"samples": 64}}), from the study file to the metric. A schema-1 store holds them
under the flat names they had before they were nested ('hessian_samples'): in each metric job's
params_json and spec_json (and its 'config' artifact), in each study's spec_json (params and
grids), and every job id and study id hashed those names. The migration nests them and recomputes
each changed id exactly as the schema-2 planner does (a job: sha256 of its spec as sorted compact
JSON, first 20 hex; a study: sha256 of its spec as sorted JSON, first 16 hex), then rewrites every
reference to it. Train and attack jobs, and metric jobs without parameters, keep their ids.

The writer (`Store`) migrates a file when it opens it; the reader (`load_store`) reads an older
file through a migrated copy in memory and never writes. Torch-free and registry-free (the store
imports only leaf modules), so the flat names are frozen here as data: a migration is history and
must not follow later changes to the metrics or the planner.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Mapping

from archrisk.store.schema import APP_ID, SCHEMA_VERSION, StoreError

# Schema 1's flat stored name of every metric parameter -> (family, field); generated from
# metrics.base.stored_index() of the last schema-1 release (31 names). A schema-1 family without
# flat names stored 'family.field', which `nest_v1` splits at the dot.
V1_NAMES: dict[str, tuple[str, str]] = {
    **{f"hessian_{f}": ("hessian", f) for f in ("samples", "batches", "iters", "tol", "probes", "trace_rse",
                                                "probes_max", "chunk")},
    "input_samples": ("input_smoothness", "samples"), "lipschitz_radius": ("input_smoothness", "radius"),
    "lipschitz_steps": ("input_smoothness", "steps"), "input_chunk": ("input_smoothness", "chunk"),
    **{f"grad_{f}": ("gradient_variance", f) for f in ("samples", "split", "clip", "groups", "chunk", "bn_batches")},
    **{f"ntk_{f}": ("ntk", f) for f in ("samples", "batches", "chunk")},
    "conv_k": ("convergence", "k"), "conv_epochs": ("convergence", "epochs"),
    **{f"landscape_{f}": ("landscape", f) for f in ("points", "conv_span", "filter_span", "input_span", "samples",
                                                    "inputs", "radius", "batch")},
}
V1_NAMES_KEY = "metric_param_names"  # schema 1's meta row mapping those names for the report; dropped


def nest_v1(params: Mapping[str, Any]) -> dict[str, Any]:
    """Schema-1 metric parameters nested per family: {"hessian_samples": 64, "at": "init"} ->
    {"hessian": {"samples": 64}, "at": "init"}; other keys (at, memory_limit_gb) stay on top."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        family, dot, field = key.partition(".")
        family, field = V1_NAMES.get(key, (family, field) if dot else (None, None))
        if family is None or not isinstance(out.setdefault(family, {}), dict):
            out[key] = value
        else:
            out[family][field] = value
    return out


def job_id(spec: Mapping[str, Any]) -> str:
    """A schema-2 job id (runner/plan.py job_id, frozen here)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:20]


def study_id(spec: Mapping[str, Any]) -> str:
    """A schema-2 study id (runner/config.py Study.id, frozen here)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _compact(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if text else None
    except (TypeError, ValueError):
        return None  # unreadable: left as it is


def _rename(c: sqlite3.Connection, what: str, renamed: dict[str, str], columns: list[tuple[str, str]]) -> None:
    """Give every row that refers to an old id ((table, column) pairs, the ids' own first) the new one.
    A new id that is already taken (two rows becoming one) raises, and the transaction rolls back."""
    if not renamed:
        return
    table, column = columns[0]
    kept = {r[0] for r in c.execute(f"SELECT {column} FROM {table}")} - set(renamed)
    count = Counter(renamed.values())
    clash = next((i for i, n in count.items() if n > 1 or i in kept), None)
    if clash is not None:
        raise StoreError(f"cannot migrate: two {what} would both get the id {clash}; restore the store from a "
                         "backup or remove one of them")
    for table, column in columns:
        c.executemany(f"UPDATE {table} SET {column}=? WHERE {column}=?", [(n, o) for o, n in renamed.items()])


def _v1_to_v2(c: sqlite3.Connection) -> None:
    renamed: dict[str, str] = {}
    rows = []
    for jid, params_json, spec_json in c.execute("SELECT id, params_json, spec_json FROM jobs WHERE kind='metric'"):
        params, spec = _loads(params_json), _loads(spec_json)
        if isinstance(params, dict):
            params_json = _compact(nest_v1(params))
        if isinstance(spec, dict) and isinstance(spec.get("params"), dict):
            nested = {**spec, "params": nest_v1(spec["params"])}
            if nested != spec:
                spec_json = _compact(nested)
                renamed[jid] = job_id(nested)
        rows.append((params_json, spec_json, jid))
    c.executemany("UPDATE jobs SET params_json=?, spec_json=? WHERE id=?", rows)
    configs = []  # what a done metric job ran with: {"metric": ..., "at": ..., **params}
    for jid, text in c.execute("SELECT a.job_id, a.json FROM artifacts a JOIN jobs j ON j.id=a.job_id "
                               "WHERE j.kind='metric' AND a.key='config'").fetchall():
        cfg = _loads(text)
        if isinstance(cfg, dict):
            configs.append((json.dumps(nest_v1(cfg), sort_keys=True), jid))
    c.executemany("UPDATE artifacts SET json=? WHERE job_id=? AND key='config'", configs)
    _rename(c, "jobs", renamed, [("jobs", "id"), ("study_jobs", "job_id"), ("deps", "job_id"), ("deps", "dep_id"),
                                ("results", "job_id"), ("artifacts", "job_id")])

    renamed = {}
    for sid, spec_json in c.execute("SELECT id, spec_json FROM studies").fetchall():
        spec = _loads(spec_json)
        if not isinstance(spec, dict) or not isinstance(spec.get("metrics"), list):
            continue
        metrics = [{**m, **{k: nest_v1(m[k]) for k in ("params", "grid") if isinstance(m.get(k), dict)}}
                   if isinstance(m, dict) else m for m in spec["metrics"]]
        if metrics != spec["metrics"]:
            nested = {**spec, "metrics": metrics}
            c.execute("UPDATE studies SET spec_json=? WHERE id=?", (json.dumps(nested, sort_keys=True), sid))
            renamed[sid] = study_id(nested)
    _rename(c, "studies", renamed, [("studies", "id"), ("study_jobs", "study_id"), ("jobs", "study_id")])
    c.execute("DELETE FROM meta WHERE key=?", (V1_NAMES_KEY,))


# schema version -> the step that brings a store of it to the next version
STEPS: dict[str, tuple[str, Callable[[sqlite3.Connection], None]]] = {"1": ("2", _v1_to_v2)}


def upgradable(meta: Mapping[str, str]) -> bool:
    """An archrisk store of an older schema version that this module migrates."""
    return meta.get("app") == APP_ID and meta.get("schema_version") in STEPS


def upgrade(conn: sqlite3.Connection, path: Path | str = "store") -> str | None:
    """Migrate the store on `conn` (an autocommit connection) to SCHEMA_VERSION in one transaction;
    the version it had, or None when it needed nothing (another process may have migrated it
    meanwhile). A store that cannot be written raises StoreError naming the fix."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        raise StoreError(f"{path} is a results store of an older schema version that must be migrated once to "
                         f"version {SCHEMA_VERSION!r}, and it cannot be written here ({e}); make it writable and "
                         f"run `archrisk status --store {path}` once (the report reads it as it is)") from None
    try:
        (start,) = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() or (None,)
        version = start
        while version in STEPS:
            version, step = STEPS[version]
            step(conn)
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (version,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return start if start != version else None


def upgraded_copy(conn: sqlite3.Connection) -> sqlite3.Connection:
    """A migrated copy in memory of the store on `conn` (how the reader reads an older store without
    writing to it); rows as sqlite3.Row."""
    mem = sqlite3.connect(":memory:", isolation_level=None)
    conn.backup(mem)
    upgrade(mem)
    mem.row_factory = sqlite3.Row
    return mem
