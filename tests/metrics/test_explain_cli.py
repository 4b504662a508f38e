"""`archrisk explain` and `archrisk metrics`."""
from __future__ import annotations

import json

from archrisk.cli import main


def test_explain_json(capsys):
    rc = main(["explain", "darts_v2", "--dataset", "digits", "--at", "init", "--metrics",
               "cell_depth,cell_skips,ntk_trace", "--set", "ntk.samples=4", "--json"])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["arch"] == "darts_v2" and rec["at"] == "init"
    assert set(rec["metrics"]) == {"ntk_trace", "cell_depth", "cell_skips"}
    assert rec["metrics"]["cell_depth"]["value"] == 2
    assert rec["metrics"]["ntk_trace"]["extra"]["samples"] == 4 and rec["metrics"]["ntk_trace"]["value"] > 0


def test_explain_table(capsys):
    assert main(["explain", "resnet18", "-d", "digits", "--at", "init", "-m", "cell_depth"]) == 0
    assert "cell_depth" in capsys.readouterr().out


def test_metrics_listing(capsys):
    assert main(["metrics", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert {"hessian_top", "grad_var", "ntk_cond", "conv_acc_auc"} <= {m["name"] for m in rec["metrics"]}
    assert rec["params"]["hessian"]["tol"] == 1e-3


def _one_line_error(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err


def test_bad_input_exits_2_with_one_line(capsys):
    base = ["explain", "resnet18", "-d", "digits", "--at", "init"]
    _one_line_error(capsys, base + ["-m", "hesian_top"], "unknown metric 'hesian_top'")
    _one_line_error(capsys, ["explain", "resnet18", "-d", "digits", "--at", "final"], "at='final'")
    _one_line_error(capsys, base + ["-m", "grad_var", "--set", "gradient_variance.samples=99999"], "larger than the")
    _one_line_error(capsys, base + ["-m", "ntk_cond", "--set", "ntk.samples=512", "--set", "memory_limit_gb=0.01"],
                    "GB")
    _one_line_error(capsys, base + ["-m", "ntk_cond", "--set", "ntk.sample=5"], "metric 'ntk' has no parameter 'sample'")


def test_set_addresses_a_family_parameter_by_its_dotted_name(capsys):
    base = ["explain", "resnet18", "-d", "digits", "--at", "init", "-m", "hessian_top", "--json"]
    assert main(base + ["--set", "hessian.samples=4", "--set", "hessian.batches=1", "--set", "hessian.iters=3"]) == 0
    top = json.loads(capsys.readouterr().out)["metrics"]["hessian_top"]
    assert len(top["extra"]["per_batch"]) == 1 and top["extra"]["lanczos_steps"][0] <= 3
    _one_line_error(capsys, base + ["--set", "hessian_samples=4"],
                    "no parameter 'hessian_samples' (did you mean 'hessian.samples'?)")
    _one_line_error(capsys, base + ["--set", "hessian.iters=three"], "metric 'hessian': iters='three' must be of type int")
