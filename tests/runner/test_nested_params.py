"""Metric parameters keep one form, nested per family as the study file writes them, from the file
to the metric: the study, its id, the job specs, ids and stored params_json, and the config the
metric receives all hold {"hessian": {"samples": ...}}; grids take nested keys."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from pathlib import Path

import pytest

from archrisk.runner import StudyError, parse_study, plan
from archrisk.runner.config import load_study

STUDY = Path(__file__).resolve().parents[2] / "studies" / "reference.toml"
# reference.toml's darts_v2 jobs of seed 0 (schema 1, flat names: 0c366dab30bb33c99782 and de338dfee424426047c8)
DARTS_HESSIAN = ("deac870d075010d2c6ce", {"at": "trained", "hessian": {"batches": 1, "iters": 10, "samples": 64}})
DARTS_GRADVAR = ("82aa69ea89b8b4d19c75", {"at": "trained", "gradient_variance": {"samples": 128}})

WALK = """
name = "walk"
seeds = [0]
archs = ["resnet18"]
[data]
name = "synthetic"
limit = 60
val_fraction = 0.05
[[metrics]]
name = "hessian_top"
at = "init"
params = { hessian = { samples = 8, batches = 1 }, memory_limit_gb = 1.5 }
"""


def test_a_parameter_reaches_the_metric_in_the_form_the_study_file_writes_it(monkeypatch, cache):
    """hessian.samples followed from the TOML to the config the hessian family is called with:
    never renamed, never flattened."""
    from archrisk.metrics.base import _FAMILIES, Estimate
    from archrisk.metrics.hessian import HessianConfig
    from archrisk.runner.jobs import run_job
    from archrisk.runner.plan import job_id

    written = {"hessian": {"samples": 8, "batches": 1}, "memory_limit_gb": 1.5}
    assert tomllib.loads(WALK)["metrics"][0]["params"] == written  # what the user wrote
    study = parse_study(WALK)
    assert study.metrics[0].params == written
    spec = study.spec()
    assert spec["metrics"][0]["params"] == written  # what the study id hashes
    assert study.id() == hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    (job,) = [j for j in plan(study) if j.kind == "metric"]
    assert job.spec["params"] == written and job.id == job_id(job.spec)  # what the job id hashes
    row = job.row(study.id())
    assert json.loads(row["params_json"]) == {**written, "at": "init"}
    assert json.loads(row["spec_json"])["params"] == written

    seen = []

    def spy(ctx, cfg, names):  # the hessian family's function: what it is called with
        seen.append((cfg, ctx.explicit, ctx.memory_limit_gb))
        return {n: Estimate(1.0) for n in names}

    monkeypatch.setitem(_FAMILIES._entries, "hessian", dataclasses.replace(_FAMILIES["hessian"], fn=spy))
    out = run_job(json.loads(row["spec_json"]))
    assert out.status == "done", out.error
    ((cfg, explicit, limit),) = seen
    assert isinstance(cfg, HessianConfig) and (cfg.samples, cfg.batches) == (8, 1)
    assert explicit == {"samples", "batches"} and limit == 1.5
    assert out.artifacts["config"] == {"metric": "hessian_top", "at": "init", **written}


def test_reference_study_jobs_hold_the_nested_parameters():
    study, text = load_study(STUDY)
    assert "hessian = { samples = 64" in text  # the file is written nested
    metric = [j for j in plan(study) if j.kind == "metric"]
    darts = {j.name: j for j in metric if j.arch == "darts_v2" and j.seed == 0}
    for name, (jid, params) in (("hessian_top", DARTS_HESSIAN), ("gradient_variance", DARTS_GRADVAR)):
        assert (darts[name].id, darts[name].params) == (jid, params)
        assert darts[name].spec["params"] == {k: v for k, v in params.items() if k != "at"}


def test_flat_names_in_a_study_are_refused_with_the_nested_spelling_as_hint():
    text = STUDY.read_text().replace("params = { gradient_variance = { samples = 128 } }",
                                     "params = { grad_samples = 128 }")
    with pytest.raises(StudyError, match=r"metrics\[1\]: metric has no parameter 'grad_samples' "
                                         r"\(did you mean 'gradient_variance.samples'\?\)"):
        parse_study(text)


SMALL = """
name = "nested"
seeds = [0]
archs = ["resnet18"]
[[metrics]]
name = "hessian_top"
"""


def test_a_grid_over_a_nested_parameter_plans_one_job_per_value():
    study = parse_study(SMALL + "params = { hessian = { batches = 1 } }\ngrid = { hessian.samples = [32, 64] }\n")
    assert study.spec()["metrics"][0]["grid"] == {"hessian": {"samples": [32, 64]}}  # kept as written
    jobs = sorted((j for j in plan(study) if j.kind == "metric"), key=lambda j: j.params["hessian"]["samples"])
    assert [j.params for j in jobs] == [{"at": "trained", "hessian": {"batches": 1, "samples": n}} for n in (32, 64)]
    # a grid point is the same job as that value given as a fixed parameter
    fixed = plan(parse_study(SMALL + "params = { hessian = { batches = 1, samples = 64 } }\n"))
    assert jobs[1].id in {j.id for j in fixed}
    # a quoted dotted key is the same parameter, the same study and the same jobs
    quoted = parse_study(SMALL + "params = { hessian = { batches = 1 } }\ngrid = { \"hessian.samples\" = [32, 64] }\n")
    assert quoted.id() == study.id() and {j.id for j in plan(quoted)} == {j.id for j in plan(study)}
    # the grid's values are checked like fixed ones, and a key in both is refused
    with pytest.raises(StudyError, match=r"metrics\[0\]: metric 'hessian': samples=0 is out of range"):
        parse_study(SMALL + "grid = { hessian.samples = [0, 64] }\n")
    with pytest.raises(StudyError, match="'hessian.samples' is in both params and grid"):
        parse_study(SMALL + "params = { hessian = { samples = 8 } }\ngrid = { hessian.samples = [32, 64] }\n")
    with pytest.raises(StudyError, match=r"metrics\[0\].grid: grid 'hessian.samples' must be a list of values"):
        parse_study(SMALL + "grid = { hessian.samples = 32 }\n")
