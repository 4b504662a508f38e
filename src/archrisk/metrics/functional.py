"""The model as a function of its parameters (torch.func), and the vectorised derivatives the
metrics share: per-sample gradients, Hessian-vector products, memory estimates.

Parameters are handled as one flat vector (concatenated in `named_parameters` order) so that
the linear algebra (Lanczos, projections, variances) needs no per-tensor bookkeeping. The
parameters are detached copies: measuring never writes `.grad` on the user's model.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap


class ModelFn:
    """`model` in eval mode seen as f(theta, x) -> logits, theta a flat vector."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        # The auxiliary head is not on the eval-mode path: its parameters would only add zeros.
        named = [(n, p) for n, p in model.named_parameters() if "aux_head" not in n]
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.theta = torch.cat([p.detach().reshape(-1) for _, p in named]) if named else torch.zeros(0)
        self.buffers = dict(model.named_buffers())

    @property
    def dim(self) -> int:
        return self.theta.numel()

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: t.view(s) for n, t, s in zip(self.names, theta.split(self.sizes), self.shapes)}

    def logits(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, ({**self.unflatten(theta), **self.buffers}), (x,))

    def loss(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the batch."""
        return F.cross_entropy(self.logits(theta, x), y)

    def per_sample_grads(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[n, P] loss gradients, one row per sample, in one vectorised call (no Python loop)."""
        def one(theta, xi, yi):
            return self.loss(theta, xi.unsqueeze(0), yi.unsqueeze(0))
        return vmap(grad(one), in_dims=(None, 0, 0))(self.theta, x, y)

    def hvp_closure(self, x: torch.Tensor, y: torch.Tensor, chunk: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """v -> H v for the Hessian of the mean loss over (x, y).

        When the batch fits in one chunk the gradient graph is built once and reused by every
        product (one double-backward each, no new forward); otherwise each product re-runs the
        chunks and accumulates, so memory stays bounded by one chunk.
        """
        n = len(x)
        if n <= chunk:
            theta = self.theta.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(self.loss(theta, x, y), theta, create_graph=True)

            def hvp(v: torch.Tensor) -> torch.Tensor:
                return torch.autograd.grad(g, theta, grad_outputs=v, retain_graph=True)[0].detach()
            return hvp

        def hvp_chunked(v: torch.Tensor) -> torch.Tensor:
            out = torch.zeros_like(v)
            for i in range(0, n, chunk):
                xb, yb = x[i:i + chunk], y[i:i + chunk]
                theta = self.theta.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(self.loss(theta, xb, yb), theta, create_graph=True)
                out += torch.autograd.grad(g, theta, grad_outputs=v)[0].detach() * (len(xb) / n)
            return out
        return hvp_chunked


def activation_bytes(model: torch.nn.Module, x1: torch.Tensor) -> int:
    """Bytes of every leaf module's output for one input: a proxy for the memory a backward
    pass keeps per sample (used to size chunks and to refuse requests that cannot fit)."""
    total = 0

    def hook(mod, inp, out) -> None:
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel() * out.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model(x1[:1])
    finally:
        for h in handles:
            h.remove()
    return max(total, x1[:1].numel() * x1.element_size())


def chunk_size(per_sample_bytes: float, budget_bytes: float, cap: int) -> int:
    """The largest chunk in [1, cap] whose per-sample memory fits in the budget."""
    return int(max(1, min(cap, budget_bytes // max(per_sample_bytes, 1))))


def gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GB"
