"""Wall times the tests used to assert, measured here instead (tests never assert a duration).

    python benchmarks/bench_train_report.py [--threads 1] [--skip-train] [--skip-report]

1. Training the tiny presets of pc_darts and resnet18 on mnist5k from scratch (the README's
   "a tiny model trains in about a minute on CPU"): seconds and the test accuracy reached.
2. The HTML report of synthetic stores of 20 architectures x 5 attack families x 3 seeds and of
   30 architectures x 5 attack families x 5 seeds (the verdicts issue's target: under 30 s).
Prints one line per measurement. Run it on an otherwise idle machine; numbers from a loaded one
say so.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def bench_train() -> None:
    from archrisk.data import load_dataset
    from archrisk.train import train_model

    ds = load_dataset("mnist5k")
    for arch in ("pc_darts", "resnet18"):
        t0 = time.perf_counter()
        r = train_model(arch, ds, size="tiny", seed=0, cache=False, progress=False)
        print(f"train {arch:10s} tiny on mnist5k: {time.perf_counter() - t0:6.1f} s, test acc {r.test_acc:.3f}")


def bench_report() -> None:
    from archrisk.report import write_report
    from archrisk.store.fixtures import write_synthetic_store

    for n_nas, n_manual, seeds in ((10, 10, 3), (15, 15, 5)):
        with tempfile.TemporaryDirectory() as tmp:
            db = write_synthetic_store(Path(tmp) / "s.db", n_nas=n_nas, n_manual=n_manual, remedies=False,
                                       seeds=tuple(range(seeds)), fractions=(0.2,))
            t0 = time.perf_counter()
            write_report(db, Path(tmp) / "out")
            print(f"report of {n_nas + n_manual} architectures x 5 attacks x {seeds} seeds: "
                  f"{time.perf_counter() - t0:6.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-report", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if not a.skip_train:
        bench_train()
    if not a.skip_report:
        bench_report()


if __name__ == "__main__":
    main()
