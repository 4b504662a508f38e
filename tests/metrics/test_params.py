"""Metric parameters nested per family, context options at the top, old flat names refused with
their new spelling, and the stored (pre-nesting) names every existing store's job ids hash."""
from __future__ import annotations

import pytest
from metric_fixtures import make_split, mlp

import archrisk.metrics  # noqa: F401  (registers the families)
from archrisk.errors import InvalidValueError
from archrisk.metrics import measure
from archrisk.metrics.base import metric_families, stored, stored_index, unstored

# What each parameter was called before nesting: job ids and stored params_json hash these names,
# so this table may only grow (a renamed entry would orphan every stored result of that parameter).
STORED = {
    "hessian_samples": ("hessian", "samples"), "hessian_batches": ("hessian", "batches"),
    "hessian_iters": ("hessian", "iters"), "hessian_tol": ("hessian", "tol"), "hessian_probes": ("hessian", "probes"),
    "hessian_trace_rse": ("hessian", "trace_rse"), "hessian_probes_max": ("hessian", "probes_max"),
    "hessian_chunk": ("hessian", "chunk"),
    "input_samples": ("input_smoothness", "samples"), "lipschitz_radius": ("input_smoothness", "radius"),
    "lipschitz_steps": ("input_smoothness", "steps"), "input_chunk": ("input_smoothness", "chunk"),
    "grad_samples": ("gradient_variance", "samples"), "grad_split": ("gradient_variance", "split"),
    "grad_clip": ("gradient_variance", "clip"), "grad_groups": ("gradient_variance", "groups"),
    "grad_chunk": ("gradient_variance", "chunk"), "grad_bn_batches": ("gradient_variance", "bn_batches"),
    "ntk_samples": ("ntk", "samples"), "ntk_batches": ("ntk", "batches"), "ntk_chunk": ("ntk", "chunk"),
    "conv_k": ("convergence", "k"), "conv_epochs": ("convergence", "epochs"),
    "landscape_points": ("landscape", "points"), "landscape_conv_span": ("landscape", "conv_span"),
    "landscape_filter_span": ("landscape", "filter_span"), "landscape_input_span": ("landscape", "input_span"),
    "landscape_samples": ("landscape", "samples"), "landscape_inputs": ("landscape", "inputs"),
    "landscape_radius": ("landscape", "radius"), "landscape_batch": ("landscape", "batch"),
}


def test_every_parameter_keeps_its_pre_nesting_stored_name():
    assert stored_index() == STORED


def test_stored_and_nested_forms_convert_both_ways():
    nested = {f.name: f.params() for f in metric_families() if f.params()}
    nested.update(memory_limit_gb=3, at="init")
    flat = stored(nested)
    assert set(flat) == set(STORED) | {"memory_limit_gb", "at"}
    assert unstored(flat) == nested
    # a grid's value lists map alike (values are never read)
    assert stored({"hessian": {"samples": [32, 64]}}) == {"hessian_samples": [32, 64]}


def test_nested_parameters_reach_their_family_and_context_options_stay_on_top():
    split = make_split(20)
    r = measure(mlp(), split, ["ntk_trace", "grad_var"], ntk={"samples": 5}, gradient_variance={"samples": 7},
                memory_limit_gb=1.0)
    assert r["ntk_trace"].extra["samples"] == 5 and r["grad_var"].extra["samples"] == 7
    # a table for a family that was not requested is still checked
    with pytest.raises(InvalidValueError, match=r"^metric 'hessian': iters=0 is out of range"):
        measure(mlp(), split, ["ntk_trace"], hessian={"iters": 0})


@pytest.mark.parametrize("old,new", [("hessian_samples", "hessian.samples"), ("grad_clip", "gradient_variance.clip"),
                                     ("lipschitz_radius", "input_smoothness.radius"), ("conv_k", "convergence.k"),
                                     ("landscape_conv_span", "landscape.conv_span"), ("ntk_chunk", "ntk.chunk")])
def test_old_flat_names_are_refused_with_their_new_spelling(old, new):
    with pytest.raises(InvalidValueError) as e:
        measure(mlp(), make_split(10), ["ntk_trace"], **{old: 1})
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"metric parameter '{old}' is now '{new}'"), msg


def test_bad_family_tables_get_one_line_hints():
    split = make_split(10)
    with pytest.raises(InvalidValueError, match=r"^metric has no parameter 'hesian' \(did you mean 'hessian'\?\)"):
        measure(mlp(), split, ["ntk_trace"], hesian={"samples": 4})
    with pytest.raises(InvalidValueError, match=r"^metric: ntk=5 must be a table of ntk's parameters, e.g. ntk.samples="):
        measure(mlp(), split, ["ntk_trace"], ntk=5)
    with pytest.raises(InvalidValueError, match=r"^metric 'ntk' has no parameter 'sample' \(did you mean 'samples'\?\)"):
        measure(mlp(), split, ["ntk_trace"], ntk={"sample": 4})


def test_a_family_added_after_nesting_stores_its_parameters_under_their_nested_names():
    """A new family declares no old names: its parameters are stored as 'family.field', so two new
    families may both have a 'samples' without clashing."""
    from dataclasses import dataclass

    from archrisk.metrics.base import _FAMILIES, Estimate, register_metric

    def make(name: str):
        @dataclass(frozen=True)
        class Cfg:
            samples: int = 8

        def fn(ctx, cfg, names):
            return {f"{name}_v": Estimate(float(cfg.samples))}
        fn.__name__ = name
        register_metric(kind="model", config=Cfg, metrics={f"{name}_v": "a test value"})(fn)

    try:
        make("newfam_a")
        make("newfam_b")
        assert stored({"newfam_a": {"samples": 3}, "newfam_b": {"samples": 4}}) == {
            "newfam_a.samples": 3, "newfam_b.samples": 4}
        assert unstored({"newfam_a.samples": 3}) == {"newfam_a": {"samples": 3}}
        assert stored({"hessian": {"samples": 64}}) == {"hessian_samples": 64}  # old families keep theirs
    finally:
        for name in ("newfam_a", "newfam_b"):
            _FAMILIES.unregister(name)
