"""Metric results, the metric registry and the context every metric computes in.

A metric family is one function registered with one decorator:

    @dataclass(frozen=True)
    class CurvatureConfig(Checked):  # its parameters, with defaults and rules
        config_label: ClassVar[str] = "metric 'curvature'"
        samples: Annotated[int, Ge(1)] = 64

    @register_metric(kind="model", config=CurvatureConfig, metrics={
        "curv_top": "largest eigenvalue of ...", "curv_trace": "trace of ..."},
        meanings={"curv_top": Meaning(-1, claims=("C7",), description="..."), ...})
    def curvature(ctx: MetricContext, cfg: CurvatureConfig, names: tuple[str, ...]) -> dict:
        x, y = ctx.sample("train", cfg.samples, "samples")
        return {"curv_top": Estimate(1.0, 0.1, {"n": len(x)}), ...}

Parameters are nested per family: `measure(..., curvature={"samples": 32})`, in a study file
`params = { curvature = { samples = 32 } }`, on the command line `--set curvature.samples=32`.
Options of measure() itself (`memory_limit_gb`) stay at the top level.

Families computing several metrics at once (an eigendecomposition gives a condition number and
its extreme eigenvalues) compute them together; each result's `cost_s` is the family's wall time.
Kinds: `model` (needs weights and data: `measure`), `arch` (needs only the architecture spec),
`training` (needs a training history: `explain`).
`meanings` declares, per metric name (or '*' pattern), which direction the study ties to more risk
and the claim it bears on (`archrisk.meaning`); the runner stores them with the values. Metrics
are never headlines; an undeclared name means nothing (direction 0, no claim).
"""
from __future__ import annotations

import dataclasses
import fnmatch
import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from archrisk.data import Dataset, Split
from archrisk.errors import DuplicateNameError, InvalidValueError, UnknownNameError, close_matches
from archrisk.meaning import UNDECLARED, Meaning, check_table, resolve
from archrisk.registry import Registry
from archrisk.validate import build, fail

KINDS = ("model", "arch", "training")


