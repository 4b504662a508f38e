"""The one validation system: --set coercion, each constraint kind, unknown keys, and the one
error shape over every registered attack, every metric family and the recipe."""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import pytest

import archrisk.metrics  # noqa: F401  (registers the metric families)
from archrisk.attacks import get_attack, list_attacks
from archrisk.errors import InvalidValueError
from archrisk.metrics.base import metric_families, split_params
from archrisk.train import Recipe, get_recipe
from archrisk.validate import (Checked, Ge, Gt, Interval, Le, Lt, OneOf, build, hints, parse_sets, parse_text,
                               rules)


@dataclass(frozen=True)
class Demo(Checked):
    config_label: ClassVar[str] = "demo 'd'"
    count: Annotated[int, Ge(1)] = 1
    rate: Annotated[float, Interval(gt=0, le=1)] = 0.5
    share: Annotated[float, Interval(ge=0, lt=1)] = 0.0
    scale: Annotated[float, Gt(0)] = 1.0
    cap: Annotated[int, Le(10)] = 0
    below: Annotated[float, Lt(2)] = 0.0
    mode: Annotated[str, OneOf(("fast", "slow"))] = "fast"
    kind: Literal["a", "b"] = "a"
    flag: bool = False
    label: str = "x"
    budgets: tuple[Annotated[int, Ge(0)], ...] = ()
    names: tuple[str, ...] = ()
    epochs: Annotated[int, Ge(1)] | None = None
    step: float | None = None


# --- coercion: --set strings become what the annotation says --------------------------------

@pytest.mark.parametrize("key,text,value", [
    ("count", "8", 8),
    ("count", "64.0", 64),  # an integral float is an int, as before
    ("rate", "1", 1.0),  # an int given for a float is a float (attack configs store it so)
    ("rate", "1e-3", 0.001),
    ("flag", "true", True),
    ("flag", "false", False),
    ("label", "8", "8"),  # a str field keeps the text, even when it reads as a number
    ("mode", "slow", "slow"),
    ("kind", "b", "b"),
    ("budgets", "[100, 200]", (100, 200)),  # JSON list
    ("budgets", "100,200", (100, 200)),  # or comma-separated
    ("budgets", "7", (7,)),  # one value is a one-tuple
    ("names", "least_likely", ("least_likely",)),
    ("names", "a,b", ("a", "b")),
    ("epochs", "null", None),
    ("epochs", "5", 5),
    ("step", "2", 2.0),
])
def test_set_strings_are_typed_by_the_annotation(key, text, value):
    cfg = build(Demo, parse_sets([f"{key}={text}"], [Demo]), convert_values=True)
    got = getattr(cfg, key)
    assert got == value and type(got) is type(value)
    if isinstance(value, tuple):
        assert all(type(a) is type(b) for a, b in zip(got, value))


def test_set_values_of_the_wrong_type_are_refused():
    with pytest.raises(InvalidValueError, match=r"^demo 'd': count='abc' must be of type int$"):
        build(Demo, parse_sets(["count=abc"], [Demo]), convert_values=True)
    with pytest.raises(InvalidValueError, match="count=2.5 must be of type int"):
        build(Demo, parse_sets(["count=2.5"], [Demo]), convert_values=True)
    with pytest.raises(InvalidValueError, match=r"flag='yes' must be of type bool"):
        build(Demo, parse_sets(["flag=yes"], [Demo]), convert_values=True)
    with pytest.raises(InvalidValueError, match="must look like key=value"):
        parse_sets(["count"], [Demo])


def test_unknown_keys_keep_their_json_reading():
    assert parse_sets(["other=[1, 2]", "word=hello"], [Demo]) == {"other": [1, 2], "word": "hello"}
    assert parse_text(Any, "0.5") == 0.5


