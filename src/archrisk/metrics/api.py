"""`measure` (a model on data) and `explain` (an architecture: build or train, then measure).

Both resolve metric names through the registry, route `**params` (one table per family,
`hessian={"samples": 64}`, plus measure()'s own options such as `memory_limit_gb`) to the
families, time each family, and return {name: MetricResult} in registry order.
"""
from __future__ import annotations

import math
import time
from typing import Any, Iterable

import torch

from archrisk.arch import ArchSpec
from archrisk.arch.user import Factory
from archrisk.data import Dataset, Split, load_dataset
from archrisk.errors import InvalidValueError
from archrisk.metrics.base import (Estimate, MetricContext, MetricFamily, MetricResult, family_of,
                                   list_metrics, metric_families, split_params)
from archrisk.train import (Recipe, TrainRequest, TrainResult, initial_model, resolve_arch, resolve_device,
                            resolve_recipe, run_training, train_epochs)
from archrisk.train.precision import float32

AT = ("trained", "init")


def _select(metrics: Iterable[str] | str | None, kinds: tuple[str, ...],
            default_kinds: tuple[str, ...] | None = None) -> dict[str, tuple[str, ...]]:
    """{family name: requested metric names} of the allowed `kinds`; None = every default name
    of `default_kinds` (all allowed kinds unless given)."""
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if metrics is None:
        names = [n for fam in metric_families() if fam.kind in (default_kinds or kinds) for n in fam.metrics]
    else:
        names = list(dict.fromkeys(metrics))
        if not names:
            raise InvalidValueError("no metric names given; choose from: " + ", ".join(list_metrics()))
    chosen: dict[str, list[str]] = {}
    for n in names:
        fam = family_of(n)  # UnknownNameError for an unknown name
        if fam.kind not in kinds:
            raise InvalidValueError(f"metric {n!r} needs a training run; use archrisk.metrics.explain "
                                    "(or `archrisk explain`) instead of measure")
        chosen.setdefault(fam.name, []).append(n)
    return {k: tuple(v) for k, v in chosen.items()}


def _configure(fams: dict[str, tuple[str, ...]], params: dict[str, Any]) -> tuple[dict, float]:
    """Validate every parameter before any work (training included): (configs, memory limit)."""
    by_name = {f.name: f for f in metric_families()}
    configs, options = split_params([by_name[f] for f in fams], params)
    limit = options["memory_limit_gb"]
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0:
        raise InvalidValueError(f"memory_limit_gb={limit!r} must be a number > 0")
    return configs, float(limit)


def _run(fams: dict[str, tuple[str, ...]], ctx_args: dict[str, Any], params: dict[str, Any]) -> dict[str, MetricResult]:
    by_name = {f.name: f for f in metric_families()}
    configs, limit = _configure(fams, params)
    out: dict[str, MetricResult] = {}
    for fam_name, names in fams.items():
        fam: MetricFamily = by_name[fam_name]
        ctx = MetricContext(**ctx_args, explicit=frozenset(params.get(fam_name, {})),
                            memory_limit_gb=limit, family=fam_name)
        t0 = time.perf_counter()
        # No metric touches global RNG state. All run in float32 even inside an autocast region:
        # the Hessian, NTK and gradient-variance estimates do not survive bf16 (train/precision.py).
        with torch.random.fork_rng(devices=_cuda(ctx.device)), float32():
            raw = fam.fn(ctx, configs[fam_name], names)
        cost = time.perf_counter() - t0
        for n in names:
            est = raw[n] if isinstance(raw[n], Estimate) else Estimate(float(raw[n]))
            se = est.stderr if est.stderr is not None and math.isfinite(est.stderr) else None
            out[n] = MetricResult(n, float(est.value), se, cost, dict(est.extra))
    return out


