"""Measured vulnerability per architecture and attack family, read from a results store.

For each attack setting (attack name + its parameters, e.g. one poisoning fraction) the headline
key (the report's definition: success rate, accuracy drop, ...) is averaged over seeds and
oriented so that higher = more vulnerable; architectures are ranked within the setting, and a
family's target is an architecture's mean rank over the family's settings. Ranking first makes
settings with different units (eps, fractions, query budgets) average meaningfully.
"""
from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from archrisk.errors import InvalidValueError


@dataclass
class StoreTargets:
    archs: dict[str, str]  # label in the store -> arch string that rebuilds it
    groups: dict[str, str]  # label -> nas | manual | remedy | custom
    targets: dict[str, dict[str, float]]  # family -> label -> mean rank in (0, 1]
    settings: dict[str, list[str]]  # family -> the settings (name, params, key) that entered it
    dataset: str
    size: str
    data_limit: int | None
    studies: list[str] = field(default_factory=list)


def read_targets(path: str | Path, study: str | None = None, dataset: str | None = None,
                 size: str | None = None) -> StoreTargets:
    """Attack targets of one (dataset, size) in the store (default: the most common one)."""
    from scipy.stats import rankdata

    from archrisk.report.series import direction, headline_key
    from archrisk.runner.store import open_store

    with open_store(path) as db:
        sid = db.resolve_study(study)
        jobs = {j["id"]: j for j in db.jobs(sid, status="done")}
        rows = [r for r in db.results(sid) if r["kind"] == "attack"]
        studies = [f"{s['name']} ({s['id']})" for s in db.studies() if sid is None or s["id"] == sid]
    if not rows:
        raise InvalidValueError(f"{path} holds no finished attack results to fit the risk score on")
    common = Counter((r["dataset"], r["size"]) for r in rows).most_common(1)[0][0]
    dataset, size = dataset or common[0], size or common[1]
    rows = [r for r in rows if r["dataset"] == dataset and r["size"] == size]
    if not rows:
        raise InvalidValueError(f"{path} has no attack results on dataset {dataset!r} at size {size!r}")
    archs, groups, limits = {}, {}, Counter()
    for r in rows:
        spec = json.loads(jobs[r["job_id"]].get("spec_json") or "{}")
        archs[r["arch"]] = spec.get("arch", r["arch"])
        groups[r["arch"]] = r["arch_group"]
        limits[(spec.get("data") or {}).get("limit")] += 1
    # (family, name, params) -> key -> arch -> seed -> value
    table: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for r in rows:
        if r["value"] is not None and math.isfinite(r["value"]):
            table[(r["family"], r["name"], r["params_json"] or "{}")][r["key"]][r["arch"]][r["seed"]] = r["value"]
    ranks: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    settings: dict[str, list[str]] = defaultdict(list)
    for (family, name, params), by_key in sorted(table.items()):
        key = headline_key(family, list(by_key))
        if key is None or direction(key) == 0:
            continue
        means = {a: float(np.mean(list(s.values()))) for a, s in by_key[key].items()}
        if len(means) < 3 or len(set(means.values())) < 2:
            continue  # a setting on which every architecture scores the same ranks nothing
        labels = sorted(means)
        r01 = rankdata([direction(key) * means[a] for a in labels]) / len(labels)
        for a, v in zip(labels, r01):
            ranks[family][a].append(float(v))
        settings[family].append(f"{name} {params} {key}")
    targets = {f: {a: float(np.mean(v)) for a, v in per.items()} for f, per in ranks.items()}
    return StoreTargets(archs, groups, targets, dict(settings), dataset, size,
                        limits.most_common(1)[0][0], studies)
