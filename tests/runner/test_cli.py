"""audit / status / export from the command line, on one small store."""
from __future__ import annotations

import csv
import json

import pytest
from runner_fakes import query, study_toml

from archrisk.cli import main


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One audit through the CLI, shared by the tests of this module (they only read the store)."""
    tmp = tmp_path_factory.mktemp("cli")
    study = tmp / "study.toml"
    extra = ('[[attacks]]\nname = "fake_evasion"\nparams = { fail = true }\n'
             '[[metrics]]\nname = "fake_weights"\nat = "init"\n')  # a family name: all its metrics, one job
    study.write_text(study_toml(seeds=(0,), archs=("vgg13_bn",), extra=extra))
    path = tmp / "r.db"
    with pytest.MonkeyPatch.context() as mp, _Quiet() as out:
        mp.setenv("ARCHRISK_CACHE", str(tmp / "cache"))
        rc = main(["audit", str(study), "--store", str(path), "--json"])
    assert rc == 0
    rec = json.loads(out.text)
    assert rec["counts"] == {"pending": 0, "running": 0, "done": 8, "failed": 1, "diverged": 0} and rec["ran"] == 9
    assert rec["failures"][0]["error"] == "RuntimeError: fake attack failed on purpose"
    return path


class _Quiet:
    """Capture stdout at module scope (capsys is per test)."""

    def __enter__(self):
        import contextlib
        import io

        self._buf = io.StringIO()
        self._cm = contextlib.redirect_stdout(self._buf)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)
        self.text = self._buf.getvalue()


@pytest.fixture
def store(made, tmp_path):
    """The module's store, copied so a test may write files beside it."""
    import shutil

    path = tmp_path / "r.db"
    shutil.copy(made, path)
    (tmp_path / "study.toml").write_text((made.parent / "study.toml").read_text())
    return path


