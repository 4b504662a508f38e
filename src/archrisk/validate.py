"""One validation system for config dataclasses (attacks, metric families, the training recipe).

A config is a frozen dataclass whose fields declare their rules next to their type, with the
constraint vocabulary pydantic uses (`annotated_types`, also what `pydantic.Field(ge=1)` carries):

    @dataclass(frozen=True)
    class PGD(Checked):
        steps: Annotated[int, Ge(1)] = 7
        rho: Annotated[float, Interval(gt=0, le=1)] = 0.75
        norm: Annotated[str, OneOf(("linf", "l2"))] = "linf"

`Checked.__post_init__` checks every field on construction; `build` adds what user input needs
on top (unknown keys with close matches, conversion of numbers), and `parse_sets` turns
`--set KEY=VALUE` strings (`--set family.key=VALUE` for configs nested per name, read back into
tables by `nest`) into the types the annotations name. Every failure is one
`InvalidValueError` of one shape: "<config>: <field>=<value> <problem>".

Values are converted only where the old paths converted them (`build(convert=True)`: attacks,
int -> float, 2.0 -> 2, list -> tuple), because validated values enter job ids and stored
configs; a recipe or metric config keeps exactly what it was given.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from typing import Any, Iterable, Mapping

from annotated_types import Ge, Gt, Interval, Le, Lt
from pydantic.fields import FieldInfo

from archrisk.errors import InvalidValueError, close_matches

__all__ = ["Checked", "OneOf", "Ge", "Gt", "Interval", "Le", "Lt", "build", "check", "fail", "out_of_range",
           "flatten", "nest", "parse_sets", "parse_text", "rules", "unknown_key"]


@dataclasses.dataclass(frozen=True)
class OneOf:
    """Constraint: the value is one of `options` (e.g. `Annotated[str, OneOf(NORMS)]`)."""

    options: tuple


# --- the one error shape -------------------------------------------------------------------

def fail(config: str, field: str, value: Any, problem: str) -> InvalidValueError:
    """The error every rule raises: '<config>: <field>=<value> <problem>' (one line)."""
    return InvalidValueError(f"{config}: {field}={value!r} {problem}")


def out_of_range(config: str, field: str, value: Any, rule: str) -> InvalidValueError:
    """A value breaking a rule, e.g. `out_of_range("attack 'pgd'", "eps", 2.0, "in [0, 1]")`. Checks
    that need the data (a sample size larger than the split) raise through this too."""
    return fail(config, field, value, f"is out of range; it must be {rule}")


def unknown_key(config: str, key: str, known: Iterable[str]) -> InvalidValueError:
    known = sorted(known)
    near = close_matches(key, known)
    hint = f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""
    return InvalidValueError(f"{config} has no parameter {key!r}{hint}; known: {', '.join(known)}")


# --- reading the annotations ---------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def hints(cls: type) -> dict[str, Any]:
    """Field name -> annotation (with its Annotated constraints) of a config dataclass."""
    resolved = typing.get_type_hints(cls, include_extras=True)
    return {f.name: resolved[f.name] for f in dataclasses.fields(cls)}


def _split(hint: Any) -> tuple[Any, list]:
    """(bare type, constraints) of an annotation; pydantic `Field(...)` contributes its metadata."""
    metas: list = []
    while typing.get_origin(hint) is typing.Annotated:
        hint, *extra = typing.get_args(hint)
        for m in extra:
            metas.extend(m.metadata if isinstance(m, FieldInfo) else [m])
    return hint, metas


def _members(hint: Any) -> tuple:
    """The alternatives of a union (X | None, Optional[X]); a non-union is its own one member."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def rule_of(meta: Any) -> str:
    """How a constraint reads in a message: '>= 1', 'in (0, 1]', 'one of a, b'."""
    if isinstance(meta, Interval):
        lo = "[" if meta.ge is not None else "(" if meta.gt is not None else None
        hi = "]" if meta.le is not None else ")" if meta.lt is not None else None
        if lo and hi:
            a = meta.ge if meta.ge is not None else meta.gt
            b = meta.le if meta.le is not None else meta.lt
            return f"in {lo}{_num(a)}, {_num(b)}{hi}"
        return " and ".join(rule_of(m) for m in _bounds(meta))
    for kind, attr, op in ((Ge, "ge", ">="), (Gt, "gt", ">"), (Le, "le", "<="), (Lt, "lt", "<")):
        if isinstance(meta, kind):
            return f"{op} {_num(getattr(meta, attr))}"
    if isinstance(meta, OneOf):
        return "one of " + ", ".join(str(o) for o in meta.options)
    raise TypeError(f"unsupported constraint {meta!r}")


