"""Study files: valid ones parse to the intended grid; every kind of mistake names file and key."""
from __future__ import annotations

import pytest
from runner_fakes import study_toml

from archrisk.cli import main
from archrisk.runner import StudyError, load_study, parse_study


def test_valid_study_parses_with_defaults_and_grid_points():
    s = parse_study(study_toml(seeds=(3, 1)))
    assert s.seeds == [3, 1] and s.size == "tiny" and s.data[0].name == "synthetic"
    assert [a.text for a in s.archs] == ["resnet18", "vgg13_bn"]
    ev = s.attacks[0]
    assert ev.points() == [{"n": 48, "sleep": 0.0, "eps": 0.2}, {"n": 48, "sleep": 0.0, "eps": 0.5}]
    assert s.metrics[0].at == ["init", "trained"]
    # the id is a function of content only
    assert s.id() == parse_study(study_toml(seeds=(3, 1))).id() != parse_study(study_toml(seeds=(3, 2))).id()


def test_grid_is_a_cartesian_product_in_a_fixed_order():
    s = parse_study(study_toml() + '\n[[attacks]]\nname = "fake_evasion"\ngrid = { n = [8, 16], eps = [0.1, 0.2, 0.3] }\n')
    pts = s.attacks[-1].points()
    assert len(pts) == 6 and len({tuple(sorted(p.items())) for p in pts}) == 6
    assert pts[0] == {"eps": 0.1, "n": 8} and pts[-1] == {"eps": 0.3, "n": 16}


def test_arch_entries_by_name_genotype_and_label():
    from archrisk.arch import resolve

    geno = resolve("darts_v2").genotype.format()
    text = study_toml(archs=()).replace("archs = []", f'archs = ["resnet18", {{ genotype = "{geno}", label = "mine", group = "remedy" }}]')
    s = parse_study(text)
    assert s.labels() == ["resnet18", "mine"] and s.archs[1].group == "remedy"


def test_random_cells_are_planned_in_their_own_group():
    from archrisk.runner.plan import plan

    s = parse_study(study_toml(archs=("darts_v2", "random(4)", "random")))
    groups = {j.arch: j.arch_group for j in plan(s) if j.kind == "train"}
    assert groups == {"darts_v2": "nas", "random(4)": "random", "random": "random"}


BAD = [
    ('seeds = [0, 1]', 'seeds = [0, -1]', "seeds"),
    ('seeds = [0, 1]', 'seeds = [0, 0]', "seeds"),
    ('seeds = [0, 1]', 'seeds = ["0"]', "seeds[0]"),
    ('size = "tiny"', 'size = "huge"', "size"),
    ('size = "tiny"', 'sise = "tiny"', "sise: unknown key"),
    ('limit = 120', 'limit = 0', "data[0].limit"),
    ('limit = 120', 'limt = 120', "data[0].limt: unknown key"),
    ('name = "synthetic"', 'name = "imagenet"', "data[0].name: unknown dataset 'imagenet'"),
    ('epochs = 0', 'epochs = -1', "recipe"),
    ('epochs = 0', 'epoch = 3', "recipe: recipe 'study' has no parameter 'epoch' (did you mean 'epochs'?)"),
    ('archs = ["resnet18", "vgg13_bn"]', 'archs = ["resnet18", "resnet99"]', "archs[1]: unknown architecture 'resnet99'"),
    ('archs = ["resnet18", "vgg13_bn"]', 'archs = ["resnet18", "resnet18"]', "archs: 'resnet18' is listed twice"),
    ('archs = ["resnet18", "vgg13_bn"]', 'archs = [{ name = "resnet18", genotype = "x" }]', "archs[0]"),
    ('archs = ["resnet18", "vgg13_bn"]', 'archs = [{ name = "resnet18", group = "Alien group" }]', "archs[0].group"),
    ('name = "fake_evasion"', 'name = "fake_nope"', "attacks[0]: unknown attack 'fake_nope'"),
    ('params = { n = 48, sleep = 0.0 }', 'params = { m = 48 }', "attacks[0]: attack 'fake_evasion' has no parameter 'm'"),
    ('params = { n = 48, sleep = 0.0 }', 'params = { n = "many" }', "attacks[0]: attack 'fake_evasion': n='many'"),
    ('grid = { eps = [0.2, 0.5] }', 'grid = { eps = [] }', "attacks[0].grid"),
    ('grid = { eps = [0.2, 0.5] }', 'grid = { n = [1, 2] }', "attacks[0]: 'n' is in both params and grid"),
    ('at = ["init", "trained"]', 'at = ["later"]', "metrics[0].at[0]"),
    ('name = "fake_norm"', 'name = "fake_nothing"', "metrics[0]: unknown metric or metric family 'fake_nothing'"),
    ('params = { fake_weights = { sleep = 0.0 } }', 'params = { fake_weights = { slep = 0.0 } }',
     "metrics[0]: metric 'fake_weights' has no parameter 'slep' (did you mean 'sleep'?)"),
]


