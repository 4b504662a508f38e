"""Study entries that expand into jobs: attacks and metrics, each with fixed parameters and an
optional grid (one job per grid point).

A metric entry's parameters are nested per metric family, as everywhere (`params = { hessian = {
samples = 64 } }`, `grid = { hessian.samples = [32, 64] }`), and keep that form from here to the
metric: the study id, the job specs and ids, the stored params_json and the metric all see the
same tables. Only a grid is combined as dotted keys ('hessian.samples'), inside this module.
"""
from __future__ import annotations

import itertools
import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from archrisk.errors import InvalidValueError
from archrisk.validate import flatten, nest


class StrictModel(BaseModel):
    """Study-file schema: unknown keys, wrong types and edits after parsing are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AttackEntry(StrictModel):
    name: str  # a registered attack (`archrisk attack --help`)
    params: dict[str, Any] = {}  # fixed overrides of the attack's defaults
    grid: dict[str, list[Any]] = {}  # each combination of these values becomes one job
    # run only on the victims of these seeds / architecture groups / architectures (unset: every victim); a costly
    # attack can run on fewer victims than the cheap ones. Not part of a job's id: the jobs it does
    # plan are the same jobs an unrestricted entry plans.
    seeds: list[int] | None = None
    groups: list[str] | None = None
    archs: list[str] | None = None  # architectures, as results name them

    @field_validator("seeds", "groups", "archs")
    @classmethod
    def _subset(cls, v: list | None) -> list | None:
        if v is not None and (not v or len(set(map(str, v))) != len(v)):
            raise ValueError("must be a non-empty list without repeats")
        return v

    def runs_on(self, seed: int, group: str, label: str) -> bool:
        """Whether this entry plans a job on a victim of this seed, group and label."""
        return ((self.seeds is None or seed in self.seeds) and (self.groups is None or group in self.groups)
                and (self.archs is None or label in self.archs))

    @staticmethod
    def _flat(values: dict[str, Any]) -> dict[str, Any]:
        """Parameters as single keys, the form a grid combines (a metric entry's: dotted)."""
        return values

    @staticmethod
    def _point(flat: dict[str, Any]) -> dict[str, Any]:
        """One combined parameter set in the form the entry was written in."""
        return flat

    @field_validator("grid")
    @classmethod
    def _nonempty(cls, grid: dict[str, Any]) -> dict[str, Any]:
        for k, values in cls._flat(grid).items():
            if not isinstance(values, list):
                raise ValueError(f"grid {k!r} must be a list of values")
            if not values:
                raise ValueError(f"grid {k!r} is an empty list")
            if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
                raise ValueError(f"grid {k!r} repeats a value")
        return grid

    @model_validator(mode="after")
    def _disjoint(self):
        both = sorted(set(self._flat(self.params)) & set(self._flat(self.grid)))
        if both:
            raise ValueError(f"{both[0]!r} is in both params and grid; keep one")
        return self

    def grid_size(self) -> int:
        """How many points `points()` would list, without listing them."""
        return math.prod(len(v) for v in self._flat(self.grid).values())

    def distinct_points(self) -> list[dict[str, Any]]:
        """The params alone, then each distinct grid value once (the others at their first value):
        checks every value a huge grid holds without walking its product."""
        params, grid = self._flat(self.params), self._flat(self.grid)
        first = {k: v[0] for k, v in grid.items()}
        return [self._point({**params, **first, k: v}) for k, values in sorted(grid.items()) for v in values] \
            or [self.params]

    def points(self) -> list[dict[str, Any]]:
        """Every parameter set of the grid (params merged in), in a deterministic order."""
        params, grid = self._flat(self.params), self._flat(self.grid)
        keys = sorted(grid)
        return [self._point({**params, **dict(zip(keys, combo))})
                for combo in itertools.product(*(grid[k] for k in keys))]


class MetricEntry(AttackEntry):
    name: str  # a metric (e.g. hessian_top) or a metric family (e.g. gradient_variance: all its metrics)
    at: list[Literal["init", "trained"]] = ["trained"]  # measure at initialisation and/or after training
    # nested per metric family ({ hessian = { samples = 64 } }); measure()'s options (memory_limit_gb) at the top
    params: dict[str, Any] = {}
    grid: dict[str, Any] = {}  # nested alike, lists of values: { hessian.samples = [32, 64] }

    _flat = staticmethod(flatten)  # {"hessian": {"samples": 64}} <-> {"hessian.samples": 64}: a grid's keys
    _point = staticmethod(nest)

    @field_validator("at", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("params", "grid", mode="before")
    @classmethod
    def _nested(cls, v: Any) -> Any:
        """One spelling: a quoted dotted key ("hessian.samples" = 64) is held as its table, as TOML
        holds hessian.samples = 64, so both give the same study id."""
        if not isinstance(v, dict):
            return v
        try:
            return nest(v)
        except InvalidValueError as e:
            raise ValueError(str(e)) from None


def metric_names(name: str) -> list[str]:
    """The metrics one metric job computes: a metric name, or a family name meaning all of its
    default metrics (computed together, e.g. grad_var and grad_var_norm share their gradients)."""
    import archrisk.metrics  # noqa: F401  (the package registers its families on import)
    from archrisk.errors import UnknownNameError
    from archrisk.metrics.base import family_of, list_metrics, metric_families

    for fam in metric_families():
        if fam.name == name:
            return list(fam.metrics)
    try:
        family_of(name)
    except UnknownNameError:
        raise UnknownNameError("metric or metric family", name,
                               [*list_metrics(), *(f.name for f in metric_families())]) from None
    return [name]


def check_metric(name: str, points: list[dict[str, Any]]) -> None:
    """The metric (or family) is registered and each parameter set is accepted by its family."""
    from archrisk.metrics.base import family_of, split_params

    fam = family_of(metric_names(name)[0])
    for p in points:
        split_params([fam], p)
