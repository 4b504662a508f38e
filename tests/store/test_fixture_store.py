"""A store written by the public fixture writer is a valid store: `archrisk status` and `export` read it."""
from __future__ import annotations

import csv
import json
from collections import Counter

from archrisk.cli import main
from archrisk.store.fixtures import write_synthetic_store
from archrisk.store import load_store


def test_status_reads_a_fixture_store(tmp_path, capsys):
    path = write_synthetic_store(tmp_path / "fx.db", n_nas=2, n_manual=1, remedies=False, seeds=(0,))
    expected = Counter(j.status for j in load_store(path).jobs)
    assert expected["done"] > 0 and expected["failed"] == expected["diverged"] == expected["pending"] == 1
    assert main(["status", "--store", str(path), "--json"]) == 0
    [study] = json.loads(capsys.readouterr().out)["studies"]
    assert study["name"] == "synthetic" and study["total"] == sum(expected.values())
    assert {k: v for k, v in study["counts"].items() if v} == dict(expected)
    assert [f["status"] for f in study["failures"]] == ["failed", "diverged"]
    assert main(["status", "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{sum(expected.values()) - 1}/{sum(expected.values())} finished" in out and "1 pending" in out


def test_export_reads_a_fixture_store(tmp_path):
    path = write_synthetic_store(tmp_path / "fx.db", n_nas=1, n_manual=1, remedies=False, seeds=(0,))
    out = tmp_path / "tidy.csv"
    assert main(["export", "--store", str(path), "--out", str(out)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    data = load_store(path)
    stored = {(r["job_id"], r["key"]) for r in rows if r["value"] != ""}  # NaN results are stored as NULL
    assert stored == {(jid, k) for jid, res in data.results.items() for k in res}
    assert {r["job_id"] for r in rows} == {j.id for j in data.done}
