"""The context an attack runs in: the victim, its data and recipe, the job's seed; built by
`run_attack`, the runner, or `attacks/own.py` for the user's own model."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from archrisk.arch.zoo import ArchSpec
from archrisk.data import Dataset
from archrisk.errors import InvalidValueError
from archrisk.train import Recipe, TrainResult


@dataclass
class AttackLog:
    """What an attack reports beside its numbers while it runs: validity flags (AutoAttack-style
    warnings about the measurement itself) and tensors handed back but never stored ("adv")."""

    flags: dict[str, bool] = field(default_factory=dict)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)

    def flag(self, name: str, raised: bool = True) -> None:
        """Raise (or keep) a validity flag; a flag once raised stays raised."""
        self.flags[name] = bool(self.flags.get(name, False) or raised)


@dataclass(frozen=True)
class AttackContext:
    """Everything an attack may need besides its own config (frozen inputs), and the log it writes to;
    built by `run_attack`, the runner, or `attacks/own.py`. One context serves one attack run."""

    spec: ArchSpec  # the victim architecture
    dataset: Dataset
    recipe: Recipe
    size: str
    seed: int  # the job's one seed; attacks draw randomness from `generator()`, never global state
    device: torch.device
    progress: bool = False
    cache: bool = True  # training attacks pass this to archrisk.train
    epochs: int | None = None  # the victim's training epochs as requested (None: the size preset's)
    data_dir: str | None = None  # where file-based datasets live (passed on to archrisk.train)
    # Lazily trains (or loads) the clean victim; set by whoever builds the context.
    victim_fn: Callable[[], TrainResult] | None = None
    # The user's model factory (`Callable[[], nn.Module]`) when the victim is their own module:
    # attacks that train new models of the victim's architecture call it instead of the zoo.
    factory: Callable[[], torch.nn.Module] | None = None
    _victim: TrainResult | None = field(default=None, repr=False)  # the victim, when already trained
    log: AttackLog = field(default_factory=AttackLog, repr=False, compare=False)

    def victim(self) -> TrainResult:
        """The clean victim: the one given, else trained (or loaded) once, on first use."""
        return self._victim if self._victim is not None else self._trained

    @functools.cached_property
    def _trained(self) -> TrainResult:
        if self.victim_fn is None:
            raise InvalidValueError("this attack needs a trained victim, but none was provided")
        return self.victim_fn()

    def architecture(self) -> Any:
        """What `archrisk.train` builds new models of the victim's architecture from: the zoo spec,
        or the user's factory. A user's module without a factory cannot be rebuilt."""
        if self.factory is not None:
            return self.factory
        if self.spec.kind == "user":
            raise InvalidValueError(f"this attack trains new {self.spec.name} models; pass a model factory "
                                    "(a callable returning a fresh nn.Module) as factory= or instead of the module")
        return self.spec

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the job seed (offset separates independent streams)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + offset)
