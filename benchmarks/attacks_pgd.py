"""Attack cost: PGD against its floor, against torchattacks, and label-only membership queries.

    python benchmarks/attacks_pgd.py [--arch resnet18] [--dataset mnist5k] [--batch 128] [--steps 7]
                                     [--threads 1] [--reps 3]

1. PGD with k steps (no early stop, so every sample pays every step) against k x one
   forward+backward to the input of the same model and batch: the ratio is the attack's overhead
   (projection, success checks, the extra forward on the last iterate). Target: <= 1.10.
2. The same PGD through torchattacks, when it is installed (it is not a dependency; put its
   source on PYTHONPATH): ratio of throughputs (> 1 means archrisk is faster), bare and with the
   forward pass torchattacks' caller needs to learn which samples were fooled (ours includes it).
3. Label-only boundary distance at its defaults: forward passes per sample and seconds per sample.
Prints ratios from one run; the model is untrained (cost does not depend on the weights).
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from archrisk.arch import build
from archrisk.attacks import get_attack
from archrisk.attacks.membership import boundary_distance
from archrisk.data import load_dataset
from archrisk.perturb import pgd


def best_of(fns: dict, reps: int) -> dict[str, float]:
    """Minimum wall time of each function over `reps` interleaved rounds (interleaving spreads any
    load from other processes evenly over the candidates; the minimum is the least disturbed run)."""
    for fn in fns.values():
        fn()  # warm-up (allocator, kernels)
    best = {k: float("inf") for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--dataset", default="mnist5k")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    ds = load_dataset(args.dataset)
    torch.manual_seed(0)
    model = build(args.arch, num_classes=ds.num_classes, in_channels=ds.shape[0], mean=ds.mean, std=ds.std).to(dev).eval()
    x, y = ds.test.x[:args.batch].to(dev), ds.test.y[:args.batch].to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def fwd_bwd():
        xi = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(xi), y, reduction="sum"), xi)
        sync()

    def ours():
        pgd(model, x, y, eps=8 / 255, alpha=2 / 255, steps=args.steps, early_stop=False)
        sync()

    fns = {"fb": fwd_bwd, "ours": ours}
    try:
        import torchattacks  # noqa: PLC0415  (optional peer, never a dependency)
    except ImportError:
        torchattacks = None
    if torchattacks is not None:
        ta = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=args.steps, random_start=False)
        fns["torchattacks"] = lambda: (ta(x, y), sync())

        def ta_judged():  # what it costs torchattacks to also say which samples were fooled, as ours does
            adv = ta(x, y)
            with torch.no_grad():
                model(adv).argmax(1)
            sync()

        fns["torchattacks+eval"] = ta_judged
    t = best_of(fns, args.reps)
    print(f"{args.arch} on {args.dataset}, batch {args.batch}, {args.threads} thread(s), {dev}, best of {args.reps}")
    print(f"one forward+backward: {t['fb'] * 1e3:.1f} ms; PGD-{args.steps}: {t['ours'] * 1e3:.1f} ms")
    print(f"PGD / ({args.steps} x forward+backward) = {t['ours'] / (args.steps * t['fb']):.3f}   (target <= 1.10)")
    if torchattacks is None:
        print("torchattacks not installed: throughput comparison skipped")
    else:
        print(f"torchattacks PGD-{args.steps}: {t['torchattacks'] * 1e3:.1f} ms; throughput ratio "
              f"archrisk/torchattacks = {t['torchattacks'] / t['ours']:.3f}   (target >= 1)")
        print(f"torchattacks PGD-{args.steps} + the forward that judges success: {t['torchattacks+eval'] * 1e3:.1f} ms;"
              f" ratio = {t['torchattacks+eval'] / t['ours']:.3f}")

    n = min(32, args.batch)
    atk = get_attack("boundary")
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    _, q = boundary_distance(model, x[:n], y[:n], iters=atk.iters, evals=atk.evals, bisect=atk.bisect, draws=atk.draws,
                             halvings=atk.halvings, delta=atk.delta, gen=gen)
    sync()
    dt = time.perf_counter() - t0
    print(f"label-only boundary distance (defaults): {q.float().mean():.0f} forward passes per sample "
          f"(max {q.max()}), {dt / n:.3f} s per sample, batched {atk.batch_size} at a time")


if __name__ == "__main__":
    main()
