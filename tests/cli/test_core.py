"""The foundation commands, through the same entry point users run."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from archrisk.cli import main


def test_list_shows_architectures_datasets_and_sizes(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("darts_v2", "resnet18", "mnist5k", "cifar10", "tiny", "paper"):
        assert word in out
    assert main(["list", "fairdarts*"]) == 0  # each architecture's method tag and source
    out = capsys.readouterr().out
    assert "fairdarts_d" in out and "fairdarts" in out.replace("fairdarts_d", "") and "Chu et al." in out


def test_info_reports_structure_params_and_flops(capsys) -> None:
    assert main(["info", "darts_v2", "--size", "paper", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert round(rec["params"] / 1e6, 1) == 3.3
    assert rec["normal_cell"]["depth"] == 2 and rec["normal_cell"]["skips"] == 2
    assert rec["macs"] > rec["params"]
    assert rec["method"] == "darts" and rec["source"].startswith("Liu et al.") and "DARTS_V2" in rec["code"]


def test_train_prints_accuracy_then_hits_the_cache(capsys) -> None:
    args = ["train", "resnet18", "--dataset", "digits", "--epochs", "1", "--seed", "7", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert not first["from_cache"] and second["from_cache"]
    assert second["test_acc"] == first["test_acc"] and 0.0 <= first["test_acc"] <= 1.0


@pytest.mark.parametrize("args,needle", [
    (["info", "nope"], "nope"),
    (["info", "Genotype(normal=[('sep_conv_9x9', 0), ('skip_connect', 1)], normal_concat=[2], "
              "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])"], "sep_conv_9x9"),
    (["info", "Genotype(normal=[('skip_connect', 5), ('skip_connect', 1)], normal_concat=[2], "
              "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])"], "5"),
    (["train", "resnet18", "--dataset", "nope"], "nope"),
    (["train", "resnet18", "--size", "huge"], "huge"),
    (["train", "resnet18", "--dataset", "digits", "--adv-train", "fgsm"], "fgsm"),
    # usage errors the command-line parser raises itself
    (["audit", "study.toml", "--no-such-flag"], "--no-such-flag"),
    (["no_such_command"], "no_such_command"),
    (["train", "resnet18", "--seed", "abc"], "--seed"),
])
def test_bad_input_exits_2_with_one_line(capsys, args: list[str], needle: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err and "Traceback" not in err


def test_console_script_maps_errors_to_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-c", "from archrisk.cli import run; run()", "info", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown architecture 'nope'")
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-c", "from archrisk.cli import run; run()", "list", "--bogus"],
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stderr.strip()) == (2, "error: No such option: --bogus")
