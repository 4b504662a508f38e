"""Loss landscapes: 2-D loss surfaces around the trained point and scalar roughness summaries (C7).

Three surfaces, each the loss on a `points` x `points` grid of (a, b):

- conv:   L(theta + a d1 + b d2) with d1, d2 random orthogonal +-1 vectors over the FIRST conv
          layer's weights only (the study's contour plots), a, b in [-0.5, 0.5]; mean loss over
          `samples` training images.
- filter: the same over ALL weights with filter-normalised Gaussian directions (Li et al.,
          NeurIPS 2018): each output filter (row of a linear layer) of d is rescaled to the norm
          of the matching filter of theta; biases and BN parameters get no perturbation.
          a, b in [-1, 1].
- input:  L(clamp(x + a d1 + b d2, 0, 1)) around each of `inputs` test images, with
          its own orthogonal +-1 pixel directions, a, b in [-0.2, 0.2].

Orthogonal +-1 directions: d2 starts as an independent Rademacher vector and flips just enough
coordinates to make <d1, d2> = 0 (or +-1 when the dimension is odd), so both stay exact sign
vectors, as in the study.

Summaries per surface (for correlating with attack results):
- `_curvature`: mean |discrete Laplacian| over interior grid points, in loss per unit^2 of (a, b).
  Central differences are exact on quadratics, so for L = c + g.(a,b) + (a,b)H(a,b)^T/2 this is
  |tr H|: the sharpness the contour plots show.
- `_rise`: the largest loss increase over the centre within radius `radius` x span.
The residual of a least-squares quadratic fit (bumpiness beyond curvature), the grid and the
surface itself (for contour figures) are in `extra`.

Batched evaluation: the weight surfaces evaluate a chunk of grid points in one vmapped
`functional_call` (the perturbed tensors are stacked, the rest shared); the input surfaces
stack every (input, grid point) image into large forward batches. The model is in eval mode
(set by `measure`), so BN uses running statistics and each grid point sees the same function.
Measured on an H100 (128 images, 11x11 and 21x21 grids, tiny/small resnet18 and darts_v2), a
batched weight surface took 0.3-1.7x the time of G^2 plain forward passes of the unperturbed
model and 1.2-6x less than one functional_call per grid point; input surfaces 12-50x less than a
per-point loop. On CPU vmapped and very large batches ran slower than plain calls, so there
the weight surfaces loop over grid points (`batch` defaults by device).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Annotated, Callable, ClassVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, vmap

from archrisk.errors import InvalidValueError
from archrisk.meaning import Meaning
from archrisk.metrics.base import Estimate, MetricContext, register_metric
from archrisk.metrics.functional import activation_bytes, chunk_size
from archrisk.validate import Checked, Ge, Gt, out_of_range

# (logits [B, K], y [B]) -> per-sample loss [B]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Directions = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none")


@dataclass(frozen=True)
class LandscapeConfig(Checked):
    config_label: ClassVar[str] = "metric 'landscape'"
    # grid points per axis; odd, so the grid holds the unperturbed point (and a curvature stencil)
    points: Annotated[int, Ge(3)] = 11
    conv_span: Annotated[float, Gt(0)] = 0.5  # conv surface over [-span, span]^2 (the study's)
    filter_span: Annotated[float, Gt(0)] = 1.0  # filter-normalised surface over [-span, span]^2 (Li et al.)
    input_span: Annotated[float, Gt(0)] = 0.2  # input surfaces over [-span, span]^2 (the study's)
    samples: Annotated[int, Ge(1)] = 64  # training images whose mean loss is a weight surface
    inputs: Annotated[int, Ge(1)] = 8  # test images, one input surface each
    radius: Annotated[float, Gt(0)] = 0.5  # `_rise` looks within this fraction of the span
    # images per forward call (a weight-surface call covers batch // samples grid points); 0 = auto:
    # on CUDA 16384; on CPU, where big batches ran slower, one grid point (weights) or 256 images
    # (inputs) per call. Always capped by memory_limit_gb
    batch: Annotated[int, Ge(0)] = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.points % 2 == 0:
            raise out_of_range(self.config_label, "points", self.points,
                               "odd (the grid must hold its centre)")


def grid(span: float, points: int) -> torch.Tensor:
    """`points` evenly spaced coordinates in [-span, span]; the middle one is exactly 0."""
    g = torch.linspace(-span, span, points, dtype=torch.float64)
    g[points // 2] = 0.0
    return g.float()


# --- directions -----------------------------------------------------------------------------

def orthogonal_signs(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two +-1 vectors of length n with <d1, d2> = 0 (n even) or +-1 (n odd)."""
    d1 = torch.randint(0, 2, (n,), generator=gen).float() * 2 - 1
    d2 = torch.randint(0, 2, (n,), generator=gen).float() * 2 - 1
    dot = int((d1 * d2).sum())
    if dot:
        # each flip of a coordinate whose product has dot's sign moves dot by 2 towards 0
        same = ((d1 * d2) == (1.0 if dot > 0 else -1.0)).nonzero().squeeze(1)
        d2[same[torch.randperm(len(same), generator=gen)[:abs(dot) // 2]]] *= -1
    return d1, d2


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first Conv2d in registration order (the stem) and its weight's parameter name."""
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            return f"{name}.weight" if name else "weight", mod
    raise InvalidValueError(f"{type(model).__name__} has no Conv2d layer; the conv landscape needs one")


def conv_directions(model: nn.Module, gen: torch.Generator) -> Directions:
    name, conv = first_conv(model)
    d1, d2 = orthogonal_signs(conv.weight.numel(), gen)
    shape, dev = conv.weight.shape, conv.weight.device
    return {name: d1.view(shape).to(dev)}, {name: d2.view(shape).to(dev)}


def filter_directions(model: nn.Module, gen: torch.Generator) -> Directions:
    """Gaussian directions over all weights, each filter scaled to its weight filter's norm."""
    pair: list[dict[str, torch.Tensor]] = [{}, {}]
    for name, p in model.named_parameters():
        if p.ndim <= 1 or "aux_head" in name:  # biases and BN: not perturbed (Li et al.'s default)
            continue
        w = p.detach()
        for d in pair:
            r = torch.randn(p.shape, generator=gen).to(w.device, w.dtype)
            scale = w.flatten(1).norm(dim=1) / r.flatten(1).norm(dim=1).clamp_min(1e-12)
            d[name] = r * scale.view(-1, *[1] * (p.ndim - 1))
    return pair[0], pair[1]


# --- batched surfaces -----------------------------------------------------------------------

def weight_surface(model: nn.Module, x: torch.Tensor, y: torch.Tensor, directions: Directions,
                   coords: torch.Tensor, loss_fn: LossFn = cross_entropy, chunk: int = 16) -> torch.Tensor:
    """[G, G] mean loss over (x, y) at theta + a d1 + b d2, a = coords[i] (rows), b = coords[j].
    Grid points are evaluated `chunk` at a time in one vmapped forward pass each."""
    d1, d2 = directions
    params = {n: p.detach() for n, p in model.named_parameters()}
    fixed = {**params, **dict(model.named_buffers())}
    names = list(d1)

    def loss_at(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        moved = {n: params[n] + a * d1[n] + b * d2[n] for n in names}
        return loss_fn(functional_call(model, {**fixed, **moved}, (x,)), y).mean()

    G = len(coords)
    c = coords.to(x.device)
    a_all, b_all = c.repeat_interleave(G), c.repeat(G)  # row-major over (a, b)
    # chunk 1: a plain loop, which beat vmap on CPU (vmapped convs take slower kernels there)
    batched = vmap(loss_at) if chunk > 1 else lambda a, b: loss_at(a[0], b[0]).view(1)
    out = []
    with torch.no_grad():
        for i in range(0, G * G, chunk):
            out.append(batched(a_all[i:i + chunk], b_all[i:i + chunk]))
    return torch.cat(out).view(G, G).cpu()


def input_surfaces(model: nn.Module, x: torch.Tensor, y: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor,
                   coords: torch.Tensor, loss_fn: LossFn = cross_entropy, batch: int = 256) -> torch.Tensor:
    """[n, G, G] per-input loss at clamp(x_i + a d1_i + b d2_i, 0, 1); all n * G^2 images go
    through the model in forward batches of at most `batch`."""
    n, G = len(x), len(coords)
    c = coords.to(x.device)
    a, b = c.repeat_interleave(G), c.repeat(G)  # [G^2]
    flat_x, flat_y = x.repeat_interleave(G * G, 0), y.repeat_interleave(G * G, 0)
    shape = (n * G * G,) + (1,) * (x.ndim - 1)
    ai, bi = a.repeat(n).view(shape), b.repeat(n).view(shape)
    i_of = torch.arange(n, device=x.device).repeat_interleave(G * G)
    out = []
    with torch.no_grad():
        for s in range(0, n * G * G, batch):
            idx = slice(s, s + batch)
            imgs = (flat_x[idx] + ai[idx] * d1[i_of[idx]] + bi[idx] * d2[i_of[idx]]).clamp_(0.0, 1.0)
            out.append(loss_fn(model(imgs), flat_y[idx]))
    return torch.cat(out).view(n, G, G).cpu()


# --- summaries ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Roughness:
    curvature: float  # mean |Laplacian| over interior points
    rise: float  # max loss increase over the centre within the radius
    fit_residual: float  # RMS residual of the best quadratic fit


def summarize(surface: torch.Tensor, coords: torch.Tensor, radius: float) -> Roughness:
    """Roughness of one [G, G] surface on the grid `coords` (see the module docstring)."""
    s = surface.double()
    c = coords.double()
    h = float(c[1] - c[0])
    lap = (s[2:, 1:-1] + s[:-2, 1:-1] + s[1:-1, 2:] + s[1:-1, :-2] - 4 * s[1:-1, 1:-1]) / h**2
    A, B = torch.meshgrid(c, c, indexing="ij")
    mid = len(c) // 2
    inside = A**2 + B**2 <= (radius * float(c[-1])) ** 2 + 1e-12
    rise = float((s[inside] - s[mid, mid]).max())
    design = torch.stack([torch.ones_like(A), A, B, A * A, A * B, B * B], -1).view(-1, 6)
    coef = torch.linalg.lstsq(design, s.reshape(-1, 1)).solution
    resid = float((design @ coef - s.reshape(-1, 1)).pow(2).mean().sqrt())
    return Roughness(float(lap.abs().mean()), rise, resid)


# --- the registered metric -------------------------------------------------------------------

SURFACES = ("conv", "filter", "input")


def _images_per_call(cfg: LandscapeConfig, ctx: MetricContext, cpu_default: int) -> int:
    if cfg.batch:
        return cfg.batch
    return 16384 if ctx.device.type == "cuda" else cpu_default


def _weight_estimates(ctx: MetricContext, cfg: LandscapeConfig, kind: str, gen: torch.Generator) -> dict[str, Estimate]:
    model = ctx.model
    if kind == "conv" and not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        # not an input error: `measure` asks for every metric by default, MLPs included
        warnings.warn(f"landscape_conv_*: {type(model).__name__} has no Conv2d layer; reporting NaN", stacklevel=2)
        return {f"landscape_conv_{f}": Estimate(math.nan, None, {"skipped": "no Conv2d layer"})
                for f in ("curvature", "rise")}
    coords = grid(cfg.conv_span if kind == "conv" else cfg.filter_span, cfg.points)
    x, y = ctx.sample("train", cfg.samples, "samples", offset=1)
    dirs = conv_directions(model, gen) if kind == "conv" else filter_directions(model, gen)
    moved = sum(t.numel() for t in dirs[0].values())
    per_point = len(x) * activation_bytes(model, x) + 2 * moved * 4  # activations + perturbed copies
    chunk = chunk_size(per_point, ctx.memory_limit_bytes, max(1, _images_per_call(cfg, ctx, 1) // len(x)))
    surface = weight_surface(model, x, y, dirs, coords, chunk=chunk)
    r = summarize(surface, coords, cfg.radius)
    extra = {"grid": coords.tolist(), "surface": surface.tolist(), "samples": len(x),
             "perturbed_params": moved, "fit_residual": r.fit_residual}
    if kind == "conv":
        extra["layer"] = next(iter(dirs[0]))
    return {f"landscape_{kind}_curvature": Estimate(r.curvature, None, extra),
            f"landscape_{kind}_rise": Estimate(r.rise, None, extra)}


def _input_estimates(ctx: MetricContext, cfg: LandscapeConfig, gen: torch.Generator) -> dict[str, Estimate]:
    model = ctx.model
    coords = grid(cfg.input_span, cfg.points)
    x, y = ctx.sample("test", cfg.inputs, "inputs", offset=2)
    pairs = [orthogonal_signs(x[0].numel(), gen) for _ in range(len(x))]
    d1 = torch.stack([p[0] for p in pairs]).view_as(x).to(x.device)
    d2 = torch.stack([p[1] for p in pairs]).view_as(x).to(x.device)
    batch = chunk_size(activation_bytes(model, x), ctx.memory_limit_bytes, _images_per_call(cfg, ctx, 256))
    surfaces = input_surfaces(model, x, y, d1, d2, coords, batch=batch)
    rough = [summarize(s, coords, cfg.radius) for s in surfaces]
    extra = {"grid": coords.tolist(), "surfaces": surfaces.tolist(), "inputs": len(x),
             "fit_residual": float(np.mean([r.fit_residual for r in rough]))}
    out = {}
    for field in ("curvature", "rise"):
        vals = [getattr(r, field) for r in rough]
        se = float(np.std(vals, ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else None
        out[f"landscape_input_{field}"] = Estimate(float(np.mean(vals)), se, {**extra, "per_input": vals})
    return out


@register_metric(kind="model", config=LandscapeConfig, metrics={
    "landscape_conv_curvature": "mean |Laplacian| of the loss surface over the first conv layer's weights "
                                "(+-1 orthogonal directions, grid [-0.5, 0.5]^2)",
    "landscape_conv_rise": "largest loss rise within half the span on the first-conv weight surface",
    "landscape_filter_curvature": "mean |Laplacian| of the loss surface over all weights "
                                  "(filter-normalised directions, grid [-1, 1]^2)",
    "landscape_filter_rise": "largest loss rise within half the span on the filter-normalised surface",
    "landscape_input_curvature": "mean |Laplacian| of per-input loss surfaces (+-1 pixel directions, "
                                 "grid [-0.2, 0.2]^2, clamped to [0, 1])",
    "landscape_input_rise": "largest loss rise within half the span on per-input surfaces",
}, meanings={f"landscape_{s}_{f}": Meaning(-1, claims=("C7",))  # the study (C7): smoother = riskier
             for s in ("conv", "filter", "input") for f in ("curvature", "rise")})
def landscape(ctx: MetricContext, cfg: LandscapeConfig, names: tuple[str, ...]) -> dict[str, Estimate]:
    out: dict[str, Estimate] = {}
    for kind in SURFACES:
        if not any(n.startswith(f"landscape_{kind}_") for n in names):
            continue
        # each surface its own stream, fixed per kind: a value does not depend on what else was asked
        gen = ctx.generator(10 + SURFACES.index(kind))
        out.update(_input_estimates(ctx, cfg, gen) if kind == "input" else _weight_estimates(ctx, cfg, kind, gen))
    return out
