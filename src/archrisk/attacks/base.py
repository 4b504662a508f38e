"""The one interface every attack family shares.

An attack is a frozen config dataclass (the study's defaults, one comment per field) with a
registry name and a family. Two kinds exist:

- model attacks (evasion, membership, extraction) take a trained victim: `Attack.run(victim, ctx)`;
- training attacks (poisoning, backdoor) take the architecture, recipe and data and train their
  own victims through `archrisk.train` (and its cache): `Attack.run(None, ctx)` with `ctx.victim()`
  available when they need the clean model.

`Attack.__call__` does the bookkeeping once for all: seeding, device placement, eval mode set and
restored, wall time, and the typed `AttackResult`. Subclasses write only `_run`. It takes either a
context (the runner, `run_attack`) or, the torchattacks way, your own model: `atk(model, x, y)` or
`atk(model, dataset)` (see `Attack.run_on`); both end in the same `_execute`.

Each attack class also declares what its numbers mean (`meanings`: result key -> `Meaning`, with
exactly one headline, the key that says how well the attack worked); the runner stores them with
the results, and the report and the score read them there (see `archrisk.meaning`).
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from archrisk import __version__
from archrisk.data import Dataset
from archrisk.errors import InvalidValueError
from archrisk.meaning import FAMILIES, Meaning, check_table, resolve_all
from archrisk.registry import Registry
from archrisk.train import Recipe
from archrisk.train.precision import float32
from archrisk.attacks.context import AttackContext  # noqa: F401  (attacks import it from here)
from archrisk.validate import Checked, build


@dataclass
class AttackResult:
    """One attack run: scalar metrics, optional curves and per-sample arrays, and provenance."""

    attack: str
    family: str
    arch: str
    spec_hash: str
    dataset: str
    seed: int
    config: dict[str, Any]  # the full attack config after overrides
    metrics: dict[str, float]  # scalar results, e.g. success_rate, mean_iters, acc_drop
    curves: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # e.g. {"eps": [{"eps":..,"success_rate":..}]}
    arrays: dict[str, list] = field(default_factory=dict)  # per-sample data, e.g. fooled test indices, roc points
    wall_time: float = 0.0
    device: str = "cpu"
    version: str = __version__
    # Validity flags: True means the number may not mean what it says, e.g. `gradient_masking`
    # (a black-box probe beat the gradient attack), `nonfinite_grad`, `victim_in_train_mode`.
    flags: dict[str, bool] = field(default_factory=dict)
    # Evasion attacks: the adversarial images [n, C, H, W] of the test rows in arrays["attacked"],
    # in that order (CPU, float in [0, 1]). Kept in memory only: never in `to_record()`.
    adv: torch.Tensor | None = field(default=None, repr=False, compare=False)

    def to_record(self) -> dict[str, Any]:
        """JSON-able dict (what `--json --full` prints and the runner stores); `adv` is left out."""
        record = dataclasses.asdict(dataclasses.replace(self, adv=None))
        record.pop("adv")
        return json.loads(json.dumps(record, default=_jsonable))

    def summary(self) -> dict[str, Any]:
        """The record without its per-sample arrays (what `--json` prints by default)."""
        record = self.to_record()
        record.pop("arrays")
        return record


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


@dataclass(frozen=True)
class Attack(Checked):
    """Base for every attack config. Subclasses are frozen dataclasses registered with `@register_attack`;
    their fields declare their rules (`Annotated[int, Ge(1)]`, see `archrisk.validate`)."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    needs_victim: ClassVar[bool] = True  # False: the attack trains its own victims (poisoning, backdoor)
    # Result key (or '*' pattern) -> what it means; every scalar `_run` returns, one headline.
    meanings: ClassVar[dict[str, Meaning]] = {}

    @classmethod
    def meanings_of(cls, keys) -> dict[str, Meaning]:
        """The declared meaning of each key a run returned (undeclared keys: `Meaning()`)."""
        return resolve_all(cls.meanings, keys)

    def _run(self, victim: torch.nn.Module | None, ctx: AttackContext) -> tuple[dict, dict, dict]:
        """Return (metrics, curves, arrays). Subclasses implement this only."""
        raise NotImplementedError

    def config_label(self) -> str:
        return f"attack {self.name!r}"

    def config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __call__(self, target: AttackContext | torch.nn.Module | Callable[[], torch.nn.Module],
                 x: Any = None, y: Any = None, **options: Any) -> AttackResult:
        """`atk(ctx)` for the runner; `atk(model, x, y)` or `atk(model, dataset)` for your own model."""
        if isinstance(target, AttackContext):
            if x is not None or y is not None or options:
                raise InvalidValueError("an attack called with a context takes no other arguments")
            return self._execute(target)
        return self.run_on(target, x, y, **options)

    def run_on(self, model: torch.nn.Module | Callable[[], torch.nn.Module], x: Any, y: Any = None, *,
               seed: int = 0, device: str = "cpu", factory: Callable[[], torch.nn.Module] | None = None,
               recipe: str | Recipe = "study", size: str = "tiny", epochs: int | None = None,
               cache: bool = False, progress: bool = False) -> AttackResult:
        """Attack your own model: any nn.Module mapping inputs in [0, 1] to logits, used as it is
        (eval mode set and restored), or a factory (`Callable[[], nn.Module]`) whose model is
        trained first through `archrisk.train`. Data: tensors `x` [N, C, H, W] and `y` [N] (the
        images attacked, evasion only) or a `Dataset` or dataset name as `x`. Attacks that train
        new models (poisoning, backdoor, extraction's thief, LiRA's shadows) need a factory."""
        from archrisk.attacks.own import own_context  # deferred: only runs on the user's own model need it

        return self._execute(own_context(self, model, x, y, seed=seed, device=device, factory=factory,
                                         recipe=recipe, size=size, epochs=epochs, cache=cache, progress=progress))

    def _execute(self, ctx: AttackContext) -> AttackResult:
        t0 = time.perf_counter()
        _check_range(ctx.dataset)
        model = ctx.victim().model if self.needs_victim else None
        was_training = model.training if model is not None else False
        if was_training:  # attacking a model in train mode measures dropout noise and batch statistics
            ctx.log.flag("victim_in_train_mode")
        if model is not None:
            model.to(ctx.device).eval()  # attacks see the deployed model: no dropout, frozen BN
        # float32(): success rates come from float32 logits even if a caller holds autocast open
        with torch.random.fork_rng(devices=[ctx.device] if ctx.device.type == "cuda" else []), float32():
            torch.manual_seed(ctx.seed)  # only for library code that insists on global RNG
            try:
                metrics, curves, arrays = self._run(model, ctx)
            finally:
                if model is not None:
                    model.train(was_training)
        return AttackResult(
            attack=self.name, family=self.family, arch=ctx.spec.name, spec_hash=ctx.spec.hash(),
            dataset=ctx.dataset.name, seed=ctx.seed, config=self.config(),
            metrics={k: float(v) for k, v in metrics.items()}, curves=curves, arrays=arrays,
            wall_time=time.perf_counter() - t0, device=str(ctx.device), flags=dict(ctx.log.flags),
            adv=ctx.log.outputs.get("adv"),
        )