def measure(model: torch.nn.Module, data: Split | Dataset, metrics: Iterable[str] | str | None = None, *,
            seed: int = 0, device: str | torch.device = "cpu", **params: Any) -> dict[str, MetricResult]:
    """Measure `metrics` (default: every model metric) of `model` on `data`.

    `data` is a Dataset (weight-space metrics read its train split, input-space ones its test
    split) or a single Split (used for all). `params` are the families' parameters, one table per
    family, e.g. hessian={"samples": 128}, ntk={"samples": 32}, gradient_variance={"clip": 0},
    plus memory_limit_gb=4 (`list_params()`).
    The model is put in eval mode on `device` and restored (mode and device) afterwards;
    randomness comes from generators seeded by `seed`.
    """
    if not isinstance(model, torch.nn.Module):
        raise InvalidValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(data, (Split, Dataset)):
        raise InvalidValueError(f"data must be an archrisk Split or Dataset, got {type(data).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidValueError(f"seed={seed!r} must be a non-negative integer")
    fams = _select(metrics, ("model", "arch"), default_kinds=("model",))
    dev = resolve_device(device)
    first = next(model.parameters(), None)
    home = first.device if first is not None else dev
    was_training = model.training
    model.to(dev).eval()
    try:
        return _run(fams, {"model": model, "data": data, "device": dev, "seed": seed,
                           "spec": getattr(model, "spec", None)}, params)
    finally:
        model.to(home).train(was_training)


def explain(arch: str | Factory, dataset: str | Dataset = "mnist5k", *, size: str = "tiny", seed: int = 0,
            at: str = "trained", metrics: Iterable[str] | str | None = None, recipe: str | Recipe = "study",
            device: str = "cpu", victim: TrainResult | None = None, epochs: int | None = None,
            progress: bool = False, **params: Any) -> dict[str, MetricResult]:
    """Every property of an architecture in one table: the model metrics measured on its trained
    weights (`at='trained'`: train() or its cache, or `victim`) or on its seeded initialisation
    (`at='init'`: the same weights the training run starts from), the cell structure, and early
    convergence read from a training run's history (this trains, or loads, that run even at init;
    leave conv_* out of `metrics` to avoid it). `arch` may be the user's model factory. `params` as
    in `measure` (convergence={"k": 5}, ...)."""
    if at not in AT:
        raise InvalidValueError(f"at={at!r} is not one of: {', '.join(AT)}")
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidValueError(f"seed={seed!r} must be a non-negative integer")
    fams = _select(metrics, ("model", "arch", "training"))
    _configure(fams, params)  # bad parameters fail here, not after a training run
    rec = resolve_recipe(recipe, size)  # resolved once: everything below takes the Recipe
    source, dev = resolve_arch(arch, size), resolve_device(device)  # and the spec (or factory) and device
    needs_model = any(f.kind == "model" for f in metric_families() if f.name in fams)
    runs: dict[int | None, TrainResult] = {}

    def run(n_epochs: int | None) -> TrainResult:
        if victim is not None and (n_epochs is None or n_epochs == victim.epochs):
            return victim
        if n_epochs not in runs:
            length = train_epochs(rec, size, n_epochs if n_epochs is not None else epochs)
            runs[n_epochs] = run_training(TrainRequest(source, ds, rec, length, seed=seed, device=dev, size=size,
                                                       progress=progress))
        return runs[n_epochs]

    if at == "trained":
        model = run(None).model if needs_model or victim is not None else _init_model(source, ds, size, seed, rec)
    else:
        model = _init_model(source, ds, size, seed, rec)
    was_training = model.training
    model.to(dev).eval()
    try:
        return _run(fams, {"model": model, "data": ds, "device": dev, "seed": seed, "spec": model.spec,
                           "history_fn": lambda e: run(e).history}, params)
    finally:
        model.train(was_training)


def _init_model(arch: ArchSpec | Factory, ds: Dataset, size: str, seed: int, rec: Recipe) -> torch.nn.Module:
    """The initial weights of train(arch, ds, seed=seed): same seed, same global-RNG fork."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return initial_model(arch, ds, rec, size)


def list_params() -> dict[str, dict[str, Any]]:
    """{family: {parameter: default}} for every registered metric family."""
    return {f.name: f.params() for f in metric_families()}


def _cuda(dev: torch.device) -> list:
    return [dev] if dev.type == "cuda" else []
