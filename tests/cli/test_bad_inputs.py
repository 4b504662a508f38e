"""Every bad input of the list exits 2 with one line, before any work starts."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from archrisk.cli import main
from archrisk.errors import ArchriskError, InvalidValueError

STUDY = """
name = "t"
seeds = [0]
size = "tiny"
archs = ["resnet18"]
[data]
name = "digits"
[recipe]
epochs = 1
[[attacks]]
name = "pgd"
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "study.toml").write_text(STUDY)
    (tmp_path / "a_file").write_text("x")
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE foo (a)")
    other.commit()
    other.close()
    # valid JSON, wrong layout: a list; a reference that is not a table; a number that is text; no family
    rest = '"signals": [], "center": [], "scale": [], "signal_config": {}, "provenance": {}'
    for i, text in enumerate(['[1, 2]', '{"families": {}, "reference": {"a": [1]}, ' + rest + '}',
                              '{"families": {"evasion": {"coef": [], "intercept": 0, "ridge": 1, "n_archs": 3, '
                              '"loao_ci": [0, 1], "loao_rho": "x"}}, "reference": {}, ' + rest + '}',
                              '{"families": {}, "reference": {}, ' + rest + '}']):
        (tmp_path / f"layout{i}.json").write_text(text)
    vals = ", ".join(str(i / 10_000) for i in range(1, 1001))
    (tmp_path / "huge.toml").write_text(STUDY.replace('name = "pgd"', f'name = "pgd"\ngrid = {{ eps = [{vals}], '
                                                      f'steps = [{", ".join(map(str, range(1, 1001)))}] }}'))
    return tmp_path


BIG = "Genotype(normal=[" + ", ".join(f"('skip_connect', {i // 2})" for i in range(4000)) + \
      "], normal_concat=[2], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])"


