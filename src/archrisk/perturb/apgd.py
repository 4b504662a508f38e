"""APGD (Croce & Hein 2020): PGD with momentum and a step size that halves where progress stalls."""
from __future__ import annotations

import torch

from archrisk.perturb.ball import ascent, project
from archrisk.perturb.pgd import Crafted, input_grad, succeeded


def apgd_checkpoints(steps: int) -> set[int]:
    """Iterations at which APGD may halve its step size (Croce & Hein 2020): the first after 22% of
    the budget, then at intervals shrinking by 3% of the budget down to 6%."""
    interval, shrink, least = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    out, k = set(), interval
    while k <= steps:
        out.add(k)
        interval = max(interval - shrink, least)
        k += interval
    return out


def apgd(model, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None, *, eps: float,
         steps: int, norm: str = "linf", rho: float = 0.75, momentum: float = 0.75, confident: bool = False,
         start: torch.Tensor | None = None) -> Crafted:
    """APGD with the CE objective (Croce & Hein 2020, Alg. 1): step size 2*eps, momentum 0.75; at each
    checkpoint the step halves for samples whose objective rose in fewer than `rho` of the steps
    since the last checkpoint, or whose step and best objective both stalled, and those restart
    from their best point. A sample's first successful iterate is kept; the batch stops when all
    succeeded. Cost: steps + 1 forward+backward passes."""
    x0 = x.detach()
    n = len(x0)
    view = (-1, *[1] * (x0.ndim - 1))
    cur = x0.clone() if start is None else start.detach().clone()
    logits, f_cur, g_cur, nonfinite = input_grad(model, cur, y, target)
    out = cur.clone()
    iters = torch.where(succeeded(logits, y, target, confident), 0, -1)
    eta = torch.full((n,), 2.0 * eps, device=x0.device)
    best, f_best, g_best = cur.clone(), f_cur.clone(), g_cur.clone()
    prev = cur.clone()
    rises = torch.zeros(n, device=x0.device)
    eta_last, f_best_last, last = eta.clone(), f_best.clone(), 0
    ckpts = apgd_checkpoints(steps)
    done_at = steps
    for k in range(steps):
        z = project(cur + eta.view(view) * ascent(g_cur, norm), x0, eps, norm)
        nxt = z if k == 0 else project(cur + momentum * (z - cur) + (1 - momentum) * (cur - prev), x0, eps, norm)
        logits, f_nxt, g_nxt, bad = input_grad(model, nxt, y, target)
        nonfinite |= bad
        new = succeeded(logits, y, target, confident) & (iters < 0)
        iters[new] = k + 1
        out[new] = nxt[new]
        rises += (f_nxt > f_cur).float()
        better = f_nxt > f_best
        best[better], f_best[better], g_best[better] = nxt[better], f_nxt[better], g_nxt[better]
        prev, cur, f_cur, g_cur = cur, nxt, f_nxt, g_nxt
        if k + 1 in ckpts:
            halve = (rises < rho * (k + 1 - last)) | ((eta_last == eta) & (f_best_last == f_best))
            eta[halve] /= 2
            cur[halve], f_cur[halve], g_cur[halve], prev[halve] = best[halve], f_best[halve], g_best[halve], best[halve]
            rises.zero_()
            eta_last, f_best_last, last = eta.clone(), f_best.clone(), k + 1
        if bool((iters >= 0).all()):
            done_at = k + 1
            break
    success = iters >= 0
    out[~success] = best[~success]
    return Crafted(out, success, iters, torch.full((n,), done_at + 1, device=x0.device), nonfinite)