def _bounds(meta: Interval) -> list:
    return [k(v) for k, v in ((Ge, meta.ge), (Gt, meta.gt), (Le, meta.le), (Lt, meta.lt)) if v is not None]


def _holds(meta: Any, v: Any) -> bool:
    if isinstance(meta, OneOf):
        return v in meta.options
    if isinstance(v, float) and not math.isfinite(v):
        return False  # nan and inf pass no range
    bounds = _bounds(meta) if isinstance(meta, Interval) else [meta]
    checks = {Ge: lambda b: v >= b.ge, Gt: lambda b: v > b.gt, Le: lambda b: v <= b.le, Lt: lambda b: v < b.lt}
    return all(checks[type(b)](b) for b in bounds)


# --- checking (what every construction runs) ------------------------------------------------

_TYPES = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str)}


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(hint)))
    names = [_split(m)[0] for m in _members(hint)]
    return " or ".join("None" if m is type(None) else getattr(m, "__name__", str(m)) for m in names)


def _problem(hint: Any, v: Any) -> str | None:
    """Why `v` does not satisfy `hint` (None: it does)."""
    hint, metas = _split(hint)
    members = _members(hint)
    if len(members) > 1:
        if v is None and type(None) in members:
            return None
        problems = [_problem(m, v) for m in members if m is not type(None)]
        if None in problems:
            bad = None
        else:  # report the rule of the member whose type fits, else the type
            bad = next((p for p in problems if not p.startswith("must be of type")), f"must be of type {_type_name(hint)}")
        if bad is not None:
            return bad
    else:
        origin = typing.get_origin(hint)
        if origin is typing.Literal:
            if v not in typing.get_args(hint):
                return "is not one of " + ", ".join(map(str, typing.get_args(hint)))
        elif origin is tuple:
            if not isinstance(v, (tuple, list)):
                return f"must be of type {_type_name(hint)}"
            inner = typing.get_args(hint)[0]
            bad = next(((x, p) for x in v if (p := _problem(inner, x)) is not None), None)
            if bad is not None:
                return f"holds {bad[0]!r}, which {bad[1]}"
        elif hint in _TYPES and not _TYPES[hint](v):
            return f"must be of type {_type_name(hint)}"
    for meta in metas:
        if not _holds(meta, v):
            return "is not " + rule_of(meta) if isinstance(meta, OneOf) else f"is out of range; it must be {rule_of(meta)}"
    return None


def rules(cls: type) -> dict[str, list]:
    """Field name -> the constraints declared on it (those inside an Optional included)."""
    out = {}
    for name, hint in hints(cls).items():
        bare, metas = _split(hint)
        for m in _members(bare):
            metas = metas + _split(m)[1]
        if metas:
            out[name] = metas
    return out


def check(obj: Any, config: str | None = None) -> None:
    """Every field of a config dataclass instance against its annotation; the first failure raises."""
    config = config or config_label(obj)
    for name, hint in hints(type(obj)).items():
        value = getattr(obj, name)
        problem = _problem(hint, value)
        if problem is not None:
            raise fail(config, name, value, problem)


def config_label(obj_or_cls: Any) -> str:
    label = getattr(obj_or_cls, "config_label", None)
    return label() if callable(label) else label or type(obj_or_cls).__name__


class Checked:
    """Mixin for frozen config dataclasses: fields are checked on construction. A subclass with
    rules across fields overrides `__post_init__` and calls `super().__post_init__()` first."""

    def __post_init__(self) -> None:
        check(self)