@pytest.mark.parametrize("argv, words", [
    (["audit", "{t}/study.toml", "--store", "{t}/a_file/r.db"], "is a file, not a folder"),
    (["audit", "{t}/study.toml", "--store", "{t}"], "is a folder"),
    (["export", "--store", "{t}/other.db"], "not an archrisk results store"),
    (["status", "--store", "{t}/other.db"], "not an archrisk results store"),
    (["report", "--store", "{t}/other.db", "-o", "{t}/rep"], "not an archrisk results store"),
    (["report", "--store", "{t}/other.db", "-o", "{t}/a_file/rep"], "is a file"),
    (["search", "--out", "{t}/a_file/x.json"], "is a file, not a folder"),
    *[(["score", "darts_v2", "--model", f"{{t}}/layout{i}.json"], "not a risk-score coefficient file")
      for i in range(4)],
    (["score", "--refit", "--store", "{t}/other.db", "--out", "{t}/a_file/c.json"], "is a file, not a folder"),
    (["audit", "{t}/huge.toml", "--store", "{t}/r.db"], "1,000,001 jobs"),
    (["info", BIG], "at most"),
    (["attack", "resnet18", "-a", "pgd", "--set", "eps=2"], "eps=2"),
    (["attack", "resnet18", "-a", "pgd", "--set", "eps=Infinity"], "eps=inf"),
    (["attack", "resnet18", "-a", "pgd", "--set", "steps=0"], "steps=0"),
    (["train", "resnet18", "--epochs", "0"], "--epochs"),
    (["train", "resnet18", "-d", "npz:{t}/missing.npz"], "does not exist"),
])
def test_bad_input_one_line_exit_2(files, argv, words, capsys):
    argv = [a.replace("{t}", str(files)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not (files / "r.db").exists()  # nothing started


@pytest.mark.parametrize("call, words", [
    (lambda: __import__("archrisk").build(12345), "must be a name"),
    (lambda: __import__("archrisk").build(None), "must be a name"),
    (lambda: __import__("archrisk").build("resnet18", num_classes=0), "num_classes=0"),
    (lambda: __import__("archrisk").build("resnet18", in_channels=0), "in_channels=0"),
    (lambda: __import__("archrisk").build("darts_v2", num_classes=0, in_channels=1), "num_classes=0"),
    (lambda: __import__("archrisk").build("darts_v2", in_channels=0), "in_channels=0"),
    (lambda: __import__("archrisk").load_dataset(["digits"]), "must be one name"),
])
def test_bad_library_input_is_one_archrisk_error(call, words):
    with pytest.raises(InvalidValueError) as e:
        call()
    assert words in str(e.value) and "\n" not in str(e.value)


def test_report_does_not_follow_links_planted_in_its_folder(tmp_path):
    from archrisk.report import write_report
    from archrisk.store.fixtures import write_synthetic_store

    db = write_synthetic_store(tmp_path / "s.db", n_nas=2, n_manual=2, remedies=False, seeds=(0, 1),
                               fractions=(0.2,))
    out, outside = tmp_path / "rep", tmp_path / "outside.html"
    outside.write_text("keep me")
    out.mkdir()
    os.symlink(outside, out / "index.html")
    index = write_report(db, out)
    assert outside.read_text() == "keep me"
    assert not index.is_symlink() and "<html" in index.read_text().lower()
    # a linked sub-folder would send every figure elsewhere: refused
    (out / "figures").rename(tmp_path / "figs")
    os.symlink(tmp_path / "figs", out / "figures")
    with pytest.raises(ArchriskError, match="symbolic link"):
        write_report(db, out)


@pytest.fixture
def no_work(monkeypatch):
    """The work each writing command does after its checks, made to fail loudly: a test using this
    passes only if the command refused its input before starting any of it."""
    import archrisk.report.build
    import archrisk.runner
    import archrisk.runner.export
    import archrisk.score
    import archrisk.search

    def started(*a, **k):
        raise AssertionError("work started before the output was checked")

    for module, name in ((archrisk.search, "search"), (archrisk.score, "fit_store"), (archrisk.runner, "audit"),
                         (archrisk.runner.export, "rows"), (archrisk.report.build, "load_store")):
        monkeypatch.setattr(module, name, started)


@pytest.fixture
def store(files):
    from archrisk.store.fixtures import write_synthetic_store

    return write_synthetic_store(files / "s.db", n_nas=2, n_manual=2, remedies=False, seeds=(0, 1), fractions=(0.2,))


# procfs takes no new file, not even from root (for whom os.access says yes): /proc is a folder where
# nothing can be created, /proc/nope a folder that cannot be created
@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs procfs (Linux)")
@pytest.mark.parametrize("where", ["/proc", "/proc/nope"])
@pytest.mark.parametrize("argv", [
    ["export", "--store", "{s}", "-o", "{w}/out.csv"],
    ["search", "--dataset", "digits", "--budget", "tiny", "--epochs", "1", "--out", "{w}/out.json"],
    ["score", "--refit", "--store", "{s}", "--out", "{w}/c.json"],
    ["report", "--store", "{s}", "-o", "{w}/rep"],
    ["audit", "{t}/study.toml", "--store", "{w}/r.db"],
], ids=lambda a: a[0])
def test_an_output_that_cannot_be_created_is_refused_before_any_work(files, store, no_work, argv, where, capsys):
    argv = [a.format(t=files, s=store, w=where) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{where}/" in err and "cannot be written: nothing can be created" in err, err


@pytest.mark.parametrize("argv, words", [
    (["export", "--store", "{s}", "-o", "{t}"], "is a folder"),
    (["export", "--store", "{s}", "-o", "{t}/link"], "symbolic link"),
    (["search", "--out", "{t}"], "is a folder"),
    (["search", "--out", "{t}/link"], "symbolic link"),
    (["score", "--refit", "--store", "{s}", "--out", "{t}/link"], "symbolic link"),
    (["score", "--refit", "--store", "{s}", "--out", "{t}"], "is a folder"),
    (["report", "--store", "{s}", "-o", "{t}/a_file"], "is a file"),
    (["report", "--store", "{s}", "-o", "{t}/rep", "--readme", "{t}/missing.md"], "is not a file"),
    (["report", "--store", "{s}", "-o", "{t}/rep", "--readme", "{t}/a_file"], "markers"),
    (["report", "--store", "{s}", "-o", "{t}/rep", "--readme", "{t}/link"], "symbolic link"),
    (["audit", "{t}/study.toml", "--store", "{t}/link"], "symbolic link"),
])
def test_every_output_is_checked_by_the_same_rules_before_any_work(files, store, no_work, argv, words, capsys):
    (files / "kept.txt").write_text("keep me")
    os.symlink(files / "kept.txt", files / "link")
    assert main([a.format(t=files, s=store) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert (files / "kept.txt").read_text() == "keep me" and not (files / "rep").exists()


def test_a_missing_output_folder_is_created(files, store, capsys):
    out = files / "new" / "deeper"
    assert main(["export", "--store", str(store), "-o", str(out / "t.csv")]) == 0
    assert main(["report", "--store", str(store), "-o", str(out / "rep")]) == 0
    assert "job_id" in (out / "t.csv").read_text().splitlines()[0] and (out / "rep" / "index.html").is_file()
    assert not [p for p in out.rglob(".archrisk-probe-*")]  # the writability probe leaves nothing behind
