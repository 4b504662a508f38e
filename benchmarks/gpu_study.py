"""What the study costs on one GPU: measured per-architecture epoch and attack times, projected
over the job list that archrisk's planner makes from studies/paper.toml.

    python benchmarks/gpu_study.py --device cuda [--budget-s 420] [--jobs-per-gpu 4] [--out benchmarks/RESULTS.md]
    python benchmarks/gpu_study.py --quick           # CPU smoke test: tiny sizes, 2 architectures, seconds

On synthetic CIFAR-shaped data (3x32x32 uint8, 10 classes; no archive needed), per architecture
at the study's size:
1. training time per image through archrisk's own `fit` (device-resident data, augmentation,
   clipping, cosine lr), the second of two short epochs, in fp32, bf16, and bf16 + channels-last;
2. fp32 forward and input-gradient time per image (the units of every attack: attacks run in
   float32), with PGD-7, NES and the label-only boundary attack timed on a reduced count on one
   reference architecture to calibrate the unit model (printed: measured / modelled);
3. aggregate training throughput of N processes sharing the GPU against one.
Then every planner job gets a cost: training-type jobs (victims, label-flip retrains, backdoor
fine-tunes, Knockoff thieves, LiRA shadows) as epochs x images x time per training image,
attacks as their protocol's forwards/gradients x the unit times. Metrics are not timed and are
listed as such. Appends a dated section naming the device to --out and prints it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import multiprocessing as mp
import os
import sys
import time
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from archrisk.arch import build  # noqa: E402
from archrisk.arch.zoo import count_params  # noqa: E402
from archrisk.data import Split  # noqa: E402
from archrisk.train import fit, get_recipe  # noqa: E402
from archrisk.train.recipe import size_recipe  # noqa: E402

# Official training-set sizes (the splits carve val and pool out of these). ImageNet32's 60-class
# subset: ~1281 images per class on average over ImageNet's 1000 classes (approximate).
OFFICIAL_TRAIN = {"cifar10": 50_000, "cifar100": 50_000, "imagenet32_60": 76_870}
CONFIGS = {"bf16+CL": dict(precision="bf16", channels_last=True),
           "fp32": dict(precision="fp32", channels_last=False),
           "bf16": dict(precision="bf16", channels_last=False)}
DEFAULT_CFG = "bf16+CL"  # what `auto` resolves to on CUDA


class Clock:
    def __init__(self, budget_s: float):
        self.t0, self.budget = time.perf_counter(), budget_s

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def synthetic(n: int, classes: int = 10, side: int = 32, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, side, side), generator=g, dtype=torch.uint8).float().div_(255)
    return Split(x, torch.randint(0, classes, (n,), generator=g))


def model_for(arch: str, size: str, dev: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return build(arch, num_classes=10, in_channels=3, size=size, dropout=0.2).to(dev)


def train_time(arch: str, size: str, dev: torch.device, cfg: dict, steps: int, batch: int,
               on_device: bool | None = None) -> float:
    """Seconds per training image: the second of two epochs of `steps` batches (the first warms up)."""
    model = model_for(arch, size, dev)
    rec = get_recipe("study", batch_size=batch, **cfg)
    split = synthetic(steps * batch)
    empty = Split(split.x[:0], split.y[:0])
    hist, _ = fit(model, split, empty, rec, epochs=2, seed=0, device=dev, mirror=True, progress=False,
                  data_on_device=on_device)
    return hist[1].seconds / len(split)


def unit_times(arch: str, size: str, dev: torch.device, batch: int, reps: int) -> tuple[float, float]:
    """(forward, input-gradient) seconds per image in eval mode, float32: the attacks' units."""
    model = model_for(arch, size, dev).eval()
    x, y = synthetic(batch).x.to(dev), torch.zeros(batch, dtype=torch.long, device=dev)

    def fwd():
        with torch.no_grad():
            model(x)

    def grad():
        xi = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(xi), y), xi)

    out = []
    for fn in (fwd, grad):
        fn()
        sync(dev)
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync(dev)
        out.append((time.perf_counter() - t0) / (reps * batch))
    return out[0], out[1]


