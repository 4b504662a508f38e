"""Metric parameters nested per family, context options at the top, old flat names refused as
unknown with their nested spelling as the hint, and schema-1 stores' flat names migrating to
parameters that exist."""
from __future__ import annotations

import pytest
from metric_fixtures import make_split, mlp

import archrisk.metrics  # noqa: F401  (registers the families)
from archrisk.errors import InvalidValueError
from archrisk.metrics import measure
from archrisk.metrics.base import metric_families
from archrisk.store.migrate import V1_NAMES


def test_every_schema_1_flat_name_migrates_to_a_parameter_of_its_family():
    """store/migrate.py freezes the flat names schema-1 stores hold; each must nest into a field
    the family still has, or a migrated job would hand its metric an unknown parameter."""
    fields = {(f.name, p) for f in metric_families() for p in f.params()}
    assert len(V1_NAMES) == 31 and set(V1_NAMES.values()) <= fields


def test_nested_parameters_reach_their_family_and_context_options_stay_on_top():
    split = make_split(20)
    r = measure(mlp(), split, ["ntk_trace", "grad_var"], ntk={"samples": 5}, gradient_variance={"samples": 7},
                memory_limit_gb=1.0)
    assert r["ntk_trace"].extra["samples"] == 5 and r["grad_var"].extra["samples"] == 7
    # a table for a family that was not requested is still checked
    with pytest.raises(InvalidValueError, match=r"^metric 'hessian': iters=0 is out of range"):
        measure(mlp(), split, ["ntk_trace"], hessian={"iters": 0})


@pytest.mark.parametrize("old,new", [
    ("hessian_samples", "hessian.samples"), ("grad_samples", "gradient_variance.samples"),
    ("input_samples", "input_smoothness.samples"), ("conv_epochs", "convergence.epochs"),
    ("landscape_conv_span", "landscape.conv_span"), ("ntk_chunk", "ntk.chunk"), ("lipschitz_radius", None)])
def test_old_flat_names_are_refused_as_unknown_with_the_nested_spelling_as_hint(old, new):
    with pytest.raises(InvalidValueError) as e:
        measure(mlp(), make_split(10), ["ntk_trace"], **{old: 1})
    msg = str(e.value)
    hint = f" (did you mean '{new}'?)" if new else ""  # a name unlike its family's gets no hint, never a wrong one
    assert "\n" not in msg and msg.startswith(f"metric has no parameter '{old}'{hint}; known: convergence, "), msg


def test_bad_family_tables_get_one_line_hints():
    split = make_split(10)
    with pytest.raises(InvalidValueError, match=r"^metric has no parameter 'hesian' \(did you mean 'hessian'\?\)"):
        measure(mlp(), split, ["ntk_trace"], hesian={"samples": 4})
    with pytest.raises(InvalidValueError, match=r"^metric: ntk=5 must be a table of ntk's parameters, e.g. ntk.samples="):
        measure(mlp(), split, ["ntk_trace"], ntk=5)
    with pytest.raises(InvalidValueError, match=r"^metric 'ntk' has no parameter 'sample' \(did you mean 'samples'\?\)"):
        measure(mlp(), split, ["ntk_trace"], ntk={"sample": 4})
