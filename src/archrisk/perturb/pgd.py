"""Projected gradient ascent: the one PGD loop (`pgd_loop`) that adversarial training and the
evasion attacks share, and the attacks' PGD core (`pgd`) with its success bookkeeping.

Success (per sample, at any iterate): targeted - the target class is the argmax; untargeted - the
argmax is not the true class; `confident` adds that this class's probability is > 0.99.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F

from archrisk.perturb.ball import ascent, project

CONFIDENCE = 0.99  # the study's success threshold under criterion="confident"

Index = Union[slice, torch.Tensor]  # the samples in play: all (a slice) or an index tensor
# (iterate of the samples in play, their index) -> (what the judge needs, e.g. logits; input gradient)
Gradient = Callable[[torch.Tensor, Index], tuple[object, torch.Tensor]]
Projection = Callable[[torch.Tensor, Index], torch.Tensor]
# (iterate number, iterate, what `Gradient` returned or None at the last iterate, positions in the
# batch of the samples in play, their index) -> a mask of those that leave play, or None
Judge = Callable[[int, torch.Tensor, object, torch.Tensor, Index], Optional[torch.Tensor]]


@dataclass
class Crafted:
    """Adversarial examples crafted for one batch, with what each sample's attack spent and reached."""

    x_adv: torch.Tensor  # [N, C, H, W] the first successful iterate, else the last (PGD) or best (APGD)
    success: torch.Tensor  # [N] bool
    iters: torch.Tensor  # [N] int64: iterate at which success was first reached (0 = clean), -1 = never
    queries: torch.Tensor  # [N] int64: model evaluations spent on each sample
    nonfinite: bool = False  # some input gradient was NaN/inf (then replaced by 0)
    # success under each rule ('argmax', 'confident') when the core judged both in one run
    success_by: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


def succeeded(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, confident: bool) -> torch.Tensor:
    cls = target if target is not None else logits.argmax(1)
    ok = logits.argmax(1) == target if target is not None else logits.argmax(1) != y
    if confident:
        ok &= F.softmax(logits, 1).gather(1, cls[:, None]).squeeze(1) > CONFIDENCE
    return ok


def objective(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Per-sample quantity every attack here maximises: CE to the true class, or -CE to the target."""
    if target is not None:
        return -F.cross_entropy(logits, target, reduction="none")
    return F.cross_entropy(logits, y, reduction="none")


def input_grad(model, x: torch.Tensor, y, target) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """(logits, objective, input gradient, nonfinite) in one forward and one backward pass."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        obj = objective(logits, y, target)
        (g,) = torch.autograd.grad(obj.sum(), x)  # samples are independent in eval mode
    bad = not bool(torch.isfinite(g).all())
    return logits.detach(), obj.detach(), (torch.nan_to_num(g, 0.0, 0.0, 0.0) if bad else g), bad


def pgd_loop(x: torch.Tensor, gradient: Gradient, projection: Projection, *, alpha: float, steps: int,
             norm: str = "linf", judge: Judge | None = None) -> torch.Tensor:
    """Projected steepest ascent (PGD, Madry et al. 2018) from x: `steps` times,
    x <- projection(x + alpha * ascent(gradient(x), norm)); returns the last iterate (detached).

    `judge`, when given, sees every iterate (the last one too, with no gradient: it does its own
    forward there) and may take samples out of play; those keep their iterate from then on. Only
    the samples in play are passed on, by an index that is a plain slice while all are."""
    xa = x.detach().clone()
    n = len(xa)
    active = torch.arange(n, device=xa.device)
    for t in range(steps + 1):
        sel = slice(None) if len(active) == n else active  # a view while every sample is in play
        if t == steps:
            if judge is not None:
                judge(t, xa[sel], None, active, sel)
            break
        seen, g = gradient(xa[sel], sel)
        done = judge(t, xa[sel], seen, active, sel) if judge is not None else None
        if done is not None and bool(done.any()):
            keep = ~done
            active, g = active[keep], g[keep]
            if len(active) == 0:
                break
            sel = active
        xa[sel] = projection(xa[sel] + alpha * ascent(g, norm), sel)
    return xa


def pgd(model, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None, *, eps: float,
        alpha: float, steps: int, norm: str = "linf", confident: bool = False, early_stop: bool = True,
        start: torch.Tensor | None = None, both: bool = False) -> Crafted:
    """PGD on `objective` with per-sample success bookkeeping. `start` replaces the clean start
    (a random start, or a fixed one for comparisons). Cost: steps + 1 forwards, steps backwards.
    early_stop=False runs every sample for all steps and judges success at the last iterate.
    both=True also judges the other success rule in the same run (`Crafted.success_by`): samples
    run until the stricter, confident rule holds, while x_adv, iters and queries stay those of
    the `confident` rule asked for (what an attacker using that rule would stop at)."""
    x0 = x.detach()
    n = len(x0)
    first = {r: torch.full((n,), -1, dtype=torch.long, device=x0.device) for r in (False, True)}  # by rule
    at_end = {r: torch.zeros(n, dtype=torch.bool, device=x0.device) for r in (False, True)}
    x_out = (x0 if start is None else start.detach()).clone()
    queries = torch.zeros(n, dtype=torch.long, device=x0.device)
    stop_rule = True if both else confident
    nonfinite = False

    def gradient(xs: torch.Tensor, sel: Index):
        nonlocal nonfinite
        logits, _, g, bad = input_grad(model, xs, y[sel], target[sel] if target is not None else None)
        nonfinite |= bad
        return logits, g

    def judge(t: int, xs: torch.Tensor, logits, active: torch.Tensor, sel: Index):
        ya, ta = y[sel], (target[sel] if target is not None else None)
        if logits is None:  # the last iterate needs a forward only
            with torch.no_grad():
                logits = model(xs)
        pending = first[confident][sel] < 0
        queries[sel] += pending.long()  # samples past the asked-for rule's success spend nothing more
        ok = {r: succeeded(logits, ya, ta, r) for r in (False, True)}
        new = ok[confident] & pending
        x_out[active[new]] = xs[new]
        for r in (False, True):
            first[r][active[ok[r] & (first[r][sel] < 0)]] = t
        if t == steps:
            for r in (False, True):
                at_end[r][sel] = ok[r]
        return ok[stop_rule] if early_stop else None

    xa = pgd_loop(x0 if start is None else start, gradient, lambda xs, sel: project(xs, x0[sel], eps, norm),
                  alpha=alpha, steps=steps, norm=norm, judge=judge)
    if early_stop:
        success = {r: first[r] >= 0 for r in (False, True)}
        miss = ~success[confident]
        x_out[miss] = xa[miss]  # never succeeded: the last iterate
    else:
        success, x_out = at_end, xa
    by = {"argmax": success[False], "confident": success[True]} if both else {}
    return Crafted(x_out, success[confident], first[confident], queries, nonfinite, by)
