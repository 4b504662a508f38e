"""Attacking the user's own model: turn (model or factory, data) into the context every attack runs on.

Data as tensors `(x, y)` become the test split of a one-split dataset (evasion attacks read only
that); the other families need the train / pool splits of a `Dataset` (or a dataset name). A
trained module is used as it is; a factory (`Callable[[], nn.Module]`) is trained through
`archrisk.train` with the given recipe, size, seed and epochs, like a zoo architecture.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from archrisk.arch.user import Factory, NamedFactory, from_factory, is_factory, wrap
from archrisk.attacks.context import AttackContext
from archrisk.data import Dataset, Split, load_dataset
from archrisk.errors import InvalidValueError
from archrisk.train import (Recipe, TrainRequest, TrainResult, evaluate, resolve_device, resolve_recipe, run_training,
                            train_epochs)

if TYPE_CHECKING:  # type hints only: base.py imports this module
    from archrisk.attacks.base import Attack


def own_context(attack: Attack, model: nn.Module | Factory, x: Any, y: Any, *, seed: int, device: str,
                factory: Factory | None, recipe: str | Recipe, size: str, epochs: int | None, cache: bool,
                progress: bool) -> AttackContext:
    if isinstance(model, nn.Module):
        module = model
    elif is_factory(model):
        module, factory = None, factory or model
    else:
        raise InvalidValueError(f"attack {attack.name!r} needs an nn.Module or a model factory, "
                                f"got {type(model).__name__}")
    if factory is not None and not is_factory(factory):
        raise InvalidValueError(f"factory= must be a callable returning a fresh nn.Module, got {type(factory).__name__}")
    ds = as_dataset(x, y, attack)
    dev = resolve_device(device)
    rec = resolve_recipe(recipe, size)
    n_epochs = train_epochs(rec, size, epochs)
    if module is not None:
        source = factory.ref if isinstance(factory, NamedFactory) else None  # the module's factory, when named
        victim = as_victim(module, ds, rec, seed=seed, epochs=n_epochs, device=dev, size=size, source=source)
        spec, victim_fn = victim.spec, None
    else:
        with torch.random.fork_rng():
            torch.manual_seed(seed)  # the spec only needs shapes; keep the caller's global RNG untouched
            spec = from_factory(factory, size, ds.shape[0]).spec
        victim = None

        def victim_fn() -> TrainResult:
            return run_training(TrainRequest(factory, ds, rec, n_epochs, seed=seed, device=dev, size=size,
                                             cache=cache, progress=progress))
    return AttackContext(spec=spec, dataset=ds, recipe=rec, size=size, seed=seed, device=dev, progress=progress,
                         cache=cache, epochs=epochs, victim_fn=victim_fn, factory=factory, _victim=victim)


def as_dataset(x: Any, y: Any, attack: Attack) -> Dataset:
    """A `Dataset` from a Dataset, a dataset name, or tensors (x [N, C, H, W] in [0, 1], y [N])."""
    if isinstance(x, Dataset):
        ds = x
    elif isinstance(x, str):
        ds = load_dataset(x)
    elif x is None:
        raise InvalidValueError(f"attack {attack.name!r} needs data: images and labels (x, y) or a Dataset")
    else:
        if attack.family != "evasion":
            raise InvalidValueError(f"attack {attack.name!r} ({attack.family}) needs train and pool images: "
                                    "pass a Dataset or a dataset name, not (x, y)")
        return _tensor_dataset(x, y)
    if y is not None:
        raise InvalidValueError("pass labels only with image tensors; a Dataset carries its own")
    return ds


def _tensor(a: Any, what: str) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(a)
    if not isinstance(a, torch.Tensor):
        raise InvalidValueError(f"{what} must be a torch.Tensor or numpy array, got {type(a).__name__}")
    return a.detach().cpu()


def _tensor_dataset(x: Any, y: Any) -> Dataset:
    x, y = _tensor(x, "x"), _tensor(y, "y")
    if x.ndim != 4:
        raise InvalidValueError(f"x has shape {tuple(x.shape)}; images must be [N, C, H, W]")
    if y.ndim != 1 or len(y) != len(x) or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise InvalidValueError(f"y must hold {len(x)} integer labels, got {y.dtype} {tuple(y.shape)}")
    if len(y) and int(y.min()) < 0:
        raise InvalidValueError(f"labels must be >= 0, got {int(y.min())}")
    x = x.float().div(255.0) if x.dtype == torch.uint8 else x.float()
    k = int(y.max()) + 1 if len(y) else 1
    empty = Split(torch.empty(0, *x.shape[1:]), torch.empty(0, dtype=torch.int64))
    std, mean = torch.std_mean(x, dim=(0, 2, 3), correction=0) if len(x) else (torch.ones(x.shape[1]),) * 2
    return Dataset(name="user", classes=tuple(str(i) for i in range(k)), train=empty, val=empty,
                   test=Split(x.contiguous(), y.long()), pool=empty, mean=tuple(mean.tolist()),
                   std=tuple(std.clamp_min(1e-6).tolist()), split_seed=0)


def as_victim(module: nn.Module, ds: Dataset, rec: Recipe, *, seed: int, epochs: int, device: torch.device,
              size: str = "tiny", source: str | None = None) -> TrainResult:
    """The user's trained module as a TrainResult (accuracies measured here, nothing trained). Its
    model is the module wrapped as a Classifier (identity normalisation), so attacks that fine-tune
    it load its weights into a fresh wrapped factory model; its key is a digest of the weights, so
    what is cached from it (a backdoored fine-tune) is keyed by them. `epochs` is what attacks that
    retrain the architecture use (the recipe's length), not a training history."""
    model = wrap(module, size, ds.shape[0], source)
    was = model.training
    model.to(device)
    try:
        test_acc = evaluate(model, ds.test)[1] if len(ds.test) else float("nan")
        val_acc = evaluate(model, ds.val)[1] if len(ds.val) else float("nan")
    finally:
        model.train(was)
    return TrainResult(model, model.spec, rec, ds.name, seed, epochs, [], 0, val_acc, test_acc,
                       key=f"weights-{weights_digest(model)}", from_cache=False, wall_time=0.0, device=str(device))


def weights_digest(model: nn.Module) -> str:
    """sha256 (16 hex digits) of a model's state dict: names, shapes, dtypes and values."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
