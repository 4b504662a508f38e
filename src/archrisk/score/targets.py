"""Measured vulnerability per architecture and attack family, read from a results store.

For each attack setting (attack name + its parameters, e.g. one poisoning fraction) the headline
key (as the attack declared it and the runner recorded it with the results: success rate,
accuracy drop, ...) is averaged over seeds and oriented by its recorded risk direction so that
higher = more vulnerable; architectures are ranked within the setting, and a
family's target is an architecture's mean rank over the family's settings. Ranking first makes
settings with different units (eps, fractions, query budgets) average meaningfully.

The same ranking done on each seed alone gives the target's seed-to-seed agreement (mean
pairwise Spearman rho over architectures). It bounds what any score can reach: with agreement
r between two seeds, the mean of k seeds has reliability k r / (1 + (k - 1) r) (Spearman-Brown),
and a perfect predictor of the noise-free ranks correlates with the measured ones at about its
square root.
"""
from __future__ import annotations

import json
import math
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from archrisk.errors import InvalidValueError
from archrisk.meaning import ARTIFACT, Meaning, headline_of, read_recorded


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
    agreement: dict[str, tuple[float, int]] = field(default_factory=dict)  # family -> (seed-seed rho, seeds)
    seeds: list[int] = field(default_factory=list)  # seeds of the results that entered
    available: dict[str, int] = field(default_factory=dict)  # "dataset/size" -> attack results in the store


def read_targets(path: str | Path, study: str | None = None, dataset: str | None = None,
                 size: str | None = None) -> StoreTargets:
    """Attack targets of one (dataset, size) in the store (default: the most common one)."""
    from archrisk.store import open_store

    with open_store(path) as db:
        sid = db.resolve_study(study)
        jobs = {j["id"]: j for j in db.jobs(sid, status="done")}
        rows = [r for r in db.results(sid) if r["kind"] == "attack"]
        recorded = {a["job_id"]: read_recorded(a["value"]) for a in db.artifacts(sid, key=ARTIFACT)}
        studies = [f"{s['name']} ({s['id']})" for s in db.studies() if sid is None or s["id"] == sid]
    if not rows:
        raise InvalidValueError(f"{path} holds no finished attack results to fit the risk score on")
    counts = Counter((r["dataset"], r["size"]) for r in rows)
    # the most common (dataset, size), or the most common one matching what was asked
    common = next((k for k, _ in counts.most_common() if dataset in (None, k[0]) and size in (None, k[1])), None)
    if common is None:
        have = ", ".join(f"--dataset {d} --size {z}" for d, z in sorted(counts))
        raise InvalidValueError(f"{path} has no attack results on dataset {dataset or 'any'!r} at size "
                                f"{size or 'any'!r}; it holds: {have}")
    dataset, size = common
    available = {f"{d}/{z}": n for (d, z), n in counts.most_common()}
    rows = [r for r in rows if r["dataset"] == dataset and r["size"] == size]
    # The score's signals rebuild each architecture from its string; a study's own models (a user
    # factory) are not reference architectures, so they are left out of the fit.
    own = {r["arch"] for r in rows if json.loads(jobs[r["job_id"]].get("spec_json") or "{}").get("model")}
    if own:
        warnings.warn(f"risk-score fit: leaving out the study's own models ({', '.join(sorted(own))})", stacklevel=2)
        rows = [r for r in rows if r["arch"] not in own]
    if not rows:
        raise InvalidValueError(f"{path} has no attack results on dataset {dataset!r} at size {size!r}")
    archs, groups, limits = {}, {}, Counter()
    for r in rows:
        spec = json.loads(jobs[r["job_id"]].get("spec_json") or "{}")
        archs[r["arch"]] = spec.get("arch", r["arch"])
        groups[r["arch"]] = r["arch_group"]
        limits[(spec.get("data") or {}).get("limit")] += 1
    if not any(r["job_id"] in recorded for r in rows):
        raise InvalidValueError(f"{path} records no result meanings (its attack jobs ran on an archrisk that did "
                                "not record them), so no headline or risk direction is known; record them with "
                                "archrisk.runner.record_meanings(store) or re-run the study into a new store")
    # (family, name, params) -> key -> arch -> seed -> value, and key -> its recorded meaning
    table: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    meanings: dict[tuple, dict[str, Meaning]] = defaultdict(dict)
    for r in rows:
        setting = (r["family"], r["name"], r["params_json"] or "{}")
        if r["value"] is not None and math.isfinite(r["value"]):
            table[setting][r["key"]][r["arch"]][r["seed"]] = r["value"]
        m = recorded.get(r["job_id"], {}).get(r["key"])
        if m is not None:
            meanings[setting].setdefault(r["key"], m)
    ranks: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seed_ranks: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))  # family -> seed -> arch -> ranks
    settings: dict[str, list[str]] = defaultdict(list)
    for (family, name, params), by_key in sorted(table.items()):
        key = headline_of({k: m for k, m in meanings[(family, name, params)].items() if k in by_key})
        sign = meanings[(family, name, params)][key].direction if key is not None else 0
        if sign == 0:
            continue
        means = {a: float(np.mean(list(s.values()))) for a, s in by_key[key].items()}
        if len(means) < 3 or len(set(means.values())) < 2:
            continue  # a setting on which every architecture scores the same ranks nothing
        for a, v in _ranks01(means, sign).items():
            ranks[family][a].append(v)
        for seed in {sd for per in by_key[key].values() for sd in per}:
            one = {a: per[seed] for a, per in by_key[key].items() if seed in per}
            for a, v in _ranks01(one, sign).items():
                seed_ranks[family][seed][a].append(v)
        settings[family].append(f"{name} {params} {key}")
    targets = {f: {a: float(np.mean(v)) for a, v in per.items()} for f, per in ranks.items()}
    agreement = {f: seed_agreement({sd: {a: float(np.mean(v)) for a, v in per.items()} for sd, per in by_seed.items()})
                 for f, by_seed in seed_ranks.items()}
    return StoreTargets(archs, groups, targets, dict(settings), dataset, size,
                        limits.most_common(1)[0][0], studies, agreement, sorted({r["seed"] for r in rows if r["seed"] is not None}), available)


def _ranks01(values: dict[str, float], sign: int) -> dict[str, float]:
    from scipy.stats import rankdata

    labels = sorted(values)
    return dict(zip(labels, map(float, rankdata([sign * values[a] for a in labels]) / len(labels))))


def seed_agreement(per_seed: dict[int, dict[str, float]]) -> tuple[float, int]:
    """(seed-to-seed rank agreement of a target, seeds per architecture): the report's rule
    (`stats.inference.seed_agreement`), so a fit's ceiling and a claim's reliability agree."""
    from archrisk.stats.inference import seed_agreement as by_pairs

    per_arch: dict[str, dict[int, float]] = {}
    for seed, values in per_seed.items():
        for arch, v in values.items():
            per_arch.setdefault(arch, {})[seed] = v
    return by_pairs(per_arch)
