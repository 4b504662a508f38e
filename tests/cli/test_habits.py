"""CLI habits: --version, bare help, whole descriptions, closed choices with "did you mean", one way
to name the store, the adversarial-training budget, and families the score cannot predict."""
from __future__ import annotations

import json
import typing

import pytest

from archrisk import __version__
from archrisk.cli import common, main


def test_version_comes_from_the_package(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"archrisk {__version__}"


def test_bare_command_prints_help_without_an_error_line(capsys):
    assert main([]) == 0
    cap = capsys.readouterr()
    assert "Usage" in cap.out and "attack" in cap.out and "error" not in cap.err


def test_attack_descriptions_are_not_cut_at_abbreviations(capsys):
    from archrisk.cli.attack import _summary

    assert _summary("Knockoff (Orekondy et al. 2019) steals. More here.") == "Knockoff (Orekondy et al. 2019) steals"
    assert _summary("Uses e.g. Madry et al. Then more. Second.") == "Uses e.g. Madry et al. Then more"
    assert main(["attacks", "--json"]) == 0
    docs = [r["doc"] for r in json.loads(capsys.readouterr().out)]
    assert not any(d.endswith((" et al", " e.g", " i.e")) for d in docs)


@pytest.mark.parametrize("literal, registry", [
    (common.Size, lambda: __import__("archrisk.arch.zoo", fromlist=["SIZES"]).SIZES),
    (common.RecipeName, lambda: __import__("archrisk.train.recipe", fromlist=["RECIPES"]).RECIPES),
    (common.Executor, lambda: __import__("archrisk.runner.executors", fromlist=["EXECUTORS"]).EXECUTORS),
    (common.Penalty, lambda: __import__("archrisk.search.penalties", fromlist=["PENALTIES"]).PENALTIES),
    (common.AdvMethod, lambda: [m for m in __import__("archrisk.train.recipe", fromlist=["x"]).ADV_METHODS if m]),
])
def test_closed_choices_match_their_registries(literal, registry):
    assert set(typing.get_args(literal)) == set(registry())


@pytest.mark.parametrize("argv, words", [
    (["train", "resnet18", "--size", "tinny"], "did you mean 'tiny'"),
    (["train", "resnet18", "--recipe", "dart"], "did you mean 'darts'"),
    (["train", "resnet18", "--device", "cdua"], "did you mean 'cuda'"),
    (["audit", "s.toml", "--executor", "proces"], "did you mean 'process'"),
    (["search", "--penalty", "skp"], "did you mean 'skip'"),
    (["train", "resnet18", "--size", "zzzzzz"], "is not one of"),
    (["train", "resnet18", "--epochs", "0"], "--epochs"),
    (["attack", "resnet18", "-a", "pgd", "--epochs", "0"], "--epochs"),
    (["train", "resnet18", "--adv-eps", "0.1"], "needs --adv-train"),
    (["train", "resnet18", "-d", "digits", "--adv-train", "pgd", "--adv-eps", "2"], "adv_eps"),
])
def test_closed_choices_and_ranges_one_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


def test_adv_train_budget_from_the_command_line(monkeypatch, capsys):
    import archrisk.train

    seen = {}

    def fake_train(arch, dataset, **kw):
        seen.update(kw)
        raise archrisk.errors.InvalidValueError("stop here")

    monkeypatch.setattr(archrisk.train, "train_model", fake_train)
    main(["train", "resnet18", "-d", "digits", "--adv-train", "pgd", "--adv-eps", "0.1", "--adv-alpha", "0.03",
          "--adv-steps", "3"])
    assert (seen["adv_train"], seen["adv_eps"], seen["adv_alpha"], seen["adv_steps"]) == ("pgd", 0.1, 0.03, 3)


def test_every_store_command_takes_store_option(tmp_path, capsys):
    missing = str(tmp_path / "none.db")
    for argv in (["status", "--store", missing], ["export", "--store", missing], ["report", "--store", missing],
                 ["score", "--refit", "--store", missing], ["status", missing]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "none.db" in err, (argv, err)
    assert main(["status", missing, "--store", str(tmp_path / "other.db")]) == 2
    assert "two stores" in capsys.readouterr().err


@pytest.mark.parametrize("validation, predicted", [
    ({"rho": 0.6, "ci": [0.3, 0.8], "ceiling": 0.9}, True),
    ({"rho": 0.6, "ci": [0.3, 0.8], "ceiling": float("nan")}, True),  # ceiling unknown: rho and CI decide
    ({"rho": 0.6, "ci": [-0.1, 0.8], "ceiling": 0.9}, False),  # CI includes 0
    ({"rho": 0.15, "ci": [0.05, 0.3], "ceiling": 0.2}, False),  # near 0
    ({"rho": 0.4, "ci": [0.1, 0.6], "ceiling": 0.95}, False),  # below half its ceiling
    ({"rho": float("nan"), "ci": [float("nan")] * 2, "ceiling": 0.9}, False),
])
def test_score_marks_families_it_cannot_predict(validation, predicted):
    from archrisk.score import is_predicted

    assert is_predicted(validation) is predicted


def test_score_table_says_not_predicted(monkeypatch, capsys):
    import archrisk.score as score_mod
    from archrisk.score import RiskScore

    def fake_score(arch, **kw):
        return RiskScore(arch, {"evasion": 0.7, "backdoor": 0.43}, {"depth": 2.0},
                         {"evasion": {"depth": 0.1}, "backdoor": {"depth": 0.1}},
                         {"evasion": {"rho": 0.6, "ci": [0.3, 0.8], "ceiling": 0.9, "n_archs": 20},
                          "backdoor": {"rho": 0.05, "ci": [-0.3, 0.4], "ceiling": 0.9, "n_archs": 20}}, 1.0)

    monkeypatch.setattr(score_mod, "score", fake_score)
    assert main(["score", "darts_v2"]) == 0
    out = capsys.readouterr().out
    assert "0.70" in out and "not predicted" in out and "0.43" not in out
    assert main(["score", "darts_v2", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["predicted"] == {"evasion": True, "backdoor": False}
