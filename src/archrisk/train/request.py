"""One training run, resolved: what `archrisk.train.loop.run_training` trains from.

The public `train_model(arch, dataset, recipe=..., size=..., **overrides)` is the edge: it turns names,
the size preset and overrides into a `TrainRequest` once. Everything below it (attacks that
retrain, the runner, `explain`) builds the request from the objects it already holds, so nothing
re-merges a recipe name with a size preset or re-parses an architecture string.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

from archrisk.arch.genotype import Genotype
from archrisk.arch.user import Factory, is_factory
from archrisk.arch.zoo import ArchSpec, match_width, resolve
from archrisk.data import Dataset
from archrisk.errors import ArchriskError, InvalidValueError
from archrisk.train.checkpoint import Recorded
from archrisk.train.recipe import Recipe

if TYPE_CHECKING:  # type hints only: loop.py imports this module
    from archrisk.train.loop import TrainResult


@dataclass(frozen=True)
class TrainRequest:
    """A training run with every choice made: the cache key and the weights follow from it alone."""

    arch: ArchSpec | Factory  # a resolved spec, or the user's model factory (called once under the seed)
    dataset: Dataset
    recipe: Recipe  # resolved: the size preset's adjustments and any overrides already applied
    epochs: int  # resolved: the explicit count, else the recipe's, else the size preset's
    seed: int = 0
    device: torch.device = torch.device("cpu")  # resolved (archrisk.train.resolve_device)
    # The size preset the model is labelled with: a spec's own (filled in), required with a factory.
    size: str | None = None
    init: TrainResult | None = None  # fine-tune from these weights
    tag: dict | None = None  # names any change to the data; enters the cache key
    after_augment: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None  # needs a tag
    recorded: Recorded | None = None  # load exactly these recorded weights, never train
    cache: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.arch, ArchSpec):
            object.__setattr__(self, "size", self.arch.size)
        elif not is_factory(self.arch):
            raise InvalidValueError(f"a training request needs an ArchSpec or a model factory, got "
                                    f"{type(self.arch).__name__}; resolve names with archrisk.arch.resolve")
        elif self.size is None:
            raise InvalidValueError("a training request with a model factory needs the size preset it is labelled with")
        if not isinstance(self.recipe, Recipe):  # names are resolved at the edge, never here
            raise InvalidValueError(f"a training request needs a resolved Recipe, got {self.recipe!r}; "
                                    "use archrisk.train.resolve_recipe")
        if not isinstance(self.dataset, Dataset):
            raise InvalidValueError(f"a training request needs a loaded Dataset, got {self.dataset!r}")
        if not isinstance(self.device, torch.device):
            raise InvalidValueError(f"a training request needs a torch.device, got {self.device!r}; "
                                    "use archrisk.train.resolve_device")
        if self.epochs < 0:
            raise ArchriskError(f"epochs must be >= 0, got {self.epochs}")
        if self.after_augment is not None and not self.tag:
            raise ArchriskError("train(after_augment=...) needs a tag naming the transform (it enters the cache key)")


def resolve_arch(arch: str | Genotype | ArchSpec | Factory, size: str, dataset: Dataset | None = None, *,
                 width: float | None = None, params: int | None = None) -> ArchSpec | Factory:
    """What a request trains: the user's factory as it is, anything else an ArchSpec at `size`;
    `params` picks the manual width matching that parameter count for `dataset`'s shapes (as
    `archrisk.arch.build` does)."""
    if is_factory(arch):
        return arch
    if params is not None:
        if dataset is None:
            raise InvalidValueError("params= needs the dataset, whose shapes enter the parameter count")
        width = match_width(arch, params, num_classes=dataset.num_classes, in_channels=dataset.shape[0], size=size)
    return resolve(arch, size, width)
