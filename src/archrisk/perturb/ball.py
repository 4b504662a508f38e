"""The threat model's geometry: projections onto the eps-ball within the [0, 1] box, steepest-ascent
directions of unit norm, and random starts inside the ball.

Two projections onto the L-inf ball, equal up to the rounding of x0 + (x - x0):
- `project` clamps the perturbation, then the box (torchattacks' and ART's order); the evasion
  attacks use it, and their numbers are pinned to those libraries step for step;
- `linf_box` + `clip` precompute ball ∩ box as two bounds and clip to them (the TRADES reference
  code's form, one min and one max per step); adversarial training uses it, and the weights it
  stored were trained with it.
"""
from __future__ import annotations

import torch


def _per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *[1] * (like.ndim - 1))  # [N] -> [N, 1, 1, 1] to broadcast over a sample


def project(x: torch.Tensor, x0: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Into the eps-ball around x0, then into [0, 1] (clipping never leaves the ball of a convex norm)."""
    delta = x - x0
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        n = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
        delta = delta * _per_sample((eps / n).clamp(max=1.0), x)
    return (x0 + delta).clamp(0.0, 1.0)


def linf_box(x0: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(lo, hi): the L-inf eps-ball around x0 intersected with [0, 1], as elementwise bounds."""
    return (x0 - eps).clamp_(0.0, 1.0), (x0 + eps).clamp_(0.0, 1.0)


def clip(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Onto the bounds of `linf_box` (the min first, so a NaN stays visible rather than clipped)."""
    return torch.max(torch.min(x, hi), lo)


def ascent(g: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent direction of unit norm: sign(g) for L-inf, g/||g||_2 for L2."""
    if norm == "linf":
        return g.sign()
    return g / _per_sample(g.flatten(1).norm(dim=1).clamp_min(1e-12), g)


def uniform_noise(x: torch.Tensor, eps: float, gen: torch.Generator) -> torch.Tensor:
    """Noise uniform in [-eps, eps] shaped like x; drawn from the CPU generator and then moved, so
    that one seed gives the same start on any device."""
    return (torch.rand(x.shape, generator=gen) * 2 - 1).mul_(eps).to(x.device, x.dtype)


def random_start(x0: torch.Tensor, eps: float, norm: str, gen: torch.Generator) -> torch.Tensor:
    """A point drawn uniformly from the eps-ball around x0 (L-inf: per coordinate; L2: a uniform
    direction and a radius with the volume's law), projected into [0, 1]."""
    if norm == "linf":
        return project(x0 + uniform_noise(x0, eps, gen), x0, eps, norm)
    u = torch.rand(x0.shape, generator=gen).to(x0.device)
    d = ascent(torch.randn(x0.shape, generator=gen).to(x0.device), "l2")
    r = _per_sample(u.flatten(1)[:, :1].pow(1 / x0[0].numel()), x0)  # uniform in the ball
    return project(x0 + d * r * eps, x0, eps, norm)