def test_without_conversion_values_stay_as_given():
    # Recipe values enter job ids through to_dict(): an int lr stays an int
    assert type(get_recipe("study", lr=1).lr) is int and get_recipe("study", lr=1).to_dict()["lr"] == 1
    assert type(Demo(rate=1).rate) is int
    # attacks convert, as get_attack always did (the stored config holds 1.0)
    assert type(get_attack("pgd", eps=1).eps) is float and get_attack("pgd", steps=3.0).steps == 3


# --- each constraint kind ------------------------------------------------------------------

@pytest.mark.parametrize("values,message", [
    (dict(count=0), "count=0 is out of range; it must be >= 1"),
    (dict(rate=0.0), r"rate=0.0 is out of range; it must be in \(0, 1\]"),
    (dict(rate=1.5), r"rate=1.5 is out of range; it must be in \(0, 1\]"),
    (dict(share=1.0), r"share=1.0 is out of range; it must be in \[0, 1\)"),
    (dict(scale=0.0), "scale=0.0 is out of range; it must be > 0"),
    (dict(scale=math.nan), "scale=nan is out of range; it must be > 0"),
    (dict(scale=math.inf), "scale=inf is out of range; it must be > 0"),
    (dict(cap=11), "cap=11 is out of range; it must be <= 10"),
    (dict(below=2.0), "below=2.0 is out of range; it must be < 2"),
    (dict(mode="medium"), "mode='medium' is not one of fast, slow"),
    (dict(kind="c"), "kind='c' is not one of a, b"),
    (dict(flag=1), "flag=1 must be of type bool"),
    (dict(count=True), "count=True must be of type int"),
    (dict(label=3), "label=3 must be of type str"),
    (dict(budgets=(1, -1)), r"budgets=\(1, -1\) holds -1, which is out of range; it must be >= 0"),
    (dict(budgets=5), "budgets=5 must be of type tuple"),
    (dict(epochs=0), "epochs=0 is out of range; it must be >= 1"),
    (dict(step="x"), "step='x' must be of type float or None"),
])
def test_each_constraint_kind_has_one_line_naming_value_and_rule(values, message):
    with pytest.raises(InvalidValueError) as e:
        Demo(**values)
    assert re.fullmatch(r"demo 'd': " + message, str(e.value)), str(e.value)


def test_valid_values_and_none_pass():
    Demo(count=3, rate=1.0, share=0.0, scale=1e-9, cap=10, below=1.9, mode="slow", kind="b",
         budgets=[0, 5], epochs=None, step=None)


# --- unknown keys ----------------------------------------------------------------------------

def test_unknown_keys_name_close_matches():
    with pytest.raises(InvalidValueError, match=r"^demo 'd' has no parameter 'cuont' \(did you mean 'count'\?\); "
                                                r"known: below, budgets, cap, count, .*$"):
        build(Demo, {"cuont": 2})
    with pytest.raises(InvalidValueError, match=r"^demo 'd' has no parameter 'zzz'; known: "):
        build(Demo, {"zzz": 2})
    with pytest.raises(InvalidValueError, match=r"attack 'pgd' has no parameter 'epsilon' \(did you mean 'eps'\?\)"):
        get_attack("pgd", epsilon=0.1)
    with pytest.raises(InvalidValueError, match=r"recipe 'study' has no parameter 'epoch' \(did you mean 'epochs'\?\)"):
        get_recipe("study", epoch=3)
    with pytest.raises(InvalidValueError, match=r"metric 'hessian' has no parameter 'sample' \(did you mean 'samples'"):
        split_params(metric_families(), {"hessian": {"sample": 3}})


# --- every attack, every metric family, the recipe: the same error shape -----------------------

def _bad(meta: Any, base: Any) -> Any:
    """A value of the field's type that breaks `meta`."""
    if isinstance(meta, OneOf):
        return "no-such-option"
    low = next((getattr(meta, k) for k in ("ge", "gt") if getattr(meta, k, None) is not None), None)
    if low is not None:
        return base(low - 1)
    high = next(getattr(meta, k) for k in ("le", "lt") if getattr(meta, k, None) is not None)
    return base(high + 1)


