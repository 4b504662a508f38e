"""The shipped study files parse against the current registries and cover what they promise."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from archrisk.attacks import FAMILIES
from archrisk.runner import load_study, plan

STUDIES = Path(__file__).parents[2] / "studies"


def test_demo_covers_the_study_in_miniature():
    study, _ = load_study(STUDIES / "demo.toml")
    jobs = plan(study)
    groups = Counter(j.arch_group for j in jobs if j.kind == "train" and j.seed == study.seeds[0])
    assert groups["nas"] >= 4 and groups["manual"] >= 3 and study.size == "tiny" and len(study.seeds) == 2
    assert {j.family for j in jobs if j.kind == "attack"} == set(FAMILIES)
    metrics = {j.family for j in jobs if j.kind == "metric"}
    assert "gradient_variance" in metrics and metrics & {"hessian", "input_smoothness"}
    assert all(d.name == "digits" for d in study.data)  # the CPU budget depends on it


def test_paper_is_the_full_grid_at_paper_scale():
    study, _ = load_study(STUDIES / "paper.toml")
    jobs = plan(study)
    assert study.size == "paper" and len(study.archs) == 20
    # the study's Random cell is its own group (the control for "NAS selects"), as in its effect sizes
    assert Counter(j.arch_group for j in jobs if j.kind == "train") == {"nas": 81, "random": 9, "manual": 63, "remedy": 27}
    fractions = sorted(j.params["fraction"] for j in jobs if j.name == "label_flip" and j.seed == 0
                       and j.arch == "darts_v2" and j.dataset == "cifar10")
    assert fractions == [0.0, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4]
    assert {j.family for j in jobs if j.kind == "attack"} == set(FAMILIES)
