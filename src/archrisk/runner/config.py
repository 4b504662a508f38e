"""Study files: TOML parsed into a validated, frozen `Study`.

A study names its architectures, one or more datasets, a size preset, a training recipe, the
attacks (each with fixed parameters and an optional grid, one job per grid point), the
explanation metrics and the seeds. Validation happens in two passes, both before any job runs:
the schema (unknown keys, wrong types, out-of-range values) and the names (architectures,
datasets, recipe fields, attacks and their parameters, metrics). Every error names the file
and the key, on one line.

    name = "demo"
    seeds = [0, 1]
    size = "tiny"
    archs = ["darts_v2", "resnet18", { genotype = "Genotype(...)", label = "mine", group = "custom" },
             { model = "mypkg.nets:make_net", label = "my_net" }]
    [data]
    name = "mnist5k"
    limit = 1000
    [recipe]
    epochs = 4
    [[attacks]]
    name = "pgd"
    params = { n = 200 }
    grid = { eps = [0.1, 0.2] }
    [[attacks]]
    name = "label_flip"
    seeds = [0]                    # optional: only the victims of these seeds ...
    groups = ["nas", "manual"]     # ... and of these groups (a costly attack on fewer victims)
    [[metrics]]
    name = "gradient_variance"
    at = ["init", "trained"]
    params = { gradient_variance = { samples = 128 } }  # nested per metric family; grids alike

A `model` entry is the user's own network, `package.module:factory` (a callable returning a fresh
nn.Module for inputs in [0, 1]): validating the study IMPORTS AND RUNS that module (their own
code, named explicitly), so it must be importable from the working folder or PYTHONPATH. Its
victim is trained from the factory like any architecture, or, with `weights = "file.safetensors"`,
those weights are attacked as they are (nothing trained; paths are relative to the working folder).
"""
from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from archrisk.analysis import parse_analysis
from archrisk.vocab import Group
from archrisk.errors import ArchriskError, InvalidValueError, StudyError  # noqa: F401  (StudyError: imported from here too)
from archrisk.runner.entries import AttackEntry, MetricEntry, StrictModel, check_metric, metric_names  # noqa: F401

# A study larger than this is a typo (a grid of thousands of values), not a plan: refused up front.
MAX_JOBS = 100_000
EXHAUSTIVE_CHECK = 1_000  # grids up to this many points are checked point by point

GROUPS = tuple(g.value for g in Group)


class DataConfig(StrictModel):
    name: str = "mnist5k"  # a registered dataset (`archrisk list`)
    limit: int | None = Field(None, ge=1)  # cap on training images (fast studies)
    split_seed: int = Field(0, ge=0)  # which train/val/pool carving
    val_fraction: float = Field(0.1, ge=0, lt=1)
    pool_fraction: float = Field(0.2, ge=0, lt=1)
    data_dir: str | None = None  # folder with the standard archives (cifar10, ...)


GROUP_RULE = "use a lower-case letter then up to 31 of a-z, 0-9, '_', '-'"


def is_group_name(v: str) -> bool:
    return re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", v) is not None


def _check_seeds(v: list[int]) -> list[int]:
    """A study's or an architecture's seeds: distinct and non-negative."""
    if any(s < 0 for s in v) or len(set(v)) != len(v):
        raise ValueError("seeds must be distinct non-negative integers")
    return v


class ArchEntry(StrictModel):
    name: str | None = None  # registry name or 'random(k)'
    genotype: str | None = None  # DARTS syntax or JSON; mutually exclusive with name
    model: str | None = None  # the user's own network: package.module:factory (imported at validation)
    weights: str | None = None  # with model: a .safetensors file attacked as it is instead of training
    label: str | None = None  # how results name it (default: the architecture's name, or the model string)
    # default: the registry's group (nas | random | manual | remedy | custom). Any other name is a group of the
    # study's own (e.g. the arms of a search comparison); the report compares such groups pairwise.
    group: str | None = None
    # this architecture's seeds instead of the study's (e.g. more seeds for a paired remedy comparison)
    seeds: list[int] | None = Field(None, min_length=1)

    @field_validator("seeds")
    @classmethod
    def _own_seeds(cls, v: list[int] | None) -> list[int] | None:
        return v if v is None else _check_seeds(v)

    @field_validator("group")
    @classmethod
    def _group_name(cls, v: str | None) -> str | None:
        if v is not None and not is_group_name(v):
            raise ValueError(f"group {v!r}: {GROUP_RULE}")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> ArchEntry:
        if sum(x is not None for x in (self.name, self.genotype, self.model)) != 1:
            raise ValueError("give exactly one of 'name', 'genotype' or 'model'")
        if self.weights is not None and self.model is None:
            raise ValueError("'weights' goes with 'model = \"package.module:factory\"' (zoo victims are trained)")
        return self

    @property
    def own(self) -> bool:
        """The user's own model (a factory), not an architecture archrisk builds."""
        return self.model is not None

    @property
    def text(self) -> str:
        """The architecture string: a zoo name, a genotype, or the factory's package.module:factory."""
        return self.name if self.name is not None else self.genotype if self.genotype is not None else self.model


