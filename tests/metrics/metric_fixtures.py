"""Small models with known derivatives, and splits to measure them on (imported by the tests)."""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.data import Split


def make_split(n: int, shape=(2, 2, 2), classes: int = 3, seed: int = 0, lo: float = 0.0, hi: float = 1.0) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = lo + (hi - lo) * torch.rand(n, *shape, generator=g)
    return Split(x, torch.randint(0, classes, (n,), generator=g))


def linear(d: int = 8, k: int = 3, bias: bool = True, seed: int = 0, scale: float = 1.0) -> nn.Module:
    """logits = W flatten(x) + b: softmax regression, whose derivatives have closed forms."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(d, k, bias=bias))
    with torch.no_grad():
        model[1].weight.mul_(scale)
    return model


def mlp(d: int = 8, h: int = 6, k: int = 3, act: type = nn.Tanh, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(d, h), act(), nn.Linear(h, k))


def flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def loss_of_flat(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """theta -> mean cross-entropy, theta flat in named_parameters order (the metrics' order)."""
    from torch.func import functional_call

    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]

    def f(theta):
        params = {n: t.view(s) for n, t, s in zip(names, theta.split(sizes), shapes)}
        return nn.functional.cross_entropy(functional_call(model, params, (x,)), y)
    return f


def convnet(c: int = 2, k: int = 3, seed: int = 0) -> nn.Module:
    """conv -> BN -> ReLU -> pool -> linear: the smallest model with every layer kind the
    metric families look for (a first conv layer, batch-norm buffers)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, k))
