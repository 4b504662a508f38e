"""Membership inference: label-only boundary distance, loss threshold, and offline LiRA.

Members are drawn at random from the victim's training split, non-members from the test split
(same distribution, never trained on), `n` of each, so for a model that saw neither the AUC is
0.5 in expectation. Every attack yields a score per sample (higher = "member"); the ROC, its AUC
(never folded into max(AUC, 1 - AUC)) and the TPR at 0.1% and 1% FPR summarise it.

- `boundary` (the study's label-only attack): L2 distance from each input to the victim's decision
  boundary, estimated with decision-only queries, HopSkipJump-style (Chen et al. 2020) but batched
  and with a small fixed budget: a random image that is misclassified gives a starting point,
  bisection brings it to the boundary, then each iteration estimates the boundary normal from the
  signs of `evals` random probes, steps along it (halving until the point is misclassified again)
  and bisects back. Misclassified inputs have distance 0. Cost per sample:
  ~1 + draws + bisect + iters * (evals + halvings + bisect) forward passes (reported).
- `loss_threshold` (Yeom et al. 2018): score = -cross-entropy of the true label.
- `lira` (Carlini et al. 2022, offline variant): shadows of the same architecture and recipe are
  trained on random halves of the attacker's pool (so every target is "out" for them); the score
  is how far the victim's logit-scaled confidence log(p_y / (1 - p_y)) lies above the shadows'
  per-example mean, in units of their (pooled) standard deviation. Each shadow is selected on the
  other half of the pool, and under a victim recipe with the convergence rule (`patience`) trains
  until that half's accuracy plateaus, the victim's epochs being the cap.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from archrisk.attacks.base import Attack, AttackContext, register_attack
from archrisk.attacks.common import auc, convergence_of, logits_of, roc, subsample, tpr_at
from archrisk.attacks.poisoning import retrain
from archrisk.data import Split
from archrisk.meaning import Meaning
from archrisk.validate import Ge, Gt


class _Oracle:
    """Label-only access to a model, counting forward passes per sample."""

    def __init__(self, model, device: torch.device, n: int, chunk: int = 2048):
        self.model, self.device, self.chunk = model, device, chunk
        self.queries = torch.zeros(n, dtype=torch.long)

    @torch.no_grad()
    def wrong(self, z: torch.Tensor, y: torch.Tensor, who: torch.Tensor, per: int = 1) -> torch.Tensor:
        """Whether the label of each row of z differs from y; `who` are the samples charged `per` queries."""
        self.queries[who.cpu()] += per
        pred = torch.cat([self.model(z[i:i + self.chunk]).argmax(1) for i in range(0, len(z), self.chunk)])
        return pred != y


def _norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1)


def _bisect(oracle: _Oracle, x, x_adv, y, who, steps: int) -> torch.Tensor:
    """Smallest blend x + t (x_adv - x) still misclassified, to within 2^-steps in t."""
    lo, hi = torch.zeros(len(x), device=x.device), torch.ones(len(x), device=x.device)
    view = (-1, *[1] * (x.ndim - 1))
    for _ in range(steps):
        mid = (lo + hi) / 2
        a = oracle.wrong(x + mid.view(view) * (x_adv - x), y, who)
        hi, lo = torch.where(a, mid, hi), torch.where(a, lo, mid)
    return x + hi.view(view) * (x_adv - x)


def boundary_distance(model, x: torch.Tensor, y: torch.Tensor, *, iters: int, evals: int, bisect: int, draws: int,
                      halvings: int, delta: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(L2 distance to the decision boundary, forward passes spent) per sample; see the module doc."""
    dev, n, d = x.device, len(x), x[0].numel()
    view = (-1, *[1] * (x.ndim - 1))
    oracle = _Oracle(model, dev, n)
    every = torch.arange(n, device=dev)
    dist = torch.full((n,), math.sqrt(d), device=dev)  # never left the class: as far as the cube allows
    mis = oracle.wrong(x, y, every)
    dist[mis] = 0.0
    found, start = mis.clone(), x.clone()
    for _ in range(draws):
        todo = (~found).nonzero().flatten()
        if not len(todo):
            break
        u = torch.rand((len(todo), *x.shape[1:]), generator=gen).to(dev)
        ok = oracle.wrong(u, y[todo], todo)
        start[todo[ok]], found[todo[ok]] = u[ok], True
    act = (found & ~mis).nonzero().flatten()
    if not len(act):
        return dist.cpu(), oracle.queries
    xa, ya = x[act], y[act]
    xb = _bisect(oracle, xa, start[act], ya, act, bisect)
    da = _norm(xb - xa)
    for it in range(iters):
        u = torch.randn((len(act), evals, *x.shape[1:]), generator=gen).to(dev)
        u = u / _norm(u.flatten(0, 1)).view(len(act), evals, *[1] * (x.ndim - 1))
        probe = (xb[:, None] + (delta * da).view(-1, 1, *[1] * (x.ndim - 1)) * u).clamp(0, 1).flatten(0, 1)
        phi = oracle.wrong(probe, ya.repeat_interleave(evals), act, evals).view(len(act), evals).float() * 2 - 1
        base = phi.mean(1, keepdim=True)
        phi = torch.where(base.abs() == 1, phi, phi - base)  # HSJA's baseline; all-equal signs keep theirs
        v = (phi.view(len(act), evals, *[1] * (x.ndim - 1)) * u).mean(1)
        v = v / _norm(v).clamp_min(1e-12).view(view)
        step = da / math.sqrt(it + 1)
        cand, ok = xb.clone(), torch.zeros(len(act), dtype=torch.bool, device=dev)
        for _ in range(halvings):
            todo = (~ok).nonzero().flatten()
            if not len(todo):
                break
            z = (xb[todo] + step[todo].view(view) * v[todo]).clamp(0, 1)
            a = oracle.wrong(z, ya[todo], act[todo])
            cand[todo[a]], ok[todo[a]] = z[a], True
            step[todo[~a]] /= 2
        nb = _bisect(oracle, xa, cand, ya, act, bisect)
        nd = _norm(nb - xa)
        better = ok & (nd < da)
        xb[better], da[better] = nb[better], nd[better]
    dist[act] = da
    return dist.cpu(), oracle.queries


