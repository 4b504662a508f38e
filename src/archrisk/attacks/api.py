"""`run_attack`: one attack on one architecture, your own module or your model factory, by name or by
config object; the victim is trained (or loaded from the cache) only when the attack needs it."""
from __future__ import annotations

from typing import Any, Callable

import torch

from archrisk.arch import resolve
from archrisk.arch.user import is_factory
from archrisk.attacks.base import Attack, AttackContext, AttackResult, get_attack
from archrisk.data import Dataset, load_dataset
from archrisk.errors import InvalidValueError
from archrisk.train import (Recipe, TrainRequest, TrainResult, resolve_device, resolve_recipe, run_training,
                            train_epochs)


def run_attack(arch: str | torch.nn.Module | Callable[[], torch.nn.Module] | None, attack: str | Attack,
               dataset: str | Dataset | None = None, *, data: str | Dataset | None = None, size: str = "tiny",
               seed: int = 0, recipe: str | Recipe = "study", device: str = "cpu", victim: TrainResult | None = None,
               cache: bool = True, progress: bool = False, data_dir: str | None = None, epochs: int | None = None,
               factory: Callable[[], torch.nn.Module] | None = None, **params: Any) -> AttackResult:
    """Run one attack on one architecture (a zoo name or genotype, your own nn.Module, or your model
    factory) and return its result record. `data` (or the older positional `dataset`) is a
    Dataset or a dataset name, default mnist5k.

    The clean victim is trained through `archrisk.train.train_model` with the same size, recipe, seed and
    epochs (so it comes from the checkpoint cache when it exists), and only when the attack needs
    it; pass `victim=` to reuse one already trained (the study runner shares victims this way), with
    `factory=` when that victim is your own model and the attack trains new ones.
    `params` override the attack's defaults (unknown names and bad values raise InvalidValueError);
    `epochs` is the victim's training length, the attacks' own training lengths are parameters
    (`finetune_epochs`, `thief_epochs`, `retrain_epochs`).
    """
    if isinstance(attack, Attack):
        if params:
            raise InvalidValueError("pass parameters either in the Attack object or as keywords, not both")
        atk = attack
    else:
        atk = get_attack(attack, **params)
    if dataset is not None and data is not None:
        raise InvalidValueError("pass the dataset once: as data= (or the older positional dataset), not both")
    dataset = data if data is not None else dataset if dataset is not None else "mnist5k"
    if isinstance(dataset, (list, tuple)) or not isinstance(dataset, (str, Dataset)):
        raise InvalidValueError(f"data={dataset!r} must be a dataset name or a Dataset")
    ds = load_dataset(dataset, data_dir=data_dir) if isinstance(dataset, str) else dataset
    if isinstance(arch, torch.nn.Module) or is_factory(arch):  # your own model: the same core as atk(model, ds)
        if victim is not None:
            raise InvalidValueError("pass your model as the first argument or as victim=, not both")
        return atk.run_on(arch, ds, seed=seed, device=device, factory=factory, recipe=recipe, size=size,
                          epochs=epochs, cache=cache, progress=progress)
    if factory is not None and (victim is None or victim.spec.kind != "user"):
        raise InvalidValueError("factory= goes with your own model: pass it with the module, or with a victim= "
                                "built from it")
    dev = resolve_device(device)
    if victim is not None:
        if arch is not None and arch != victim.spec.name and resolve(arch, victim.spec.size).name != victim.spec.name:
            raise InvalidValueError(f"victim= is a {victim.spec.name}, not {arch!r}; pass arch=None or the same name")
        head = _outputs(victim.model, ds)
        if head != ds.num_classes:
            raise InvalidValueError(f"victim predicts {head} classes but dataset {ds.name!r} has {ds.num_classes}")
        spec, rec = victim.spec, victim.recipe
    else:
        if arch is None:
            raise InvalidValueError("name an architecture or pass victim=")
        spec = resolve(arch, size)
        rec = resolve_recipe(recipe, size)

    def victim_fn() -> TrainResult:  # resolved above, once: the request takes the objects
        return run_training(TrainRequest(spec, ds, rec, train_epochs(rec, size, epochs), seed=seed, device=dev,
                                         cache=cache, progress=progress))

    ctx = AttackContext(spec=spec, dataset=ds, recipe=rec, size=spec.size, seed=seed, device=dev, progress=progress,
                        cache=cache, victim_fn=victim_fn, epochs=epochs, data_dir=data_dir, factory=factory,
                        _victim=victim)
    return atk(ctx)


def _outputs(model: torch.nn.Module, ds: Dataset) -> int:
    """How many classes the model predicts: its classifier's width (zoo nets), else one forward pass."""
    head = getattr(model, "classifier", None)  # None, not an error, for a wrapped user module without one
    if isinstance(head, torch.nn.Linear):
        return head.out_features
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            first = next(model.parameters(), torch.zeros(0))
            return model(ds.test.x[:1].to(first.device)).shape[-1]
    finally:
        model.train(was)


def attack_defaults(name: str) -> dict[str, Any]:
    """The default configuration of a registered attack (what `archrisk attacks` lists)."""
    return get_attack(name).config()