def attack_calibration(arch: str, size: str, dev: torch.device, n: int, fwd: float, grad: float) -> dict:
    """Real attack cores on `n` images (no early stop where there is a choice), against the unit model."""
    from archrisk.attacks.membership import boundary_distance
    from archrisk.perturb import nes, pgd

    model = model_for(arch, size, dev).eval()
    data = synthetic(n, seed=1)
    x, y = data.x.to(dev), data.y.to(dev)
    tgt = (y + 1) % 10
    g = torch.Generator(device="cpu").manual_seed(0)
    out = {}

    def timed(fn):
        fn()  # warm-up
        sync(dev)
        t0 = time.perf_counter()
        fn()
        sync(dev)
        return time.perf_counter() - t0

    t = timed(lambda: pgd(model, x, y, tgt, eps=8 / 255, alpha=2 / 255, steps=7, early_stop=False))
    out["pgd7"] = (t / n, (8 * grad))  # 7 gradient steps + a final forward ~ 8 gradient units
    q = 40
    t = timed(lambda: nes(model, x, y, tgt, eps=8 / 255, alpha=2 / 255, queries=q, pop=10, sigma=1e-3, gen=g))
    out["nes_per_query"] = (t / (n * q), fwd)
    k = max(2, n // 8)
    bd = {}

    def run_bd():
        bd["d"], bd["q"] = boundary_distance(model, x[:k], y[:k], iters=10, evals=100, bisect=10, draws=20,
                                             halvings=8, delta=0.05, gen=g)
    t = timed(run_bd)
    out["boundary_per_sample"] = (t / k, float(bd["q"].float().mean()) * fwd)  # its own query count
    return out


def _jobs_worker(rank, arch, size, dev_name, steps, batch, barrier, results):
    torch.set_num_threads(1)
    dev = torch.device(dev_name)
    model = model_for(arch, size, dev)
    rec = get_recipe("study", batch_size=batch, **CONFIGS[DEFAULT_CFG])
    split = synthetic(steps * batch, seed=rank)
    empty = Split(split.x[:0], split.y[:0])
    fit(model, Split(split.x[:2 * batch], split.y[:2 * batch]), empty, rec, 1, 0, dev, progress=False)  # warm-up
    sync(dev)
    barrier.wait()
    t0 = time.perf_counter()
    fit(model, split, empty, rec, 1, rank, dev, progress=False)
    sync(dev)
    results[rank] = time.perf_counter() - t0


def jobs_throughput(arch: str, size: str, dev: torch.device, n_jobs: int, steps: int, batch: int) -> float:
    """Aggregate training images/s of `n_jobs` processes training at once on one device."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(n_jobs), ctx.Manager().dict()
    procs = [ctx.Process(target=_jobs_worker, args=(r, arch, size, str(dev), steps, batch, barrier, results))
             for r in range(n_jobs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if len(results) != n_jobs:
        raise RuntimeError(f"{n_jobs - len(results)} of {n_jobs} workers failed")
    return n_jobs * steps * batch / max(results.values())


# ---- the planner's jobs -> seconds ------------------------------------------------------------

def split_sizes(data: dict) -> dict[str, int]:
    total = OFFICIAL_TRAIN.get(data["name"], 50_000)
    val, pool = round(data["val_fraction"] * total), round(data["pool_fraction"] * total)
    train = total - val - pool
    if data.get("limit"):
        train = min(train, data["limit"])
    return {"train": train, "val": val, "pool": pool}


def job_seconds(job, u: dict, cal: dict, victim_epochs: int) -> float | None:
    """Seconds for one planner job on one GPU, from the architecture's unit times `u`; None: not timed."""
    from archrisk.attacks import get_attack

    s = split_sizes(job.spec["data"])
    tr, fwd, grad = u["train"], u["fwd"], u["grad"]
    epoch = s["train"] * tr + s["val"] * fwd  # one training epoch + its validation pass
    if job.kind == "train":
        return victim_epochs * epoch
    if job.kind == "metric":
        return None
    a = get_attack(job.name, **{k: v for k, v in job.params.items()})
    p = a.config()
    if job.name in ("pgd", "pgd_l2"):
        runs = 1 + len(p.get("curve_eps") or ())
        return runs * p["n"] * (p["steps"] + 1) * grad * cal["pgd"]
    if job.name == "apgd":
        return p["n"] * (p["steps"] + 1) * grad
    if job.name == "nes":
        return p["n"] * p["queries"] * fwd * cal["nes"]
    if job.name == "label_flip":
        return (p["retrain_epochs"] or victim_epochs) * epoch
    if job.name in ("badnets", "blended", "trojannn"):
        t = p["finetune_epochs"] * epoch
        if job.name == "trojannn":
            t += p["trigger_steps"] * p["trigger_images"] * grad
        return t
    if job.name == "knockoff":
        budgets = p["budgets"] or [s["pool"] * k // 16 for k in (1, 2, 4, 8, 16)]
        return sum(b * p["thief_epochs"] * tr for b in budgets) + s["pool"] * fwd
    if job.name == "boundary":
        return 2 * p["n"] * cal["boundary_per_sample"]
    if job.name == "loss_threshold":
        return 2 * p["n"] * fwd
    if job.name == "lira":
        half = s["pool"] // 2
        return p["shadows"] * victim_epochs * (half * tr + (s["pool"] - half) * fwd) + 2 * p["n"] * fwd
    return None


def project(jobs, units: dict, cal: dict, victim_epochs: int, speedup: dict) -> dict:
    total = {"1": 0.0, "N": 0.0}
    by_kind: Counter = Counter()
    untimed: Counter = Counter()
    for j in jobs:
        u = units.get(j.arch)
        sec = job_seconds(j, u, cal, victim_epochs) if u else None
        if sec is None:
            untimed[f"{j.kind}:{j.name}" if u else f"arch:{j.arch}"] += 1
            continue
        total["1"] += sec
        total["N"] += sec / speedup.get(u["group"], 1.0)
        by_kind[j.family if j.kind == "attack" else j.kind] += sec
    return {"hours_1": total["1"] / 3600, "hours_N": total["N"] / 3600, "jobs": len(jobs),
            "by_kind": {k: v / 3600 for k, v in by_kind.most_common()}, "untimed": dict(untimed)}


# ---- main -------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--budget-s", type=float, default=420.0, help="stop measuring new architectures after this")
    ap.add_argument("--quick", action="store_true", help="CPU smoke test: tiny sizes, 2 architectures")
    ap.add_argument("--study", default=str(ROOT / "studies" / "paper.toml"))
    ap.add_argument("--steps", type=int, default=12, help="training batches per timed epoch")
    ap.add_argument("--jobs-per-gpu", type=int, default=4)
    ap.add_argument("--jobs-archs", default="darts_v2,resnet18")
    ap.add_argument("--archs", default="", help="comma-separated subset (default: the study's)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    args = ap.parse_args()
    clock = Clock(args.budget_s)
    dev = torch.device(args.device)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)) if dev.type == "cuda" else 1)

    from archrisk.runner.config import load_study
    from archrisk.runner.plan import plan

    study, _ = load_study(args.study)
    jobs = plan(study)
    size = "tiny" if args.quick else study.size
    archs = [a for a in (args.archs.split(",") if args.archs else [e.text for e in study.archs]) if a]
    if args.quick:
        archs, args.steps, args.jobs_per_gpu, args.jobs_archs = archs[:1] + ["resnet18"], 2, 2, "resnet18"
    batch = get_recipe("study").batch_size
    victim_epochs = study.recipe.get("epochs") or size_recipe(study.size).epochs  # the study's victims (paper: 200)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    log = lambda m: print(f"[{time.perf_counter() - clock.t0:6.1f}s] {m}", flush=True)  # noqa: E731
    log(f"device {name}, torch {torch.__version__}, {len(jobs)} planner jobs, {len(archs)} architectures")

    # 1. training time per image, default configuration first so every architecture gets it
    per: dict[str, dict] = {}
    stop_at = {"bf16+CL": 0.55, "fp32": 0.3, "bf16": 0.22}  # share of the budget left for later phases
    for cfg in CONFIGS:
        for arch in archs:
            if clock.left() < stop_at[cfg] * args.budget_s and not args.quick:
                log(f"budget: skipping {cfg} for {arch} and later")
                break
            try:
                t = train_time(arch, size, dev, CONFIGS[cfg], args.steps, batch)
            except Exception as e:  # e.g. out of memory: record and go on
                log(f"{arch} {cfg}: failed ({type(e).__name__}: {str(e)[:120]})")
                continue
            row = per.setdefault(arch, {})
            row[cfg] = t
            if cfg == DEFAULT_CFG:
                m = model_for(arch, size, torch.device("cpu"))
                row["params"] = count_params(m) / 1e6
                row["group"] = "manual" if m.spec.kind == "manual" else "cell"
                row["fwd"], row["grad"] = unit_times(arch, size, dev, 256, 3 if not args.quick else 1)
            log(f"{arch:>18} {cfg:>8}: {t * 1e3:.3f} ms/img")
        if dev.type == "cuda" and cfg == DEFAULT_CFG and archs:
            try:  # the host loader for one architecture, to show what device-resident data saves
                per[archs[0]]["host"] = train_time(archs[0], size, dev, CONFIGS[cfg], args.steps, batch, on_device=False)
            except Exception as e:
                log(f"host loader: failed ({e})")

    # 2. attack calibration on one reference architecture
    ref = next((a for a in ("darts_v2", archs[0]) if a in per), None)
    cal = {"pgd": 1.0, "nes": 1.0, "boundary_per_sample": float("nan")}
    cal_rows = {}
    if ref is not None and (clock.left() > 0.15 * args.budget_s or args.quick):
        cal_rows = attack_calibration(ref, size, dev, 64 if not args.quick else 8, per[ref]["fwd"], per[ref]["grad"])
        cal["pgd"] = cal_rows["pgd7"][0] / cal_rows["pgd7"][1]
        cal["nes"] = cal_rows["nes_per_query"][0] / cal_rows["nes_per_query"][1]
        bq = cal_rows["boundary_per_sample"]
        cal["boundary_ratio"] = bq[0] / bq[1]
        log(f"calibration on {ref}: " + ", ".join(f"{k} {v[0] * 1e3:.3f} ms (model {v[1] * 1e3:.3f})" for k, v in cal_rows.items()))

    # 3. several jobs per GPU
    speed = {}
    jp = {}
    for arch in [a for a in args.jobs_archs.split(",") if a]:
        if clock.left() < 40 and not args.quick:
            log(f"budget: skipping jobs-per-GPU for {arch}")
            continue
        try:
            one = jobs_throughput(arch, size, dev, 1, args.steps * 2, batch)
            many = jobs_throughput(arch, size, dev, args.jobs_per_gpu, args.steps * 2, batch)
        except Exception as e:
            log(f"jobs-per-GPU {arch}: failed ({e})")
            continue
        jp[arch] = (one, many)
        group = "manual" if build(arch, size="tiny").spec.kind == "manual" else "cell"
        speed[group] = many / one
        log(f"jobs/GPU {arch}: 1 job {one:.0f} img/s, {args.jobs_per_gpu} jobs {many:.0f} img/s ({many / one:.2f}x)")

    # 4. projection over the planner's jobs
    units = {a: {"train": r[DEFAULT_CFG], "fwd": r["fwd"], "grad": r["grad"], "group": r["group"]}
             for a, r in per.items() if DEFAULT_CFG in r}
    if cal_rows:  # boundary seconds per sample, scaled from the reference by forward time
        cal_by_arch = lambda a: {**cal, "boundary_per_sample": cal_rows["boundary_per_sample"][0] * units[a]["fwd"] / per[ref]["fwd"]}  # noqa: E731
    else:
        cal_by_arch = lambda a: cal  # noqa: E731
    labels = {e.text: lab for e, lab in zip(study.archs, study.labels())}
    units = {labels.get(a, a): {**u, "cal": cal_by_arch(a)} for a, u in units.items()}

    def proj(js):
        total = {"hours_1": 0.0, "hours_N": 0.0, "by_kind": Counter(), "untimed": Counter(), "jobs": len(js)}
        for a in {j.arch for j in js}:
            sub = [j for j in js if j.arch == a]
            if a not in units:
                total["untimed"][f"arch:{a}"] += len(sub)
                continue
            p = project(sub, {a: units[a]}, units[a]["cal"], victim_epochs, speed)
            total["hours_1"] += p["hours_1"]
            total["hours_N"] += p["hours_N"]
            total["by_kind"].update(p["by_kind"])
            total["untimed"].update(p["untimed"])
        return total

    full = proj(jobs)
    c10 = proj([j for j in jobs if j.dataset == "cifar10" and j.seed == study.seeds[0]])
    text = render(name, args, per, cal_rows, ref, jp, full, c10, len(study.archs), clock, victim_epochs)
    print(text)
    out = Path(args.out)
    if not args.quick or args.out != str(ROOT / "benchmarks" / "RESULTS.md"):
        with open(out, "a") as f:
            f.write(text + "\n")
        log(f"appended to {out}")


