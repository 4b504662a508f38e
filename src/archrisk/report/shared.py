"""Shared vulnerability: do different models fall to the same adversarial inputs?

For one seed, each model's evasion result names the test inputs it was attacked on and those the
attack fooled (`AttackResult.arrays['fooled']`, test-set indices). On a common set of inputs
(the inputs every compared model was attacked on) this module computes, per group of models:

- the histogram of inputs by how many of the group's models they fool (bin k = exactly k
  models), as counts and as fractions of the inputs;
- pairwise Jaccard indices |F_i & F_j| / |F_i | F_j| of the fooled sets, their mean within the
  group, and the mean between groups.

The study found that NAS models share far more of their weak inputs (mass at the high end of the
histogram, higher Jaccard). Groups differ in size, so `share_all` (fraction of inputs fooling
every model of the group) is only comparable between equal-sized groups; the mean pairwise
Jaccard is comparable across sizes. `over_seeds` returns one value per seed so the report can
put intervals over seeds on each quantity. Pure functions over sets of ints: no torch, no store.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from archrisk.errors import InvalidValueError

Fooled = Mapping[str, Iterable[int]]  # model name -> fooled test indices


def jaccard(a: set[int], b: set[int]) -> float:
    """|a & b| / |a | b|; NaN when both are empty (no evidence either way)."""
    union = len(a | b)
    return len(a & b) / union if union else math.nan


def common_inputs(attacked: Mapping[str, Iterable[int]]) -> set[int]:
    """The inputs every model was attacked on: the only fair ground for comparing fooled sets."""
    sets = [set(map(int, v)) for v in attacked.values()]
    return set.intersection(*sets) if sets else set()


def _restrict(fooled: Fooled, universe: set[int], models: Iterable[str]) -> dict[str, set[int]]:
    out = {}
    for m in models:
        if m not in fooled:
            raise InvalidValueError(f"model {m!r} has no fooled set; known: {', '.join(sorted(fooled))}")
        out[m] = set(map(int, fooled[m])) & universe
    return out


def fooled_counts(fooled: Fooled, universe: Iterable[int], models: Iterable[str] | None = None) -> np.ndarray:
    """For each input of `universe` (sorted), how many of `models` it fools."""
    u = sorted(set(map(int, universe)))
    sets = _restrict(fooled, set(u), models if models is not None else list(fooled))
    pos = {x: i for i, x in enumerate(u)}
    counts = np.zeros(len(u), dtype=np.int64)
    for s in sets.values():
        counts[[pos[x] for x in s]] += 1
    return counts


def jaccard_matrix(fooled: Fooled, models: list[str], universe: Iterable[int] | None = None) -> np.ndarray:
    """[m, m] pairwise Jaccard of the fooled sets (restricted to `universe` when given); diagonal 1
    (NaN for a model that is fooled on nothing)."""
    u = set(map(int, universe)) if universe is not None else set().union(*(set(map(int, fooled[m])) for m in models))
    sets = _restrict(fooled, u, models)
    m = len(models)
    out = np.full((m, m), math.nan)
    for i in range(m):
        for j in range(i, m):
            out[i, j] = out[j, i] = jaccard(sets[models[i]], sets[models[j]])
    return out


def _mean_pairs(mat: np.ndarray, rows: list[int], cols: list[int]) -> float:
    vals = [mat[i, j] for i in rows for j in cols if i != j and (i < j or rows != cols)]
    vals = [v for v in vals if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


@dataclass(frozen=True)
class GroupVulnerability:
    group: str
    models: tuple[str, ...]
    n_inputs: int  # size of the common input set
    histogram: tuple[int, ...]  # [k] inputs fooling exactly k of the group's models, k = 0..len(models)
    fractions: tuple[float, ...]  # histogram / n_inputs
    mean_jaccard: float  # mean pairwise Jaccard within the group (NaN with fewer than 2 models)
    share_all: float  # fraction of inputs fooling every model of the group
    share_any: float  # fraction of inputs fooling at least one model of the group


@dataclass(frozen=True)
class SharedVulnerability:
    models: tuple[str, ...]
    inputs: tuple[int, ...]  # the common test indices
    jaccard: np.ndarray  # [m, m] over `models`
    groups: dict[str, GroupVulnerability]
    between: dict[tuple[str, str], float]  # mean Jaccard between models of two groups

    def to_dict(self) -> dict:
        """JSON-able record (NaN -> None)."""
        def clean(v):
            return None if isinstance(v, float) and math.isnan(v) else v
        return {"models": list(self.models), "n_inputs": len(self.inputs),
                "jaccard": [[clean(float(v)) for v in row] for row in self.jaccard],
                "groups": {g: {k: (list(v) if isinstance(v, tuple) else clean(v)) for k, v in vars(gv).items()}
                           for g, gv in self.groups.items()},
                "between": {f"{a}|{b}": clean(v) for (a, b), v in self.between.items()}}


def shared_vulnerability(fooled: Fooled, groups: Mapping[str, str], *,
                         attacked: Mapping[str, Iterable[int]] | None = None,
                         universe: Iterable[int] | None = None) -> SharedVulnerability:
    """Histogram and Jaccard analysis of one seed's fooled sets.

    `groups` maps each model to its group (nas, manual, ...); only those models are used. The
    common inputs are `universe` if given, else the intersection of `attacked`, else (a fallback
    that hides inputs fooling no model, so histogram bin 0 is then empty) the union of the fooled sets.
    """
    models = sorted(groups)
    if not models:
        raise InvalidValueError("shared vulnerability needs at least one model")
    if universe is not None:
        u = set(map(int, universe))
    elif attacked is not None:
        missing = [m for m in models if m not in attacked]
        if missing:
            raise InvalidValueError(f"model {missing[0]!r} has no attacked set")
        u = common_inputs({m: attacked[m] for m in models})
    else:
        u = set().union(*(set(map(int, fooled.get(m, ()))) for m in models))
    mat = jaccard_matrix(fooled, models, u)
    by_group: dict[str, list[str]] = {}
    for m in models:
        by_group.setdefault(groups[m], []).append(m)
    out: dict[str, GroupVulnerability] = {}
    n = len(u)
    for g, ms in sorted(by_group.items()):
        counts = fooled_counts(fooled, u, ms)
        hist = np.bincount(counts, minlength=len(ms) + 1)
        idx = [models.index(m) for m in ms]
        out[g] = GroupVulnerability(
            g, tuple(ms), n, tuple(int(h) for h in hist),
            tuple(float(h / n) if n else math.nan for h in hist),
            _mean_pairs(mat, idx, idx),
            float(hist[-1] / n) if n else math.nan,
            float(1 - hist[0] / n) if n else math.nan)
    between = {}
    names = sorted(by_group)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            between[(a, b)] = _mean_pairs(mat, [models.index(m) for m in by_group[a]],
                                          [models.index(m) for m in by_group[b]])
    return SharedVulnerability(tuple(models), tuple(sorted(u)), mat, out, between)


def over_seeds(fooled_by_seed: Mapping[int, Fooled], groups: Mapping[str, str], *,
               attacked_by_seed: Mapping[int, Mapping[str, Iterable[int]]] | None = None
               ) -> dict[str, dict[str, list[float]]]:
    """Per group, one value per seed of mean_jaccard, share_all, share_any and each histogram
    fraction (`frac_k`), plus `between:<a>|<b>`: lists ready for a bootstrap interval over seeds.
    A seed uses only the models that have a result for it."""
    series: dict[str, dict[str, list[float]]] = {}
    for seed in sorted(fooled_by_seed):
        fooled = fooled_by_seed[seed]
        present = {m: g for m, g in groups.items() if m in fooled}
        if not present:
            continue
        attacked = attacked_by_seed.get(seed) if attacked_by_seed else None
        sv = shared_vulnerability(fooled, present, attacked=attacked)
        for g, gv in sv.groups.items():
            row = series.setdefault(g, {})
            for key in ("mean_jaccard", "share_all", "share_any"):
                row.setdefault(key, []).append(getattr(gv, key))
            for k, f in enumerate(gv.fractions):
                row.setdefault(f"frac_{k}", []).append(f)
        for (a, b), v in sv.between.items():
            series.setdefault("between", {}).setdefault(f"{a}|{b}", []).append(v)
    return series
