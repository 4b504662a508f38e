"""The report takes result meaning from the store, as the producers declared it.

An attack declared in this module (no edit to `archrisk.report`) runs through the runner and shows
up in the NAS-vs-manual table and the ranking with its declared direction; flipping the
declaration flips both. An undeclared key shows no direction and is never a headline, whatever
its spelling, and a store that recorded no meanings says so once instead of guessing.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from archrisk.attacks import Attack, get_attack, register_attack
from archrisk.attacks.base import unregister_attack
from archrisk.meaning import Meaning, resolve_all
from archrisk.report import write_report
from archrisk.store.fixtures import write_synthetic_store
from archrisk.store import load_store
from archrisk.store.fixtures import FIXTURE_MEANINGS, FixtureWriter
from archrisk.report.series import build_series

pytestmark = pytest.mark.usefixtures("one_thread")

ARCHS = ("darts_v2", "pc_darts", "resnet18", "vgg13_bn")  # two NAS cells, two hand-designed nets


def _evil_probe(direction: int) -> type[Attack]:
    @dataclass(frozen=True)
    class EvilProbe(Attack):
        """Uniform noise on a few test images; the probability mass the victim then moves off the
        true class (a continuous number, so that even untrained victims differ)."""

        name: ClassVar[str] = "evil_probe"
        family: ClassVar[str] = "evasion"
        meanings: ClassVar[dict[str, Meaning]] = {
            "evil_rate": Meaning(direction, True, ("C1",), "mean probability off the true class (0..1)")}
        n: int = 48

        def _run(self, victim, ctx):
            x, y = ctx.dataset.test.x[:self.n], ctx.dataset.test.y[:self.n]
            noise = torch.rand(x.shape, generator=ctx.generator()) * 0.6 - 0.3
            with torch.no_grad():
                p = victim((x + noise).clamp(0, 1).to(ctx.device)).softmax(1).cpu()
            off = 1 - p[torch.arange(len(y)), y]
            # evil_extra is declared nowhere: it must reach the report meaning nothing
            return {"evil_rate": off.mean().item(), "evil_extra": off.max().item()}, {}, {}

    return EvilProbe


STUDY = f"""
name = "evil"
seeds = [0]
size = "tiny"
archs = {list(ARCHS)!r}

[data]
name = "synthetic"
limit = 120
val_fraction = 0.05

[recipe]
epochs = 0
batch_size = 64

