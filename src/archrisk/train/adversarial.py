"""Adversarial training: the recipe's `adv_train` option (claim C10).

`make_adversary(recipe)` returns a callable `adversary(model, x, y) -> (loss, logits)` that the
training loop uses in place of the clean loss:

- `pgd`    (Madry et al., ICLR 2018): minimise cross-entropy on L-inf PGD examples crafted from a
           uniform random start in the eps ball (`adv_steps` sign steps of `adv_alpha`). The
           returned logits are those of the adversarial batch, so the loop's train accuracy is
           adversarial accuracy.
- `trades` (Zhang et al., ICML 2019): minimise CE(f(x), y) + beta * KL(f(x) || f(x')), where x'
           maximises the KL term from a small Gaussian start. The returned logits are clean.

Batch-norm and dropout during the inner maximisation: the examples are crafted in eval mode
(running BN statistics, no dropout), then the outer loss is computed in train mode. Crafting in
train mode would push `adv_steps` extra partially-perturbed batches into the BN running averages
per step and make the attack chase random dropout masks; eval mode is what the TRADES reference
code does and attacks the function that is deployed. Parameters are frozen (requires_grad off)
during crafting, so the inner loop computes input gradients only and never touches `.grad`.

The inner maximisation is the package's one PGD loop (`archrisk.perturb.pgd_loop`, which the
evasion attacks share), projecting onto the ball and box as precomputed bounds (`linf_box`).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import torch
import torch.nn.functional as F

from archrisk.errors import InvalidValueError, UnknownNameError
from archrisk.perturb import clip, linf_box, pgd_loop, uniform_noise
from archrisk.train.recipe import Recipe


class Adversary(Protocol):
    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ...


@contextmanager
def crafting(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and frozen parameters for the inner maximisation; both restored afterwards."""
    was_training = model.training
    frozen = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)
        model.train(was_training)


def linf_ascent(model: torch.nn.Module, x: torch.Tensor, x_start: torch.Tensor,
                objective: Callable[[torch.Tensor], torch.Tensor], eps: float, alpha: float,
                steps: int) -> torch.Tensor:
    """`steps` signed-gradient ascent steps on `objective(logits)` (a scalar over the batch), from
    `x_start` clipped onto the L-inf ball of radius `eps` around `x` and [0, 1], and projected there
    after each step. Returns a detached tensor."""
    lo, hi = linf_box(x, eps)

    def gradient(xs: torch.Tensor, sel):  # every sample stays in play: sel is the whole batch
        xs = xs.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(objective(model(xs)), xs)
        return None, g

    return pgd_loop(clip(x_start.detach(), lo, hi), gradient, lambda xs, sel: clip(xs, lo[sel], hi[sel]),
                    alpha=alpha, steps=steps, norm="linf")


def _aux_loss(model: torch.nn.Module, y: torch.Tensor, weight: float) -> torch.Tensor | float:
    aux = getattr(model, "aux_logits", None)  # set by the forward pass that just ran
    return weight * F.cross_entropy(aux, y) if weight > 0 and aux is not None else 0.0


@dataclass
class _Base:
    eps: float  # L-inf budget, inputs in [0, 1]
    alpha: float  # step size of each inner ascent step
    steps: int  # inner ascent steps
    aux_weight: float  # auxiliary head loss weight (DARTS recipe), applied to the outer forward pass
    generator: torch.Generator  # random starts; seeded once per training run

    def __post_init__(self) -> None:
        if self.eps < 0 or self.alpha < 0 or self.steps < 1:
            raise InvalidValueError(
                f"adversarial training needs eps >= 0, alpha >= 0, steps >= 1; got eps={self.eps}, "
                f"alpha={self.alpha}, steps={self.steps}")


@dataclass
class PGDTraining(_Base):
    """Madry PGD adversarial training: CE on examples from a uniform random start in the ball."""

    def craft(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with crafting(model):
            start = x + uniform_noise(x, self.eps, self.generator)
            return linf_ascent(model, x, start, lambda logits: F.cross_entropy(logits, y),
                               self.eps, self.alpha, self.steps)

    def __call__(self, model, x, y):
        x_adv = self.craft(model, x, y)
        logits = model(x_adv)
        return F.cross_entropy(logits, y) + _aux_loss(model, y, self.aux_weight), logits


@dataclass
class TradesTraining(_Base):
    """TRADES: clean CE plus beta times the KL between clean and adversarial predictions."""

    beta: float = 6.0  # trade-off between accuracy and robustness
    start_std: float = 0.001  # Gaussian start of the inner maximisation (KL has zero gradient at x)

    def craft(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        with crafting(model):
            p_clean = F.softmax(model(x), dim=1)  # [B, K], fixed target of the inner KL
            noise = torch.randn(x.shape, generator=self.generator).mul_(self.start_std).to(x.device, x.dtype)
            return linf_ascent(model, x, x + noise, lambda logits: kl_to(p_clean, logits),
                               self.eps, self.alpha, self.steps)

    def __call__(self, model, x, y):
        x_adv = self.craft(model, x)
        logits = model(x)
        loss = F.cross_entropy(logits, y) + _aux_loss(model, y, self.aux_weight)
        if self.beta > 0:
            loss = loss + self.beta * kl_to(F.softmax(logits, dim=1), model(x_adv))
        return loss, logits


def kl_to(p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Batch mean of KL(p || softmax(logits_q)); p is a probability matrix [B, K]."""
    return F.kl_div(F.log_softmax(logits_q, dim=1), p, reduction="batchmean")


_ADVERSARIES: dict[str, Callable[[Recipe, torch.Generator], Adversary]] = {
    "pgd": lambda r, g: PGDTraining(r.adv_eps, r.adv_alpha, r.adv_steps, r.aux_weight, g),
    "trades": lambda r, g: TradesTraining(r.adv_eps, r.adv_alpha, r.adv_steps, r.aux_weight, g, beta=r.trades_beta),
}


def make_adversary(recipe: Recipe, seed: int | None = None) -> Adversary:
    """The adversary for `recipe.adv_train`.

    `seed` seeds the random starts. When omitted it is `torch.initial_seed()`: `train` calls this
    inside an RNG fork seeded with the job seed, so the starts follow the job seed without
    consuming global random state.
    """
    if recipe.adv_train not in _ADVERSARIES:
        raise UnknownNameError("adversarial training method", str(recipe.adv_train), list(_ADVERSARIES))
    gen = torch.Generator().manual_seed(torch.initial_seed() if seed is None else seed)
    return _ADVERSARIES[recipe.adv_train](recipe, gen)