def _base(cls: type, name: str) -> type:
    text = str(hints(cls)[name])
    return int if "int" in text and "float" not in text else float


def _first_rule(cls: type) -> tuple[str, Any]:
    """(field, bad value) for the first constrained scalar field of a config class."""
    for name, metas in rules(cls).items():
        if "tuple" not in str(hints(cls)[name]):
            return name, _bad(metas[0], _base(cls, name))
    raise AssertionError(f"{cls.__name__} declares no constrained field")


SHAPE = r"{label}: {field}=\S+ (is out of range; it must be \S.*|is not one of \S.*)"


@pytest.mark.parametrize("name", [a.name for a in list_attacks()])
def test_every_attack_refuses_a_bad_value_in_the_one_shape(name):
    field, bad = _first_rule(type(get_attack(name)))
    with pytest.raises(InvalidValueError) as e:
        get_attack(name, **{field: bad})
    assert re.fullmatch(SHAPE.format(label=re.escape(f"attack {name!r}"), field=field), str(e.value)), str(e.value)


@pytest.mark.parametrize("fam", metric_families(), ids=lambda f: f.name)
def test_every_metric_family_refuses_a_bad_value_in_the_one_shape(fam):
    if not dataclasses.fields(fam.config):
        assert fam.kind == "arch"  # only parameter-free families (structure) have nothing to check
        return
    field, bad = _first_rule(fam.config)
    with pytest.raises(InvalidValueError) as e:
        split_params([fam], {fam.name: {field: bad}})
    assert re.fullmatch(SHAPE.format(label=re.escape(f"metric {fam.name!r}"), field=field), str(e.value)), str(e.value)


@pytest.mark.parametrize("field", list(rules(Recipe)))
def test_every_recipe_rule_refuses_a_bad_value_in_the_one_shape(field):
    bad = _bad(rules(Recipe)[field][0], _base(Recipe, field))
    with pytest.raises(InvalidValueError) as e:
        get_recipe("study", **{field: bad})
    assert re.fullmatch(SHAPE.format(label="recipe 'study'", field=field), str(e.value)), str(e.value)


def test_rules_across_fields_and_data_raise_in_the_same_shape():
    with pytest.raises(InvalidValueError, match=r"^recipe 'study': lr_min=0.5 is out of range; it must be in \[0, lr=0.1\]$"):
        get_recipe("study", lr=0.1, lr_min=0.5)
    with pytest.raises(InvalidValueError, match=r"^attack 'pgd': eps=2.0 is out of range; it must be in \[0, 1\]"):
        get_attack("pgd", eps=2)
    get_attack("pgd_l2", eps=2)  # an L2 budget may exceed 1
    with pytest.raises(InvalidValueError, match=r"^metric 'landscape': points=4 is out of range; it must be odd"):
        split_params([f for f in metric_families() if f.name == "landscape"], {"landscape": {"points": 4}})


def test_set_strings_of_nested_configs_are_typed_by_their_owner():
    from archrisk.metrics.gradients import GradVarConfig
    from archrisk.metrics.hessian import HessianConfig
    from archrisk.validate import flatten, nest

    owners = {"hessian": HessianConfig, "gradient_variance": GradVarConfig}
    got = parse_sets(["hessian.samples=8", "gradient_variance.split=1e3", "memory_limit_gb=1.5"], owners)
    assert got == {"hessian.samples": 8, "gradient_variance.split": "1e3", "memory_limit_gb": 1.5}
    assert nest(got) == {"hessian": {"samples": 8}, "gradient_variance": {"split": "1e3"}, "memory_limit_gb": 1.5}
    assert flatten(nest(got)) == got
    with pytest.raises(InvalidValueError, match="given both as a value and as a table"):
        nest({"hessian": 1, "hessian.samples": 8})