def scaled_confidence(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log(p_y / (1 - p_y)) computed stably from logits (LiRA's statistic; roughly Gaussian)."""
    ly = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf"))
    return ly - torch.logsumexp(others, 1)


@dataclass(frozen=True)
class _Membership(Attack):
    family: ClassVar[str] = "membership"
    meanings: ClassVar[dict[str, Meaning]] = {
        "auc": Meaning(1, True, ("C5",), "ROC AUC of telling members from non-members (0.5 = chance)"),
        "tpr_at_0.1%fpr": Meaning(1, False, ("C5",), "members found at 0.1% false positives (0..1)"),
        "tpr_at_1%fpr": Meaning(1, False, ("C5",), "members found at 1% false positives (0..1)"),
        "member_acc": Meaning(0, False, (), "victim's accuracy on the members attacked (0..1)"),
        "nonmember_acc": Meaning(0, False, (), "victim's accuracy on the non-members attacked (0..1)"),
        "gap": Meaning(0, False, (), "member minus non-member accuracy (generalisation gap, 0..1)"),
        "n": Meaning(description="members attacked, and as many non-members (count)"),
    }
    n: Annotated[int, Ge(1)] = 500  # members and non-members each (the study: 50 + 50, too few for a stable AUC)

    def scores(self, model, x: torch.Tensor, y: torch.Tensor, ctx: AttackContext) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def _run(self, model, ctx: AttackContext):
        ds = ctx.dataset
        gen = ctx.generator(40)
        n = min(self.n, len(ds.train), len(ds.test))
        mem = subsample(len(ds.train), n, gen, f"{self.name} members")
        non = subsample(len(ds.test), n, gen, f"{self.name} non-members")
        x = torch.cat([ds.train.x[mem], ds.test.x[non]])
        y = torch.cat([ds.train.y[mem], ds.test.y[non]])
        label = np.r_[np.ones(len(mem)), np.zeros(len(non))]
        s, extra = self.scores(model, x, y, ctx)
        s = s.double().numpy()
        fpr, tpr = roc(s, label)
        correct = (logits_of(model, x, ctx.device).argmax(1) == y).float()
        m_acc, n_acc = correct[:len(mem)].mean().item(), correct[len(mem):].mean().item()
        metrics = {"auc": auc(fpr, tpr), "tpr_at_0.1%fpr": tpr_at(fpr, tpr, 0.001),
                   "tpr_at_1%fpr": tpr_at(fpr, tpr, 0.01), "member_acc": m_acc, "nonmember_acc": n_acc,
                   "gap": m_acc - n_acc, "n": len(mem), **extra}
        arrays = {"roc_fpr": fpr.tolist(), "roc_tpr": tpr.tolist(), "members": mem.tolist(),
                  "nonmembers": non.tolist(), "scores": s.tolist()}
        return metrics, {}, arrays


@register_attack
@dataclass(frozen=True)
class LossThreshold(_Membership):
    """Loss-threshold membership (Yeom et al. 2018): members have lower loss."""

    name: ClassVar[str] = "loss_threshold"

    def scores(self, model, x, y, ctx):
        return -F.cross_entropy(logits_of(model, x, ctx.device), y, reduction="none"), {}


@register_attack
@dataclass(frozen=True)
class Boundary(_Membership):
    """Label-only boundary distance (the study's attack, HopSkipJump-style, batched)."""

    name: ClassVar[str] = "boundary"
    meanings: ClassVar[dict[str, Meaning]] = {
        **_Membership.meanings,
        "queries_per_sample": Meaning(0, False, (), "mean label queries per sample"),
        "max_queries": Meaning(0, False, (), "most label queries any sample took"),
    }
    # members and non-members each; up to ~1.1k forward passes per sample at the defaults
    n: Annotated[int, Ge(1)] = 200
    iters: Annotated[int, Ge(0)] = 10  # boundary-normal estimates and steps
    evals: Annotated[int, Ge(1)] = 100  # sign probes per estimate
    bisect: Annotated[int, Ge(0)] = 10  # bisection steps (precision 2^-10 of the segment)
    draws: Annotated[int, Ge(1)] = 20  # random images tried for a misclassified starting point
    halvings: Annotated[int, Ge(1)] = 8  # step halvings allowed to get back across the boundary
    delta: Annotated[float, Gt(0)] = 0.05  # probe radius relative to the current distance
    batch_size: Annotated[int, Ge(1)] = 64

    def scores(self, model, x, y, ctx):
        gen = ctx.generator(41)
        dists, queries = [], []
        for i in range(0, len(x), self.batch_size):
            dd, q = boundary_distance(model, x[i:i + self.batch_size].to(ctx.device), y[i:i + self.batch_size].to(ctx.device),
                                      iters=self.iters, evals=self.evals, bisect=self.bisect, draws=self.draws,
                                      halvings=self.halvings, delta=self.delta, gen=gen)
            dists.append(dd), queries.append(q)
        q = torch.cat(queries).float()
        return torch.cat(dists), {"queries_per_sample": q.mean().item(), "max_queries": q.max().item()}


@register_attack
@dataclass(frozen=True)
class LiRA(_Membership):
    """Offline LiRA with shadows trained on the attacker's pool (per-example calibration)."""

    name: ClassVar[str] = "lira"
    meanings: ClassVar[dict[str, Meaning]] = {
        **_Membership.meanings,
        "shadows": Meaning(0, False, (), "shadow models trained (count)"),
        "shadow_acc": Meaning(description="shadow models' mean clean test accuracy (0..1)"),
        "shadow_epochs_run": Meaning(description="epochs the shadow models trained, on average (convergence rule "
                                                 "on only)"),
        "shadow_converged": Meaning(description="share of shadow models whose training the convergence rule "
                                                "ended, not their cap (0..1; rule on only)"),
    }
    # shadow models (Carlini et al. use 64+; the offline, pooled-variance form works with few)
    shadows: Annotated[int, Ge(1)] = 4

    def scores(self, model, x, y, ctx):
        ds = ctx.dataset
        pool = ds.pool
        gen = ctx.generator(42)
        conf, shadows = [], []
        for s in range(self.shadows):
            perm = torch.randperm(len(pool), generator=gen)
            half, held = perm[:len(pool) // 2], perm[len(pool) // 2:]
            shadow_ds = replace(ds, train=Split(pool.x[half], pool.y[half]), val=Split(pool.x[held], pool.y[held]),
                                content_digest="")
            shadow = retrain(ctx, shadow_ds, {"attack": self.name, "shadow": s, "seed": ctx.seed})
            shadows.append(shadow)
            conf.append(scaled_confidence(logits_of(shadow.model, x, ctx.device), y))
        conf = torch.stack(conf)  # [shadows, 2n]
        mu = conf.mean(0)
        sigma = (conf - mu).pow(2).mean().sqrt().clamp_min(1e-6)  # pooled over examples and shadows
        target = scaled_confidence(logits_of(model, x, ctx.device), y)
        return (target - mu) / sigma, {"shadows": self.shadows,
                                       "shadow_acc": sum(r.test_acc for r in shadows) / len(shadows),
                                       **convergence_of("shadow", [(r.epochs_run, r.converged) for r in shadows])}
