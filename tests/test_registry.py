"""The one registry type, and the registries built on it answering the same mistake the same way."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import archrisk.registry
from archrisk.errors import DuplicateNameError, InvalidValueError, UnknownNameError
from archrisk.registry import Registry


def _fruit() -> Registry[int]:
    reg: Registry[int] = Registry("fruit")
    reg.register("pear", 1)
    reg.register("apple", 2)
    reg.register("apricot", 3)
    return reg


def test_entries_keep_registration_order_and_read_like_a_dict():
    reg = _fruit()
    assert reg.names() == ["pear", "apple", "apricot"] == list(reg)
    assert list(reg.items()) == [("pear", 1), ("apple", 2), ("apricot", 3)]
    assert reg.get("apple") == reg["apple"] == 2 and len(reg) == 3
    assert "pear" in reg and "plum" not in reg and ["unhashable"] not in reg
    assert dict(reg) == {"pear": 1, "apple": 2, "apricot": 3}


def test_register_returns_the_entry_and_works_as_a_decorator():
    reg: Registry = Registry("hook")

    @reg.register("shout")
    def shout(s: str) -> str:
        return s.upper()

    assert shout("a") == "A" and reg.get("shout") is shout
    assert reg.register("quiet", str.lower) is str.lower


def test_filter_matches_shell_patterns():
    reg = _fruit()
    assert reg.filter("ap*") == {"apple": 2, "apricot": 3}
    assert reg.filter(None) == dict(reg) and reg.filter("kiwi") == {}


def test_unknown_name_is_one_line_with_near_misses():
    with pytest.raises(UnknownNameError) as e:
        _fruit().get("appel")
    msg = str(e.value)
    assert msg.startswith("unknown fruit 'appel' (did you mean 'apple'") and "\n" not in msg
    assert msg.endswith("choose one of: apple, apricot, pear")
    assert (e.value.kind, e.value.name) == ("fruit", "appel")
    with pytest.raises(UnknownNameError, match=r"unknown fruit 'zzz'; choose one of"):  # no near miss: no hint
        _fruit().get("zzz")
    assert _fruit().get("zzz", None) is None  # a default turns the error off


def test_duplicate_name_raises_and_keeps_the_first_entry():
    reg = _fruit()
    with pytest.raises(DuplicateNameError, match=r"^fruit 'pear' is already registered; pick another name$"):
        reg.register("pear", 99)
    assert reg["pear"] == 1
    assert issubclass(DuplicateNameError, InvalidValueError)  # the CLI's exit 2, one line


def test_writes_go_through_register_and_unregister():
    reg = _fruit()
    with pytest.raises(TypeError):
        reg["plum"] = 4  # type: ignore[index]  # would bypass the duplicate check
    with pytest.raises(TypeError):
        reg.register("", 4)
    reg.unregister("pear")
    reg.unregister("pear")  # absent: nothing to do
    assert reg.names() == ["apple", "apricot"]
    reg.register("pear", 5)
    assert reg["pear"] == 5


def test_the_registry_module_is_a_leaf():
    tree = ast.parse(Path(archrisk.registry.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m and m.startswith("archrisk")} == {"archrisk.errors"}


# --- every registry: same error class and message shape for the same mistake --------------------

def _architectures():
    from archrisk.arch import zoo

    return (zoo._REGISTRY, "architecture", lambda: zoo.resolve("resnet19"), "resnet18",
            lambda: zoo.register_model(zoo.ModelEntry("resnet18", "manual", "manual", "again")), "resnet18")


def _manual_networks():
    from archrisk.arch.manual import MANUAL_FAMILIES, register_manual

    return (MANUAL_FAMILIES, "manual network", lambda: MANUAL_FAMILIES["resnet19"], "resnet18",
            lambda: register_manual(MANUAL_FAMILIES["resnet18"]), "resnet18")


def _attacks():
    from archrisk.attacks import base, get_attack, register_attack

    pgd = type(get_attack("pgd"))
    return base._REGISTRY, "attack", lambda: get_attack("pgdd"), "pgd", lambda: register_attack(pgd), "pgd"


def _datasets():
    from archrisk.data import load_dataset, register_dataset, registry

    return (registry._REGISTRY, "dataset", lambda: load_dataset("mnist5j"), "mnist5k",
            lambda: register_dataset("digits", description="x", shape=(1, 8, 8), num_classes=10)(lambda d: None),
            "digits")


def _metrics():
    from archrisk.metrics import base

    def again(ctx, cfg, names):
        return {}

    return (base._FAMILIES, "metric", lambda: base.family_of("hessian_topp"), "hessian_top",
            lambda: base.register_metric(kind="model", metrics={"hessian_top": "again"})(again), "hessian_top")


def _penalties():
    from archrisk.search import PENALTIES, get_penalty, register_penalty

    return (PENALTIES, "search penalty", lambda: get_penalty("skp"), "skip",
            lambda: register_penalty("skip", "again")(lambda cell: cell.weights.sum()), "skip")


def _claims():
    from archrisk.report.claims import CLAIMS

    return (CLAIMS, "claim", lambda: CLAIMS["C1q"], "C1",
            lambda: CLAIMS.register("C1", dataclasses.replace(CLAIMS["C1"], text="again")), "C1")


@pytest.mark.parametrize("registry", [_architectures, _manual_networks, _attacks, _datasets, _metrics, _penalties, _claims],
                         ids=lambda f: f.__name__.strip("_"))
def test_every_registry_answers_the_same_mistake_the_same_way(registry):
    reg, kind, lookup_unknown, near, register_twice, taken = registry()
    assert isinstance(reg, Registry)
    with pytest.raises(UnknownNameError) as e:
        lookup_unknown()
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"unknown {kind} ") and "choose one of: " in msg
    assert f"did you mean {near!r}" in msg, msg

    before = dict(reg)
    with pytest.raises(DuplicateNameError) as e:
        register_twice()
    assert str(e.value) == f"{kind} {taken!r} is already registered; pick another name"
    assert dict(reg) == before  # the refused registration changed nothing
