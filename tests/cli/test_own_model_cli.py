"""`archrisk attack --model package.module:factory [--weights file.safetensors]`: the user's own code."""
from __future__ import annotations

import json
import sys

import pytest
import torch
from safetensors.torch import save_file

from archrisk.cli import main

MODULE = '''
import torch.nn as nn

def make():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
'''


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
    (tmp_path / "mynets.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("mynets", None)


def _weights(tmp_path, digits, fit_and_save):
    import mynets

    path = tmp_path / "w.safetensors"
    return fit_and_save(mynets.make, digits, path, seed=0), path


def test_attack_own_model_with_weights_matches_the_library(user_pkg, digits, fit_and_save, capsys):
    from archrisk.attacks import PGD

    model, path = _weights(user_pkg, digits, fit_and_save)
    argv = ["attack", "--model", "mynets:make", "--weights", str(path), "-d", "digits", "-a", "pgd",
            "--set", "n=20", "--set", "eps=0.2", "--set", "alpha=0.05", "--json"]
    assert main(argv) == 0
    rec = json.loads(capsys.readouterr().out)
    assert "arrays" not in rec  # the summary by default
    direct = PGD(n=20, eps=0.2, alpha=0.05)(model, digits).metrics
    assert rec["metrics"] == direct and 0 < direct["success_rate"]
    assert main([*argv, "--full"]) == 0
    assert len(json.loads(capsys.readouterr().out)["arrays"]["attacked"]) == 20


@pytest.mark.parametrize("extra, words", [
    (["--model", "mynets"], "package.module:factory"),
    (["--model", "no_such_pkg_xyz:make"], "cannot import"),
    (["--model", "mynets:nope"], "no attribute 'nope'"),
    (["--model", "mynets:MODULE_CONST"], "not a callable"),
    (["--model", "mynets:make", "--weights", "w.pt"], ".safetensors"),
    (["--model", "mynets:make", "--weights", "missing.safetensors"], "does not exist"),
    (["--weights", "w.safetensors"], "--weights needs --model"),
])
def test_bad_model_arguments_one_line(user_pkg, extra, words, capsys):
    (user_pkg / "mynets.py").write_text(MODULE + "\nMODULE_CONST = 3\n")
    argv = ["attack", *(["resnet18"] if "--model" not in extra else []), "-d", "digits", "-a", "pgd", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_weights_of_another_model_are_refused(user_pkg, capsys):
    path = user_pkg / "other.safetensors"
    save_file({"x": torch.zeros(3)}, str(path))
    assert main(["attack", "--model", "mynets:make", "--weights", str(path), "-d", "digits", "-a", "pgd"]) == 2
    assert "does not fit the model" in capsys.readouterr().err