def test_status_counts_and_failures(store, capsys):
    assert main(["status", str(store), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    (s,) = rep["studies"]
    assert s["name"] == "fake" and s["total"] == 9 and s["counts"]["done"] == 8
    assert s["by_kind"] == {"train": {"done": 1}, "attack": {"done": 4, "failed": 1}, "metric": {"done": 3}}
    assert [f["name"] for f in s["failures"]] == ["fake_evasion"] and s["running"] == []
    assert main(["status", str(store)]) == 0
    out = capsys.readouterr().out
    assert "9/9 finished" in out and "failed on purpose" in out  # (the table may wrap the error)
    assert main(["status", str(store), "--study", "nope"]) == 2
    assert "no study 'nope'" in capsys.readouterr().err


def test_export_csv_and_json_hold_the_tidy_rows(store, tmp_path, capsys):
    tidy = query(store, "SELECT job_id, key, value FROM tidy ORDER BY job_id, key")
    assert main(["export", str(store), "--format", "csv", "-o", str(tmp_path / "t.csv")]) == 0
    with open(tmp_path / "t.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["job_id"], r["key"], float(r["value"])) for r in rows] == tidy
    assert set(rows[0]) >= {"study_id", "kind", "name", "family", "arch", "arch_group", "spec_hash", "dataset",
                            "size", "seed", "params_json", "device", "version", "wall_time"}
    assert main(["export", str(store), "--format", "json"]) == 0  # default file name beside the store
    data = json.loads((tmp_path / "r-tidy.json").read_text())
    assert [(r["job_id"], r["key"], r["value"]) for r in data] == tidy
    assert main(["export", str(store), "-f", "json", "--table", "jobs", "-o", str(tmp_path / "j.json")]) == 0
    jobs = json.loads((tmp_path / "j.json").read_text())
    assert len(jobs) == 9 and {j["status"] for j in jobs} == {"done", "failed"} and "claimed_by" not in jobs[0]
    assert main(["export", str(store), "-f", "csv", "--table", "artifacts", "-o", str(tmp_path / "a.csv")]) == 0
    with open(tmp_path / "a.csv") as f:
        keys = {r["key"] for r in csv.DictReader(f)}
    assert {"curve.eps", "fooled", "config", "history"} <= keys


def test_export_creates_missing_folders_and_never_writes_through_a_link(store, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "t.csv"
    assert main(["export", str(store), "-o", str(out)]) == 0
    assert len(list(csv.DictReader(out.open()))) == query(store, "SELECT count(*) FROM tidy")[0][0]
    target, link = tmp_path / "keep.txt", tmp_path / "link.csv"
    target.write_text("keep me")
    link.symlink_to(target)
    assert main(["export", str(store), "-o", str(link)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symbolic link" in err and target.read_text() == "keep me"


def test_export_checks_its_output_before_reading_the_store(store, tmp_path, monkeypatch):
    from archrisk.errors import InvalidValueError
    from archrisk.runner import export as mod

    def boom(*a, **k):
        raise AssertionError("the store was read before the output was checked")

    monkeypatch.setattr(mod, "rows", boom)
    (tmp_path / "a_file").write_text("x")
    for bad in (tmp_path, tmp_path / "a_file" / "x.csv"):
        with pytest.raises(InvalidValueError):
            mod.export(store, out=bad)
    (tmp_path / "r-tidy.csv").mkdir()  # the default file, beside the store
    with pytest.raises(InvalidValueError, match="r-tidy.csv"):
        mod.export(store)


def test_a_family_name_measures_all_its_metrics_in_one_job(store):
    rows = query(store, "SELECT j.name, j.family, r.key FROM tidy r JOIN jobs j ON j.id=r.job_id WHERE j.name='fake_weights'")
    assert {r[2] for r in rows} == {"fake_norm", "fake_norm.stderr", "fake_norm.cost_s", "fake_headnorm",
                                    "fake_headnorm.cost_s"}  # fake_headnorm has no standard error
    assert {r[1] for r in rows} == {"fake_weights"}


def test_export_parquet(store, tmp_path, capsys):
    out = tmp_path / "t.parquet"
    try:
        import pyarrow.parquet as pq
    except ImportError:
        rc = main(["export", str(store), "--format", "parquet", "-o", str(out)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and "\n" not in err and "needs pyarrow" in err and "csv|json" in err and not out.exists()
        return
    assert main(["export", str(store), "--format", "parquet", "-o", str(out)]) == 0
    assert pq.read_table(out).num_rows == query(store, "SELECT count(*) FROM tidy")[0][0]


@pytest.mark.parametrize("args,msg", [
    (["export", "{store}", "--format", "xlsx"], "unknown export format 'xlsx'"),
    (["export", "{store}", "--table", "everything"], "unknown table 'everything'"),
    (["export", "{tmp}/none.db"], "no results store"),
    (["export", "{store}", "-o", "{tmp}"], "is a folder"),
    (["export", "{store}", "-o", "{store}/x.csv"], "is a file, not a folder"),
    (["audit", "{tmp}/none.toml"], "study file"),
    (["audit", "{study}", "--store", "{store}", "--executor", "slurm"], "'slurm' is not one of"),
    (["audit", "{study}", "--store", "{store}", "--workers", "3"], "--workers 3 needs --executor process or ray"),
    (["audit", "{study}", "--store", "{store}", "--device", "tpu"], "'tpu' is not a device"),
])
def test_bad_input_is_one_line_exit_2(store, tmp_path, capsys, args, msg):
    fill = {"store": str(store), "tmp": str(tmp_path), "study": str(tmp_path / "study.toml")}
    rc = main([a.format(**fill) for a in args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and msg in err


def test_ray_missing_is_a_clear_error(store, tmp_path, capsys):
    try:
        import ray  # noqa: F401
        pytest.skip("Ray is installed; tests/runner/test_audit.py runs the real executor")
    except ImportError:
        pass
    rc = main(["audit", str(tmp_path / "study.toml"), "--store", str(store), "--executor", "ray"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "pip install 'archrisk[ray]'" in err
