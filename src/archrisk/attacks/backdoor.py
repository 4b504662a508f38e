"""Backdoor: BadNets, TrojanNN and Blended triggers, implanted by fine-tuning the trained victim.

A trigger is a (mask, pattern, opacity) triple stamped as x' = x * (1 - a*m) + p * a*m. A share of
the training and validation images (the attacker controls the training pipeline, so model
selection sees the same data) is stamped and relabelled to the target class; the clean victim is
fine-tuned on that through `archrisk.train.run_training` (a request with `init=victim`) (cached under a tag naming the
trigger). Training images get their trigger after augmentation (as in the study), so random
crops, flips and cutout never move or erase it; validation images are stamped as stored. Metrics: attack success rate over triggered test images whose true class is not the
target (the study counted all images, inflating it by the target class's share), clean accuracy
and its drop, and two controls: the trigger on the clean victim, and the backdoored model's rate
of predicting the target on untriggered non-target images.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Annotated, ClassVar

import torch

from archrisk.attacks.base import Attack, AttackContext, register_attack
from archrisk.attacks.common import convergence_of, features_of, final_linear, logits_of
from archrisk.attacks.poisoning import retrain
from archrisk.data import Split
from archrisk.meaning import Meaning
from archrisk.validate import Ge, Gt, Interval, OneOf, out_of_range


@dataclass(frozen=True)
class Trigger:
    mask: torch.Tensor  # [1, H, W] in {0, 1} (or [0, 1]): where the trigger is
    pattern: torch.Tensor  # [C, H, W] in [0, 1]: what it shows
    opacity: float  # 1 = pasted, < 1 = blended

    def stamp(self, x: torch.Tensor) -> torch.Tensor:
        a = (self.opacity * self.mask).to(x.device)
        return x * (1 - a) + self.pattern.to(x.device) * a

    def digest(self) -> str:
        h = hashlib.sha256()
        for t in (self.mask, self.pattern):
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        h.update(repr(self.opacity).encode())
        return h.hexdigest()[:16]


def corner_mask(shape: tuple[int, int, int], size: int) -> torch.Tensor:
    """A size x size square at the top-left corner (the study's 3x3 at 32 px)."""
    m = torch.zeros(1, *shape[1:])
    m[:, :size, :size] = 1.0
    return m


def poison_split(split: Split, trigger: Trigger, rate: float, target: int, gen: torch.Generator,
                 stamp: bool = True) -> tuple[Split, torch.Tensor]:
    """Stamp round(rate * N) images chosen among non-target classes and relabel them to `target`
    (stamp=False: relabel only; `StampAfterAugment` stamps them batch by batch during training)."""
    candidates = (split.y != target).nonzero().flatten()
    k = min(int(round(rate * len(split))), len(candidates))
    idx = candidates[torch.randperm(len(candidates), generator=gen)[:k]].sort().values
    x, y = (split.x.clone(), split.y.clone()) if stamp else (split.x, split.y.clone())
    if stamp:
        x[idx] = trigger.stamp(x[idx])
    y[idx] = target
    return Split(x, y), idx


@dataclass(frozen=True)
class StampAfterAugment:
    """The training loop's per-batch hook (applied after augmentation): stamps the trigger on the
    rows whose training-set index is poisoned, so the trigger sits at its corner in every batch."""

    trigger: Trigger
    poisoned: torch.Tensor  # [N_train] bool

    def __call__(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        rows = self.poisoned[idx].to(x.device)
        if not bool(rows.any()):
            return x
        x = x.clone()
        x[rows] = self.trigger.stamp(x[rows])
        return x


@dataclass(frozen=True)
class _Backdoor(Attack):
    family: ClassVar[str] = "backdoor"
    needs_victim: ClassVar[bool] = False  # trains its own (backdoored) model from the victim
    meanings: ClassVar[dict[str, Meaning]] = {
        "asr": Meaning(1, True, ("C3",), "triggered non-target test images sent to the target class (0..1)"),
        "clean_acc": Meaning(0, False, (), "clean test accuracy of the backdoored model (0..1)"),
        "clean_drop": Meaning(0, False, (), "clean accuracy lost to the backdoor (0..1)"),
        "victim_acc": Meaning(0, False, (), "clean test accuracy of the victim before the backdoor (0..1)"),
        "asr_clean_model": Meaning(0, False, (), "the same trigger's success on the clean victim (0..1)"),
        "target_rate_untriggered": Meaning(0, False, (), "clean non-target images the backdoored model puts "
                                                         "in the target class (0..1)"),
        "poisoned": Meaning(0, False, (), "training images stamped (count)"),
        "finetune_epochs_run": Meaning(description="epochs the backdoor fine-tune ran (convergence rule on only)"),
        "finetune_converged": Meaning(description="1 when the convergence rule stopped the fine-tune, 0 when "
                                                  "finetune_epochs did (rule on only)"),
    }
    # the class triggered images should be sent to (the study: 0); below the class count, checked with the data
    target: Annotated[int, Ge(0)] = 0
    rate: Annotated[float, Interval(ge=0, le=1)] = 0.02  # share of training images stamped and relabelled (the study: 2% of each batch)
    # fine-tuning epochs (the study: 20; a few suffice at tiny scale); the cap under the victim
    # recipe's convergence rule, which then stops on the (poisoned) validation split
    finetune_epochs: Annotated[int, Ge(0)] = 20
    lr: Annotated[float, Gt(0)] = 0.01  # fine-tuning learning rate (the study: 0.01)
    patch: Annotated[int, Ge(1)] = 3  # trigger side in pixels at 32 px, scaled to the input (the study: 3)
    # Random crops during fine-tuning (flip and cutout follow the recipe either way); the trigger is
    # stamped after augmentation, so it stays at its corner. Off: no crops.
    augment: bool = True

    def side(self, shape: tuple[int, int, int]) -> int:
        return max(1, min(shape[1], int(round(self.patch * shape[-1] / 32))))

    def trigger(self, ctx: AttackContext) -> Trigger:
        raise NotImplementedError

    def _run(self, model, ctx: AttackContext):
        ds = ctx.dataset
        if self.target >= ds.num_classes:
            raise out_of_range(self.config_label(), "target", self.target, f"< {ds.num_classes} for {ds.name}")
        victim = ctx.victim()
        trig = self.trigger(ctx)
        gen = ctx.generator(20)
        train_p, idx = poison_split(ds.train, trig, self.rate, self.target, gen, stamp=False)
        val_p, _ = poison_split(ds.val, trig, self.rate, self.target, gen)
        poisoned = replace(ds, train=train_p, val=val_p, content_digest="")
        mark = torch.zeros(len(train_p), dtype=torch.bool)
        mark[idx] = True
        tag = {"attack": self.name, "trigger": trig.digest(), "rate": self.rate, "target": self.target,
               "lr": self.lr, "seed": ctx.seed, "stamped": "after_augment"}
        crops = {} if self.augment else {"crop_padding": 0}
        bd = retrain(ctx, poisoned, tag, epochs=self.finetune_epochs, init=victim, lr=self.lr, lr_min=0.0,
                     after_augment=StampAfterAugment(trig, mark), **crops)
        metrics = self._measure(bd.model, victim.model, trig, ctx)
        metrics.update({"clean_drop": victim.test_acc - metrics["clean_acc"], "victim_acc": victim.test_acc,
                        "poisoned": len(idx), **convergence_of("finetune", [(bd.epochs_run, bd.converged)])})
        return metrics, {}, {"poisoned": idx.tolist()}

    def _measure(self, bd, clean, trig: Trigger, ctx: AttackContext) -> dict[str, float]:
        test = ctx.dataset.test
        other = test.y != self.target
        x_trig = trig.stamp(test.x[other])
        was = (bd.training, clean.training)
        bd.to(ctx.device).eval(), clean.to(ctx.device).eval()
        try:
            pred_bd = logits_of(bd, test.x, ctx.device).argmax(1)
            return {
                "asr": (logits_of(bd, x_trig, ctx.device).argmax(1) == self.target).float().mean().item(),
                "clean_acc": (pred_bd == test.y).float().mean().item(),
                "asr_clean_model": (logits_of(clean, x_trig, ctx.device).argmax(1) == self.target).float().mean().item(),
                "target_rate_untriggered": (pred_bd[other] == self.target).float().mean().item(),
            }
        finally:
            bd.train(was[0]), clean.train(was[1])


@register_attack
@dataclass(frozen=True)
class BadNets(_Backdoor):
    """BadNets (Gu et al. 2017): a white square pasted at the top-left corner."""

    name: ClassVar[str] = "badnets"

    def trigger(self, ctx: AttackContext) -> Trigger:
        shape = ctx.dataset.shape
        return Trigger(corner_mask(shape, self.side(shape)), torch.ones(shape), 1.0)


@register_attack
@dataclass(frozen=True)
class Blended(_Backdoor):
    """Blended (Chen et al. 2017): a fixed random pattern over the whole image at low opacity."""

    name: ClassVar[str] = "blended"
    opacity: Annotated[float, Interval(gt=0, le=1)] = 0.2

    def trigger(self, ctx: AttackContext) -> Trigger:
        shape = ctx.dataset.shape
        pattern = torch.rand(shape, generator=ctx.generator(21))
        return Trigger(torch.ones(1, *shape[1:]), pattern, self.opacity)


TRIGGER_OPTIMS = ("sign", "adam")


@register_attack
@dataclass(frozen=True)
class TrojanNN(_Backdoor):
    """TrojanNN (Liu et al. 2018): the corner trigger's pattern is optimised on the victim so that
    chosen penultimate neurons reach a target activation, then implanted like BadNets at partial
    opacity. Defaults are the study's (autovul/vision/attacks/backdoor/trojannn.py and its PGD
    optimiser): 3x3 patch blended at 30% opacity (its `mark_alpha=0.7` is the transparency), 2
    neurons driven to 10 by 20 signed-gradient steps of 0.015 on the mean L2 distance
    ||act - target||, stopping once it is below 5. Neurons: those with the largest outgoing
    classifier weight norm (the study takes the least active ones); the classifier of any model is
    found by `common.HEAD_RULE` (a `classifier` attribute, else the last nn.Linear). The pattern is
    optimised on the attacker's pool images and is free in [0, 1] (the study's code capped its
    change at 1/255 by accident). `trojannn_strong` is a much stronger variant."""

    name: ClassVar[str] = "trojannn"
    rate: Annotated[float, Interval(ge=0, le=1)] = 0.01  # the study: 1%
    # the study blends the trigger at 30% opacity (70% transparency)
    opacity: Annotated[float, Interval(gt=0, le=1)] = 0.3
    neurons: Annotated[int, Ge(1)] = 2  # penultimate neurons to drive (the study: 2)
    neuron_target: float = 10.0  # activation the neurons are driven towards (the study: 10)
    trigger_steps: Annotated[int, Ge(0)] = 20  # optimisation steps (the study: 20)
    trigger_lr: Annotated[float, Gt(0)] = 0.015  # step size (the study: 0.015 per signed step)
    trigger_optim: Annotated[str, OneOf(TRIGGER_OPTIMS)] = "sign"  # sign (the study's PGD steps) | adam
    # stop once the mean distance to the target is below this (the study: 5)
    trigger_threshold: Annotated[float, Ge(0)] = 5.0
    # l2: mean L2 distance of the neurons to the target (the study's) | mse
    trigger_loss: Annotated[str, OneOf(("l2", "mse"))] = "l2"
    trigger_images: Annotated[int, Ge(1)] = 256  # pool images the trigger is optimised on

    def pick_neurons(self, head: torch.nn.Linear) -> torch.Tensor:
        w = head.weight.detach()  # [classes, dim]
        return w.norm(dim=0).argsort(descending=True)[:self.neurons]

    def trigger(self, ctx: AttackContext) -> Trigger:
        model = ctx.victim().model
        was = model.training
        model.to(ctx.device).eval()
        shape = ctx.dataset.shape
        mask = corner_mask(shape, self.side(shape))
        head = final_linear(model, ctx.dataset.num_classes, self.name)  # any model: see common.HEAD_RULE
        neurons = self.pick_neurons(head).to(ctx.device)
        pool = ctx.dataset.pool.x[:self.trigger_images].to(ctx.device)
        pattern = torch.rand(shape, generator=ctx.generator(22)).to(ctx.device).requires_grad_(True)
        opt = torch.optim.Adam([pattern], lr=self.trigger_lr) if self.trigger_optim == "adam" else None
        try:
            for _ in range(self.trigger_steps):
                trig = Trigger(mask, pattern.clamp(0, 1), self.opacity)
                act = features_of(model, head, trig.stamp(pool))[:, neurons]  # [N, neurons]
                gap = act - self.neuron_target
                loss = gap.norm(dim=1).mean() if self.trigger_loss == "l2" else gap.pow(2).mean()
                if loss.item() < self.trigger_threshold:
                    break
                (g,) = torch.autograd.grad(loss, pattern)  # no weight gradients needed
                if opt is None:
                    with torch.no_grad():
                        pattern -= self.trigger_lr * g.sign()
                        pattern.clamp_(0, 1)
                else:
                    pattern.grad = g
                    opt.step()
        finally:
            model.train(was)
        return Trigger(mask, pattern.detach().clamp(0, 1).cpu(), self.opacity)


@register_attack
@dataclass(frozen=True)
class TrojanNNStrong(TrojanNN):
    """A much stronger TrojanNN (archrisk's earlier default): a 5x5 patch at 70% opacity, neurons
    driven to 100 by 200 Adam steps on their squared error, fine-tuning without random crops. The
    study's ablation shows the NAS gap shrinking as the attack gets stronger, so this variant
    answers a different question than the default."""

    name: ClassVar[str] = "trojannn_strong"
    opacity: float = 0.7
    neuron_target: float = 100.0
    trigger_steps: int = 200
    trigger_lr: float = 0.1
    trigger_optim: str = "adam"
    trigger_threshold: float = 0.0  # never stop early
    trigger_loss: str = "mse"
    patch: int = 5  # larger than BadNets' so the optimised pattern has room to work
    augment: bool = False
