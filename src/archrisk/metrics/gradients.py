"""Gradient variance across samples: the study's statistic and size-free forms.

Per-sample loss gradients g_i (batch of one, eval mode) over `samples` random images of the
`split` split (the study: 512 test images), each clipped to L2 norm `clip` (the
study: 5). Then, with P parameters and n samples,

- `grad_var`      = sum_j std_i(g_ij)  (the study's statistic: sum over parameters of the
                    per-parameter population standard deviation, ddof=0). It grows with
                    parameter count: clipping bounds it by clip * sqrt(P).
- `grad_var_per_sqrt_p` = grad_var / sqrt(P): the study's statistic on the scale of its bound,
                    so nets of different sizes compare (log10 P is in `extra` as `log_params`).
- `grad_var_norm` = sum_j var_i(g_ij) / ||mean_i g_i||^2 (ddof=1): total variance over the squared
                    norm of the mean gradient. It saturates near n when the mean gradient is small
                    (||mean||^2 then is mostly noise, about tr(Sigma)/n).
- `grad_snr`      = (||mean_i g_i||^2 - tr(Sigma)/n) / tr(Sigma): signal-to-noise with the noise's
                    share of ||mean||^2 removed (an unbiased numerator), near 0 (or below) when the
                    mean gradient is pure noise, large when the samples agree.

A model whose batch-norm layers still hold their initial running statistics (mean 0, variance 1:
a network at initialisation) does not normalise at all in eval mode; such a model is measured
on a copy whose statistics were first recalibrated on `bn_batches` training batches.

Per-sample gradients come from torch.func (vmap over grad), `chunk` samples at a time; only
running per-group (count, mean, M2) sums in float64 are kept (Chan's parallel update), so memory is
O(groups x parameters) whatever the number of samples. The standard error is a delete-one-group
jackknife over `groups` disjoint groups of samples.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Annotated, ClassVar

import torch

from archrisk.errors import ResourceError
from archrisk.meaning import Meaning
from archrisk.metrics.base import Estimate, MetricContext, register_metric
from archrisk.data import Split
from archrisk.metrics.functional import ModelFn, activation_bytes, chunk_size, gib
from archrisk.validate import Checked, Ge, OneOf


@dataclass(frozen=True)
class GradVarConfig(Checked):
    config_label: ClassVar[str] = "metric 'gradient_variance'"
    samples: Annotated[int, Ge(1)] = 512  # images (the study's 512)
    # which split the images come from (the study: test images)
    split: Annotated[str, OneOf(("train", "test"))] = "test"
    clip: Annotated[float, Ge(0)] = 5.0  # per-sample L2 clipping norm (the study's 5); 0 disables
    groups: Annotated[int, Ge(1)] = 8  # jackknife groups for the standard error
    chunk: Annotated[int, Ge(1)] = 64  # per-sample gradients computed at once (capped by the memory budget)
    # training batches of 64 that recalibrate initial batch-norm statistics
    bn_batches: Annotated[int, Ge(1)] = 4


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

    def statistics(self) -> tuple[float, float, float]:
        """(sum of per-parameter population stds, total variance / squared norm of the mean,
        debiased squared mean norm / total variance); variances with ddof=1 except the first."""
        pop = self.m2 / max(self.n, 1)
        var = self.m2 / max(self.n - 1, 1)
        mean_sq = float(self.mean.pow(2).sum())
        total = float(var.sum())
        snr = (mean_sq - total / self.n) / total if total > 0 else math.inf
        return float(pop.clamp_min(0).sqrt().sum()), (total / mean_sq if mean_sq > 0 else math.inf), snr


def clip_rows(g: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Scale each row to L2 norm <= max_norm (0: no clipping)."""
    if max_norm <= 0:
        return g
    norms = g.norm(dim=1, keepdim=True)
    return g * (max_norm / norms.clamp_min(1e-12)).clamp(max=1.0)


def _fresh_batch_norm(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    """Batch-norm layers still at their initial running statistics (mean 0, variance 1)."""
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
            and m.track_running_stats and m.running_mean is not None
            and bool((m.running_mean == 0).all()) and bool((m.running_var == 1).all())]


