"""Training recipes: frozen configs with named presets.

`study` is what the study's code actually ran for all 17 models (the paper's Sec. 3 recipe, with
dropout 0.2 after every non-identity op instead of drop path, and no auxiliary head); `darts` is
the DARTS paper's evaluation recipe.

A size preset (`arch/zoo.py`) is architecture scale only; what it means for training (its default
epochs, the fields it changes under a named recipe) lives here, in SIZE_RECIPES, and
`resolve_recipe` is the one place a recipe name, a size preset and overrides meet.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Annotated

from archrisk.errors import UnknownNameError
from archrisk.train.precision import PRECISIONS, resolve_precision
from archrisk.validate import Checked, Ge, Gt, Interval, OneOf, out_of_range, unknown_key


@dataclass(frozen=True)
class Recipe(Checked):
    name: str = "study"
    epochs: Annotated[int, Ge(0)] | None = None  # None: the size preset's default (`train_epochs`); stays None so job ids keep
    # Training until convergence (train/convergence.py): stop once validation accuracy has not risen
    # by more than `min_delta` for `patience` epochs in a row, with `epochs` as the cap; None trains
    # exactly `epochs`. The learning rate (and drop path) schedule runs over the cap either way, so a
    # run the rule stops is exactly the first epochs of the cap-long run (see README "Training recipes").
    patience: Annotated[int, Ge(1)] | None = None
    min_delta: Annotated[float, Interval(ge=0, lt=1)] = 0.0  # accuracy gain (0..1) counted as a rise; needs patience
    batch_size: Annotated[int, Ge(1)] = 96
    lr: Annotated[float, Gt(0)] = 0.025  # SGD, cosine-annealed per step to lr_min
    lr_min: Annotated[float, Ge(0)] = 0.0  # at most lr
    momentum: Annotated[float, Interval(ge=0, lt=1)] = 0.9
    weight_decay: Annotated[float, Ge(0)] = 5e-4
    grad_clip: Annotated[float, Ge(0)] = 5.0  # global L2 norm; 0 disables
    crop_padding: Annotated[int, Ge(0)] = 4  # random crop after zero padding (in pixels at 32 px, scaled)
    flip: bool = True  # horizontal flip, only on datasets whose classes are mirror-invariant
    cutout: Annotated[int, Ge(0)] = 16  # cutout square side at 32 px, scaled to the input size; 0 disables
    # after every non-identity cell op (manual nets: before the classifier)
    dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.2
    drop_path: Annotated[float, Interval(ge=0, lt=1)] = 0.0  # DARTS drop path, ramped linearly to this value
    aux_weight: Annotated[float, Ge(0)] = 0.0  # weight of the auxiliary head's loss; 0 builds no head
    adv_train: str | None = None  # adversarial training method ('pgd', 'trades'), None = off
    adv_eps: Annotated[float, Interval(ge=0, le=1)] = 8 / 255  # adversarial training budget (L-inf, on [0, 1] images)
    adv_alpha: Annotated[float, Interval(ge=0, le=1)] = 2 / 255  # adversarial training step size
    adv_steps: Annotated[int, Ge(1)] = 7  # adversarial training PGD steps
    trades_beta: Annotated[float, Ge(0)] = 6.0  # TRADES trade-off weight
    # How training executes (see train/precision.py). Attacks and metrics always run in float32.
    precision: str = "auto"  # 'fp32' | 'bf16' autocast | 'auto' (bf16 on CUDA, fp32 on CPU)
    # NHWC memory layout; 'auto' = on CUDA only
    channels_last: Annotated[bool | str, OneOf((True, False, "auto"))] = "auto"
    compile: bool = False  # torch.compile the training forward; off: compiling a 20-cell net costs more than it saves in short runs

    def config_label(self) -> str:
        return f"recipe {self.name!r}"

    def __post_init__(self) -> None:
        super().__post_init__()  # each field's own rule (see archrisk.validate)
        if self.lr_min > self.lr:
            raise out_of_range(self.config_label(), "lr_min", self.lr_min, f"in [0, lr={self.lr!r}]")
        if self.min_delta and self.patience is None:  # it would change job ids and nothing else
            raise out_of_range(self.config_label(), "min_delta", self.min_delta, "0 unless patience is set")
        if self.precision not in PRECISIONS:  # names, refused as unknown names with their choices
            raise UnknownNameError("precision", str(self.precision), list(PRECISIONS))
        if self.adv_train not in ADV_METHODS:
            raise UnknownNameError("adversarial training method", str(self.adv_train),
                                   [m for m in ADV_METHODS if m])

    def to_dict(self) -> dict:
        """All fields, except execution options and the convergence rule left at their defaults:
        studies planned before those options existed keep their job ids."""
        d = asdict(self)
        for k, default in {**EXECUTION_DEFAULTS, **RULE_DEFAULTS}.items():
            if d[k] == default:
                del d[k]
        return d

    def cache_fields(self, device) -> dict:
        """The fields that determine the trained weights on `device` (for checkpoint keys): the
        training fields (the convergence rule only when on), plus the precision actually used when
        it is not fp32 (so fp32 keys are those of earlier versions). Layout and compilation change
        only rounding, as cuDNN's choice of algorithm does, and stay out."""
        d = {k: v for k, v in asdict(self).items()
             if k not in EXECUTION_DEFAULTS and not (k in RULE_DEFAULTS and v == RULE_DEFAULTS[k])}
        used = resolve_precision(self.precision, device)
        if used != "fp32":
            d["precision"] = used
        return d

    def with_(self, **overrides) -> Recipe:
        known = {f.name for f in fields(self)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise unknown_key(self.config_label(), bad[0], known)
        return replace(self, **overrides)  # values kept as given: to_dict() enters job ids


ADV_METHODS = (None, "pgd", "trades")
EXECUTION_DEFAULTS = {"precision": "auto", "channels_last": "auto", "compile": False}
# The convergence rule off: absent from job ids and checkpoint keys, which fixed-epoch recipes keep.
RULE_DEFAULTS = {"patience": None, "min_delta": 0.0}

RECIPES: dict[str, Recipe] = {
    "study": Recipe(),
    # DARTS (Liu et al., ICLR 2019) evaluation: wd 3e-4, auxiliary weight 0.4, drop path 0.2
    "darts": Recipe(name="darts", weight_decay=3e-4, dropout=0.0, drop_path=0.2, aux_weight=0.4),
}


@dataclass(frozen=True)
class SizeRecipe:
    """What a size preset means for training."""

    epochs: int  # default training length at this size
    # Recipe fields this size changes under a named recipe (explicit overrides still win).
    adjust: tuple[tuple[str, object], ...] = ()


SIZE_RECIPES: dict[str, SizeRecipe] = {
    # tiny: a C=8 cell net underfits with the study's dropout 0.2 on every op and cutout 16
    # (mnist5k, 6 epochs: 80% test vs 95% without them), so tiny trains without both.
    "tiny": SizeRecipe(epochs=8, adjust=(("dropout", 0.0), ("cutout", 0))),
    "small": SizeRecipe(epochs=30),
    "paper": SizeRecipe(epochs=200),
}


def size_recipe(size: str) -> SizeRecipe:
    if size not in SIZE_RECIPES:
        raise UnknownNameError("size preset", str(size), list(SIZE_RECIPES))
    return SIZE_RECIPES[size]


def resolve_recipe(recipe: str | Recipe = "study", size: str = "tiny", **overrides) -> Recipe:
    """(recipe, size preset, overrides) -> Recipe. A named recipe takes the size preset's
    adjustments, then the overrides; a Recipe object is already resolved and takes only the
    overrides."""
    adjust = dict(size_recipe(size).adjust)  # checks the size even for a Recipe object
    if isinstance(recipe, str):
        overrides = {**adjust, **overrides}
    return get_recipe(recipe, **overrides)


def train_epochs(recipe: Recipe, size: str, epochs: int | None = None) -> int:
    """How long to train: `epochs` when given, else the recipe's, else the size preset's default."""
    if epochs is not None:
        return epochs
    return recipe.epochs if recipe.epochs is not None else size_recipe(size).epochs


def get_recipe(recipe: str | Recipe = "study", **overrides) -> Recipe:
    if isinstance(recipe, Recipe):
        base = recipe
    elif recipe in RECIPES:
        base = RECIPES[recipe]
    else:
        raise UnknownNameError("recipe", str(recipe), list(RECIPES))
    return base.with_(**overrides) if overrides else base
