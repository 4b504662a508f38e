"""The reference studies' stores must keep resuming: their job ids, study ids and the widths the seven
manual nets of reference.toml are matched at are pinned here (computed when the studies were planned).

Store schema 2 (one nested form of metric parameters, store/migrate.py) changed, on purpose, the ids
of metric jobs that have parameters and of the studies holding such jobs: both used to hash the flat
pre-nesting names ('hessian_samples'), they now hash the tables the study file writes ({"hessian":
{"samples": 64}}); a schema-1 store is migrated to exactly these ids when it is opened. Train and
attack job ids did not change and must never change with it: they are pinned to their schema-1 values.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from archrisk.runner.config import load_study
from archrisk.runner.plan import plan

STUDIES = Path(__file__).resolve().parents[2] / "studies"
WIDTHS = {"bit": 0.0469, "densenet121": 0.0781, "dla34": 0.0576, "resnet18": 0.0674, "resnext50_32x4d": 0.044,
          "vgg13_bn": 0.0713, "wide_resnet50_2": 0.0269}
TRAIN_IDS = {"darts_v2": "80e5d8692354cc57aec0", "random(7)": "026ad8d42541c1447fda",
             "darts_iii": "ff10791bb5777b067778", "bit-matched": "60bd5d24f603cf2b3ffa",
             "densenet121-matched": "fdd2918bc70e069d6c1b", "dla34-matched": "a7473397e2ff192b9df9",
             "resnet18-matched": "a7e8693aa57b8896c191", "resnext50_32x4d-matched": "fd4260720f97643346a2",
             "vgg13_bn-matched": "544b182e26e1062607ee", "wide_resnet50_2-matched": "8eecfad21cc7e233e5bc"}

# study file -> (study id, sha of its sorted train and attack job ids, sha of its sorted metric job ids,
# job count); a sha is sha256 of the ids newline-joined, first 16 hex.
PINS = {
    # schema 1: study 9cdc2dd33574e496, metric ids d34ec702a8740c2b (every metric job has parameters)
    "reference.toml": ("b7500330200540bd", "ce8499a4eac9dfd8", "cb601d01c1de57aa", 288),
    # no metric parameters: nothing changed with schema 2
    "reference_v2.toml": ("6f742ac285460ddf", "9ea0c69aa1aa61c2", "7a4c571f86d3dd18", 1007),
    # schema 1: study df4babe86b4f9723, metric ids a9ceb54da505cc4a (68 of its 88 metric jobs have parameters)
    "reference_v2_mnist5k.toml": ("3ce7b712669b5065", "78c2632d6a44815e", "6a30b2f355e44c24", 196),
}
# The train and attack ids above are their schema-1 values, unchanged by the migration (see the docstring).
SCHEMA_1_TRAIN_ATTACK = {"reference.toml": "ce8499a4eac9dfd8", "reference_v2.toml": "9ea0c69aa1aa61c2",
                         "reference_v2_mnist5k.toml": "78c2632d6a44815e"}


def _sha(ids) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


def test_reference_study_widths_and_train_ids_are_pinned() -> None:
    from archrisk.runner.matching import matched_widths

    study, _ = load_study(STUDIES / "reference.toml")
    widths = matched_widths(study, study.data[0])
    assert {study.archs[i].text: w for i, w in widths.items()} == WIDTHS
    jobs = plan(study)
    assert len(jobs) == 288
    trains = {j.arch: j.id for j in jobs if j.kind == "train" and j.seed == 0}
    assert {a: trains[a] for a in TRAIN_IDS} == TRAIN_IDS


@pytest.mark.parametrize("name", sorted(PINS))
def test_reference_study_and_job_ids_are_pinned_and_train_and_attack_ids_never_changed(name: str) -> None:
    study, _ = load_study(STUDIES / name)
    jobs = plan(study)
    sid, train_attack, metric, n = PINS[name]
    assert len(jobs) == n
    assert _sha(j.id for j in jobs if j.kind != "metric") == train_attack == SCHEMA_1_TRAIN_ATTACK[name]
    assert _sha(j.id for j in jobs if j.kind == "metric") == metric
    assert study.id() == sid
