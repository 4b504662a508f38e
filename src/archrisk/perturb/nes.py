"""NES (Ilyas et al. 2018): black-box PGD on gradients estimated from output probabilities."""
from __future__ import annotations

import torch

from archrisk.perturb.ball import ascent, project
from archrisk.perturb.pgd import Crafted, objective, succeeded


@torch.no_grad()
def nes(model, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None, *, eps: float,
        alpha: float, queries: int, pop: int, sigma: float, gen: torch.Generator, norm: str = "linf",
        confident: bool = False, chunk: int = 2048) -> Crafted:
    """Black-box PGD with NES gradient estimates (Ilyas et al. 2018): the attacker sees only output
    probabilities. Each step spends 2*pop queries on an antithetic Gaussian estimate of the gradient
    of the log-probability objective and one query to check success; per-sample budget `queries`."""
    x0 = x.detach()
    n = len(x0)
    xa = x0.clone()
    used = torch.zeros(n, dtype=torch.long, device=x0.device)
    iters = torch.full((n,), -1, dtype=torch.long, device=x0.device)
    active = torch.arange(n, device=x0.device)
    step = 0
    while len(active):
        ya, ta = y[active], (target[active] if target is not None else None)
        used[active] += 1
        ok = succeeded(model(xa[active]), ya, ta, confident)
        iters[active[ok]] = step
        active, ya = active[~ok], ya[~ok]
        ta = ta[~ok] if ta is not None else None
        active_ok = used[active] + 2 * pop + 1 <= queries  # budget for one more estimate and check
        active, ya = active[active_ok], ya[active_ok]
        ta = ta[active_ok] if ta is not None else None
        if not len(active):
            break
        b = len(active)
        u = torch.randn((b, pop, *x0.shape[1:]), generator=gen).to(x0.device)
        u = torch.cat([u, -u], 1)  # antithetic pairs halve the estimate's variance
        probe = (xa[active, None] + sigma * u).flatten(0, 1)  # [b * 2pop, C, H, W]
        logits = torch.cat([model(probe[i:i + chunk]) for i in range(0, len(probe), chunk)])
        rep = lambda t: t.repeat_interleave(2 * pop) if t is not None else None  # noqa: E731
        f = objective(logits, rep(ya), rep(ta)).view(b, 2 * pop)
        g = (f.view(b, 2 * pop, *[1] * (x0.ndim - 1)) * u).sum(1) / (2 * pop * sigma)
        used[active] += 2 * pop
        xa[active] = project(xa[active] + alpha * ascent(g, norm), x0[active], eps, norm)
        step += 1
    return Crafted(xa, iters >= 0, iters, used)
