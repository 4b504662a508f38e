"""Model extraction, Knockoff-style (Orekondy et al. 2019), at a ladder of query budgets.

The attacker owns the dataset's `pool` split (never seen by the victim), queries the victim's
output probabilities on `budget` of those images, and trains a fresh thief on them with a soft
cross-entropy loss. Sampling: `random` draws the queried images uniformly; `adaptive` grows the
query set budget by budget, each time querying the unqueried pool images on which the previous
thief is least certain (highest predictive entropy): an active-learning stand-in for Knockoff's
bandit policy, which needs a label hierarchy that small datasets lack.

Metrics on the test split, per budget: agreement (thief argmax == victim argmax), thief accuracy,
the study's cross-entropy H(victim, thief) and the KL divergence KL(victim || thief) = CE minus the
victim's own entropy (so a confident victim does not look easier to steal than it is).

Under a victim recipe with the convergence rule (`patience`), each thief trains until its agreement
with the victim on the validation split plateaus, `thief_epochs` being the cap, and keeps its best
epoch's weights, as victims do. Agreement, not accuracy: the thief learns the victim's outputs and
never sees a true label. The victim's labels of the validation images are the harness's, outside
the query budget.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Annotated, ClassVar

import torch
import torch.nn.functional as F

from archrisk.arch import build
from archrisk.arch.user import from_factory
from archrisk.attacks.base import Attack, AttackContext, register_attack
from archrisk.attacks.common import convergence_of, probs_of
from archrisk.errors import InvalidValueError
from archrisk.meaning import Meaning
from archrisk.train.convergence import converged, plateaued
from archrisk.validate import Ge, Gt, OneOf, fail

SAMPLING = ("random", "adaptive")


def train_thief(thief: torch.nn.Module, x: torch.Tensor, p: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
                device: torch.device, gen: torch.Generator, val: tuple[torch.Tensor, torch.Tensor] | None = None,
                patience: int | None = None, min_delta: float = 0.0) -> tuple[torch.nn.Module, list[float]]:
    """Fit `thief` to soft labels `p` with SGD (momentum 0.9, cosine lr, weight decay 5e-4 as the study's
    recipe). With `patience`, `epochs` is the cap: training stops once the thief's agreement with the
    labels in `val` (images, the victim's classes) plateaus (train/convergence.py), and the best epoch's
    weights are kept. Returns (thief in eval mode, agreement per epoch; empty without `patience`)."""
    thief.to(device).train()
    n = len(x)
    scores: list[float] = []
    if n == 0 or epochs == 0:
        return thief.eval(), scores
    best, best_state = -1.0, None
    opt = torch.optim.SGD(thief.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    steps = epochs * math.ceil(n / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            logp = F.log_softmax(thief(x[idx].to(device)), 1)
            loss = -(p[idx].to(device) * logp).sum(1).mean()  # soft cross-entropy
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(thief.parameters(), 5.0)
            opt.step()
            sched.step()
        if patience is not None:
            thief.eval()
            scores.append((probs_of(thief, val[0], device).argmax(1) == val[1]).float().mean().item())
            thief.train()
            if scores[-1] >= best:  # ties: the later epoch, as the training loop chooses
                best, best_state = scores[-1], copy.deepcopy(thief.state_dict())
            if plateaued(scores, patience, min_delta):
                break
    if best_state is not None:
        thief.load_state_dict(best_state)
    return thief.eval(), scores


def compare(p_victim: torch.Tensor, p_thief: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Agreement, thief accuracy, CE(victim, thief) and KL(victim || thief), averaged over samples."""
    log_t = p_thief.clamp_min(1e-12).log()
    ce = -(p_victim * log_t).sum(1)
    ent = -(p_victim * p_victim.clamp_min(1e-12).log()).sum(1)
    return {"agreement": (p_thief.argmax(1) == p_victim.argmax(1)).float().mean().item(),
            "thief_acc": (p_thief.argmax(1) == y).float().mean().item(),
            "ce": ce.mean().item(), "kl": (ce - ent).mean().item()}


@register_attack
@dataclass(frozen=True)
class Knockoff(Attack):
    """Knockoff Nets with soft labels; the study's thief is the victim's architecture, trained 25 epochs."""

    name: ClassVar[str] = "knockoff"
    family: ClassVar[str] = "extraction"
    # Keys are the largest budget's; 'key@budget' forms are declared alike (the largest is the headline).
    meanings: ClassVar[dict[str, Meaning]] = {
        **{k: m for key, m in {
            "agreement": Meaning(1, True, ("C4",), "test images where thief and victim predict the same class (0..1)"),
            "thief_acc": Meaning(1, False, ("C4",), "thief's test accuracy (0..1)"),
            "ce": Meaning(-1, False, ("C4",), "cross-entropy of the thief against the victim's probabilities (nats)"),
            "kl": Meaning(-1, False, ("C4",), "KL(victim || thief) on test images (nats)"),
        }.items() for k in (key, f"{key}@*")},
        "victim_acc": Meaning(0, False, (), "victim's clean test accuracy (0..1)"),
        "budget": Meaning(0, False, (), "queries the thief was trained on (the largest budget; count)"),
        "thief_epochs_run": Meaning(description="epochs the largest budget's thief trained (convergence rule on only)"),
        "thief_converged": Meaning(description="1 when the convergence rule stopped the largest budget's thief, 0 when "
                                               "thief_epochs did (rule on only)"),
    }
    # Query budgets. Empty: the study's 1k..16k ladder (ratios 1:2:4:8:16) scaled so that the largest
    # budget is the whole attacker pool (pool/16 .. pool); budgets larger than the pool are errors.
    budgets: tuple[Annotated[int, Ge(0)], ...] = ()
    sampling: Annotated[str, OneOf(SAMPLING)] = "random"  # random | adaptive
    thief: str | None = None  # thief architecture; None: the victim's (the study)
    thief_epochs: Annotated[int, Ge(0)] = 25  # thief training epochs per budget (the study: 25)
    batch_size: Annotated[int, Ge(1)] = 96
    lr: Annotated[float, Gt(0)] = 0.025

    def __post_init__(self) -> None:
        object.__setattr__(self, "budgets", tuple(self.budgets))
        super().__post_init__()

    def ladder(self, pool: int) -> list[int]:
        if not self.budgets:
            return [max(1, pool * k // 16) for k in (1, 2, 4, 8, 16)]
        if max(self.budgets) > pool:
            raise fail(self.config_label(), "budgets", self.budgets, f"exceeds the attacker pool of {pool} "
                       f"images; budgets must be in [0, {pool}]")
        return sorted(set(self.budgets))

    def _new_thief(self, ctx: AttackContext, budget: int) -> torch.nn.Module:
        ds = ctx.dataset
        with torch.random.fork_rng():
            torch.manual_seed(ctx.seed * 7919 + budget)  # the same initial thief whatever the ladder
            arch = self.thief if self.thief is not None else ctx.architecture()
            if callable(arch):  # the user's factory: their model normalises its inputs itself
                return from_factory(arch, ctx.size, ds.shape[0])
            pool = ds.pool.x
            std, mean = torch.std_mean(pool, dim=(0, 2, 3), correction=0)  # the attacker's own statistics
            return build(arch, num_classes=ds.num_classes, in_channels=ds.shape[0], size=ctx.size,
                         mean=tuple(mean.tolist()), std=tuple(std.clamp_min(1e-6).tolist()))

    def _run(self, model, ctx: AttackContext):
        ds = ctx.dataset
        pool, test = ds.pool, ds.test
        budgets = self.ladder(len(pool))
        p_pool = probs_of(model, pool.x, ctx.device)  # once, for speed; a thief only ever sees queried rows
        p_test = probs_of(model, test.x, ctx.device)
        gen = ctx.generator(30)
        patience, min_delta = ctx.recipe.patience, ctx.recipe.min_delta  # the victim's convergence rule
        val = None
        if patience is not None:
            if not len(ds.val):
                raise InvalidValueError(f"recipe patience={patience} stops each thief on the validation split, but "
                                        f"{ds.name!r} has none; give it one (val_fraction > 0) or drop patience")
            val = ds.val.x, probs_of(model, ds.val.x, ctx.device).argmax(1)
        order = torch.randperm(len(pool), generator=gen)
        queried = torch.zeros(0, dtype=torch.long)
        curve, thief = [], None
        for b in budgets:
            extra = b - len(queried)
            if extra > 0:
                rest = order[~torch.isin(order, queried)]
                if self.sampling == "adaptive" and thief is not None:
                    ent = probs_of(thief, pool.x[rest], ctx.device)
                    ent = -(ent * ent.clamp_min(1e-12).log()).sum(1)
                    rest = rest[ent.argsort(descending=True, stable=True)]
                queried = torch.cat([queried, rest[:extra]])
            use = queried[:b]
            thief, scores = train_thief(self._new_thief(ctx, b), pool.x[use], p_pool[use], epochs=self.thief_epochs,
                                        batch_size=self.batch_size, lr=self.lr, device=ctx.device, gen=gen, val=val,
                                        patience=patience, min_delta=min_delta)
            row = compare(p_test, probs_of(thief, test.x, ctx.device), test.y)
            curve.append({"budget": b, "queries": len(use), **row})
        last = curve[-1]
        victim_acc = (p_test.argmax(1) == test.y).float().mean().item()
        # the largest budget's thief (the headline's): epochs it ran, and whether the rule stopped it
        ran = convergence_of("thief", [(len(scores), converged(scores, patience, min_delta))])
        return ({**{k: v for k, v in last.items() if k != "queries"}, "victim_acc": victim_acc, **ran},
                {"budget": curve}, {"queried": queried.tolist()})
