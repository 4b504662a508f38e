"""A study expanded into jobs with deterministic ids, explicit dependencies and a priority.

One `train` job per (architecture, dataset, seed) produces the victim; every attack and metric
job on that victim depends on it and reloads it from the checkpoint cache (a cache hit). Metric
jobs measured at initialisation need no victim. Poisoning and backdoor attacks train their own
models inside their job (through the same cache).

A job's id hashes its full spec (what it runs, on what, with which recipe, data and seed), not
the study: the same job planned by two studies, or by an edited study, is the same row and never
runs twice. A study's own model (`model = "package.module:factory"`) is a job like any other: its
spec names the factory (and a weights file's sha256), and the jobs rebuild it through the factory.
Priority orders the work so that cheap, informative results arrive first: seed by
seed, and within a seed training, then metrics, evasion, membership, extraction, backdoor,
poisoning.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archrisk.paths import file_sha256
from archrisk.runner.config import ArchEntry, Study, build_recipe, make_attack
from archrisk.runner.entries import metric_names
from archrisk.runner.matching import matched_widths
from archrisk.vocab import Group, JobKind, cost_tier

if TYPE_CHECKING:
    from archrisk.arch.zoo import ArchSpec


@dataclass(frozen=True)
class Job:
    id: str
    kind: str  # train | attack | metric
    name: str  # attack or metric name; 'train' for train jobs
    family: str  # attack family, metric group, or 'train'
    arch: str  # the study's label for the architecture
    arch_group: str  # nas | manual | remedy | custom
    spec_hash: str  # ArchSpec.hash(): the network's structure
    genotype: str | None  # genotype JSON, None for manual nets
    dataset: str
    size: str
    seed: int
    recipe: dict[str, Any]
    params: dict[str, Any]
    priority: float
    spec: dict[str, Any]  # everything `jobs.run_job` needs; hashed into `id`
    deps: tuple[str, ...] = field(default=())

    def row(self, study_id: str) -> dict[str, Any]:
        """The job as a `jobs` table row (see store.JOB_COLUMNS)."""
        return {"id": self.id, "study_id": study_id, "kind": self.kind, "name": self.name,
                "family": self.family, "arch": self.arch, "arch_group": self.arch_group,
                "spec_hash": self.spec_hash, "genotype": self.genotype, "dataset": self.dataset,
                "size": self.size, "recipe_json": _dumps(self.recipe), "seed": self.seed,
                "params_json": _dumps(self.params), "priority": self.priority,
                "spec_json": _dumps(self.spec)}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def job_id(spec: dict[str, Any]) -> str:
    return hashlib.sha256(_dumps(spec).encode()).hexdigest()[:20]


def plan(study: Study) -> list[Job]:
    """Every job of the study, sorted by priority (train jobs precede what depends on them)."""
    from archrisk.arch import resolve
    from archrisk.arch.zoo import with_width

    recipe = build_recipe(study).to_dict()
    attacks = [(a, p, make_attack(a.name, p).family) for a in study.attacks for p in a.points()]
    metrics = [(m, p, at) for m in study.metrics for p in m.points() for at in m.at]
    widths = {d.name: matched_widths(study, d) for d in study.data}  # manual nets matched to the cells' size
    families = {m.name: _metric_family(m.name) for m in study.metrics}
    own = {i: own_model(e, study.size) for i, e in enumerate(study.archs) if e.own}  # i -> (spec, job spec keys)
    jobs: list[Job] = []
    for s_rank, seed in enumerate(study.all_seeds()):
        for d in study.data:
            data = d.model_dump(mode="json")
            for a_rank, (entry, label) in enumerate(zip(study.archs, study.labels())):
                if seed not in study.seeds_of(entry):
                    continue
                width = widths[d.name].get(a_rank)  # a matched net's string carries its width
                arch = entry.text if width is None else with_width(entry.text, width)
                spec, extra = own[a_rank] if entry.own else (resolve(arch, study.size), {})
                base = {"arch": arch, "label": label, "size": study.size, "data": data,
                        "recipe": recipe, "seed": seed, "spec_hash": spec.hash(), **extra}
                group = entry.group or (Group.CUSTOM.value if entry.own else spec.group)  # own models: 'custom'
                meta = dict(arch=label, arch_group=group, spec_hash=spec.hash(),
                            genotype=spec.genotype.to_json() if spec.genotype else None,
                            dataset=d.name, size=study.size, seed=seed, recipe=recipe)

                def prio(kind: str, family: str = "", rank: int = 0) -> float:
                    return s_rank * 1e6 + cost_tier(kind, family) * 1e4 + rank * 100 + a_rank

                train_spec = {"kind": "train", **base}
                train = Job(job_id(train_spec), "train", "train", "train", params={},
                            priority=prio(JobKind.TRAIN), spec=train_spec, **meta)
                jobs.append(train)
                for rank, (m, params, at) in enumerate(metrics):
                    if not m.runs_on(seed, group, label):
                        continue
                    # params nested per family as the study wrote them ({"hessian": {"samples": 64}}): hashed,
                    # stored and handed to the metric as they are
                    js = {"kind": "metric", "name": m.name, "at": at, "params": params, **base}
                    jobs.append(Job(job_id(js), "metric", m.name, families[m.name],
                                    params={**params, "at": at}, priority=prio(JobKind.METRIC, rank=rank), spec=js,
                                    deps=(train.id,) if at == "trained" else (), **meta))
                for rank, (a, params, family) in enumerate(attacks):
                    if not a.runs_on(seed, group, label):
                        continue
                    js = {"kind": "attack", "name": a.name, "params": params, **base}
                    jobs.append(Job(job_id(js), "attack", a.name, family, params=params,
                                    priority=prio(JobKind.ATTACK, family, rank), spec=js, deps=(train.id,), **meta))
    jobs.sort(key=lambda j: (j.priority, j.id))
    return jobs


def own_model(entry: ArchEntry, size: str) -> tuple[ArchSpec, dict[str, Any]]:
    """(spec, job spec keys) of a study's own-model entry. The keys name the factory and, with
    weights, the file (absolute) and its sha256, so every job id and victim key follows them.
    Calls the factory once (under a fixed seed) for its structure."""
    import torch

    from archrisk.arch.user import from_factory, load_factory

    factory = load_factory(entry.model, "model")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        spec = from_factory(factory, size).spec
    keys: dict[str, Any] = {"model": entry.model}
    if entry.weights is not None:
        path = Path(entry.weights).expanduser().resolve()
        keys.update(weights=str(path), weights_sha256=file_sha256(path))
    return spec, keys


def _metric_family(name: str) -> str:
    """The metric's family in the metrics registry (e.g. 'hessian')."""
    from archrisk.metrics.base import family_of

    return family_of(metric_names(name)[0]).name
