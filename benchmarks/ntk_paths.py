"""Empirical NTK: the vmapped per-sample Jacobian against a loop of jacrev over images, by size.

    python benchmarks/ntk_paths.py [--samples 32] [--threads 1] [--repeats 3]

Builds one manual net at growing widths (parameter counts from ~10k to ~1M) on 3x32x32 inputs,
times `empirical_ntk(..., loop=False)` and `(..., loop=True)` on the same images, and prints
loop time / vmap time per size (> 1: vmap is faster). `LOOP_ABOVE_PARAMS` in
archrisk/metrics/ntk.py should sit where the ratio crosses 1. Run on a quiet machine.
"""
from __future__ import annotations

import argparse
import time

import torch

from archrisk.arch import build, count_params
from archrisk.metrics.ntk import LOOP_ABOVE_PARAMS, empirical_ntk


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--params", type=int, nargs="*", default=[10_000, 50_000, 100_000, 200_000, 400_000, 700_000, 1_000_000])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(args.samples, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    print(f"threads {args.threads}, {args.samples} images, current LOOP_ABOVE_PARAMS = {LOOP_ABOVE_PARAMS:,}")
    print(f"{'params':>10} {'vmap s':>8} {'loop s':>8} {'loop/vmap':>10}")
    for target in args.params:
        torch.manual_seed(0)
        model = build(args.arch, num_classes=10, in_channels=3, params=target).eval()
        vm = best_of(lambda: empirical_ntk(model, x, chunk=args.samples, loop=False), args.repeats)
        lp = best_of(lambda: empirical_ntk(model, x, loop=True), args.repeats)
        print(f"{count_params(model):>10,} {vm:>8.3f} {lp:>8.3f} {lp / vm:>10.2f}")


if __name__ == "__main__":
    main()