def _check_range(ds: Dataset) -> None:
    """Attacks clip to [0, 1]; data outside it would make eps budgets and clipping meaningless."""
    for name, split in (("test", ds.test), ("pool", ds.pool)):
        if len(split) and (split.x.min() < 0 or split.x.max() > 1):
            raise InvalidValueError(f"dataset {ds.name!r} {name} images span {split.x.min().item():.3g}.."
                                    f"{split.x.max().item():.3g}; attacks need inputs in [0, 1]")


_REGISTRY: Registry[type[Attack]] = Registry("attack")


def register_attack(cls: type[Attack]) -> type[Attack]:
    """Class decorator: `cls.name` becomes a registry name. A duplicate name, or meanings
    without exactly one headline key, raises."""
    if not cls.name or cls.family not in FAMILIES:
        raise InvalidValueError(f"attack {cls.__name__} needs a name and a family in {FAMILIES}")
    check_table(f"attack {cls.__name__}", cls.meanings, headlines=1)
    return _REGISTRY.register(cls.name, cls)


def unregister_attack(name: str) -> None:
    """Remove a registered attack (tests that declare their own attacks clean up with this)."""
    _REGISTRY.unregister(name)


def list_attacks(family: str | None = None) -> list[type[Attack]]:
    return [c for n, c in sorted(_REGISTRY.items()) if family is None or c.family == family]


def get_attack(name: str, **params: Any) -> Attack:
    """Build a registered attack config; unknown parameters and bad values raise InvalidValueError."""
    cls = _REGISTRY.get(name)
    # numbers are converted as the annotations say (2 -> 2.0 for a float): stored configs hold them
    return build(cls, params, f"attack {name!r}", convert_values=True)
