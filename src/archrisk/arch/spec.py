"""The grammar of architecture strings: text -> typed value (`parse`) and back (`.format()`).

Forms, tried in this order (the order `resolve` has always used):

    Genotype(normal=[...], ...) or {"normal": ...}   CustomCell   a genotype (`Genotype.parse`)
    remedy(darts_v2, deepen=1, no_skip=true)         RemedySpec   a remedy of any cell architecture
    random(7)                                        RandomCell   a DARTS-space cell sampled with seed 7
    resnet18(width=0.0664)                           Widened      a hand-designed net at a width multiplier
    darts_v2, resnet18, random                       Named        anything else: a registry look-up

Nothing is evaluated: genotypes and remedies are read from Python's syntax tree (`ast`), the two
leaf forms by exact patterns. This module knows no registry: whether a name exists, and what a
form builds, is `zoo.resolve`'s job (so it can say which names exist).
"""
from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

from archrisk.arch.genotype import PARAMETRIC, Genotype
from archrisk.arch.remedies import CELLS, FULL, check_cells
from archrisk.errors import InvalidValueError

# Exact leaf patterns, unchanged from the first grammar so every stored string keeps its meaning
# (and its spec hash: a random cell is named by the text as written, `random(007)` included).
_RANDOM = re.compile(r"random\((\d{1,9})\)")
_WIDTH = re.compile(r"([a-z][a-z0-9_]*)\(width=(\d+(?:\.\d*)?(?:e-?\d+)?)\)")
SKIP_OP = "sep_conv_3x3"  # what replaces a skip connect unless skip_op= says otherwise


@dataclass(frozen=True)
class Named:
    """A registry name (`darts_v2`, `resnet18`, `random`); unchecked until `resolve`."""

    name: str

    def format(self) -> str:
        return self.name


@dataclass(frozen=True)
class RandomCell:
    """`random(<seed>)`: a cell sampled from the DARTS space (`random_genotype(seed)`)."""

    seed: int

    def format(self) -> str:
        return f"random({self.seed})"


@dataclass(frozen=True)
class Widened:
    """`<manual net>(width=<w>)`: a hand-designed family at a channel-width multiplier."""

    family: str
    width: float

    def format(self) -> str:
        return f"{self.family}(width={self.width:g})"  # 6 significant digits: matched widths have 4 decimals


@dataclass(frozen=True)
class CustomCell:
    """A genotype written out (DARTS syntax or JSON); its canonical text is the DARTS syntax."""

    genotype: Genotype

    def format(self) -> str:
        return self.genotype.format()


