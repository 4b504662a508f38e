"""Poisoning: label flipping (the study's poisoning attack).

A fraction of the victim's training labels is replaced by a uniformly random *wrong* label, the
architecture is retrained from scratch through `archrisk.train` (the poisoning config enters the
checkpoint cache key through `tag`), and the metric is the clean test accuracy lost against the
unpoisoned model of the same seed, recipe and epochs. Under a victim recipe with the convergence
rule (`patience`), the retraining follows the rule too, the victim's epochs (or `retrain_epochs`)
being its cap.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, ClassVar

import torch

from archrisk.attacks.base import Attack, AttackContext, register_attack
from archrisk.attacks.common import convergence_of
from archrisk.data import Dataset, Split
from archrisk.meaning import Meaning
from archrisk.train import TrainRequest, TrainResult, run_training
from archrisk.validate import Ge, Interval


def flip_labels(y: torch.Tensor, fraction: float, num_classes: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(poisoned labels, indices flipped): round(fraction * N) labels, chosen uniformly without
    replacement, each moved to one of the other num_classes - 1 classes uniformly."""
    k = int(round(fraction * len(y)))
    idx = torch.randperm(len(y), generator=gen)[:k].sort().values
    shift = torch.randint(1, num_classes, (k,), generator=gen)  # never 0: the new label is always wrong
    out = y.clone()
    out[idx] = (y[idx] + shift) % num_classes
    return out, idx


def retrain(ctx: AttackContext, ds: Dataset, tag: dict, epochs: int | None = None, init: TrainResult | None = None,
            after_augment=None, **recipe_overrides) -> TrainResult:
    """Train the context's architecture on a modified dataset, seeded and cached like the victim
    (`after_augment`: a per-batch transform, see `archrisk.train.train_model`); `recipe_overrides` change
    the context's resolved recipe. `epochs` (default: the victim's) is the cap when that recipe
    has the convergence rule on."""
    recipe = ctx.recipe.with_(**recipe_overrides) if recipe_overrides else ctx.recipe
    arch = ctx.architecture()
    n_epochs = epochs if epochs is not None else ctx.victim().epochs
    return run_training(TrainRequest(arch, ds, recipe, n_epochs, seed=ctx.seed, device=ctx.device, size=ctx.size,
                                     init=init, tag=tag, after_augment=after_augment, cache=ctx.cache,
                                     progress=ctx.progress))


@register_attack
@dataclass(frozen=True)
class LabelFlip(Attack):
    """Label-flip poisoning; the study sweeps fraction over 0, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4."""

    name: ClassVar[str] = "label_flip"
    family: ClassVar[str] = "poisoning"
    needs_victim: ClassVar[bool] = False
    meanings: ClassVar[dict[str, Meaning]] = {
        "acc_drop": Meaning(1, True, ("C2",), "clean test accuracy lost to the poisoning (0..1)"),
        "clean_acc": Meaning(0, False, (), "test accuracy of the poisoned model (0..1)"),
        "reference_acc": Meaning(0, False, (), "test accuracy of the clean victim (0..1)"),
        "val_acc": Meaning(0, False, (), "validation accuracy of the poisoned model (0..1)"),
        "flipped": Meaning(0, False, (), "training labels flipped (count)"),
        "retrain_epochs_run": Meaning(description="epochs the poisoned model trained (convergence rule on only)"),
        "retrain_converged": Meaning(description="1 when the convergence rule stopped the poisoned model's training, "
                                                 "0 when its cap did (rule on only)"),
    }
    fraction: Annotated[float, Interval(ge=0, le=1)] = 0.2  # share of training labels flipped
    # retraining length; None: the victim's (the study: 50 at paper scale)
    retrain_epochs: Annotated[int, Ge(1)] | None = None

    def _run(self, model, ctx: AttackContext):
        ds = ctx.dataset
        y, flipped = flip_labels(ds.train.y, self.fraction, ds.num_classes, ctx.generator(10))
        poisoned = replace(ds, train=Split(ds.train.x, y), content_digest="")
        clean = ctx.victim()
        epochs = self.retrain_epochs
        if epochs is not None and epochs != clean.epochs:  # the reference must train as long as the poisoned model
            clean = retrain(ctx, ds, {}, epochs)
        result = retrain(ctx, poisoned, {"attack": self.name, "fraction": self.fraction, "seed": ctx.seed},
                         clean.epochs)
        return ({"clean_acc": result.test_acc, "acc_drop": clean.test_acc - result.test_acc,
                 "reference_acc": clean.test_acc, "flipped": len(flipped), "val_acc": result.val_acc,
                 **convergence_of("retrain", [(result.epochs_run, result.converged)])},
                {}, {"flipped": flipped.tolist()})
