"""First-order DARTS search with an optional risk penalty.

The training split is cut in two (seeded): one half trains the supernet weights (SGD, cosine),
the other the architecture weights alpha (Adam), alternating one step each, as first-order
DARTS does. The alpha step minimises `val loss + lam * penalty(normal cell)`. The genotype is
derived from alpha at the end (see `supernet.derive_genotype`). Budgets are presets: `tiny`
(CPU, minutes) shrinks the supernet and data and raises the alpha learning rate so alpha moves
within a few hundred steps; `paper` is DARTS' own search setting.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields, replace

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from archrisk import __version__
from archrisk.arch.genotype import DARTS_SPACE, PRIMITIVES, Genotype
from archrisk.data import Dataset, load_dataset
from archrisk.errors import InvalidValueError, UnknownNameError
from archrisk.search.penalties import SoftCell, check_lam, get_penalty
from archrisk.search.supernet import Supernet, SupernetConfig, edge_inputs


@dataclass(frozen=True)
class SearchBudget:
    name: str
    C: int  # supernet initial channels
    layers: int  # supernet cells
    steps: int = 4  # intermediate nodes per cell
    epochs: int = 50  # passes over the weight half of the data
    images: int | None = None  # training images used (both halves together); None = all
    max_side: int = 32  # the stem strides by 2 while inputs are larger than this (CPU budgets)
    batch_size: int = 64
    w_lr: float = 0.025  # SGD, cosine to w_lr_min
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_decay: float = 3e-4
    grad_clip: float = 5.0
    alpha_lr: float = 3e-4  # Adam, betas (0.5, 0.999) as DARTS
    alpha_decay: float = 1e-3
    warmup_epochs: int = 0  # weight-only epochs before alpha starts to move

    def __post_init__(self) -> None:
        checks = [("C", self.C >= 1), ("layers", self.layers >= 3), ("steps", self.steps >= 1),
                  ("epochs", self.epochs >= 1), ("images", self.images is None or self.images >= 4),
                  ("max_side", self.max_side >= 1), ("batch_size", self.batch_size >= 1),
                  ("w_lr", self.w_lr > 0), ("w_lr_min", 0 <= self.w_lr_min <= self.w_lr),
                  ("alpha_lr", self.alpha_lr > 0), ("warmup_epochs", self.warmup_epochs >= 0)]
        for name, ok in checks:
            if not ok:
                raise InvalidValueError(f"search budget {name}={getattr(self, name)!r} is out of range")


BUDGETS: dict[str, SearchBudget] = {b.name: b for b in (
    # tiny, one torch thread on 2 cores busy with other jobs: mnist5k ~4 min, digits ~2.5 min
    SearchBudget("tiny", C=8, layers=5, epochs=6, images=1000, max_side=16, batch_size=50,
                 alpha_lr=6e-3, warmup_epochs=1),
    # small: a workstation's CPU or a GPU (not timed here)
    SearchBudget("small", C=12, layers=5, epochs=20, images=8000, max_side=16, alpha_lr=2e-3, warmup_epochs=2),
    SearchBudget("paper", C=16, layers=8, epochs=50),  # DARTS (Liu et al., 2019), CIFAR-10 search
)}


@dataclass(frozen=True)
class SearchConfig:
    budget: SearchBudget
    penalty: str = "none"
    lam: float = 0.0
    ops: tuple[str, ...] = ("none", *DARTS_SPACE)  # DARTS searches with 'none' too

    def __post_init__(self) -> None:
        get_penalty(self.penalty)
        check_lam(self.lam)
        bad = [o for o in self.ops if o not in PRIMITIVES]
        if bad:
            raise UnknownNameError("search op", bad[0], list(PRIMITIVES))
        if len(set(self.ops)) != len(self.ops) or not [o for o in self.ops if o != "none"]:
            raise InvalidValueError(f"search ops must be distinct and include one besides 'none': {self.ops}")


@dataclass
class SearchResult:
    genotype: Genotype
    config: SearchConfig
    dataset: str
    seed: int
    alpha_normal: list[list[float]]  # final alpha, [edges][ops]
    alpha_reduce: list[list[float]]
    history: list[dict]  # per epoch: train/val loss and accuracy, penalty, derived normal-cell stats
    wall_time: float
    device: str
    version: str = __version__
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        cfg = asdict(self.config)
        return {"genotype": self.genotype.to_dict(), "format": self.genotype.format(),
                "normal_stats": vars(self.genotype.stats("normal")),
                "reduce_stats": vars(self.genotype.stats("reduce")),
                "config": cfg, "dataset": self.dataset, "seed": self.seed,
                "alpha_normal": self.alpha_normal, "alpha_reduce": self.alpha_reduce,
                "history": self.history, "wall_time": self.wall_time, "device": self.device,
                "version": self.version}


def first_order_step(net, w_opt, a_opt, w_batch, a_batch, penalty, lam: float, grad_clip: float,
                     loss_fn=F.cross_entropy) -> dict[str, float]:
    """One first-order DARTS step: alpha on `a_batch` (skipped when `a_opt` is None), then the
    weights on `w_batch`. `net` exposes alphas(), weights() and alpha_normal; `penalty` maps the
    normal cell's mixing weights [edges, ops] to a scalar added to the alpha loss times `lam`."""
    out: dict[str, float] = {}
    if a_opt is not None:  # first order: alpha follows the val-loss gradient at the current weights
        x, y = a_batch
        pred = net(x)
        loss = loss_fn(pred, y)
        p = penalty(F.softmax(net.alpha_normal, dim=-1))
        a_opt.zero_grad(set_to_none=True)
        (loss + lam * p).backward()
        a_opt.step()
        out.update(val_loss=loss.item(), penalty=p.item(), val_acc=_acc(pred, y))
    x, y = w_batch
    pred = net(x)
    loss = loss_fn(pred, y)
    w_opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(net.weights(), grad_clip)
    w_opt.step()
    out.update(train_loss=loss.item(), train_acc=_acc(pred, y))
    return out


