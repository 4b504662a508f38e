"""Gradient variance across samples: the study's statistic and a normalised form.

Per-sample loss gradients g_i (batch of one, eval mode) over `grad_samples` random training
images, each clipped to L2 norm `grad_clip` (the study: 512 images, clip 5). Then

- `grad_var`      = sum_j std_i(g_ij)  (the study's statistic: sum over parameters of the
                    per-parameter standard deviation, ddof=1). It grows with parameter count.
- `grad_var_norm` = sum_j var_i(g_ij) / ||mean_i g_i||^2: total gradient variance over the
                    squared norm of the mean gradient (noise-to-signal ratio), dimensionless, so
                    architectures of different sizes compare.

Per-sample gradients come from torch.func (vmap over grad), `grad_chunk` samples at a time; only
running per-group (count, mean, M2) sums in float64 are kept (Chan's parallel update), so memory is
O(groups x parameters) whatever the number of samples. The standard error is a delete-one-group
jackknife over `grad_groups` disjoint groups of samples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from archrisk.errors import ResourceError
from archrisk.meaning import Meaning
from archrisk.metrics.base import Estimate, MetricContext, register_metric, require
from archrisk.metrics.functional import ModelFn, activation_bytes, chunk_size, gib


@dataclass(frozen=True)
class GradVarConfig:
    grad_samples: int = 512  # images (the study's 512)
    grad_clip: float = 5.0  # per-sample L2 clipping norm (the study's 5); 0 disables
    grad_groups: int = 8  # jackknife groups for the standard error
    grad_chunk: int = 64  # per-sample gradients computed at once (capped by the memory budget)

    def __post_init__(self) -> None:
        require(self, counts=("grad_samples", "grad_groups", "grad_chunk"), nonneg=("grad_clip",))


@dataclass
class Moments:
    """Running count, mean and sum of squared deviations of row vectors (float64)."""

    n: int
    mean: torch.Tensor
    m2: torch.Tensor

    @classmethod
    def of(cls, rows: torch.Tensor) -> Moments:
        rows = rows.double()
        mean = rows.mean(0)
        return cls(len(rows), mean, ((rows - mean) ** 2).sum(0))

    def merge(self, other: Moments) -> Moments:
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        return Moments(n, self.mean + delta * (other.n / n), self.m2 + other.m2 + delta**2 * (self.n * other.n / n))

    def statistics(self) -> tuple[float, float]:
        """(sum of per-parameter stds, total variance / squared norm of the mean)."""
        var = self.m2 / max(self.n - 1, 1)
        mean_sq = float(self.mean.pow(2).sum())
        total = float(var.sum())
        return float(var.clamp_min(0).sqrt().sum()), (total / mean_sq if mean_sq > 0 else math.inf)


def clip_rows(g: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Scale each row to L2 norm <= max_norm (0: no clipping)."""
    if max_norm <= 0:
        return g
    norms = g.norm(dim=1, keepdim=True)
    return g * (max_norm / norms.clamp_min(1e-12)).clamp(max=1.0)


@register_metric(kind="model", config=GradVarConfig, metrics={
    "grad_var": "sum over parameters of the std of clipped per-sample loss gradients (the study's)",
    "grad_var_norm": "gradient variance over the squared norm of the mean gradient (size-free)",
}, meanings={k: Meaning(-1, claims=("C6",)) for k in ("grad_var", "grad_var_norm")})  # C6: lower variance = riskier
def gradient_variance(ctx: MetricContext, cfg: GradVarConfig, names: tuple[str, ...]) -> dict[str, Estimate]:
    fn = ModelFn(ctx.model)
    x, y = ctx.sample("train", cfg.grad_samples, "grad_samples")
    groups = min(cfg.grad_groups, len(x))
    state_bytes = (groups + 1) * 2 * fn.dim * 8
    # a vmapped backward keeps ~3 activation copies and the [chunk, P] gradient rows (+ float64 copy)
    per_sample = 3 * activation_bytes(ctx.model, x) + 3 * fn.dim * 4
    if state_bytes + per_sample > ctx.memory_limit_bytes:
        raise ResourceError(f"grad_var: {groups} groups x {fn.dim:,} parameters need "
                            f"{gib(state_bytes + per_sample)} (memory_limit_gb={ctx.memory_limit_gb}); "
                            "lower grad_groups or raise memory_limit_gb")
    chunk = chunk_size(per_sample, ctx.memory_limit_bytes - state_bytes, cfg.grad_chunk)
    # group g holds samples [bounds[g], bounds[g+1]); chunks never straddle a group boundary
    bounds = [round(k * len(x) / groups) for k in range(groups + 1)]
    per_group: list[Moments] = []
    clipped = 0
    for g in range(groups):
        acc = Moments(0, torch.zeros(0), torch.zeros(0))
        for i in range(bounds[g], bounds[g + 1], chunk):
            j = min(i + chunk, bounds[g + 1])
            rows = fn.per_sample_grads(x[i:j], y[i:j])  # [chunk, P]
            if cfg.grad_clip > 0:
                clipped += int((rows.norm(dim=1) > cfg.grad_clip).sum())
            acc = acc.merge(Moments.of(clip_rows(rows, cfg.grad_clip)))
        per_group.append(acc)
    total = _merge(per_group)
    value, value_norm = total.statistics()
    # delete-one-group jackknife
    loo = [_merge(per_group[:g] + per_group[g + 1:]).statistics() for g in range(groups)] if groups > 1 else []
    extra = {"samples": len(x), "groups": groups, "params": fn.dim, "clip": cfg.grad_clip,
             "clipped_fraction": clipped / len(x), "mean_grad_norm": float(total.mean.norm())}
    return {
        "grad_var": Estimate(value, _jackknife([s for s, _ in loo]), extra),
        "grad_var_norm": Estimate(value_norm, _jackknife([s for _, s in loo]), extra),
    }


def _merge(parts: list[Moments]) -> Moments:
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return out


def _jackknife(values: list[float]) -> float | None:
    g = len(values)
    if g < 2 or not all(math.isfinite(v) for v in values):
        return None
    mean = sum(values) / g
    return math.sqrt((g - 1) / g * sum((v - mean) ** 2 for v in values))