# --- user input: unknown keys, conversion, --set strings --------------------------------------

def convert(config: str, field: str, value: Any, hint: Any) -> Any:
    """A user value as the annotation's type, converting numbers only: int -> float, an integral
    float -> int, a list or one value -> tuple. Anything else is left to `check`."""
    everyone = [_split(m)[0] for m in _members(_split(hint)[0])]
    members = [m for m in everyone if m is not type(None)]
    if value is None and len(members) < len(everyone):
        return None
    hint = float if float in members else members[0]  # int | float: a float, as before
    if typing.get_origin(hint) is tuple:
        inner = typing.get_args(hint)[0]
        return tuple(convert(config, field, v, inner) for v in (value if isinstance(value, (list, tuple)) else [value]))
    if hint in (int, float, bool, str) and not _TYPES[hint](value):
        if not (hint is int and isinstance(value, float) and value.is_integer()):
            raise fail(config, field, value, f"must be of type {hint.__name__}")
    return hint(value) if hint in (int, float) else value


def build(cls: type, values: Mapping[str, Any], config: str | None = None, *, convert_values: bool = False) -> Any:
    """A validated instance of config dataclass `cls` from user values (TOML, the API, `--set`)."""
    config = config or config_label(cls)
    fields = hints(cls)
    for key in values:
        if key not in fields:
            raise unknown_key(config, key, fields)
    if convert_values:
        values = {k: convert(config, k, v, fields[k]) for k, v in values.items()}
    try:
        return cls(**values)
    except TypeError as e:  # a comparison the annotations did not cover
        raise InvalidValueError(f"{config}: {e}") from None


def parse_text(hint: Any, text: str) -> Any:
    """A `--set` string as the annotation says: kept as text for a str field, else read as JSON
    (numbers, true/false, null, [lists]); a tuple also takes comma-separated items."""
    bare = _split(hint)[0]
    members = [_split(m)[0] for m in _members(bare)]
    if text == "null" and type(None) in members:
        return None
    if all(m is str or (typing.get_origin(m) is typing.Literal and all(isinstance(a, str) for a in typing.get_args(m)))
           for m in members if m is not type(None)):
        return text
    tup = next((m for m in members if typing.get_origin(m) is tuple), None)
    if tup is not None and not text.lstrip().startswith("["):
        return [parse_text(typing.get_args(tup)[0], t.strip()) for t in text.split(",")]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_sets(items: Iterable[str] | None, classes: Iterable[type] | Mapping[str, type] = ()) -> dict[str, Any]:
    """`--set key=value` pairs, each value typed by the first of `classes` that has the field (a
    key none has is read as JSON, for the unknown-key error downstream). With `classes` a mapping
    {name: class}, a dotted key `name.field` is typed by that class's field (keys stay dotted)."""
    nested = isinstance(classes, Mapping)
    classes = classes if nested else list(classes)
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidValueError(f"--set {item!r} must look like key=value")
        if nested:
            owner, _, field = key.rpartition(".")
            hint = hints(classes[owner]).get(field, Any) if owner in classes else Any
        else:
            hint = next((hints(c)[key] for c in classes if key in hints(c)), Any)
        out[key] = parse_text(hint, value)
    return out


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys as tables: {"hessian.samples": 64, "x": 1} -> {"hessian": {"samples": 64}, "x": 1}
    (what TOML makes of `hessian.samples = 64`); a key without a dot stays at the top."""
    out: dict[str, Any] = {}
    for key, value in flatten(values).items():
        owner, _, field = key.partition(".")
        if not field:
            out[key] = value
            continue
        table = out.setdefault(owner, {})
        if not isinstance(table, dict):
            raise InvalidValueError(f"{owner!r} is given both as a value and as a table ({key!r})")
        table[field] = value
    return out


def flatten(values: Mapping[str, Any]) -> dict[str, Any]:
    """One level of tables as dotted keys: {"hessian": {"samples": 64}} -> {"hessian.samples": 64}."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update({f"{key}.{field}": v for field, v in value.items()})
        else:
            out[key] = value
    return out
