"""Deviations from the study's protocol: every setting this run used that the study did not.

Derived, not written: each finished attack job's stored config (its "config" artifact) and each
victim's recipe and data split are compared with the study's values declared in
`archrisk.protocol`, next to the reasons for archrisk's own defaults; differences that live in
code rather than in a config field (`protocol.FIXED`) are listed for the attacks the run used.
A changed default, a study-file override or a `--set` therefore appears here on its own.
"""
from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from typing import Any

from archrisk import protocol
from archrisk.store import StoreData
from archrisk.report.page import Block, Section, Table

log = logging.getLogger(__name__)

COLUMNS = ["setting", "the study", "this run", "reason", "jobs"]


def same(a: Any, b: Any) -> bool:
    """Equal as values: numbers to 1e-9 relative (8/255 survives a JSON round trip), lists by element."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def show(v: Any) -> str:
    if isinstance(v, float) and not isinstance(v, bool):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(show(x) for x in v) + "]" if v else "[] (default)"
    return json.dumps(v) if v is None or isinstance(v, bool) else str(v)


def _stored(store: StoreData) -> tuple[dict[str, dict], dict[str, dict]]:
    """(job id -> attack config, job id -> job spec) of the finished attack and train jobs."""
    configs = {j.id: store.artifacts.get(j.id, {}).get("config") for j in store.done if j.kind == "attack"}
    specs = {j.id: j.spec for j in store.done if j.kind == "train"}
    return {k: v for k, v in configs.items() if isinstance(v, dict)}, specs


def collect(store: StoreData) -> list[list[Any]]:
    """Rows [setting, the study's value, this run's value, reason, number of jobs], one per distinct
    (setting, value): config fields first, then the code-level differences that apply."""
    configs, specs = _stored(store)
    found: dict[tuple[str, str, str, str], int] = defaultdict(int)
    names: set[str] = set()
    for job in store.done:
        if job.kind == "attack":
            names.add(job.name)
            cfg = configs.get(job.id, {})
            for field, s in protocol.ATTACKS.get(job.name, {}).items():
                if field in cfg and not same(cfg[field], s.study):
                    why = ("set in the study file" if field in job.params else protocol.VARIANTS.get(job.name)
                           or s.reason or "archrisk's default (no reason declared)")
                    found[(f"{job.name}.{field}", show(s.study), show(cfg[field]), why)] += 1
        elif job.kind == "train":
            names.add("train")
            for field, s in protocol.RECIPE.items():
                value = job.recipe.get(field)
                if field == "epochs" and value is None:  # the size preset's length (the cap under a convergence rule)
                    res = store.results.get(job.id, {})
                    value = res.get("epoch_cap", res.get("epochs"))
                if value is not None and not same(value, s.study):
                    why = s.reason or f"the study file's recipe or the {job.size} size preset"
                    found[(f"recipe.{field}", show(s.study), show(value), why)] += 1
            data = specs.get(job.id, {}).get("data") or {}
            if "val_fraction" in data:
                share = 1.0 - float(data.get("val_fraction", 0)) - float(data.get("pool_fraction", 0))
                if not same(share, protocol.TRAIN_SHARE.study):
                    found[("victims' share of the training set", show(protocol.TRAIN_SHARE.study), f"{share:.0%}",
                           protocol.TRAIN_SHARE.reason)] += 1
    rows = [[*k, n] for k, n in sorted(found.items())]
    for f in protocol.FIXED:
        n = sum(1 for j in store.done if (j.name if j.kind == "attack" else j.kind) in f.applies)
        if n:
            rows.append([f.setting, f.study, f.archrisk, f.reason, n])
    return rows


def deviations_section(store: StoreData) -> Section | None:
    rows = collect(store)
    if not rows:
        return None
    sec = Section("deviations", "Deviations from the study's protocol",
                  "Every setting this run used that differs from Pang et al. (2022), read from the stored "
                  "attack configs and recipes against the study's declared values (archrisk/protocol.py).")
    sec.blocks.append(Block("Settings", tables=[Table("deviations", "Deviations from the study's protocol",
                                                      COLUMNS, rows)]))
    return sec