@dataclass(frozen=True)
class MetricResult:
    """One measured property: its value, standard error (None when the method gives none), the
    wall time of the computation that produced it, and JSON-able details (eigenvalues, per-batch
    values, sample counts)."""

    name: str
    value: float
    stderr: float | None
    cost_s: float
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record: non-finite numbers become None (strict JSON has no NaN/inf)."""
        return {"name": self.name, "value": _finite_or_none(self.value),
                "stderr": _finite_or_none(self.stderr), "cost_s": self.cost_s, "extra": _jsonable(self.extra)}


@dataclass(frozen=True)
class Estimate:
    """What a metric function returns for one name; the registry adds name and cost."""

    value: float
    stderr: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MetricFamily:
    """A registered metric function and the names it produces."""

    name: str  # the function's name, e.g. 'hessian'
    kind: str  # model | arch | training
    fn: Callable[..., dict[str, Estimate | float]]
    config: type  # frozen dataclass of parameters
    metrics: dict[str, str]  # metric name -> one-line description (the default names)
    patterns: dict[str, str]  # regex -> description, for parametrised names (conv_epochs_to_80)
    meanings: dict[str, Meaning] = field(default_factory=dict)  # name or '*' pattern -> what it means

    def meaning(self, name: str) -> Meaning:
        return resolve(self.meanings, name)

    def provides(self, name: str) -> bool:
        return name in self.metrics or any(re.fullmatch(p, name) for p in self.patterns)

    def params(self) -> dict[str, Any]:
        return {f.name: f.default for f in dataclasses.fields(self.config)}


_FAMILIES: Registry[MetricFamily] = Registry("metric family")  # keyed by the function's name


def register_metric(*, kind: str, metrics: dict[str, str], config: type | None = None,
                    patterns: dict[str, str] | None = None, meanings: dict[str, Meaning] | None = None) -> Callable:
    """Function decorator registering a metric family; a duplicate metric name, a headline, or a
    meaning for a name the family does not produce raises."""
    if kind not in KINDS:
        raise InvalidValueError(f"metric kind {kind!r} is not one of {KINDS}")
    meanings = check_table(f"metric {'/'.join(metrics)}", meanings or {}, headlines=0)

    def wrap(fn: Callable) -> Callable:
        cfg = config or _NoParams
        for n in metrics:
            if any(fam.provides(n) for fam in _FAMILIES.values()):
                raise DuplicateNameError("metric", n)
        if fn.__name__ in _CONTEXT_PARAMS:
            raise InvalidValueError(f"metric family {fn.__name__!r} clashes with a measure() option")
        fam = MetricFamily(fn.__name__, kind, fn, cfg, dict(metrics), dict(patterns or {}))
        # a meaning without its own description takes the metric's
        fam = dataclasses.replace(fam, meanings={k: m if m.description or "*" in k else
                                                 dataclasses.replace(m, description=fam.metrics.get(k, ""))
                                                 for k, m in meanings.items()})
        unknown = [k for k in meanings if "*" not in k and not fam.provides(k)]
        if unknown:
            raise InvalidValueError(f"metric family {fn.__name__} declares a meaning for {unknown[0]!r}, which it "
                                    f"does not produce; declare one of {', '.join(metrics)}")
        _FAMILIES.register(fn.__name__, fam)
        return fn

    return wrap


@dataclass(frozen=True)
class _NoParams:
    pass


def list_metrics(pattern: str | None = None, kind: str | None = None) -> list[str]:
    """Registered metric names (default names of parametrised ones), in registration order."""
    names = [n for fam in _FAMILIES.values() if kind is None or fam.kind == kind for n in fam.metrics]
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def metric_families() -> list[MetricFamily]:
    return list(_FAMILIES.values())


def family_of(name: str) -> MetricFamily:
    for fam in _FAMILIES.values():
        if fam.provides(name):
            return fam
    raise UnknownNameError("metric", name, list_metrics())


def meaning_of(name: str) -> Meaning:
    """The declared meaning of a metric result (an unknown or undeclared name: `Meaning()`)."""
    fam = next((f for f in _FAMILIES.values() if f.provides(name)), None)
    return fam.meaning(name) if fam is not None else UNDECLARED


def describe(name: str) -> str:
    fam = family_of(name)
    if name in fam.metrics:
        return fam.metrics[name]
    return next(d for p, d in fam.patterns.items() if re.fullmatch(p, name))


# Options of measure() itself (not of one family); routed to MetricContext.
_CONTEXT_PARAMS = {"memory_limit_gb": 2.0}


def split_params(families: list[MetricFamily], params: Mapping[str, Any]) -> tuple[dict, dict[str, Any]]:
    """Route user parameters, nested per family ({"hessian": {"samples": 64}}, context options at
    the top): ({requested family: config}, context options). Every table given is validated, the
    tables of unrequested families too; any other key (an old flat name such as 'hessian_samples'
    too) is refused, with its nearest spelling as a hint."""
    for key, table in params.items():
        if key in _CONTEXT_PARAMS:
            continue
        if key not in _FAMILIES:
            raise _unknown_param(key)
        if not isinstance(table, Mapping):
            raise fail("metric", key, table, f"must be a table of {key}'s parameters, e.g. "
                       f"{key}.{next(iter(_FAMILIES[key].params()), 'name')}=...")
    # values are kept as given (no conversion): they enter job ids
    names = dict.fromkeys([*(f.name for f in families), *(k for k in params if k in _FAMILIES)])
    configs = {n: build(_FAMILIES[n].config, params.get(n, {}), f"metric {n!r}") for n in names}
    context = {k: params.get(k, d) for k, d in _CONTEXT_PARAMS.items()}
    return {f.name: configs[f.name] for f in families}, context


def _unknown_param(key: str) -> InvalidValueError:
    """An unknown top-level parameter; the hint is the closest family, option or 'family.field' of a
    family named as the key begins (so 'input_samples' finds 'input_smoothness.samples', not 'ntk.samples')."""
    known = [*(n for n, f in _FAMILIES.items() if f.params()), *_CONTEXT_PARAMS]
    fields = [f"{n}.{p}" for n, f in _FAMILIES.items() if n[:3] == key[:3] for p in f.params()]
    near = close_matches(key, [*known, *fields], n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return InvalidValueError(f"metric has no parameter {key!r}{hint}; known: {', '.join(sorted(known))}")


@dataclass
class MetricContext:
    """What a metric function may use: the model in eval mode on `device`, the data, a seeded
    generator per family, the parameters the user set explicitly, and a memory budget."""

    model: torch.nn.Module | None
    data: Dataset | Split | None
    device: torch.device
    seed: int
    explicit: frozenset[str]  # the family's parameters the user set (an explicit size larger than the data is an error)
    memory_limit_gb: float = 2.0
    spec: Any = None  # ArchSpec when known (structure metrics)
    history_fn: Callable[[int | None], list] | None = None  # epochs -> training history (explain only)
    family: str = ""

    def generator(self, offset: int = 0) -> torch.Generator:
        """CPU generator seeded from (seed, family): a metric's numbers do not depend on which
        other metrics were requested. Draw on CPU and move, so CPU and CUDA runs agree."""
        tag = zlib.crc32(self.family.encode()) + offset
        return torch.Generator().manual_seed((self.seed * 1_000_003 + tag) % 2**63)

    def split(self, role: str) -> Split:
        """The split a metric reads: `role` ('train' or 'test') of a Dataset, or the given Split."""
        if isinstance(self.data, Split):
            return self.data
        return getattr(self.data, role)

    def sample(self, role: str, n: int, param: str | tuple[str, ...],
               offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """`n` images drawn without replacement (seeded) from the `role` split, on the device.
        Asking explicitly (through `param`: a name, or the names whose product is n) for more
        than the split holds raises; a default is capped."""
        split = self.split(role)
        if n > len(split):
            names = (param,) if isinstance(param, str) else param
            if any(p in self.explicit for p in names):
                field = names[0] if len(names) == 1 else " x ".join(names)
                raise fail(f"metric {self.family!r}", field, n, f"is larger than the {len(split)} images "
                           f"available (the {role} split); use at most {len(split)}")
            n = len(split)
        if n < 1:
            raise InvalidValueError(f"the {role} split is empty; metrics need at least one image")
        idx = torch.randperm(len(split), generator=self.generator(offset))[:n]
        return split.x[idx].to(self.device), split.y[idx].to(self.device)

    @property
    def memory_limit_bytes(self) -> float:
        return self.memory_limit_gb * 2**30


def _finite_or_none(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.tolist())
    if isinstance(obj, float):
        return _finite_or_none(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _jsonable(obj.item())
    return obj
