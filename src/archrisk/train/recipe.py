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

from archrisk.errors import InvalidValueError, UnknownNameError
from archrisk.train.precision import PRECISIONS, resolve_precision


@dataclass(frozen=True)
class Recipe:
    name: str = "study"
    epochs: int | None = None  # None: the size preset's default (`train_epochs`); stays None so job ids keep
    batch_size: int = 96
    lr: float = 0.025  # SGD, cosine-annealed per step to lr_min
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float = 5.0  # global L2 norm; 0 disables
    crop_padding: int = 4  # random crop after zero padding (in pixels at 32 px, scaled)
    flip: bool = True  # horizontal flip, only on datasets whose classes are mirror-invariant
    cutout: int = 16  # cutout square side at 32 px, scaled to the input size; 0 disables
    dropout: float = 0.2  # after every non-identity cell op (manual nets: before the classifier)
    drop_path: float = 0.0  # DARTS drop path, ramped linearly to this value
    aux_weight: float = 0.0  # weight of the auxiliary head's loss; 0 builds no head
    adv_train: str | None = None  # adversarial training method ('pgd', 'trades'), None = off
    adv_eps: float = 8 / 255  # adversarial training budget (L-inf)
    adv_alpha: float = 2 / 255  # adversarial training step size
    adv_steps: int = 7  # adversarial training PGD steps
    trades_beta: float = 6.0  # TRADES trade-off weight
    # How training executes (see train/precision.py). Attacks and metrics always run in float32.
    precision: str = "auto"  # 'fp32' | 'bf16' autocast | 'auto' (bf16 on CUDA, fp32 on CPU)
    channels_last: bool | str = "auto"  # NHWC memory layout; 'auto' = on CUDA only
    compile: bool = False  # torch.compile the training forward; off: compiling a 20-cell net costs more than it saves in short runs

    def __post_init__(self) -> None:
        checks = [
            ("epochs", self.epochs is None or self.epochs >= 0, ">= 0"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
            ("lr_min", 0 <= self.lr_min <= self.lr, "in [0, lr]"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("grad_clip", self.grad_clip >= 0, ">= 0"),
            ("crop_padding", self.crop_padding >= 0, ">= 0"),
            ("cutout", self.cutout >= 0, ">= 0"),
            ("dropout", 0 <= self.dropout < 1, "in [0, 1)"),
            ("drop_path", 0 <= self.drop_path < 1, "in [0, 1)"),
            ("aux_weight", self.aux_weight >= 0, ">= 0"),
            ("adv_eps", 0 <= self.adv_eps <= 1, "in [0, 1] (an L-inf budget on [0, 1] images)"),
            ("adv_alpha", 0 <= self.adv_alpha <= 1, "in [0, 1]"),
            ("adv_steps", self.adv_steps >= 1, ">= 1"),
            ("trades_beta", self.trades_beta >= 0, ">= 0"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise InvalidValueError(f"recipe {name}={getattr(self, name)!r} is invalid; it must be {rule}")
        if self.precision not in PRECISIONS:
            raise UnknownNameError("precision", str(self.precision), list(PRECISIONS))
        if self.channels_last not in (True, False, "auto"):
            raise InvalidValueError(f"recipe channels_last={self.channels_last!r} is invalid; use true, false or 'auto'")
        if not isinstance(self.compile, bool):
            raise InvalidValueError(f"recipe compile={self.compile!r} is invalid; use true or false")
        if self.adv_train not in ADV_METHODS:
            raise UnknownNameError("adversarial training method", str(self.adv_train),
                                   [m for m in ADV_METHODS if m])

    def to_dict(self) -> dict:
        """All fields, except execution options left at their defaults: studies planned before
        those options existed keep their job ids."""
        d = asdict(self)
        for k, default in EXECUTION_DEFAULTS.items():
            if d[k] == default:
                del d[k]
        return d

    def cache_fields(self, device) -> dict:
        """The fields that determine the trained weights on `device` (for checkpoint keys): the
        training fields, plus the precision actually used when it is not fp32 (so fp32 keys are
        those of earlier versions). Layout and compilation change only rounding, as cuDNN's choice
        of algorithm does, and stay out."""
        d = {k: v for k, v in asdict(self).items() if k not in EXECUTION_DEFAULTS}
        used = resolve_precision(self.precision, device)
        if used != "fp32":
            d["precision"] = used
        return d

    def with_(self, **overrides) -> Recipe:
        known = {f.name for f in fields(self)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise UnknownNameError("recipe field", bad[0], sorted(known))
        return replace(self, **overrides)


ADV_METHODS = (None, "pgd", "trades")
EXECUTION_DEFAULTS = {"precision": "auto", "channels_last": "auto", "compile": False}

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
