"""The reference study's store must keep resuming: its train job ids and the widths its seven manual
nets are matched at are pinned here (computed when the study was planned)."""
from __future__ import annotations

from pathlib import Path

from archrisk.runner.config import load_study

STUDY = Path(__file__).resolve().parents[2] / "studies" / "reference.toml"
WIDTHS = {"bit": 0.0469, "densenet121": 0.0781, "dla34": 0.0576, "resnet18": 0.0674, "resnext50_32x4d": 0.044,
          "vgg13_bn": 0.0713, "wide_resnet50_2": 0.0269}
TRAIN_IDS = {"darts_v2": "80e5d8692354cc57aec0", "random(7)": "026ad8d42541c1447fda",
             "darts_iii": "ff10791bb5777b067778", "bit-matched": "60bd5d24f603cf2b3ffa",
             "densenet121-matched": "fdd2918bc70e069d6c1b", "dla34-matched": "a7473397e2ff192b9df9",
             "resnet18-matched": "a7e8693aa57b8896c191", "resnext50_32x4d-matched": "fd4260720f97643346a2",
             "vgg13_bn-matched": "544b182e26e1062607ee", "wide_resnet50_2-matched": "8eecfad21cc7e233e5bc"}


def test_reference_study_widths_and_train_ids_are_pinned() -> None:
    from archrisk.runner.matching import matched_widths
    from archrisk.runner.plan import plan

    study, _ = load_study(STUDY)
    widths = matched_widths(study, study.data[0])
    assert {study.archs[i].text: w for i, w in widths.items()} == WIDTHS
    jobs = plan(study)
    assert len(jobs) == 288
    trains = {j.arch: j.id for j in jobs if j.kind == "train" and j.seed == 0}
    assert {a: trains[a] for a in TRAIN_IDS} == TRAIN_IDS
