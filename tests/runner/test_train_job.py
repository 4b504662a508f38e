"""A study's train job under the convergence rule (`[recipe] patience`): the study file takes it, its
jobs get their own ids (studies without it keep theirs), and the job stores the epochs it ran, the
cap and whether the rule ended training, with their meanings; without the rule the stored keys are
the old ones."""
from __future__ import annotations

import pytest
from runner_fakes import study_toml

from archrisk.runner import StudyError, parse_study
from archrisk.runner.config import build_recipe
from archrisk.runner.jobs import TRAIN_MEANINGS, run_job
from archrisk.runner.plan import plan
from archrisk.train.convergence import plateaued

OLD_KEYS = {"test_acc", "val_acc", "best_epoch", "epochs", "train_wall", "params", "flops"}
CAP = 6


def _study(recipe_lines: str = ""):
    text = study_toml(seeds=(0,), archs=("vgg13_bn",), epochs=CAP)
    return parse_study(text.replace("batch_size = 64\n", "batch_size = 64\n" + recipe_lines))


def _train_job(study):
    return next(j for j in plan(study) if j.kind == "train")


def test_a_study_file_sets_the_rule_and_its_jobs_get_their_own_ids() -> None:
    plain, ruled = _study(), _study("patience = 5\n")
    assert build_recipe(ruled).patience == 5 and build_recipe(plain).patience is None
    assert "patience" not in _train_job(plain).spec["recipe"]
    assert _train_job(ruled).spec["recipe"]["patience"] == 5
    assert _train_job(ruled).id != _train_job(plain).id
    assert _train_job(_study("patience = 5\nmin_delta = 0.0\n")).id == _train_job(ruled).id
    for bad, said in (("patience = 0\n", "patience=0"), ("min_delta = 0.01\n", "min_delta=0.01.*unless patience"),
                      ("patience = 2.5\n", "patience=2.5")):
        with pytest.raises(StudyError, match=said):
            _study(bad)


@pytest.mark.parametrize("patience", [1, CAP])
def test_the_train_job_stores_epochs_run_cap_and_convergence(cache, patience) -> None:
    out = run_job(_train_job(_study(f"patience = {patience}\n")).spec)
    assert out.status == "done", out.error
    vals = [h["val_acc"] for h in out.artifacts["history"]]
    run = out.results["epochs"]
    assert set(out.results) == OLD_KEYS | {"epoch_cap", "converged"}
    assert out.results["epoch_cap"] == CAP and run == len(vals) <= CAP
    # stopped at the first epoch the rule names, else at the cap
    assert run == next((i for i in range(1, CAP + 1) if plateaued(vals[:i], patience)), CAP)
    assert out.results["converged"] == float(plateaued(vals, patience))
    if patience == CAP:  # a plateau needs CAP + 1 epochs: the cap always ends these
        assert (run, out.results["converged"]) == (CAP, 0.0)
    stored = out.artifacts["meaning"]
    for key in ("epoch_cap", "converged", "epochs"):
        assert stored[key] == TRAIN_MEANINGS[key].to_json() and stored[key]["direction"] == 0
    assert out.artifacts["train"]["epochs_run"] == run


def test_without_the_rule_the_train_job_stores_the_old_keys(cache) -> None:
    out = run_job(_train_job(_study()).spec)
    assert out.status == "done", out.error
    assert set(out.results) == OLD_KEYS and out.results["epochs"] == CAP
    assert out.artifacts["train"]["converged"] is None
