"""Metric parameters nested per family in study files: the jobs (ids, stored params) are those the
flat, pre-nesting spelling planned, so existing stores keep resuming; grids take nested keys."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from archrisk.runner import StudyError, parse_study, plan
from archrisk.runner.config import load_study

STUDY = Path(__file__).resolve().parents[2] / "studies" / "reference.toml"
# Planned from reference.toml while it still read `params = { hessian_samples = 64, hessian_batches = 1,
# hessian_iters = 10 }` and `params = { grad_samples = 128 }`.
STUDY_ID = "9cdc2dd33574e496"
METRIC_IDS_SHA = "d34ec702a8740c2b"  # sha256 of its 144 sorted metric job ids, newline-joined
DARTS_HESSIAN = ("0c366dab30bb33c99782", {"at": "trained", "hessian_batches": 1, "hessian_iters": 10,
                                          "hessian_samples": 64})
DARTS_GRADVAR = ("de338dfee424426047c8", {"at": "trained", "grad_samples": 128})


def test_nested_reference_study_plans_the_ids_of_its_flat_spelling():
    study, text = load_study(STUDY)
    assert "hessian = { samples = 64" in text  # the file is written nested
    assert study.id() == STUDY_ID
    metric = [j for j in plan(study) if j.kind == "metric"]
    ids = sorted(j.id for j in metric)
    assert hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16] == METRIC_IDS_SHA
    darts = {j.name: j for j in metric if j.arch == "darts_v2" and j.seed == 0}
    for name, (jid, params) in (("hessian_top", DARTS_HESSIAN), ("gradient_variance", DARTS_GRADVAR)):
        assert (darts[name].id, darts[name].params) == (jid, params)  # params_json keeps the flat names
        assert darts[name].spec["params"] == {k: v for k, v in params.items() if k != "at"}


def test_flat_names_in_a_study_are_refused_with_the_new_spelling():
    text = STUDY.read_text().replace("params = { gradient_variance = { samples = 128 } }",
                                     "params = { grad_samples = 128 }")
    with pytest.raises(StudyError, match=r"metrics\[1\]: metric parameter 'grad_samples' is now "
                                         r"'gradient_variance.samples'"):
        parse_study(text)


SMALL = """
name = "nested"
seeds = [0]
archs = ["resnet18"]
[[metrics]]
name = "hessian_top"
"""


def test_a_grid_over_a_nested_parameter_plans_one_job_per_value():
    grid = plan(parse_study(SMALL + "params = { hessian = { batches = 1 } }\ngrid = { hessian.samples = [32, 64] }\n"))
    jobs = sorted((j for j in grid if j.kind == "metric"), key=lambda j: j.params["hessian_samples"])
    assert [j.params for j in jobs] == [{"at": "trained", "hessian_batches": 1, "hessian_samples": n} for n in (32, 64)]
    # a grid point is the same job as that value given as a fixed parameter
    fixed = plan(parse_study(SMALL + "params = { hessian = { batches = 1, samples = 64 } }\n"))
    assert jobs[1].id in {j.id for j in fixed}
    # the grid's values are checked like fixed ones, and a key in both is refused
    with pytest.raises(StudyError, match=r"metrics\[0\]: metric 'hessian': samples=0 is out of range"):
        parse_study(SMALL + "grid = { hessian.samples = [0, 64] }\n")
    with pytest.raises(StudyError, match="'hessian.samples' is in both params and grid"):
        parse_study(SMALL + "params = { hessian = { samples = 8 } }\ngrid = { hessian.samples = [32, 64] }\n")
