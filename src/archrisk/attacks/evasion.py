"""Evasion: L-inf / L2 PGD, APGD-CE and the black-box NES attack, on correctly classified test inputs.

The functional cores (`pgd`, `apgd`, `nes`, in `archrisk.perturb`, which adversarial training shares)
take a model in eval mode and a batch on its device and return a `Crafted` batch; the registered
configs here pick the samples and targets, batch, and summarise.

Success (per sample, at any iterate; the sample is then frozen, so "iterations" is the study's
"iterations to success"): targeted - the target class is the argmax; untargeted - the argmax is
not the true class. `criterion="confident"` adds the study's stricter rule: that class's
probability is > 0.99 (which mixes calibration into robustness; hence not the default). PGD
judges both rules in the same run (a sample keeps going until the stricter one holds, its
adversarial example being where the `criterion` rule first held): `success_rate` is the
`criterion`'s, `success_rate_argmax` and `success_rate_confident` are both, always.

Metrics: success_rate over the n attacked inputs (the first n correctly classified test images),
mean_iters over the successes, robust_acc = share of attacked inputs still classified correctly
(the unconditional robust accuracy is clean_acc * robust_acc), mean_queries (model evaluations
per input), probe_wins (see `gradient_masking`). Arrays: fooled (test-split indices), iters, target.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Annotated, ClassVar

import torch

from archrisk.attacks.base import Attack, AttackContext, register_attack
from archrisk.attacks.common import first_correct, logits_of, pick_targets
from archrisk.meaning import Meaning
from archrisk.perturb import Crafted, apgd, apgd_checkpoints, ascent, nes, pgd, random_start, succeeded
from archrisk.validate import Ge, Gt, Interval, OneOf, out_of_range

__all__ = ["APGD", "CRITERIA", "NES", "NESMatched", "NORMS", "PGD", "PGDL2", "TARGETS"]

TARGETS = ("least_likely", "most_likely_wrong", "random")
CRITERIA = ("argmax", "confident")
NORMS = ("linf", "l2")


@dataclass(frozen=True)
class _Evasion(Attack):
    """Shared config and bookkeeping of the evasion attacks."""

    family: ClassVar[str] = "evasion"
    meanings: ClassVar[dict[str, Meaning]] = {
        "success_rate": Meaning(1, True, ("C1",), "share of attacked inputs sent to the target class (0..1)"),
        "mean_iters": Meaning(-1, False, ("C1",), "mean steps to success over the fooled inputs"),
        "robust_acc": Meaning(-1, False, ("C1",), "accuracy on the adversarial inputs (0..1)"),
        "mean_queries": Meaning(0, False, (), "mean model queries per attacked input"),
        "clean_acc": Meaning(0, False, (), "victim's clean test accuracy (0..1)"),
        "probe_wins": Meaning(0, False, (), "failed inputs a random probe of the ball fooled (gradient-masking check)"),
        "n": Meaning(description="inputs attacked (count)"),
        # both success rules of one run, and further target modes (success_rate_most_likely_wrong, ...)
        "success_rate_*": Meaning(1, False, ("C1",), "share of attacked inputs fooled under that rule or target (0..1)"),
        "mean_queries_*": Meaning(0, False, (), "mean model queries per attacked input for that target"),
    }
    eps: Annotated[float, Ge(0)] = 8 / 255  # perturbation budget (the study's L-inf 8/255)
    n: Annotated[int, Ge(1)] = 1000  # correctly classified test inputs attacked (the study: 1000)
    targeted: bool = True  # the study attacks towards a chosen wrong class
    # least_likely (study's worst case) | most_likely_wrong (best case) | random
    target: Annotated[str, OneOf(TARGETS)] = "least_likely"
    criterion: Annotated[str, OneOf(CRITERIA)] = "argmax"  # argmax | confident (the study's: target probability > 0.99 too)
    curve_eps: tuple[Annotated[float, Ge(0)], ...] = ()  # also report success / robust accuracy at these budgets
    # further target modes attacked on the same inputs (targeted only), recorded as
    # success_rate_<mode> and mean_queries_<mode>; e.g. the study's best case beside its worst
    extra_targets: tuple[Annotated[str, OneOf(TARGETS)], ...] = ()
    probe: Annotated[int, Ge(0)] = 8  # random points of the eps-ball tried where the attack failed (gradient-masking check)
    batch_size: Annotated[int, Ge(1)] = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "curve_eps", tuple(self.curve_eps))  # lists from Python or --set
        object.__setattr__(self, "extra_targets", tuple(self.extra_targets))
        super().__post_init__()
        if self.norm not in NORMS:  # a ClassVar here, a field of attacks that take either norm
            raise out_of_range(self.config_label(), "norm", self.norm, "one of " + ", ".join(NORMS))
        if self.norm == "linf":  # L-inf budgets live on [0, 1] pixels; an L2 budget may exceed 1
            for name, values in (("eps", [self.eps]), ("curve_eps", self.curve_eps)):
                if any(e > 1 for e in values):
                    raise out_of_range(self.config_label(), name, self.eps if name == "eps" else self.curve_eps,
                                       "in [0, 1] for an L-inf budget")

    norm: ClassVar[str] = "linf"  # subclasses with a norm parameter override it as a field
    alpha_ratio: ClassVar[float] = 0.25  # default step / eps (the study's 2/255 : 8/255)

    def _resolve_alpha(self, steps: int) -> None:
        """A step size left unset follows eps; warn when steps x alpha < eps (the iterates cannot reach
        the edge of the ball, so the attack is weaker than the budget it reports)."""
        if self.alpha is None:  # (a negative alpha was refused by its annotation)
            object.__setattr__(self, "alpha", self.eps * self.alpha_ratio)
        if steps * self.alpha < self.eps:
            warnings.warn(f"attack {self.name!r}: {steps} steps x alpha={self.alpha:.4g} cannot reach "
                          f"eps={self.eps:.4g}; raise alpha or steps (or leave alpha unset: eps/4)", stacklevel=4)

    def _core(self, model, x, y, target, eps: float, gen: torch.Generator) -> Crafted:
        raise NotImplementedError

    def at_eps(self, eps: float) -> _Evasion:
        """This attack at another budget, the step size scaled along (alpha/eps kept, as the study's
        2/255 : 8/255), so that larger budgets are reachable within the same number of steps."""
        alpha = getattr(self, "alpha", None)
        scale = {"alpha": alpha * eps / self.eps} if alpha is not None and self.eps > 0 else {}
        return dataclasses.replace(self, eps=eps, curve_eps=(), extra_targets=(), **scale)

    def _attack(self, model, x, y, target, eps, ctx: AttackContext) -> Crafted:
        gen = ctx.generator(2)
        parts = [self._core(model, x[i:i + self.batch_size].to(ctx.device), y[i:i + self.batch_size].to(ctx.device),
                            None if target is None else target[i:i + self.batch_size].to(ctx.device), eps, gen)
                 for i in range(0, len(x), self.batch_size)]
        if any(p.nonfinite for p in parts):
            ctx.log.flag("nonfinite_grad")
        by = {r: torch.cat([p.success_by[r].cpu() for p in parts]) for r in parts[0].success_by} if parts else {}
        return Crafted(*(torch.cat([getattr(p, k).cpu() for p in parts]) for k in ("x_adv", "success", "iters", "queries")),
                       success_by=by)

    def _summary(self, model, out: Crafted, y: torch.Tensor, ctx: AttackContext) -> dict[str, float]:
        pred = logits_of(model, out.x_adv, ctx.device).argmax(1)
        won = out.iters[out.success]
        rates = {f"success_rate_{r}": ok.float().mean().item() if len(y) else float("nan")
                 for r, ok in out.success_by.items()}
        return {"success_rate": out.success.float().mean().item() if len(y) else float("nan"),
                "mean_iters": won.float().mean().item() if len(won) else float("nan"),
                "robust_acc": (pred == y).float().mean().item() if len(y) else float("nan"),
                "mean_queries": out.queries.float().mean().item() if len(y) else float("nan"), **rates}

    def _probe(self, model, x, y, target, out: Crafted, ctx: AttackContext) -> int:
        """Samples the attack failed on but random points of the same ball fool: a sign of gradient
        masking (AutoAttack's check), since a working gradient attack dominates random search."""
        failed = (~out.success).nonzero().flatten()
        if self.probe == 0 or len(failed) == 0 or self.eps == 0:
            return 0
        gen = ctx.generator(3)
        x0, yf = x[failed].to(ctx.device), y[failed].to(ctx.device)
        tf = target[failed].to(ctx.device) if target is not None else None
        won = torch.zeros(len(failed), dtype=torch.bool, device=ctx.device)
        with torch.no_grad():
            for _ in range(self.probe):
                if self.norm == "linf":
                    d = self.eps * (torch.randint(0, 2, x0.shape, generator=gen).to(ctx.device) * 2.0 - 1)
                else:
                    d = self.eps * ascent(torch.randn(x0.shape, generator=gen).to(ctx.device), "l2")
                won |= succeeded(model((x0 + d).clamp(0, 1)), yf, tf, self.criterion == "confident")
        return int(won.sum())

    def _run(self, model, ctx: AttackContext):
        test = ctx.dataset.test
        idx, clean_acc = first_correct(model, test, self.n, ctx.device)
        x, y = test.x[idx], test.y[idx]
        target = pick_targets(logits_of(model, x, ctx.device), y, self.target, ctx.generator(1)) if self.targeted else None
        out = self._attack(model, x, y, target, self.eps, ctx)
        ctx.log.outputs["adv"] = out.x_adv  # handed back as AttackResult.adv, never stored
        probe_wins = self._probe(model, x, y, target, out, ctx)
        ctx.log.flag("gradient_masking", probe_wins > 0)
        metrics = {**self._summary(model, out, y, ctx), "n": len(idx), "clean_acc": clean_acc,
                   "probe_wins": probe_wins}
        for mode in self.extra_targets if self.targeted else ():
            if mode == self.target:
                continue
            other = pick_targets(logits_of(model, x, ctx.device), y, mode, ctx.generator(4))
            row = self._summary(model, self._attack(model, x, y, other, self.eps, ctx), y, ctx)
            metrics.update({f"{k}_{mode}": row[k] for k in ("success_rate", "mean_queries")})
        curve = []
        for e in self.curve_eps:
            atk = self.at_eps(e)
            curve.append({"eps": e, **atk._summary(model, atk._attack(model, x, y, target, e, ctx), y, ctx)})
        arrays = {"fooled": idx[out.success].tolist(), "attacked": idx.tolist(), "iters": out.iters.tolist()}
        if target is not None:
            arrays["target"] = target.tolist()
        return metrics, ({"eps": curve} if curve else {}), arrays


@register_attack
@dataclass(frozen=True)
class PGD(_Evasion):
    """L-inf PGD, the study's default: targeted, eps 8/255, step 2/255, 7 steps, no random start."""

    name: ClassVar[str] = "pgd"
    alpha: Annotated[float, Ge(0)] | None = None  # step size; None: eps * alpha_ratio (eps/4, the study's 2/255 at 8/255)
    steps: Annotated[int, Ge(1)] = 7  # 0 steps would attack nothing
    random_start: bool = False  # the study starts from the clean input

    def __post_init__(self) -> None:
        super().__post_init__()
        self._resolve_alpha(self.steps)

    def _core(self, model, x, y, target, eps, gen):
        start = random_start(x, eps, self.norm, gen) if self.random_start else None
        return pgd(model, x, y, target, eps=eps, alpha=self.alpha, steps=self.steps, norm=self.norm,
                   confident=self.criterion == "confident", start=start, both=True)


@register_attack
@dataclass(frozen=True)
class PGDL2(PGD):
    """L2 PGD; defaults are the common CIFAR L2 budget (eps 0.5), not a study setting."""

    name: ClassVar[str] = "pgd_l2"
    norm: ClassVar[str] = "l2"
    alpha_ratio: ClassVar[float] = 0.2  # 0.1 at the default eps 0.5
    eps: float = 0.5
    steps: int = 10


@register_attack
@dataclass(frozen=True)
class APGD(_Evasion):
    """APGD-CE (AutoAttack's step-size schedule), the strong reference for the PGD numbers."""

    name: ClassVar[str] = "apgd"
    steps: Annotated[int, Ge(1)] = 100  # AutoAttack's budget; ~14x the study's PGD
    norm: Annotated[str, OneOf(NORMS)] = "linf"  # linf | l2
    rho: Annotated[float, Interval(gt=0, le=1)] = 0.75  # step halves when the objective rose in fewer than rho of the steps
    momentum: Annotated[float, Interval(ge=0, le=1)] = 0.75
    random_start: bool = False  # same start as the study's PGD, so the two compare on equal terms

    def _core(self, model, x, y, target, eps, gen):
        start = random_start(x, eps, self.norm, gen) if self.random_start else None
        return apgd(model, x, y, target, eps=eps, steps=self.steps, norm=self.norm, rho=self.rho,
                    momentum=self.momentum, confident=self.criterion == "confident", start=start)


@register_attack
@dataclass(frozen=True)
class NES(_Evasion):
    """Black-box L-inf PGD with NES gradient estimates from output probabilities, at the study's
    budget: 400 queries per gradient estimate (200 antithetic pairs, its `query_num=400`), 7
    iterations, i.e. 7 x (400 + 1 success check) + the final check = 2,808 queries per input
    (autovul/vision/optim/pgd.py: `gen_seq`/`calc_seq`, PGD's 7 iterations), against both the
    least-likely and the most-likely-wrong target. `nes_matched` is the 400-queries-in-all variant."""

    name: ClassVar[str] = "nes"
    alpha: Annotated[float, Ge(0)] | None = None  # step size; None: eps/4 (the study's 2/255 at 8/255)
    queries: Annotated[int, Ge(1)] = 7 * (2 * 200 + 1) + 1  # per-sample budget, success checks included (2,808)
    pop: Annotated[int, Ge(1)] = 200  # antithetic pairs per gradient estimate (2*pop queries; the study: 400)
    sigma: Annotated[float, Gt(0)] = 1e-3  # smoothing radius of the estimate (the study's 1e-3)
    # the study's best case beside the worst
    extra_targets: tuple[Annotated[str, OneOf(TARGETS)], ...] = ("most_likely_wrong",)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._resolve_alpha((self.queries - 1) // (2 * self.pop + 1))  # gradient steps the budget allows

    def _core(self, model, x, y, target, eps, gen):
        return nes(model, x, y, target, eps=eps, alpha=self.alpha, queries=self.queries, pop=self.pop,
                   sigma=self.sigma, gen=gen, confident=self.criterion == "confident")


@register_attack
@dataclass(frozen=True)
class NESMatched(NES):
    """NES on a 400-query budget in all (about 1/7 of the study's), small estimates and many steps:
    archrisk's earlier default, kept for budget-matched comparisons with other black-box attacks."""

    name: ClassVar[str] = "nes_matched"
    queries: int = 400  # per-sample budget, success checks included
    pop: int = 10  # 20 queries per estimate, so 19 steps fit the budget
    extra_targets: tuple[str, ...] = ()