def render(name, args, per, cal_rows, ref, jp, full, c10, n_archs, clock, victim_epochs) -> str:
    epoch = 50_000
    L = [f"\n## {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: gpu_study on {name}",
         f"torch {torch.__version__}; {'quick CPU smoke run (tiny sizes)' if args.quick else 'paper size'}; "
         f"synthetic 3x32x32 uint8 data{' on the host' if name.startswith('CPU') else ' held on the device'}; batch 96; {args.steps} timed batches per "
         f"architecture and configuration (second of two epochs); budget {args.budget_s:.0f} s, used "
         f"{time.perf_counter() - clock.t0:.0f} s.", "",
         "Training, seconds per 50k-image epoch (extrapolated); attacks' units in fp32, ms per image:", "",
         "| arch | params (M) | fp32 | bf16 | bf16+CL | bf16+CL vs fp32 | fwd ms/img | grad ms/img |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
    f = lambda v: f"{v * epoch:.1f}" if v is not None else "-"  # noqa: E731
    for a, r in per.items():
        ratio = r["fp32"] / r[DEFAULT_CFG] if "fp32" in r and DEFAULT_CFG in r else None
        L.append(f"| {a} | {r.get('params', float('nan')):.2f} | {f(r.get('fp32'))} | {f(r.get('bf16'))} | "
                 f"{f(r.get(DEFAULT_CFG))} | {f'{ratio:.2f}x' if ratio else '-'} | "
                 f"{r.get('fwd', float('nan')) * 1e3:.4f} | {r.get('grad', float('nan')) * 1e3:.4f} |")
    if per and "host" in next(iter(per.values())):
        a, r = next(iter(per.items()))
        L += ["", f"Host loader instead of device-resident data ({a}, bf16+CL): {r['host'] * epoch:.1f} s/epoch "
                  f"vs {r[DEFAULT_CFG] * epoch:.1f} s ({r['host'] / r[DEFAULT_CFG]:.2f}x slower)."]
    if cal_rows:
        L += ["", f"Attack cores measured on {ref} (reduced counts), per image, against the unit model:", "",
              "| attack | measured ms | modelled ms | ratio |", "|---|---:|---:|---:|"]
        for k, (m, mod) in cal_rows.items():
            L.append(f"| {k} | {m * 1e3:.3f} | {mod * 1e3:.3f} | {m / mod:.2f} |")
    if jp:
        L += ["", f"Several training jobs per GPU (bf16+CL, aggregate images/s):", "",
              f"| arch | 1 job | {args.jobs_per_gpu} jobs | speedup |", "|---|---:|---:|---:|"]
        for a, (one, many) in jp.items():
            L.append(f"| {a} | {one:.0f} | {many:.0f} | {many / one:.2f}x |")
    L += ["", f"Projection over the planner's jobs for {Path(args.study).name} (victims {victim_epochs} epochs; "
              "bf16+CL training; attacks fp32; 'N jobs/GPU' divides by the measured speedup of the "
              "architecture's group):", "",
          "| grid | jobs | GPU-hours, 1 job/GPU | GPU-hours, N jobs/GPU | not timed |", "|---|---:|---:|---:|---|"]
    for label, p in (("paper.toml (all datasets, seeds)", full), ("CIFAR-10, one seed", c10)):
        metric_jobs = sum(v for k, v in p["untimed"].items() if k.startswith("metric:"))
        missing = sorted(k[5:] for k in p["untimed"] if k.startswith("arch:"))
        un = f"{metric_jobs} metric jobs" + (f"; all jobs of {', '.join(missing)} (not measured)" if missing else "")
        L.append(f"| {label} | {p['jobs']} | {p['hours_1']:.1f} | {p['hours_N']:.1f} | {un} |")
    L += ["", "CIFAR-10, one seed, GPU-hours by kind (1 job/GPU): " +
          ", ".join(f"{k} {v:.2f}" for k, v in c10["by_kind"].most_common()), ""]
    goal = 24.0
    if not args.quick and n_archs != len(per):
        L.append(f"Goal (CIFAR-10 one-seed grid <= {goal:.0f} H100-hours): no verdict, {n_archs - len(per)} of "
                 f"the study's architectures were not measured in this run.")
    elif not args.quick:
        verdict = "meets" if c10["hours_N"] <= goal else "misses"
        L.append(f"Goal: CIFAR-10 one-seed grid <= {goal:.0f} H100-hours: projected {c10['hours_N']:.1f} "
                 f"({c10['hours_1']:.1f} at one job per GPU) on this device: {verdict} it "
                 f"(metrics not included).")
    return "\n".join(L)


if __name__ == "__main__":
    main()
