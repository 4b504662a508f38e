"""Explanation metrics: speed against the reference methods, and per-metric cost.

    python benchmarks/bench_metrics.py [--arch resnet18] [--dataset mnist5k] [--threads 2] [--skip-timings]

1. Top Hessian eigenvalue, same model, batch and tolerance: archrisk's Lanczos against power
   iteration as PyHessian does it (the `pyhessian` package when installed, else the same algorithm:
   gradient graph built once, one double-backward per product, stop when the eigenvalue changes by
   less than tol relative). Both errors are measured against a tight Lanczos reference.
2. Empirical NTK: the vectorised Jacobian (vmap over per-sample gradients) against a Python
   loop over samples and logits.
3. Cost of every metric family at its defaults (at initialisation, or trained with --trained).
Prints ratios (reference time / archrisk time: > 1 means archrisk is faster).
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from archrisk.arch import build, count_params
from archrisk.data import load_dataset
from archrisk.metrics import measure
from archrisk.metrics.functional import ModelFn
from archrisk.metrics.hessian import lanczos
from archrisk.metrics.ntk import empirical_ntk
from archrisk.train import train_model


def power_iteration(model, x, y, tol: float, max_iter: int = 100, seed: int = 0) -> tuple[float, int]:
    """PyHessian's `eigenvalues(top_n=1)` algorithm (or the package itself when installed)."""
    try:
        import pyhessian  # noqa: F401
    except ImportError:
        pyhessian = None
    if pyhessian is not None:
        torch.manual_seed(seed)
        h = pyhessian.hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=x.is_cuda)
        return h.eigenvalues(maxIter=max_iter, tol=tol)[0][0], -1
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), params, create_graph=True)
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=gen) for p in params]
    eig, products = None, 0
    for _ in range(max_iter):
        norm = torch.sqrt(sum((t * t).sum() for t in v))
        v = [t / norm for t in v]
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        products += 1
        new = float(sum((a * b).sum() for a, b in zip(hv, v)))
        v = [t.detach() for t in hv]
        if eig is not None and abs(eig - new) / (abs(eig) + 1e-6) < tol:
            return new, products
        eig = new
    return eig, products


def bench_top_eigenvalue(model, x, y, tol: float) -> None:
    fn = ModelFn(model)
    hvp = fn.hvp_closure(x, y, chunk=len(x))
    ref = lanczos(hvp, fn.dim, iters=100, tol=1e-7, gen=torch.Generator().manual_seed(9)).ritz[0]
    t0 = time.perf_counter()
    hvp = fn.hvp_closure(x, y, chunk=len(x))  # includes building the graph, as the power iteration does
    ours = lanczos(hvp, fn.dim, iters=100, tol=tol, gen=torch.Generator().manual_seed(0))
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs, products = power_iteration(model, x, y, tol)
    t_theirs = time.perf_counter() - t0
    print(f"top eigenvalue (tol {tol}, {len(x)} images, {fn.dim:,} params; reference {ref:.6g})")
    rows = (("archrisk Lanczos", t_ours, ours.steps, ours.ritz[0]), ("power iteration", t_theirs, products, theirs))
    for name, t, n, val in rows:
        print(f"  {name:17s}: {t:7.2f}s  {n:3d} products  rel. error {abs(val - ref) / abs(ref):.1e}")
    print(f"  ratio (power / Lanczos time): {t_theirs / t_ours:.2f}x")


def ntk_loop(model, x) -> torch.Tensor:
    params = [p for p in model.parameters()]
    rows = []
    for xi in x:  # the loop the vectorised version avoids
        out = model(xi[None])[0]
        rows.append(torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(o, params, retain_graph=True)])
                                 for o in out]))
    J = torch.stack(rows)  # [n, K, P]
    return torch.einsum("ikp,jkp->ij", J, J).double() / J.shape[1]


def bench_ntk(model, x) -> None:
    t0 = time.perf_counter()
    fast = empirical_ntk(model, x)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = ntk_loop(model, x)
    t_slow = time.perf_counter() - t0
    err = float((fast - slow).abs().max() / slow.abs().max())
    print(f"empirical NTK ({len(x)} images): vectorised {t_fast:.2f}s, per-sample loop {t_slow:.2f}s, "
          f"ratio {t_slow / t_fast:.2f}x, max rel. difference {err:.1e}")


def bench_families(model, ds) -> None:
    print("cost of each metric family at its defaults:")
    for names in (["hessian_top", "hessian_trace"], ["input_grad_norm", "lipschitz"], ["grad_var", "grad_var_norm"],
                  ["ntk_cond", "ntk_min", "ntk_max", "ntk_trace"]):
        r = measure(model, ds, names)
        cost = next(iter(r.values())).cost_s
        vals = ", ".join(f"{n}={v.value:.4g}" + (f"±{v.stderr:.2g}" if v.stderr is not None else "")
                         for n, v in r.items())
        print(f"  {cost:7.1f}s  {vals}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--dataset", default="mnist5k")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hessian-samples", type=int, default=64)
    ap.add_argument("--ntk-samples", type=int, default=16)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--skip-timings", action="store_true")
    ap.add_argument("--trained", action="store_true", help="measure the trained model (train_model() or its cache)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.dataset)
    if args.trained:
        model = train_model(args.arch, ds, progress=False).model.eval()
    else:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = build(args.arch, num_classes=ds.num_classes, in_channels=ds.shape[0], mean=ds.mean,
                          std=ds.std).eval()
    state = "trained" if args.trained else "at initialisation"
    print(f"{args.arch} (tiny, {count_params(model):,} params, {state}) on {args.dataset}, {args.threads} threads")
    x, y = ds.train.x[:args.hessian_samples], ds.train.y[:args.hessian_samples]
    bench_top_eigenvalue(model, x, y, args.tol)
    bench_ntk(model, ds.train.x[:args.ntk_samples])
    if not args.skip_timings:
        bench_families(model, ds)


if __name__ == "__main__":
    main()
