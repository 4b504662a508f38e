"""Training loop, evaluation and the cached `train_model` entry point.

`train_model` builds the model, looks up the checkpoint cache, and otherwise trains with the recipe:
SGD + cosine schedule, augmentation, gradient clipping, optional auxiliary head / drop path /
adversarial examples. Model selection uses the validation split only; the test split is touched
once, at the end, to report accuracy. All randomness derives from `seed`: model initialisation
and dropout run inside a forked RNG seeded from it (global state is restored afterwards), batch
order and augmentation use an explicit generator.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from archrisk import __version__
from archrisk.arch.user import Factory, from_factory
from archrisk.arch.zoo import ArchSpec, Classifier, build
from archrisk.data import Dataset, Split, load_dataset
from archrisk.errors import ArchriskError, DivergedError, InvalidValueError
from archrisk.train import augment, checkpoint, device_data, onednn, precision
from archrisk.train.convergence import converged, plateaued
from archrisk.train.recipe import Recipe, resolve_recipe, train_epochs
from archrisk.train.request import TrainRequest, resolve_arch


# No weight decay on batch-norm and bias parameters, as is standard (the study decays all; listed
# in archrisk.protocol.FIXED and the report's deviations table).
DECAY_NORM_AND_BIAS = False


@dataclass(frozen=True)
class EpochLog:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float


@dataclass
class TrainResult:
    model: Classifier
    spec: ArchSpec
    recipe: Recipe
    dataset: str
    seed: int
    epochs: int
    history: list[EpochLog]
    best_epoch: int
    val_acc: float
    test_acc: float
    key: str
    from_cache: bool
    wall_time: float
    device: str
    extra: dict = field(default_factory=dict)
    # Under the convergence rule (recipe.patience): whether it stopped training (True) or the cap,
    # `epochs`, did (False); None with the rule off. See train/convergence.py.
    converged: bool | None = None

    @property
    def epochs_run(self) -> int:
        """Epochs actually trained: `epochs` (the cap) unless the convergence rule stopped earlier."""
        return len(self.history)

    def summary(self) -> dict:
        return {"arch": self.spec.name, "dataset": self.dataset, "seed": self.seed,
                "epochs": self.epochs, "best_epoch": self.best_epoch, "val_acc": self.val_acc,
                "test_acc": self.test_acc, "from_cache": self.from_cache, "key": self.key,
                "epochs_run": self.epochs_run, "converged": self.converged}


def resolve_device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except RuntimeError:  # torch's message for an unknown device string is a traceback-worthy one
        raise ArchriskError(f"device {device!r} is not supported; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ArchriskError("--device cuda was requested but no CUDA device is available; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ArchriskError(f"device {device!r} is not supported; use cpu or cuda")
    return dev


@contextmanager
def torch_threads(n: int | None):
    """Cap torch's intra-op CPU threads inside the block (None: leave as is), restoring them after.
    Tiny models run many small ops that gain little from extra threads and lose badly to them on a
    busy machine."""
    if n is None:
        yield
        return
    if n < 1:
        raise ArchriskError(f"threads must be >= 1, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Logits for `x` in eval mode (mode restored), on the model's device, returned on CPU."""
    dev = next(model.parameters()).device
    was = model.training
    model.eval()
    try:
        return torch.cat([model(x[i:i + batch_size].to(dev)).float().cpu()
                          for i in range(0, len(x), batch_size)]) if len(x) else torch.empty(0)
    finally:
        model.train(was)