[[attacks]]
name = "evil_probe"
"""


@pytest.fixture(scope="module")
def evil_reports(tmp_path_factory):
    """direction -> tables folder of the report of a study run with evil_probe declared that way."""
    from archrisk.runner import audit

    root = tmp_path_factory.mktemp("evil")
    old = os.environ.get("ARCHRISK_CACHE")
    os.environ["ARCHRISK_CACHE"] = str(root / "cache")  # private, shared by both runs (victims train once)
    out = {}
    try:
        for direction in (1, -1):
            register_attack(_evil_probe(direction))
            try:
                s = audit(STUDY, root / f"s{direction}.db", progress=False)
            finally:
                unregister_attack("evil_probe")  # never leaks into other tests
            assert s.complete, s.failures
            out[direction] = write_report(root / f"s{direction}.db", root / f"out{direction}").parent / "tables"
    finally:
        if old is None:
            os.environ.pop("ARCHRISK_CACHE", None)
        else:
            os.environ["ARCHRISK_CACHE"] = old
    return out


def _csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_new_attack_reaches_the_tables_with_its_declared_direction(evil_reports):
    with pytest.raises(Exception):
        get_attack("evil_probe")  # unregistered again after the runs
    for direction, tables in evil_reports.items():
        rows = {r["quantity"]: r for r in _csv(tables / "groups_evasion.csv")}
        assert rows["evil_probe: evil_rate"]["risk direction"] == str(direction)
        assert rows["evil_probe: evil_rate"]["NAS archs"] == rows["evil_probe: evil_rate"]["manual archs"] == "2"
        assert rows["evil_probe: evil_extra"]["risk direction"] == ""  # undeclared: no direction
        ranked = {r["endpoint"] for r in _csv(tables / "risk_ranking.csv")}
        assert ranked == {"evil_probe: evil_rate"}  # the headline ranks; the undeclared key never does


def test_flipping_the_declared_direction_flips_the_ranking(evil_reports):
    ranks = {d: {r["architecture"]: float(r["rank"]) for r in _csv(t / "risk_ranking.csv")}
             for d, t in evil_reports.items()}
    values = {r["architecture"]: float(r["value"]) for r in _csv(evil_reports[1] / "risk_ranking.csv")}
    assert len(set(values.values())) == len(ARCHS), "victims should differ"
    riskiest_first = sorted(values, key=lambda a: -values[a])
    assert [ranks[1][a] for a in riskiest_first] == [1.0, 2.0, 3.0, 4.0]
    assert [ranks[-1][a] for a in riskiest_first] == [4.0, 3.0, 2.0, 1.0]


def test_a_key_spelled_like_a_headline_is_not_one_unless_declared(tmp_path):
    w = FixtureWriter(tmp_path / "s.db")
    for i, (arch, group) in enumerate((("A", "nas"), ("B", "nas"), ("C", "manual"), ("D", "manual"))):
        w.job("attack", "mystery", "evasion", arch, group, 0, {}, {"success_rate": 0.2 * i}, meanings={})
        w.job("attack", "pgd", "evasion", arch, group, 0, {}, {"success_rate": 0.1 * i, "mean_iters": 3.0 - i})
    ss = build_series(load_store(w.close()))
    assert [s.q.name for s in ss.endpoints()] == ["pgd"]
    mystery = ss.select(name="mystery")[0]
    assert mystery.meaning == Meaning() and mystery.direction == 0
    assert {(s.q.name, s.q.key) for s in ss.bearing_on("C1")} == {("pgd", "success_rate"), ("pgd", "mean_iters")}
    assert ss.unrecorded == 0 and ss.meaning_note() is None  # an empty declaration is still a recorded one


def test_a_store_without_recorded_meanings_says_so_once_and_ranks_nothing(tmp_path):
    db = write_synthetic_store(tmp_path / "old.db", n_nas=3, n_manual=3, remedies=False, landscapes=False,
                               meanings=False)
    ss = build_series(load_store(db))
    assert ss.endpoints(adv=None) == [] and ss.bearing_on("C1") == []
    assert all(s.direction == 0 for s in ss.series.values() if s.q.kind != "derived")
    index = write_report(db, tmp_path / "out")
    html = index.read_text(encoding="utf-8")
    assert html.count("carry no recorded result meaning") == 1
    assert not (index.parent / "tables" / "risk_ranking.csv").exists()
    rows = {r["quantity"]: r for r in _csv(index.parent / "tables" / "groups_evasion.csv")}
    assert rows["pgd: success_rate"]["risk direction"] == ""


def test_series_carry_their_meaning_and_claims_find_them(tmp_path):
    ss = build_series(load_store(write_synthetic_store(tmp_path / "s.db", n_nas=3, n_manual=3, landscapes=False)))
    heads = {(s.q.name, s.q.key) for s in ss.endpoints(adv=None)}
    assert heads == {("pgd", "success_rate"), ("nes", "success_rate"), ("label_flip", "acc_drop"),
                     ("badnets", "asr"), ("knockoff", "agreement"), ("boundary", "auc")}
    assert [s.q.family for s in ss.endpoints()][:2] == ["evasion", "evasion"]  # family order
    assert {s.q.key for s in ss.bearing_on("C6")} == {"grad_var", "grad_var_norm"}
    assert all(s.direction == -1 for s in ss.bearing_on("C6"))
    assert {s.q.key for s in ss.bearing_on("C4")} == {"agreement", "kl", "ce"}
    c8 = {s.q.key: s.direction for s in ss.bearing_on("C8")}
    assert c8 == {"conv_acc_auc": 1, "cell_depth": -1, "cell_skips": 1, "early_acc_share": 1, "epochs_to_share": -1}
    assert ss.bearing_on("C10") == []  # C10 is read from C1's results by the victim's training


def test_fixture_meanings_are_the_producers_declarations():
    """The synthetic store records what the real attack, metric and train jobs declare."""
    from archrisk.metrics import meaning_of
    from archrisk.runner.jobs import TRAIN_MEANINGS

    def core(m: Meaning) -> tuple:
        return m.direction, m.headline, m.claims

    for (kind, name), table in FIXTURE_MEANINGS.items():
        if kind == "attack":
            real = type(get_attack(name)).meanings_of(table)
        elif kind == "metric":
            real = {k: meaning_of(k) for k in table}
        else:
            real = resolve_all(TRAIN_MEANINGS, table)
        assert {k: core(m) for k, m in real.items()} == {k: core(m) for k, m in table.items()}, (kind, name)
