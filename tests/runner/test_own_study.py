"""A study that lists the user's own models (`model = "package.module:factory"`, optionally with
`weights`): validated by importing the factory, trained and attacked through it (the attacks that
retrain included), keyed by the factory string and the weights' sha256, and reported like any
other architecture."""
from __future__ import annotations

import hashlib
import json
import sys

import pytest
import torch
from safetensors.torch import save_file

from archrisk.cli import main
from archrisk.runner import audit, parse_study
from archrisk.runner.config import StudyError
from archrisk.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")

MODULE = '''
import torch.nn as nn


def make_net():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def make_wide():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 96), nn.ReLU(), nn.Linear(96, 10))

NOT_A_FACTORY = 3
'''


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
    (tmp_path / "study_nets.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # weights paths are relative to the working folder
    yield tmp_path
    sys.modules.pop("study_nets", None)


@pytest.fixture
def trained_weights(fit_and_save, digits):
    """Fit the module's net to the digits and save its weights at `path`; returns the model."""
    def make(path):
        import study_nets

        return fit_and_save(study_nets.make_net, digits, path, seed=1)

    return make


def study_text(archs: str, attacks: str = "") -> str:
    return f"""
name = "own"
seeds = [0]
size = "tiny"
archs = [{archs}]
[data]
name = "digits"
[recipe]
epochs = 1
[[attacks]]
name = "pgd"
params = {{ n = 20, eps = 0.2, alpha = 0.05 }}
{attacks}
[[metrics]]
name = "input_grad_norm"
at = ["init", "trained"]
"""


OWN = ('{ model = "study_nets:make_net", label = "mine", group = "custom" }, '
       '{ model = "study_nets:make_wide", label = "wide" }, '
       '{ model = "study_nets:make_net", weights = "w.safetensors", label = "mine_w" }, "vgg13_bn"')
RETRAIN = """
[[attacks]]
name = "label_flip"
params = { fraction = 0.3 }
[[attacks]]
name = "knockoff"
params = { budgets = [40, 80], thief_epochs = 1 }
[[attacks]]
name = "trojannn"
params = { finetune_epochs = 1, trigger_steps = 3, trigger_images = 32, rate = 0.1 }
"""


def _jobs(store) -> list[dict]:
    with Store(store) as db:
        return [dict(j) for j in db.jobs()]


def _values(store) -> dict[tuple[str, str, str], float]:
    with Store(store) as db:
        jobs = {j["id"]: j for j in db.jobs()}
        return {(jobs[r["job_id"]]["arch"], jobs[r["job_id"]]["name"] + (
            "@" + json.loads(jobs[r["job_id"]]["params_json"] or "{}").get("at", "") if jobs[r["job_id"]]["kind"] == "metric" else ""),
            r["key"]): r["value"] for r in db.results()}


def test_own_models_audit_end_to_end_and_report(user_pkg, digits, trained_weights):
    from archrisk.arch.user import NamedFactory, load_factory
    from archrisk.attacks import PGD
    from archrisk.report import write_report
    from archrisk.train import Recipe, train_model

    mine = trained_weights(user_pkg / "w.safetensors")
    store = user_pkg / "own.db"
    s = audit(study_text(OWN, RETRAIN), store, progress=False)
    assert s.complete and not s.failures, s.failures

    jobs = _jobs(store)
    by_arch = {j["arch"]: j for j in jobs if j["kind"] == "train"}
    assert {a: by_arch[a]["arch_group"] for a in by_arch} == {
        "mine": "custom", "wide": "custom", "mine_w": "custom", "vgg13_bn": "manual"}
    spec = {a: json.loads(j["spec_json"]) for a, j in by_arch.items()}
    assert spec["mine"]["model"] == spec["mine"]["arch"] == "study_nets:make_net" and "weights" not in spec["mine"]
    sha = hashlib.sha256((user_pkg / "w.safetensors").read_bytes()).hexdigest()
    assert spec["mine_w"]["weights_sha256"] == sha and spec["mine_w"]["weights"] == str(user_pkg / "w.safetensors")
    assert "model" not in spec["vgg13_bn"]
    # same factory, same seed: only the weights file separates the two entries' jobs
    assert by_arch["mine"]["id"] != by_arch["mine_w"]["id"]

    v = _values(store)
    # the weights entry is attacked as it is: the same numbers as the library on that module
    direct = PGD(n=20, eps=0.2, alpha=0.05)(mine, digits).metrics
    assert {k: v[("mine_w", "pgd", k)] for k in direct} == pytest.approx(direct)
    assert v[("mine_w", "train", "test_acc")] > 0.8 and v[("mine_w", "train", "epochs")] == 0
    # the factory entries were trained (through the checkpoint cache, under a key naming the factory)
    recipe = Recipe(**json.loads(by_arch["mine"]["recipe_json"]))
    again = train_model(load_factory("study_nets:make_net"), digits, recipe=recipe, size="tiny", seed=0, progress=False)
    assert again.from_cache and again.test_acc == v[("mine", "train", "test_acc")]
    renamed = NamedFactory("elsewhere:make_net", load_factory("study_nets:make_net").fn)  # same code, other name
    assert not train_model(renamed, digits, recipe=recipe, size="tiny", seed=0, progress=False).from_cache
    # init and trained metrics differ (the factory's fresh module vs the trained one)
    assert v[("mine", "input_grad_norm@init", "input_grad_norm")] != v[("mine", "input_grad_norm@trained", "input_grad_norm")]
    # the attacks that retrain rebuilt the user's network: the poisoned model is compared with this
    # entry's own victim, and the weights entry's reference is the loaded weights
    assert v[("mine", "label_flip", "reference_acc")] == v[("mine", "train", "test_acc")]
    assert v[("mine_w", "label_flip", "reference_acc")] == pytest.approx(v[("mine_w", "train", "test_acc")])
    assert v[("mine_w", "trojannn", "victim_acc")] == pytest.approx(v[("mine_w", "train", "test_acc")])
    for arch in ("mine", "wide", "mine_w"):
        assert 0 <= v[(arch, "knockoff", "agreement")] <= 1 and 0 <= v[(arch, "trojannn", "asr")] <= 1

    out = write_report(store, user_pkg / "rep")
    html = out.read_text(encoding="utf-8")
    assert all(label in html for label in ("mine", "wide", "mine_w", "vgg13_bn"))
    # the risk score rebuilds its reference architectures from their strings: own models stay out of a fit
    from archrisk.score import read_targets

    with pytest.warns(UserWarning, match="own models"):
        assert set(read_targets(store).archs) == {"vgg13_bn"}


def test_study_ids_of_studies_without_own_models_are_unchanged():
    # `model` and `weights` are left out of the spec when unset, so older studies keep their ids
    s = parse_study(study_text('"vgg13_bn"'))
    assert set(s.spec()["archs"][0]) == {"name", "genotype", "label", "group"}


@pytest.mark.parametrize("entry, words", [
    ('{ model = "study_nets" }', "package.module:factory"),
    ('{ model = "no_such_module_xyz:make" }', "cannot import 'no_such_module_xyz'"),
    ('{ model = "study_nets:nope" }', "has no attribute 'nope'"),
    ('{ model = "study_nets:NOT_A_FACTORY" }', "not a callable"),
    ('{ model = "study_nets:make_net", weights = "w.pt" }', ".safetensors"),
    ('{ model = "study_nets:make_net", weights = "missing.safetensors" }', "does not exist"),
    ('{ model = "study_nets:make_wide", weights = "w.safetensors" }', "does not fit the model"),
    ('{ name = "vgg13_bn", weights = "w.safetensors" }', "'weights' goes with"),
    ('{ name = "vgg13_bn", model = "study_nets:make_net" }', "exactly one of"),
    ('{ model = "study_nets:make_net" }, { model = "study_nets:make_net", weights = "w.safetensors" }',
     "listed twice"),
])
def test_a_bad_own_model_fails_validation_in_one_line(user_pkg, trained_weights, entry, words, capsys):
    trained_weights(user_pkg / "w.safetensors")
    with pytest.raises(StudyError, match="archs") as e:
        parse_study(study_text(entry), "s.toml")
    assert "\n" not in str(e.value) and words in str(e.value)
    path = user_pkg / "bad.toml"
    path.write_text(study_text(entry))
    assert main(["audit", str(path), "--store", str(user_pkg / "x.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    assert not (user_pkg / "x.db").exists()  # refused before any work


def test_a_factory_module_that_raises_is_one_line(user_pkg):
    (user_pkg / "broken_nets.py").write_text("raise RuntimeError('no GPU here')\n")
    try:
        with pytest.raises(StudyError, match="importing 'broken_nets' failed: RuntimeError: no GPU here"):
            parse_study(study_text('{ model = "broken_nets:make" }'))
    finally:
        sys.modules.pop("broken_nets", None)


def test_weights_changed_after_planning_fail_the_job_not_silently(user_pkg, digits, trained_weights, monkeypatch):
    from collections import OrderedDict

    from archrisk.runner import jobs as runner_jobs
    from archrisk.runner import plan

    monkeypatch.setattr(runner_jobs, "_VICTIMS", OrderedDict())  # no victim of the planned weights in memory
    trained_weights(user_pkg / "w.safetensors")

    study = parse_study(study_text('{ model = "study_nets:make_net", weights = "w.safetensors" }'))
    jobs = plan(study)
    save_file({k: v + 1 for k, v in study_nets_state().items()}, str(user_pkg / "w.safetensors"))
    out = runner_jobs.run_job(next(j for j in jobs if j.kind == "train").spec)
    assert out.status == "failed" and "changed since the study was planned" in out.error


def study_nets_state() -> dict:
    import study_nets

    return study_nets.make_net().state_dict()