def evaluate(model: torch.nn.Module, split: Split, batch_size: int = 512) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on a split."""
    if len(split) == 0:
        return float("nan"), float("nan")
    logits = predict(model, split.x, batch_size)
    return F.cross_entropy(logits, split.y).item(), (logits.argmax(1) == split.y).float().mean().item()


def _augment(x: torch.Tensor, recipe: Recipe, mirror: bool, gen: torch.Generator) -> torch.Tensor:
    side = x.shape[-1]
    x = augment.random_crop(x, augment.scaled(recipe.crop_padding, side), gen)
    if recipe.flip and mirror:
        x = augment.hflip(x, gen)
    return augment.cutout(x, augment.scaled(recipe.cutout, side), gen)


def fit(model: Classifier, train: Split, val: Split, recipe: Recipe, epochs: int, seed: int,
        device: torch.device, mirror: bool = False, progress: bool = True,
        adversary=None, data_on_device: bool | None = None, after_augment=None) -> tuple[list[EpochLog], int]:
    """Train in place; leave the best-validation weights loaded. `adversary(model, x, y) -> (loss, logits)`
    replaces the clean loss when adversarial training is on (see train/adversarial.py). The training
    step runs under the recipe's precision and layout (train/precision.py); evaluation stays float32.
    `data_on_device` holds the training split on the device (None: when it is CUDA and the split
    fits; see train/device_data.py). `after_augment(x, idx) -> x` transforms each augmented batch
    given its training-set indices (backdoors stamp their trigger there). With `recipe.patience` set,
    training stops once the validation accuracy plateaus (train/convergence.py), `epochs` being the
    cap; the schedules run over the cap all the same. Returns (history, best epoch)."""
    if recipe.patience is not None and len(val) == 0:
        raise InvalidValueError(f"recipe patience={recipe.patience} stops training on validation accuracy, but this "
                                "dataset has no validation split; give it one (val_fraction > 0) or drop patience")
    gen = torch.Generator().manual_seed(seed + 1)
    nhwc = precision.resolve_channels_last(recipe.channels_last, device)
    layout = torch.channels_last if nhwc else torch.contiguous_format
    model.to(device, memory_format=layout)
    forward = torch.compile(model) if recipe.compile else model
    batches = device_data.source(train, device, data_on_device)
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 and not DECAY_NORM_AND_BIAS else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": recipe.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr, momentum=recipe.momentum)
    n = len(train)
    steps_per_epoch = max(1, math.ceil(n / recipe.batch_size))
    total = max(1, epochs * steps_per_epoch)
    history: list[EpochLog] = []
    best_acc, best_epoch, best_state = -1.0, 0, None
    bar = tqdm(total=total, desc=f"train {model.spec.name}", unit="step", disable=not progress, leave=False)
    sizes = torch.tensor([min(recipe.batch_size, n - b * recipe.batch_size) for b in range(steps_per_epoch)],
                         dtype=torch.float32, device=device)  # images per step
    step = 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        if hasattr(model.net, "drop_path_prob"):
            model.net.drop_path_prob = recipe.drop_path * epoch / max(1, epochs)
        order = torch.randperm(n, generator=gen)
        # Per-step losses and hits stay on the device until the epoch ends: reading them every
        # step would make the host wait for the GPU instead of queueing the next step.
        losses = torch.zeros(steps_per_epoch, device=device)  # mean loss of each step
        correct = torch.zeros((), dtype=torch.long, device=device)
        for b in range(steps_per_epoch):
            idx = order[b * recipe.batch_size:(b + 1) * recipe.batch_size]
            xb, yb = batches.batch(idx)
            x = _augment(xb, recipe, mirror, gen)
            if after_augment is not None:
                x = after_augment(x, idx)
            x = x.to(device, non_blocking=True).contiguous(memory_format=layout)
            y = yb.to(device, non_blocking=True)
            lr = recipe.lr_min + 0.5 * (recipe.lr - recipe.lr_min) * (1 + math.cos(math.pi * step / total))
            for g in opt.param_groups:
                g["lr"] = lr
            with precision.autocast(recipe.precision, device):
                if adversary is not None:
                    loss, logits = adversary(forward, x, y)
                else:
                    logits = forward(x)
                    loss = F.cross_entropy(logits, y)
                    if recipe.aux_weight > 0 and model.aux_logits is not None:
                        loss = loss + recipe.aux_weight * F.cross_entropy(model.aux_logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            opt.step()
            losses[b] = loss.detach()
            correct += (logits.argmax(1) == y).sum()
            step += 1
            bar.update(1)
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):  # the first non-finite step; the rest of the epoch trained on garbage
            bar.close()
            raise DivergedError(epoch, int(bad[0, 0]), losses[bad[0, 0]].item())
        loss_mean, acc = (losses * sizes).sum().item() / n, correct.item() / n
        val_loss, val_acc = evaluate(model, val)
        history.append(EpochLog(epoch + 1, loss_mean, acc, val_loss, val_acc, lr,
                                time.perf_counter() - t0))
        bar.set_postfix(loss=f"{loss_mean:.3f}", val_acc=f"{val_acc:.3f}")
        score = val_acc if len(val) else epoch  # no validation split: keep the last epoch
        if score >= best_acc:
            best_acc, best_epoch = score, epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        if plateaued([h.val_acc for h in history], recipe.patience, recipe.min_delta):
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format)  # measurements flatten weights with .view
    model.eval()
    return history, best_epoch


def train_model(arch: str | ArchSpec | Factory, dataset: str | Dataset = "mnist5k", *, recipe: str | Recipe = "study",
                size: str = "tiny", seed: int = 0, epochs: int | None = None, device: str = "cpu",
                width: float | None = None, params: int | None = None, cache: bool = True,
                progress: bool = True, data_dir: str | None = None, **recipe_overrides) -> TrainResult:
    """Train `arch` on `dataset` (or load it from the checkpoint cache) and report accuracies.

    `arch` may be the user's model factory (`Callable[[], nn.Module]`, called once under the job's
    seed); `width` or `params` size a hand-designed net; the other keywords override recipe fields.

    This is the edge: names, the size preset and overrides are resolved here, once, into a
    `TrainRequest` (train/request.py); code that already holds those objects, or needs what only a
    request carries (fine-tuning from other weights, a tagged change to the data, exactly the weights
    a study's train job recorded), builds one and calls `run_training`.
    """
    ds = load_dataset(dataset, data_dir=data_dir) if isinstance(dataset, str) else dataset
    rec = resolve_recipe(recipe, size, **recipe_overrides)
    dev = resolve_device(device)
    return run_training(TrainRequest(resolve_arch(arch, size, ds, width=width, params=params), ds, rec,
                                     train_epochs(rec, size, epochs), seed=seed, device=dev, size=size,
                                     cache=cache, progress=progress))


def initial_model(arch: ArchSpec | Factory, ds: Dataset, rec: Recipe, size: str) -> torch.nn.Module:
    """The untrained network a training run starts from, drawn from the global RNG (the caller
    seeds it): the zoo's build for a spec, or the user's factory's fresh module."""
    if isinstance(arch, ArchSpec):
        return build(arch, num_classes=ds.num_classes, in_channels=ds.shape[0], mean=ds.mean, std=ds.std,
                     size=size, dropout=rec.dropout, auxiliary=rec.aux_weight > 0)
    return from_factory(arch, size, ds.shape[0])


def run_training(req: TrainRequest) -> TrainResult:
    """Train what `req` describes (or load it from the checkpoint cache); see `train_model`."""
    t0 = time.perf_counter()
    ds, rec, dev, seed, n_epochs = req.dataset, req.recipe, req.device, req.seed, req.epochs
    init, tag = req.init, req.tag
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        model = initial_model(req.arch, ds, rec, req.size)
        # Every training (train(), the CLI, the runner's jobs in pool workers, attacks that retrain)
        # comes through here, so the guard against oneDNN's faulty kernel sits here (train/onednn.py).
        onednn_off = onednn.needs_guard(model, dev)
        key = checkpoint.cache_key({
            "spec": model.spec.to_dict(), "dataset": ds.fingerprint(), "recipe": rec.cache_fields(dev),
            "epochs": n_epochs, "seed": seed, "init": init.key if init else None, "tag": tag or {},
            # CPU kernels reduce in a thread-count-dependent order, so training on 1 and 2 threads
            # gives different models (resnet18 tiny: test acc 0.546 vs 0.521); forcing one order
            # would slow every run, so the key names the thread count instead.
            "threads": torch.get_num_threads() if dev.type == "cpu" else None,
            **({"onednn": "off"} if onednn_off else {})})  # the guard changes weights: keys differ only then
        if req.recorded is not None:  # its key, not ours: the thread count may differ from the train job's
            meta, key = checkpoint.load_recorded(req.recorded, model), req.recorded.key
        else:
            meta = checkpoint.load_cached(key, model) if req.cache else None
        if meta is not None:
            model.to(dev).eval()
            history = [EpochLog(**h) for h in meta["history"]]
            return TrainResult(model, model.spec, rec, ds.name, seed, n_epochs, history, meta["best_epoch"],
                               meta["val_acc"], meta["test_acc"], key, True, time.perf_counter() - t0, str(dev),
                               meta.get("extra", {}), meta.get("converged"))
        if init is not None:
            model.load_state_dict(init.model.state_dict())
        adversary = None
        if rec.adv_train:
            from archrisk.train.adversarial import make_adversary  # only when asked for
            adversary = make_adversary(rec)
        with onednn.onednn_off(onednn_off):
            history, best_epoch = fit(model, ds.train, ds.val, rec, n_epochs, seed, dev,
                                      mirror=ds.mirror, progress=req.progress, adversary=adversary,
                                      after_augment=req.after_augment)
    val_acc = evaluate(model, ds.val)[1]
    test_acc = evaluate(model, ds.test)[1]
    wall = time.perf_counter() - t0
    stopped = converged([h.val_acc for h in history], rec.patience, rec.min_delta)
    result = TrainResult(model, model.spec, rec, ds.name, seed, n_epochs, history, best_epoch, val_acc,
                         test_acc, key, False, wall, str(dev), converged=stopped)
    if req.cache:
        checkpoint.save(key, model, {
            "spec": model.spec.to_dict(), "spec_hash": model.spec.hash(), "dataset": ds.name,
            "dataset_fingerprint": ds.fingerprint(), "recipe": rec.to_dict(), "seed": seed,
            "epochs": n_epochs, "epochs_run": len(history), "converged": stopped,
            "history": [h.__dict__ for h in history], "best_epoch": best_epoch,
            "val_acc": val_acc, "test_acc": test_acc, "wall_time": wall, "device": str(dev),
            "precision": precision.resolve_precision(rec.precision, dev),
            "version": __version__, "tag": tag or {}})
    return result