class Study(StrictModel):
    name: str = Field(min_length=1)
    description: str = ""
    seeds: list[int] = Field(min_length=1)  # one victim per (architecture, dataset, seed)
    size: str = "tiny"  # size preset: tiny | small | paper
    device: str = "cpu"  # default device; `archrisk audit --device` overrides it
    data: list[DataConfig] = Field([DataConfig()], min_length=1)  # [data] or [[data]]
    recipe: dict[str, Any] = {}  # name = "study" | "darts", plus any Recipe field (epochs, lr, ...)
    archs: list[ArchEntry] = Field(min_length=1)
    attacks: list[AttackEntry] = []
    metrics: list[MetricEntry] = []
    # "cells": rebuild each manual net at the width whose parameter count matches the median of the
    # study's NAS and random cells (runner/matching.py), so groups differ in design, not size
    match_size: Literal["cells"] | None = None
    # what the report's analysis registers (archrisk/analysis.py): claims protocol, confirmatory
    # estimand, victim quality gate; unset: the defaults of studies registered before it existed
    analysis: dict[str, Any] | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _data_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @field_validator("archs", mode="before")
    @classmethod
    def _arch_names(cls, v: Any) -> Any:
        return [{"name": a} if isinstance(a, str) else a for a in v] if isinstance(v, list) else v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        return _check_seeds(v)

    def spec(self) -> dict[str, Any]:
        """Canonical JSON-able form (what the study id hashes); an unset match_size or analysis is left
        out, so studies written before they existed keep their ids."""
        unset = {k for k in ("match_size", "analysis") if getattr(self, k) is None}
        spec = self.model_dump(mode="json", exclude=unset or None)  # metric parameters nested, as written
        for a in spec["archs"]:
            for key in ("seeds", "model", "weights"):  # unset: studies written before they existed keep their ids
                if a.get(key) is None:
                    a.pop(key, None)
        for entry in (*spec["attacks"], *spec["metrics"]):
            for key in ("seeds", "groups", "archs"):  # unset: studies written before they existed keep their ids
                if entry.get(key) is None:
                    entry.pop(key, None)
        return spec

    def seeds_of(self, entry: ArchEntry) -> list[int]:
        """The seeds `entry` is trained on: its own, else the study's."""
        return entry.seeds if entry.seeds is not None else self.seeds

    def all_seeds(self) -> list[int]:
        """Every seed any architecture uses, the study's first, in order."""
        out = list(self.seeds)
        for a in self.archs:
            out += [s for s in self.seeds_of(a) if s not in out]
        return out

    def id(self) -> str:
        return hashlib.sha256(json.dumps(self.spec(), sort_keys=True).encode()).hexdigest()[:16]

    def labels(self) -> list[str]:
        from archrisk.arch import resolve

        out = []
        for a in self.archs:
            if a.own:
                out.append(a.label or a.model)
                continue
            spec = resolve(a.text, self.size)
            matched = self.match_size is not None and spec.kind == "manual"
            out.append(a.label or spec.name + ("-matched" if matched else ""))  # matching.MATCHED_SUFFIX
        return out


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_study(text: str, source: str = "<study>") -> Study:
    """Parse and fully validate a study given as TOML text; StudyError names source and key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise StudyError(f"{source}: invalid TOML: {e}") from None
    try:
        study = Study.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = _loc(tuple(p for p in err["loc"] if not str(p).startswith("function-")))
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] == "missing":
            msg = "required key is missing"
        raise StudyError(f"{source}: {where}: {msg.removeprefix('Value error, ')}") from None
    check_names(study, source)
    return study


def load_study(path: str | Path) -> tuple[Study, str]:
    """(Study, source text) from a TOML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyError(f"study file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StudyError(f"study file {p} cannot be read ({e})") from None
    return parse_study(text, str(p)), text


def check_names(study: Study, source: str) -> None:
    """Second pass: every name refers to something registered and every parameter is accepted."""
    from archrisk.arch import resolve
    from archrisk.arch.zoo import get_size
    from archrisk.data.registry import get_dataset_entry

    def at(key: str, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except ArchriskError as e:
            raise StudyError(f"{source}: {key}: {e}") from None

    at("size", get_size, study.size)
    try:  # its errors already name the table: "analysis: protocol=3 ..."
        analysis = parse_analysis(study.analysis)
    except ArchriskError as e:
        raise StudyError(f"{source}: {e}") from None
    at("device", check_device, study.device, available=False)
    for i, d in enumerate(study.data):
        at(f"data[{i}].name", get_dataset_entry, d.name)
        if d.val_fraction + d.pool_fraction >= 1:
            raise StudyError(f"{source}: data[{i}]: val_fraction + pool_fraction must be below 1")
    at("recipe", build_recipe, study)
    for i, a in enumerate(study.archs):
        if a.own:
            at(f"archs[{i}]", check_own_model, a)
        else:
            at(f"archs[{i}]", resolve, a.text, study.size)
    labels = study.labels()
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise StudyError(f"{source}: archs: {dup[0]!r} is listed twice; give one entry a distinct label")
    seeds, groups = set(study.all_seeds()), {a.group or (Group.CUSTOM.value if a.own else resolve(a.text, study.size).group)
                                            for a in study.archs}
    for kind, entries in (("attacks", study.attacks), ("metrics", study.metrics)):
        for i, e in enumerate(entries):
            if bad := [x for x in (e.seeds or []) if x not in seeds]:
                raise StudyError(f"{source}: {kind}[{i}].seeds: seed {bad[0]} is not one of the study's {sorted(seeds)}")
            if bad := [x for x in (e.groups or []) if x not in groups]:
                raise StudyError(f"{source}: {kind}[{i}].groups: no architecture of the study is in group {bad[0]!r} "
                                 f"(its groups: {', '.join(sorted(groups))})")
            if bad := [x for x in (e.archs or []) if x not in labels]:
                raise StudyError(f"{source}: {kind}[{i}].archs: {bad[0]!r} is not one of the study's architectures "
                                 "(as results name them)")
    unknown = [a for a in analysis.fixed_archs if a not in labels]
    if unknown:
        raise StudyError(f"{source}: analysis: fixed_archs names {unknown[0]!r}, which is not one of the study's "
                         f"architectures (as results name them: {', '.join(labels[:6])}{', ...' if len(labels) > 6 else ''})")
    victims = sum(len(study.seeds_of(a)) for a in study.archs) * len(study.data)
    jobs = victims * (1 + sum(a.grid_size() for a in study.attacks)
                      + sum(m.grid_size() * len(m.at) for m in study.metrics))
    if jobs > MAX_JOBS:
        raise StudyError(f"{source}: the study expands to {jobs:,} jobs; at most {MAX_JOBS:,} are supported: "
                         "shrink the grids or split the study")
    if study.match_size is not None:
        from archrisk.runner.matching import target_params

        for d in study.data:
            at("match_size", target_params, study, d)
    # Each point when there are few; each distinct value once when a grid is large.
    for i, a in enumerate(study.attacks):
        for point in (a.points() if a.grid_size() <= EXHAUSTIVE_CHECK else a.distinct_points()):
            at(f"attacks[{i}]", make_attack, a.name, point)
    for i, m in enumerate(study.metrics):
        at(f"metrics[{i}]", check_metric, m.name,
           m.points() if m.grid_size() <= EXHAUSTIVE_CHECK else m.distinct_points())


def check_own_model(entry: ArchEntry) -> None:
    """The factory imports (this RUNS the user's module), returns an nn.Module, and its weights file,
    if any, is a readable .safetensors that fits that module."""
    import torch

    from archrisk.arch.user import load_factory, load_weights_file, wrap

    factory = load_factory(entry.model, "model")
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the factory may draw initial weights: leave the caller's RNG as it was
        module = factory()
    wrap(module)  # refuses anything that is not an nn.Module
    if entry.weights is not None:
        load_weights_file(module, entry.weights, "weights")


def check_device(device: str, available: bool = True) -> None:
    """A well-formed device (cpu, cuda, cuda:N) and, when `available`, one this machine has. A
    study names its intended device; only the device an audit actually uses must exist here."""
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:  # torch's own message for a malformed device string
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise InvalidValueError(f"device {device!r} is not supported; use cpu, cuda or cuda:N")
    if available:
        from archrisk.train import resolve_device

        resolve_device(device)


def build_recipe(study: Study):
    """The study's Recipe, with the size preset's adjustments under a named recipe (as `train` does)."""
    from archrisk.train import resolve_recipe

    overrides = dict(study.recipe)
    name = overrides.pop("name", "study")
    if not isinstance(name, str):
        raise StudyError(f"recipe name must be a string, got {name!r}")
    return resolve_recipe(name, study.size, **overrides)


def make_attack(name: str, params: dict[str, Any]):
    """Build the attack config (unknown parameters and badly typed values raise)."""
    from archrisk.attacks import get_attack

    return get_attack(name, **params)