@pytest.mark.parametrize("old,new,where", BAD, ids=[b[1] for b in BAD])
def test_bad_study_names_file_and_key(tmp_path, old, new, where):
    text = study_toml()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(StudyError) as e:
        load_study(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and where in msg and "\n" not in msg


def test_toml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\nseeds = [0\narchs = ["resnet18"]\n')
    with pytest.raises(StudyError, match=r"broken.toml: invalid TOML: .*line 3"):
        load_study(path)


def test_missing_required_keys_and_missing_file(tmp_path):
    with pytest.raises(StudyError, match="seeds: required key is missing"):
        parse_study('name = "x"\narchs = ["resnet18"]\n')
    with pytest.raises(StudyError, match="does not exist"):
        load_study(tmp_path / "nope.toml")


def test_cli_reports_a_bad_study_in_one_line_with_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(study_toml().replace('size = "tiny"', 'size = "tiny"\nworkers = 3'))
    rc = main(["audit", str(path), "--store", str(tmp_path / "r.db"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "workers: unknown key" in err and str(path) in err
    assert not (tmp_path / "r.db").exists()  # nothing was created for an invalid study


def _matched(text: str) -> str:
    return text.replace('size = "tiny"\n', 'size = "tiny"\nmatch_size = "cells"\n', 1)


def test_match_size_rebuilds_manual_nets_at_the_cells_median_size():
    import statistics

    from archrisk.arch import build, count_params
    from archrisk.runner.plan import plan

    archs = ("darts_v2", "pc_darts", "random(3)", "resnet18", "vgg13_bn", "dla34")
    plain, matched = parse_study(study_toml(archs=archs)), parse_study(_matched(study_toml(archs=archs)))
    assert "match_size" not in plain.spec() and matched.spec()["match_size"] == "cells"
    assert matched.labels()[3:] == ["resnet18-matched", "vgg13_bn-matched", "dla34-matched"]
    trains = {j.arch: j for j in plan(matched) if j.kind == "train" and j.seed == 0}
    size = {a: count_params(build(j.spec["arch"], num_classes=10, in_channels=3, size="tiny"))
            for a, j in trains.items()}
    median = statistics.median(size[a] for a in ("darts_v2", "pc_darts", "random(3)"))
    for a in ("resnet18-matched", "vgg13_bn-matched", "dla34-matched"):
        assert abs(size[a] / median - 1) < 0.1, (a, size[a], median)
        assert size[a] < 0.5 * count_params(build(a.removesuffix("-matched"), num_classes=10, in_channels=3))
        assert trains[a].spec["arch"].startswith(a.removesuffix("-matched") + "(width=0.")
        assert trains[a].arch_group == "manual"
    # the cells' jobs are the same jobs as without matching; the manual nets' are new jobs and nets
    before = {j.arch: j for j in plan(plain) if j.kind == "train" and j.seed == 0}
    assert trains["darts_v2"].id == before["darts_v2"].id and trains["darts_v2"].spec["arch"] == "darts_v2"
    assert trains["resnet18-matched"].id != before["resnet18"].id
    assert trains["resnet18-matched"].spec_hash != before["resnet18"].spec_hash


def test_match_size_needs_cells_and_a_known_mode():
    with pytest.raises(StudyError, match="match_size.*NAS or random cells"):
        parse_study(_matched(study_toml(archs=("resnet18", "vgg13_bn"))))
    with pytest.raises(StudyError, match="match_size"):
        parse_study(study_toml(archs=("darts_v2", "resnet18")).replace('size = "tiny"\n', 'size = "tiny"\nmatch_size = "manual"\n'))


def test_a_matched_train_job_trains_the_matched_width(cache):
    from archrisk.runner.jobs import run_job
    from archrisk.runner.plan import plan

    study = parse_study(_matched(study_toml(archs=("darts_v2", "resnet18"), seeds=(0,))))
    jobs = {(j.kind, j.arch): j for j in plan(study)}
    out = run_job(jobs[("train", "resnet18-matched")].spec)
    cell = run_job(jobs[("train", "darts_v2")].spec)
    assert out.status == cell.status == "done", (out.error, cell.error)
    assert abs(out.results["params"] / cell.results["params"] - 1) < 0.1  # not resnet18's 700k


def test_an_architecture_can_have_its_own_seeds(tmp_path) -> None:
    """A remedy pair on five seeds inside a two-seed study: only those entries get the extra victims,
    and a study without per-architecture seeds keeps its id."""
    from archrisk.runner.plan import plan

    base = 'name = "s"\nseeds = [0, 1]\nsize = "tiny"\n'
    data = '[data]\nname = "digits"\n'
    plain = parse_study(base + 'archs = ["darts_v2", "resnet18"]\n' + data)
    own = parse_study(base + 'archs = [{ name = "darts_v2", seeds = [0, 1, 2, 3, 4] }, "resnet18"]\n' + data)
    assert "seeds" not in plain.spec()["archs"][0]
    trains = [(j.arch, j.seed) for j in plan(own) if j.kind == "train"]
    assert sorted(trains) == sorted([("darts_v2", s) for s in range(5)] + [("resnet18", 0), ("resnet18", 1)])
    with pytest.raises(StudyError, match="distinct"):
        parse_study(base + 'archs = [{ name = "darts_v2", seeds = [1, 1] }]\n' + data)


@pytest.mark.parametrize("bad", [None, 2.0])
def test_a_large_grid_is_checked_once_per_distinct_value(monkeypatch, bad):
    """Above EXHAUSTIVE_CHECK points the grid is validated value by value (not point by point), and a
    bad value anywhere in it is still found."""
    from archrisk.runner import config

    calls = []
    real = config.make_attack
    monkeypatch.setattr(config, "make_attack", lambda name, p: calls.append(p) or real(name, p))
    eps = [round(0.001 * i, 3) for i in range(1, 41)] + ([bad] if bad is not None else [])
    n = list(range(1, 41))
    assert len(eps) * len(n) > config.EXHAUSTIVE_CHECK
    text = study_toml() + f'\n[[attacks]]\nname = "pgd"\ngrid = {{ eps = {eps}, n = {n} }}\n'
    if bad is None:
        s = parse_study(text)
        assert s.attacks[-1].grid_size() == 1600
        pgd = [p for p in calls if "sleep" not in p]  # the fake attacks of study_toml carry sleep
        assert len(pgd) == 80  # 40 eps values + 40 n values, not 1600 points
        assert {p["eps"] for p in pgd} == set(eps) and {p["n"] for p in pgd} == set(n)
    else:
        with pytest.raises(StudyError, match=r"attacks\[2\].*eps=2"):
            parse_study(text)
