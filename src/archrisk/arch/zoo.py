"""Architecture registry: name -> factory, size presets, and `build`.

An architecture is named (`darts_v2`, `resnet18`, a manual net at a width: `resnet18(width=0.25)`),
sampled (`random(7)`), given as a genotype (DARTS syntax or JSON) or remedied
(`remedy(darts_v2, deepen=1)`); `arch/spec.py` owns that grammar. `resolve` turns any of these into
an `ArchSpec` (pure data, hashable, stored with every result); `build` turns a spec into a
`Classifier`: normalisation layer + net.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from archrisk.arch import genotypes, genotypes_more, remedies
from archrisk.arch.cellnet import CellNet
from archrisk.arch.genotype import Genotype, random_genotype
from archrisk.arch.manual import MANUAL_FAMILIES, MANUAL_SOURCES
from archrisk.arch.manual._base import check_args
from archrisk.arch.spec import ArchString, CustomCell, RandomCell, RemedySpec, Widened, parse
from archrisk.errors import InvalidValueError, UnknownNameError
from archrisk.registry import Registry


@dataclass(frozen=True)
class SizePreset:
    name: str
    C: int  # cell networks: initial channels
    layers: int  # cell networks: number of cells
    width: float  # manual networks: channel multiplier
    description: str
    # What a size means for training (epochs, dropout, cutout) lives with the recipes:
    # train/recipe.py's SIZE_RECIPES.


SIZES: dict[str, SizePreset] = {p.name: p for p in (
    SizePreset("tiny", C=8, layers=5, width=0.25, description="CPU tests and the demo"),
    SizePreset("small", C=16, layers=8, width=0.5, description="a workstation, minutes per model"),
    SizePreset("paper", C=36, layers=20, width=1.0, description="the study's scale (GPU)"),
)}

# Random cells are the control of the study's question (does NAS *select* vulnerable cells?), so they
# form their own group rather than counting as NAS.
_NAS_GROUP = {"darts_i": "remedy", "darts_ii": "remedy", "darts_iii": "remedy", "random": "random"}


@dataclass(frozen=True)
class ArchSpec:
    """Everything that determines a network's structure (not its weights)."""

    name: str  # registry name, 'random(k)', or 'custom-<hash>'
    kind: str  # 'cell' | 'manual'
    group: str  # 'nas' | 'random' | 'manual' | 'remedy' | 'custom'
    size: str
    genotype: Genotype | None = None
    C: int | None = None
    layers: int | None = None
    family: str | None = None
    width: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["genotype"] = self.genotype.to_dict() if self.genotype else None
        return d

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str
    group: str
    description: str
    genotype: Genotype | None = field(default=None, repr=False)
    method: str | None = None  # cells: the search method that found them (one tag per method)
    source: str = ""  # the paper that reports the cell or designs the network
    code: str = ""  # cells: the released file their genotype is copied from


_REGISTRY: Registry[ModelEntry] = Registry("architecture")


def register_model(entry: ModelEntry) -> ModelEntry:
    """Register a named architecture; a duplicate name raises DuplicateNameError."""
    return _REGISTRY.register(entry.name, entry)


_KEYS = ("normal", "normal_concat", "reduce", "reduce_concat")
for _module in (genotypes, genotypes_more):  # the study's cells, then the later ones
    for _name, _g in _module.GENOTYPES.items():
        _p = _module.PROVENANCE[_name]
        register_model(ModelEntry(_name, "cell", _NAS_GROUP.get(_name, "nas"), "published cell",
                                  Genotype.from_dict({k: _g[k] for k in _KEYS}), _p.method, _p.paper, _p.code))
for _name in sorted(MANUAL_FAMILIES):  # alphabetical, whatever order the modules import in
    register_model(ModelEntry(_name, "manual", "manual", f"hand-designed {_name}, small-image stem",
                              source=MANUAL_SOURCES[_name]))


def list_models(pattern: str | None = None, group: str | None = None, method: str | None = None) -> list[ModelEntry]:
    out = [e for e in _REGISTRY.filter(pattern or None).values()
           if (group is None or e.group == group) and (method is None or e.method == method)]
    return sorted(out, key=lambda e: (e.group, e.name))


def model_entry(name: str) -> ModelEntry | None:
    """The registry entry of a named architecture; None for a sampled, custom or remedied one."""
    return _REGISTRY.get(name, None)


def get_size(size: str) -> SizePreset:
    if size not in SIZES:
        raise UnknownNameError("size preset", size, list(SIZES))
    return SIZES[size]


def resolve(arch: str | ArchString | Genotype | ArchSpec, size: str = "tiny", width: float | None = None) -> ArchSpec:
    """An architecture string (or its parsed form, `arch.spec.parse`) or a Genotype -> ArchSpec at a
    size preset."""
    if isinstance(arch, ArchSpec):
        return arch
    preset = get_size(size)
    if width is not None and not (0 < width <= 16):
        raise InvalidValueError(f"width multiplier must be in (0, 16], got {width}")
    if isinstance(arch, Genotype):
        return ArchSpec(f"custom-{arch.hash()}", "cell", "custom", size, arch, preset.C, preset.layers)
    if isinstance(arch, str):
        text = arch.strip()
        return _resolve_parsed(parse(text), text, size, preset, width)
    if isinstance(arch, ArchString):
        return _resolve_parsed(arch, arch.format(), size, preset, width)
    raise InvalidValueError(f"architecture {arch!r} must be a name, 'random(k)' or a genotype string; "
                            "for your own nn.Module use archrisk.arch.user.wrap or pass it to the attack")


