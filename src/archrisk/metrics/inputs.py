"""Input-space smoothness around test points: what evasion attacks exploit.

- `input_grad_norm`: mean over test images of ||d loss / d x||_2 (cross-entropy of the true
  label; x in [0, 1] pixel units, so the model's normalisation is part of the function).
- `lipschitz`: mean over test images of a local Lipschitz estimate of the logits,
      L(x) = max_{||d||_2 <= r, x + d in [0, 1]} ||f(x + d) - f(x)||_2 / ||d||_2,
  found by starting on the top right-singular vector of the input Jacobian (the exact [K, D]
  Jacobian from K reverse passes, K = number of logits) and climbing the ratio by projected
  normalised-gradient ascent; the best ratio
  seen is kept, so the estimate is a lower bound on the true local constant. For an affine
  model it equals the largest singular value of the weight matrix.

Both are computed for all points at once (the model is in eval mode, so samples are independent
and one batched backward gives every per-sample input gradient); standard errors are across points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar

import torch
import torch.nn.functional as F
from torch.func import vjp

from archrisk.meaning import Meaning
from archrisk.metrics.base import Estimate, MetricContext, register_metric
from archrisk.metrics.functional import activation_bytes, chunk_size
from archrisk.validate import Checked, Ge, Gt


@dataclass(frozen=True)
class InputConfig(Checked):
    config_label: ClassVar[str] = "metric 'input_smoothness'"
    samples: Annotated[int, Ge(1)] = 128  # test images (stderr is already < 1% of the value at this size)
    radius: Annotated[float, Gt(0)] = 0.5  # L2 radius of the neighbourhood, in [0, 1] pixel units
    steps: Annotated[int, Ge(0)] = 10  # projected ascent steps on the ratio
    chunk: Annotated[int, Ge(1)] = 256  # images per forward pass


@register_metric(kind="model", config=InputConfig, metrics={
    "input_grad_norm": "mean L2 norm of the loss gradient w.r.t. the input, at test images",
    "lipschitz": "mean local Lipschitz constant of the logits in an L2 ball around test images",
}, meanings={k: Meaning(-1, claims=("C7",)) for k in ("input_grad_norm", "lipschitz")})  # C7: smoother = riskier
def input_smoothness(ctx: MetricContext, cfg: InputConfig, names: tuple[str, ...]) -> dict[str, Estimate]:
    x, y = ctx.sample("test", cfg.samples, "samples")
    with torch.no_grad():
        k = ctx.model(x[:1]).shape[1]
    # per image: a backward's activations and the [K, D] input Jacobian
    per_image = 4 * activation_bytes(ctx.model, x) + (k + 2) * x[0].numel() * 4
    chunk = chunk_size(per_image, ctx.memory_limit_bytes, cfg.chunk)
    grads, lips = [], []
    for i in range(0, len(x), chunk):
        xb, yb = x[i:i + chunk], y[i:i + chunk]
        if "input_grad_norm" in names:
            grads.append(input_grad_norms(ctx.model, xb, yb))
        if "lipschitz" in names:
            lips.append(local_lipschitz(ctx.model, xb, cfg.radius, cfg.steps))
    out = {}
    if grads:
        out["input_grad_norm"] = _summary(torch.cat(grads), {})
    if lips:
        out["lipschitz"] = _summary(torch.cat(lips), {"radius": cfg.radius, "norm": "l2"})
    return out


def input_grad_norms(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[n] per-sample ||d CE(f(x_i), y_i) / d x_i||_2 (sum of losses: each x_i only sees its own)."""
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)
    return g.flatten(1).norm(dim=1).detach()


def local_lipschitz(model: torch.nn.Module, x: torch.Tensor, radius: float, steps: int) -> torch.Tensor:
    """[n] local Lipschitz estimates of the logits around each x (see the module docstring)."""
    x = x.detach()
    f0, pullback = vjp(model, x)
    f0 = f0.detach()
    k = f0.shape[1]
    # the input Jacobian of every sample, one reverse pass per logit (graph reused): [n, K, D]
    eye = torch.eye(k, device=x.device, dtype=f0.dtype)
    J = torch.stack([pullback(eye[c].expand_as(f0))[0].flatten(1) for c in range(k)], dim=1)
    # top right-singular vector of each J_i from the small K x K Gram matrix J_i J_i^T
    _, vecs = torch.linalg.eigh(J @ J.transpose(1, 2))
    v = (J.transpose(1, 2) @ vecs[:, :, -1:]).squeeze(-1).view_as(x)
    del J
    best = torch.zeros(len(x), device=x.device, dtype=f0.dtype)
    d = _project(x, radius * v / _norms(v).clamp_min(1e-12), radius)
    step = radius / 4
    for t in range(steps + 1):
        d = d.detach().requires_grad_(True)
        dn = _norms(d).flatten()
        valid = dn > 1e-12
        ratio = (model(x + d) - f0).flatten(1).norm(dim=1) / dn.clamp_min(1e-12)
        best = torch.where(valid, torch.maximum(best, ratio.detach()), best)
        if t == steps:
            break
        (g,) = torch.autograd.grad(ratio.sum(), d)
        d = _project(x, d.detach() + step * g / _norms(g).clamp_min(1e-12), radius)
    return best


def _norms(t: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norms, shaped to broadcast against t."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.ndim - 1)))


def _project(x: torch.Tensor, d: torch.Tensor, radius: float) -> torch.Tensor:
    """Onto the L2 ball of `radius`, then into the valid image box [0, 1]."""
    d = d * (radius / _norms(d).clamp_min(1e-12)).clamp(max=1.0)
    return (x + d).clamp(0, 1) - x


def _summary(values: torch.Tensor, extra: dict) -> Estimate:
    v = values.double().cpu()
    se = float(v.std() / math.sqrt(len(v))) if len(v) > 1 else None
    return Estimate(float(v.mean()), se, {"n": len(v), "median": float(v.median()), "max": float(v.max()), **extra})