def _acc(pred: torch.Tensor, y: torch.Tensor) -> float:
    return (pred.argmax(1) == y).float().mean().item() if y.dtype == torch.int64 else float("nan")


def get_budget(budget: str | SearchBudget, **overrides) -> SearchBudget:
    if isinstance(budget, str):
        if budget not in BUDGETS:
            raise UnknownNameError("search budget", budget, list(BUDGETS))
        budget = BUDGETS[budget]
    known = {f.name for f in fields(SearchBudget)} - {"name"}
    for k in overrides:
        if k not in known:
            raise UnknownNameError("search budget field", k, sorted(known))
    return replace(budget, **overrides) if overrides else budget


def _subsample(x: torch.Tensor, y: torch.Tensor, n: int | None, gen: torch.Generator):
    order = torch.randperm(len(y), generator=gen)
    order = order[:n] if n is not None else order
    half = len(order) // 2
    return (x[order[:half]], y[order[:half]]), (x[order[half:]], y[order[half:]])


def search(dataset: str | Dataset = "mnist5k", *, budget: str | SearchBudget = "tiny", penalty: str = "none",
           lam: float = 0.0, seed: int = 0, device: str = "cpu", ops: tuple[str, ...] | None = None,
           progress: bool = True, data_dir: str | None = None, threads: int | None = None,
           **budget_overrides) -> SearchResult:
    """Search a cell on `dataset`; returns the derived genotype with its alphas and history.

    `threads` caps torch's CPU threads for the call (restored after): the supernet runs hundreds
    of tiny ops per step, which gain little from intra-op threads and lose badly to them on a
    busy machine (measured: 2 threads 14x slower than 1 with other jobs running)."""
    from archrisk.train import torch_threads  # train is upstream of search

    if threads is not None and threads < 1:
        raise InvalidValueError(f"threads must be >= 1, got {threads}")
    with torch_threads(threads):
        return _search(dataset, budget, penalty, lam, seed, device, ops, progress, data_dir, budget_overrides)