def _resolve_parsed(arch: ArchString, text: str, size: str, preset: SizePreset, width: float | None) -> ArchSpec:
    """`text` is the string as written: a random cell and a registry entry are named by it."""
    if isinstance(arch, CustomCell):
        return resolve(arch.genotype, size)
    if isinstance(arch, RemedySpec):
        src = resolve(arch.source, size)
        if src.kind != "cell" or src.genotype is None:
            raise InvalidValueError(f"remedies rewire cells; {arch.source!r} is a hand-designed network")
        genotype = remedies.apply(src.genotype, deepen=arch.deepen, no_skip=arch.no_skip, skip_op=arch.skip_op,
                                  cells=arch.cells)
        return ArchSpec(arch.name, "cell", "remedy", size, genotype, preset.C, preset.layers)
    if isinstance(arch, RandomCell):
        return ArchSpec(text, "cell", "random", size, random_genotype(arch.seed), preset.C, preset.layers)
    if isinstance(arch, Widened):
        if arch.family not in _REGISTRY or _REGISTRY[arch.family].kind != "manual":
            raise InvalidValueError(f"{text!r}: (width=...) applies to hand-designed networks "
                                    f"({', '.join(MANUAL_FAMILIES)}); change a cell network's size preset instead")
        return resolve(arch.family, size, arch.width)
    if text not in _REGISTRY:
        raise UnknownNameError("architecture", text, [*_REGISTRY, "random(<seed>)", "Genotype(...)",
                                                      "remedy(<arch>, deepen=<k>)", "<manual net>(width=<w>)"])
    entry = _REGISTRY[text]
    if entry.kind == "cell":
        return ArchSpec(text, "cell", entry.group, size, entry.genotype, preset.C, preset.layers)
    return ArchSpec(text, "manual", "manual", size, family=text, width=width or preset.width)


class Normalize(nn.Module):
    """Inputs live in [0, 1]; the model standardises them itself."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """normalise -> net. `penultimate` and `classifier` expose the last layer for attacks."""

    def __init__(self, spec: ArchSpec, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.spec = spec
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.penultimate(self.normalize(x))

    @property
    def classifier(self) -> nn.Linear:
        return self.net.classifier

    @property
    def aux_logits(self) -> torch.Tensor | None:
        return getattr(self.net, "aux_logits", None)


def _make_net(spec: ArchSpec, num_classes: int, in_channels: int, dropout: float, auxiliary: bool) -> nn.Module:
    if spec.kind == "cell":
        return CellNet(spec.genotype, spec.C, spec.layers, num_classes, in_channels,
                       auxiliary=auxiliary, dropout=dropout)
    return MANUAL_FAMILIES[spec.family](num_classes=num_classes, in_channels=in_channels,
                                        width=spec.width, dropout=dropout)


def with_width(arch: str, width: float) -> str:
    """The architecture string of a manual net at a width multiplier, e.g. 'resnet18(width=0.0664)'."""
    return Widened(arch, width).format()


def count_params(model: nn.Module, include_aux: bool = False) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if include_aux or "aux_head" not in n)


def match_width(arch: str, params: int, *, num_classes: int = 10, in_channels: int = 3,
                size: str = "tiny") -> float:
    """The manual width multiplier whose parameter count is closest to `params` (bisection on
    log-width; counts grow monotonically with width)."""
    spec = resolve(arch, size)
    if spec.kind != "manual":
        raise InvalidValueError(f"params= applies to manual architectures; {arch!r} is a cell network "
                                "(change its size preset instead)")
    if params <= 0:
        raise InvalidValueError(f"params must be positive, got {params}")

    @functools.cache  # the final pick re-reads the last two probes
    def count(w: float) -> int:
        # The probe builds leave the global RNG alone: otherwise `build(arch, params=N)` after a seed
        # would initialise other weights than `build("arch(width=w)")`, which has the same spec and
        # so the same checkpoint key.
        with torch.random.fork_rng(devices=[]):
            return count_params(_make_net(resolve(arch, size, width=w), num_classes, in_channels, 0.0, False))

    lo, hi = 1 / 64, 4.0
    for _ in range(14):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if count(mid) < params else (lo, mid)
    return round(min((lo, hi), key=lambda w: abs(count(w) - params)), 4)


def build(arch: str | Genotype | ArchSpec, *, num_classes: int = 10, in_channels: int = 3,
          mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
          size: str = "tiny", width: float | None = None, params: int | None = None,
          dropout: float = 0.0, auxiliary: bool = False) -> Classifier:
    """Build a classifier for inputs in [0, 1]. `params` picks the manual width that matches a
    parameter budget (to remove the study's NAS-vs-manual size confound)."""
    check_args(num_classes, in_channels, 1.0, dropout)  # for cell nets too (resolve checks the width)
    if params is not None:
        width = match_width(arch, params, num_classes=num_classes, in_channels=in_channels, size=size)
    spec = resolve(arch, size, width)
    mean = mean or (0.5,) * in_channels
    std = std or (0.25,) * in_channels
    if len(mean) != in_channels or len(std) != in_channels:
        raise InvalidValueError(f"mean/std need {in_channels} values, got {len(mean)}/{len(std)}")
    return Classifier(spec, _make_net(spec, num_classes, in_channels, dropout, auxiliary), mean, std)


def count_flops(model: nn.Module, shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass on a single input of `shape`: the matrix products and
    convolutions torch's FLOP counter sees (each MAC is 2 FLOPs there); normalisation, pooling,
    activations and additions count nothing. For archrisk's networks, whose products all run in
    nn.Conv2d and nn.Linear, this equals those layers' MACs (pinned per network in the tests)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            device = next(model.parameters(), torch.zeros(0)).device
            model(torch.zeros(1, *shape, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
