"""The plan: the right grid, shared victims, deterministic ids, cheap results first."""
from __future__ import annotations

from collections import Counter

from runner_fakes import study_toml

from archrisk.runner import parse_study, plan


def test_grid_size_and_one_victim_per_arch_and_seed():
    jobs = plan(parse_study(study_toml(seeds=(0, 1, 2))))
    kinds = Counter(j.kind for j in jobs)
    # per (arch, seed): 1 train, 2 + 2 attack grid points, 1 metric x 2 stages
    assert kinds == {"train": 6, "attack": 24, "metric": 12}
    trains = {j.id: j for j in jobs if j.kind == "train"}
    assert len({(j.arch, j.seed) for j in trains.values()}) == 6
    for j in jobs:
        if j.kind == "attack" or (j.kind == "metric" and j.params["at"] == "trained"):
            (dep,) = j.deps
            victim = trains[dep]
            assert (victim.arch, victim.seed, victim.spec_hash) == (j.arch, j.seed, j.spec_hash)
            assert {k: v for k, v in j.spec.items() if k not in ("kind", "name", "params", "at")} == \
                   {k: v for k, v in victim.spec.items() if k != "kind"}  # same victim spec: a cache hit
        else:
            assert j.deps == ()
    assert len({j.id for j in jobs}) == len(jobs)


def test_ids_are_deterministic_and_independent_of_the_rest_of_the_study():
    a = plan(parse_study(study_toml()))
    b = plan(parse_study(study_toml()))
    assert [j.id for j in a] == [j.id for j in b]
    # adding a seed and an architecture keeps every existing job (a resumed, grown study reuses them)
    c = plan(parse_study(study_toml(seeds=(0, 1, 5), archs=("resnet18", "vgg13_bn", "darts_v2"))))
    assert {j.id for j in a} < {j.id for j in c}
    # anything that changes what a job computes changes its id
    d = plan(parse_study(study_toml().replace("batch_size = 64", "batch_size = 32")))
    assert not {j.id for j in a} & {j.id for j in d}


def test_priority_runs_dependencies_first_and_cheap_families_first():
    jobs = plan(parse_study(study_toml(seeds=(0, 1))))
    pos = {j.id: i for i, j in enumerate(jobs)}
    assert all(pos[d] < pos[j.id] for j in jobs for d in j.deps)
    seed0 = [j for j in jobs if j.seed == 0]
    assert jobs[:len(seed0)] == seed0  # a whole seed before the next one
    order = [j.kind if j.kind == "metric" else j.family for j in seed0]
    first = {f: order.index(f) for f in set(order)}
    assert first["train"] < first["metric"] < first["evasion"] < first["poisoning"]
    assert {j.family for j in seed0 if j.kind == "metric"} == {"fake_weights"}  # the metric's registry family


def test_rows_match_the_store_contract():
    j = plan(parse_study(study_toml()))[0]
    row = j.row("sid")
    assert row["kind"] == "train" and row["name"] == "train" and row["family"] == "train"
    assert row["arch_group"] == "manual" and row["genotype"] is None and row["dataset"] == "synthetic"
    import json

    assert json.loads(row["recipe_json"])["epochs"] == 0 and json.loads(row["params_json"]) == {}


def test_an_attack_can_run_on_a_subset_of_victims_with_the_same_job_ids():
    """`seeds`/`groups` on an entry plan fewer jobs, the very ones an unrestricted entry plans; a study
    that leaves them unset keeps its id."""
    import pytest

    from archrisk.errors import StudyError

    full = parse_study(study_toml(seeds=(0, 1, 2), archs=("resnet18", "darts_v2")))
    text = study_toml(seeds=(0, 1, 2), archs=("resnet18", "darts_v2")).replace(
        'name = "fake_poison"', 'name = "fake_poison"\nseeds = [0, 2]\ngroups = ["manual"]')
    sub = parse_study(text)
    poison = lambda jobs: {(j.arch, j.seed): j.id for j in jobs if j.name == "fake_poison"}  # noqa: E731
    got, every = poison(plan(sub)), poison(plan(full))
    assert {(a, s) for a, s in got} == {("resnet18", 0), ("resnet18", 2)}
    assert all(every[k] == v for k, v in got.items())
    assert Counter(j.name for j in plan(sub))["fake_evasion"] == Counter(j.name for j in plan(full))["fake_evasion"]
    assert full.id() == parse_study(study_toml(seeds=(0, 1, 2), archs=("resnet18", "darts_v2"))).id()
    assert "seeds" not in full.spec()["attacks"][0] and sub.spec()["attacks"][1]["seeds"] == [0, 2]
    with pytest.raises(StudyError, match=r"attacks\[1\].seeds: seed 7"):
        parse_study(text.replace("seeds = [0, 2]", "seeds = [7]"))
    with pytest.raises(StudyError, match="group 'manul'"):
        parse_study(text.replace('groups = ["manual"]', 'groups = ["manul"]'))
    named = parse_study(text.replace('groups = ["manual"]', 'archs = ["darts_v2"]'))
    assert {(a, s) for a, s in poison(plan(named))} == {("darts_v2", 0), ("darts_v2", 2)}
    with pytest.raises(StudyError, match="'resnet19' is not one of the study's architectures"):
        parse_study(text.replace('groups = ["manual"]', 'archs = ["resnet19"]'))