@dataclass(frozen=True)
class RemedySpec:
    """`remedy(<source arch>, deepen=<int|full>, no_skip=<bool>, skip_op=<op>, cells=<normal|reduce|both>)`."""

    # any cell architecture string, as written (it enters the canonical name, hence the spec hash):
    # a name, random(k), a genotype, another remedy(...)
    source: str
    deepen: int | str = 0
    no_skip: bool = False
    skip_op: str = SKIP_OP
    cells: tuple[str, ...] = ("normal",)

    @property
    def name(self) -> str:
        """Canonical string: equal specs give equal names (it is the arch name in results)."""
        parts = [self.source]
        if self.deepen != 0:
            parts.append(f"deepen={self.deepen}")
        if self.no_skip:
            parts.append("no_skip=true")
            if self.skip_op != SKIP_OP:
                parts.append(f"skip_op={self.skip_op}")
        if self.cells != ("normal",):
            parts.append("cells=" + ("both" if len(self.cells) == 2 else self.cells[0]))
        return "remedy(" + ", ".join(parts) + ")"

    def format(self) -> str:
        return self.name

    def base(self) -> ArchString:
        """The parsed source architecture."""
        return parse(self.source)

    @classmethod
    def parse(cls, text: str) -> RemedySpec:
        """A `remedy(...)` string, read as a call with keywords from its syntax tree."""
        text = text.strip()
        call = _call(text)
        if any(isinstance(a, ast.Starred) for a in call.args):
            raise InvalidValueError(f"remedy arguments cannot be unpacked (*...), got {text!r}")
        if not call.args:
            raise InvalidValueError(f"remedy needs a source architecture first, e.g. remedy(darts_v2, deepen=1); "
                                    f"got {text!r}")
        if len(call.args) > 1:
            extra = ast.get_source_segment(text, call.args[1])
            raise InvalidValueError(f"remedy takes one source architecture, then key=value options; {extra!r} "
                                    f"in {text!r} is neither")
        kw: dict = {}
        for k in call.keywords:
            value = ast.get_source_segment(text, k.value)
            if k.arg is None:
                raise InvalidValueError(f"remedy options are key=value, got **{value} in {text!r}")
            if k.arg not in _OPTIONS:
                raise InvalidValueError(f"remedy option {k.arg}={value} is not one of {sorted(_OPTIONS)}")
            if k.arg in kw:
                raise InvalidValueError(f"remedy option {k.arg!r} is given twice in {text!r}")
            kw[k.arg] = _OPTIONS[k.arg](_token(k.value), value)
        spec = cls(ast.get_source_segment(text, call.args[0]), **kw)
        if spec.deepen == 0 and not spec.no_skip:
            raise InvalidValueError(f"remedy {text!r} changes nothing; give deepen=<k|full> and/or no_skip=true")
        spec.base()  # a malformed source fails here, naming itself
        return spec


ArchString = Named | RandomCell | Widened | CustomCell | RemedySpec


def parse(text: str) -> ArchString:
    """An architecture string -> its typed value. Names are not checked against the registry."""
    if not isinstance(text, str):
        raise InvalidValueError(f"an architecture string must be text, got {type(text).__name__}")
    text = text.strip()
    if text.startswith(("Genotype(", "{")):
        return CustomCell(Genotype.parse(text))
    if text.startswith("remedy("):
        return RemedySpec.parse(text)
    if m := _RANDOM.fullmatch(text):
        return RandomCell(int(m.group(1)))
    if m := _WIDTH.fullmatch(text):
        return Widened(m.group(1), float(m.group(2)))
    return Named(text)


# -- remedy call internals ----------------------------------------------------------------------
def _call(text: str) -> ast.Call:
    try:
        with warnings.catch_warnings():  # an odd escape in a JSON source is not the user's concern here
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise InvalidValueError(f"remedy {text!r} is not valid syntax: {e.msg} at column {e.offset}") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "remedy"):
        raise InvalidValueError(f"a remedy looks like remedy(darts_v2, deepen=1, no_skip=true), got {text!r}")
    return call


def _token(node: ast.AST) -> str | int | bool | None:
    """An option value: a bare word (`full`, `true`, `sep_conv_3x3`) or an integer/bool literal;
    None for anything else (the option's check names it)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    return None


def _deepen_value(v, text: str) -> int | str:
    if v == FULL or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 999):
        return v
    raise InvalidValueError(f"deepen must be a non-negative integer or {FULL!r}, got {text!r}")


def _bool_value(v, text: str) -> bool:
    if isinstance(v, str) and v.lower() in ("true", "yes") or v in (True, 1):
        return True
    if isinstance(v, str) and v.lower() in ("false", "no") or v in (False, 0):
        return False
    raise InvalidValueError(f"no_skip must be true or false, got {text!r}")


def _op_value(v, text: str) -> str:
    if v not in PARAMETRIC:
        raise InvalidValueError(f"skip_op must be one of {sorted(PARAMETRIC)}, got {text!r}")
    return v


def _cells_value(v, text: str) -> tuple[str, ...]:
    if v == "both":
        return CELLS
    if not isinstance(v, str):
        raise InvalidValueError(f"cells must be normal, reduce or both, got {text!r}")
    return check_cells(v)


_OPTIONS = {"deepen": _deepen_value, "no_skip": _bool_value, "skip_op": _op_value, "cells": _cells_value}
