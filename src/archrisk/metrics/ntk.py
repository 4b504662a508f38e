"""Empirical neural tangent kernel on a batch: its conditioning and scale.

With J_k = d f_k(X) / d theta ([n, P], the Jacobian of logit k over n images), the kernel is
the class-averaged NTK

    Theta = (1/K) sum_k J_k J_k^T        ([n, n], K = number of logits)

so a linear model f(x) = W x has Theta = X X^T exactly (a bias adds 1 1^T); no width or
parameter-count normalisation is applied. Class-averaged means 1/K of the summed kernel
sum_k J_k J_k^T that most NTK papers (and TE-NAS) use: multiply by K to compare with those.
The Gram products are formed in float64 (a float32 product loses the small eigenvalues that
set the condition number). Reported: `ntk_cond` = lambda_max / lambda_min (inf
when lambda_min <= 0, i.e. numerically singular), `ntk_min`, `ntk_max`, `ntk_trace` = tr(Theta).
Measured at the model's current weights (explain(at='init') gives the initialisation, the study's
and TE-NAS's setting), eval mode, on `samples` random training images.

Per-sample Jacobians come from torch.func: vmap over jacrev (one forward per image, one
vectorised backward for all its logits, as many logits and images at a time as
`memory_limit_gb` allows, at least n x P floats) for small nets, and a loop of jacrev over
images above `LOOP_ABOVE_PARAMS` parameters, where the vmapped batch is slower than the loop
(benchmarks/ntk_paths.py measures the crossover). A request
whose Jacobian would not fit in `memory_limit_gb` is refused with the estimated size (ResourceError), not attempted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar

import numpy as np
import torch
from torch.func import jacrev, vmap

from archrisk.errors import ResourceError
from archrisk.meaning import Meaning
from archrisk.metrics.base import Estimate, MetricContext, register_metric
from archrisk.metrics.functional import ModelFn, activation_bytes, gib
from archrisk.validate import Checked, Ge


# Above this many parameters the per-image loop beats the vmapped Jacobian (measured 2.6x faster
# on a 700k-parameter net on CPU). Provisional: benchmarks/ntk_paths.py prints the ratio per size;
# it has not yet been run on a quiet machine, so the crossover is a round number below that point.
LOOP_ABOVE_PARAMS = 200_000


@dataclass(frozen=True)
class NTKConfig(Checked):
    config_label: ClassVar[str] = "metric 'ntk'"
    samples: Annotated[int, Ge(1)] = 64  # images in the kernel (Theta is samples x samples)
    batches: Annotated[int, Ge(1)] = 1  # independent batches (value = mean, stderr = spread)
    chunk: Annotated[int, Ge(1)] = 64  # images per vectorised Jacobian call (capped by the memory budget)


def ntk_bytes(n: int, params: int, act_per_sample: int, logits: int, group: int = 1, chunk: int = 1) -> int:
    """Memory of the kernel computed `group` logits and `chunk` images at a time: the Jacobian
    rows of all n images for the group (float32, plus the float64 copy the Gram uses), plus one chunk's vmapped backward (three activation
    copies per cotangent and its gradient rows)."""
    return n * group * params * (4 + 8) + chunk * group * (3 * act_per_sample + params * 4)


def empirical_ntk(model: torch.nn.Module, x: torch.Tensor, chunk: int = 64, group: int | None = None,
                  loop: bool | None = None) -> torch.Tensor:
    """[n, n] class-averaged empirical NTK (float64) of `model` (eval mode) at inputs x.

    Per-sample Jacobians come from vmap(jacrev) over `chunk` images at a time, or (`loop`; default:
    above LOOP_ABOVE_PARAMS parameters) from jacrev one image at a time; logits are taken `group` at
    a time (default: all), which bounds memory at n x group x P floats."""
    fn = ModelFn(model)
    loop = fn.dim > LOOP_ABOVE_PARAMS if loop is None else loop
    with torch.no_grad():
        k = fn.logits(fn.theta, x[:1]).shape[1]
    group = k if group is None else max(1, min(group, k))
    kernel = torch.zeros(len(x), len(x), dtype=torch.float64, device=x.device)
    for c0 in range(0, k, group):  # a loop over logit groups, never over samples
        cls = slice(c0, min(c0 + group, k))

        def logits(theta, xi, cls=cls):
            return fn.logits(theta, xi.unsqueeze(0))[0, cls]

        if loop:
            J = torch.stack([jacrev(logits)(fn.theta, xi) for xi in x])  # [n, g, P]
        else:
            jac = vmap(jacrev(logits), in_dims=(None, 0))
            J = torch.cat([jac(fn.theta, x[i:i + chunk]) for i in range(0, len(x), chunk)])  # [n, g, P]
        J = J.transpose(0, 1).double()  # [g, n, P]; the Gram in float64, not cast afterwards
        kernel += (J @ J.transpose(1, 2)).sum(0)
        del J
    return kernel / k


@register_metric(kind="model", config=NTKConfig, metrics={
    "ntk_cond": "condition number of the empirical NTK on a batch",
    "ntk_min": "smallest eigenvalue of the empirical NTK",
    "ntk_max": "largest eigenvalue of the empirical NTK",
    "ntk_trace": "trace of the empirical NTK (class-averaged, n = ntk_samples images)",
}, meanings={k: Meaning() for k in ("ntk_cond", "ntk_min", "ntk_max", "ntk_trace")})  # the study claims nothing here
def ntk(ctx: MetricContext, cfg: NTKConfig, names: tuple[str, ...]) -> dict[str, Estimate]:
    fn = ModelFn(ctx.model)
    x_all, _ = ctx.sample("train", cfg.samples * cfg.batches, ("samples", "batches"))
    batches = cfg.batches if len(x_all) >= cfg.batches else 1
    n = len(x_all) // batches
    act = activation_bytes(ctx.model, x_all)
    with torch.no_grad():
        k = ctx.model(x_all[:1]).shape[1]
    need = ntk_bytes(n, fn.dim, act, k)  # the least: one logit and one image at a time
    if need > ctx.memory_limit_bytes:
        raise ResourceError(f"NTK on {n} images x {fn.dim:,} parameters needs about {gib(need)} "
                            f"(memory_limit_gb={ctx.memory_limit_gb}); lower ntk.samples or raise memory_limit_gb")
    # as many logits, then as many images, at once as the budget allows
    group = max(g for g in range(1, k + 1) if ntk_bytes(n, fn.dim, act, k, g) <= ctx.memory_limit_bytes)
    chunk = max([c for c in range(1, min(cfg.chunk, n) + 1)
                 if ntk_bytes(n, fn.dim, act, k, group, c) <= ctx.memory_limit_bytes], default=1)
    rows = []
    for b in range(batches):
        evals = torch.linalg.eigvalsh(empirical_ntk(ctx.model, x_all[b * n:(b + 1) * n], chunk, group)).cpu().numpy()
        lo, hi = float(evals[0]), float(evals[-1])
        rows.append({"ntk_cond": hi / lo if lo > 0 else math.inf, "ntk_min": lo, "ntk_max": hi,
                     "ntk_trace": float(evals.sum()), "eigenvalues": evals})
    extra = {"samples": n, "batches": batches, "params": fn.dim, "logit_group": group, "chunk": chunk,
             "jacobian": "loop" if fn.dim > LOOP_ABOVE_PARAMS else "vmap"}
    out = {}
    for name in ("ntk_cond", "ntk_min", "ntk_max", "ntk_trace"):
        vals = [r[name] for r in rows]
        more = {"per_batch": vals}
        if name == "ntk_max":  # the spectrum once, on one entry, to keep records small
            more["eigenvalues"] = [float(v) for v in rows[0]["eigenvalues"][::-1]]
        out[name] = Estimate(float(np.mean(vals)), _spread(vals), {**extra, **more})
    return out


def _spread(values: list[float]) -> float | None:
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        return None
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))