def recalibrated(ctx: MetricContext, batches: int) -> tuple[torch.nn.Module, bool]:
    """The model to measure: itself, or (initial batch-norm statistics) a copy whose statistics are
    the average over `batches` training batches of 64, everything else in eval mode."""
    if not _fresh_batch_norm(ctx.model):
        return ctx.model, False
    model = copy.deepcopy(ctx.model).eval()
    layers = _fresh_batch_norm(model)
    x, _ = ctx.sample("train", 64 * batches, "bn_batches", offset=7)
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
        m.train()
    with torch.no_grad():
        for i in range(0, len(x), 64):
            model(x[i:i + 64])
    return model.eval(), True


@register_metric(kind="model", config=GradVarConfig, metrics={
    "grad_var": "sum over parameters of the std of clipped per-sample loss gradients (the study's)",
    "grad_var_norm": "gradient variance over the squared norm of the mean gradient",
    "grad_var_per_sqrt_p": "the study's gradient variance over sqrt(parameter count), its bound's scale",
    "grad_snr": "debiased squared mean gradient norm over the total gradient variance (signal to noise)",
}, meanings={**{k: Meaning(-1, claims=("C6",)) for k in ("grad_var", "grad_var_norm", "grad_var_per_sqrt_p")},
             "grad_snr": Meaning(1, claims=("C6",))})  # C6: lower (relative) variance = riskier
def gradient_variance(ctx: MetricContext, cfg: GradVarConfig, names: tuple[str, ...]) -> dict[str, Estimate]:
    model, recal = recalibrated(ctx, cfg.bn_batches)
    fn = ModelFn(model)
    x, y = ctx.sample(cfg.split, cfg.samples, "samples")
    groups = min(cfg.groups, len(x))
    state_bytes = (groups + 1) * 2 * fn.dim * 8
    # a vmapped backward keeps ~3 activation copies and the [chunk, P] gradient rows (+ float64 copy)
    per_sample = 3 * activation_bytes(model, x) + 3 * fn.dim * 4
    if state_bytes + per_sample > ctx.memory_limit_bytes:
        raise ResourceError(f"grad_var: {groups} groups x {fn.dim:,} parameters need "
                            f"{gib(state_bytes + per_sample)} (memory_limit_gb={ctx.memory_limit_gb}); "
                            "lower gradient_variance.groups or raise memory_limit_gb")
    chunk = chunk_size(per_sample, ctx.memory_limit_bytes - state_bytes, cfg.chunk)
    # group g holds samples [bounds[g], bounds[g+1]); chunks never straddle a group boundary
    bounds = [round(k * len(x) / groups) for k in range(groups + 1)]
    per_group: list[Moments] = []
    clipped = 0
    for g in range(groups):
        acc = Moments(0, torch.zeros(0), torch.zeros(0))
        for i in range(bounds[g], bounds[g + 1], chunk):
            j = min(i + chunk, bounds[g + 1])
            rows = fn.per_sample_grads(x[i:j], y[i:j])  # [chunk, P]
            if cfg.clip > 0:
                clipped += int((rows.norm(dim=1) > cfg.clip).sum())
            acc = acc.merge(Moments.of(clip_rows(rows, cfg.clip)))
        per_group.append(acc)
    total = _merge(per_group)
    stats = total.statistics()
    # delete-one-group jackknife
    loo = [_merge(per_group[:g] + per_group[g + 1:]).statistics() for g in range(groups)] if groups > 1 else []
    root_p = math.sqrt(max(fn.dim, 1))
    extra = {"samples": len(x), "split": cfg.split if not isinstance(ctx.data, Split) else "given",
             "groups": groups, "params": fn.dim, "log_params": math.log10(max(fn.dim, 1)), "clip": cfg.clip,
             "clipped_fraction": clipped / len(x), "mean_grad_norm": float(total.mean.norm()),
             "ddof": 0, "bn_recalibrated": recal}
    se = [_jackknife([row[k] for row in loo]) for k in range(3)]
    return {
        "grad_var": Estimate(stats[0], se[0], extra),
        "grad_var_per_sqrt_p": Estimate(stats[0] / root_p, se[0] / root_p if se[0] is not None else None, extra),
        "grad_var_norm": Estimate(stats[1], se[1], {**extra, "ddof": 1}),
        "grad_snr": Estimate(stats[2], se[2], {**extra, "ddof": 1}),
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