def _search(dataset, budget, penalty, lam, seed, device, ops, progress, data_dir, budget_overrides) -> SearchResult:
    from archrisk.train import resolve_device  # train is upstream of search

    t0 = time.perf_counter()
    cfg = SearchConfig(get_budget(budget, **budget_overrides), penalty, check_lam(lam),
                       **({"ops": tuple(ops)} if ops is not None else {}))
    b = cfg.budget
    dev = resolve_device(device)
    ds = load_dataset(dataset, data_dir=data_dir) if isinstance(dataset, str) else dataset
    gen = torch.Generator().manual_seed(seed)
    (xw, yw), (xa, ya) = _subsample(ds.train.x, ds.train.y, b.images, gen)
    if len(yw) < 2 or len(ya) < 2:
        raise InvalidValueError(f"search needs at least 4 training images, got {len(yw) + len(ya)}")
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        alpha0 = 1e-3 * torch.randn(2, len(edge_inputs(b.steps)), len(cfg.ops), generator=gen)  # DARTS init
        net = Supernet(SupernetConfig(cfg.ops, b.C, b.layers, b.steps), ds.num_classes, ds.shape[0],
                       ds.mean, ds.std, alpha0)
    stride = 2 if ds.shape[-1] > b.max_side else 1
    net.stem[0].stride = (stride, stride)  # a cheaper search on large inputs; cells are unchanged
    net.to(dev)
    pen = get_penalty(cfg.penalty)
    w_opt = torch.optim.SGD(net.weights(), lr=b.w_lr, momentum=b.w_momentum, weight_decay=b.w_decay)
    a_opt = torch.optim.Adam(net.alphas(), lr=b.alpha_lr, betas=(0.5, 0.999), weight_decay=b.alpha_decay)
    steps_per_epoch = max(1, math.ceil(len(yw) / b.batch_size))
    total = b.epochs * steps_per_epoch
    history: list[dict] = []
    bar = tqdm(total=total, desc="search", unit="step", disable=not progress, leave=False)
    step = 0
    for epoch in range(b.epochs):
        net.train()
        order_w = torch.randperm(len(yw), generator=gen)
        order_a = torch.randperm(len(ya), generator=gen)
        sums = {"train_loss": 0.0, "train_acc": 0.0, "val_loss": 0.0, "val_acc": 0.0, "penalty": 0.0}
        n_a = 0
        for s in range(steps_per_epoch):
            iw = order_w[s * b.batch_size:(s + 1) * b.batch_size]
            ia = order_a[(s * b.batch_size) % len(ya):][:b.batch_size]
            for g in w_opt.param_groups:
                g["lr"] = b.w_lr_min + 0.5 * (b.w_lr - b.w_lr_min) * (1 + math.cos(math.pi * step / max(1, total)))
            out = first_order_step(net, w_opt, a_opt if epoch >= b.warmup_epochs else None,
                                   (xw[iw].to(dev), yw[iw].to(dev)), (xa[ia].to(dev), ya[ia].to(dev)),
                                   lambda w: pen(SoftCell(w, cfg.ops, b.steps)), cfg.lam, b.grad_clip)
            for k, v in out.items():
                sums[k] += v
            n_a += "val_loss" in out
            step += 1
            bar.update(1)
        g = net.derive()
        row = {"epoch": epoch + 1, "train_loss": sums["train_loss"] / steps_per_epoch,
               "train_acc": sums["train_acc"] / steps_per_epoch,
               **{k: sums[k] / n_a if n_a else float("nan") for k in ("val_loss", "val_acc", "penalty")},
               "normal_depth": g.stats().depth, "normal_skips": g.stats().skips,
               "seconds": time.perf_counter() - t0}
        history.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", skips=row["normal_skips"], depth=row["normal_depth"])
    bar.close()
    net.eval()
    return SearchResult(net.derive(), cfg, ds.name, seed, net.alpha_normal.detach().cpu().tolist(),
                        net.alpha_reduce.detach().cpu().tolist(), history, time.perf_counter() - t0, str(dev))
