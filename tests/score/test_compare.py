"""Two fits side by side: the shipping rule, the per-family merge (each family keeps the
standardisation it was fitted on), the whole-file fallback, choosing a store's dataset, the CLI
and the report's table beside the shipped coefficients."""
from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from test_score import _latent, _synthetic_signals, _write_store

from archrisk.errors import InvalidValueError
from archrisk.score import ScoreModel, SignalConfig, fit_store, read_targets
from archrisk.score.compare import MIN_SHIP_ARCHS, better_validated, compare_rows, fitted_on, ship
from archrisk.score.model import FamilyFit, fit_model

SIGNALS = tuple(_synthetic_signals(1)["a00"])


def _fit(n: int, lo: float, rho: float = 0.6) -> FamilyFit:
    return FamilyFit((0.0,) * len(SIGNALS), 0.5, 1.0, n, rho, (lo, 0.9))


def test_rule_prefers_the_higher_ci_lower_bound_among_enough_architectures() -> None:
    n = MIN_SHIP_ARCHS
    assert better_validated(_fit(n, 0.2), _fit(n, 0.3)) == "b"
    assert better_validated(_fit(n, 0.3), _fit(n, 0.2)) == "a"
    assert better_validated(_fit(n, 0.3), _fit(n, 0.3)) == "a"  # a tie keeps the incumbent
    # a higher rho and bound on too few architectures does not win; nor does an undefined interval
    assert better_validated(_fit(n, 0.1, 0.4), _fit(n - 1, 0.6, 0.9)) == "a"
    assert better_validated(_fit(n, 0.1), replace(_fit(n, 0.5), loao_ci=(math.nan, math.nan))) == "a"
    assert better_validated(_fit(n - 1, 0.5), None) is None and better_validated(None, _fit(n, -0.2)) == "b"


def _model(signals: dict, noise: float, seed: int, dataset: str, cfg: dict | None = None) -> ScoreModel:
    rng = np.random.default_rng(seed)
    targets = {"evasion": {a: _latent(s) + rng.normal(0, noise) for a, s in signals.items()},
               "extraction": {a: -_latent(s) + rng.normal(0, noise) for a, s in signals.items()}}
    prov = {"dataset": dataset, "size": "tiny", "studies": [f"{dataset} (s)"], "seeds": [0, 1],
            "store_sha256": f"sha-{dataset}", "archs": {a: a for a in signals}, "groups": {a: "nas" for a in signals}}
    return fit_model(signals, targets, SIGNALS, cfg or SignalConfig().to_dict(), prov,
                     agreement={"evasion": (0.8, 2), "extraction": (0.8, 2)})


@pytest.fixture(scope="module")
def two_fits():
    # different architectures (so different standardisations), the same signal config
    a = _model(_synthetic_signals(24, seed=1), noise=0.3, seed=1, dataset="digits")
    # other architectures for b: one architecture measured twice gives the same signals
    b = _model({f"b{k}": v for k, v in _synthetic_signals(30, seed=2).items()}, noise=0.3, seed=2, dataset="mnist5k")
    # make each side win one family: a's extraction and b's evasion are the better validated
    a = replace(a, families={**a.families, "evasion": replace(a.families["evasion"], loao_ci=(0.1, 0.9))})
    b = replace(b, families={**b.families, "extraction": replace(b.families["extraction"], loao_ci=(0.0, 0.9))})
    assert a.center != b.center
    return a, b


def test_merge_per_family_keeps_each_fits_predictions_and_data(two_fits) -> None:
    a, b = two_fits
    merged, picked = ship(a, b, ("A.json", "B.json"))
    assert picked == {"evasion": "B.json", "extraction": "A.json"}
    new = _synthetic_signals(15, seed=9)
    for s in new.values():  # every family predicts exactly as the fit it came from
        p = merged.predict(s)
        assert p["evasion"] == pytest.approx(b.predict(s)["evasion"])
        assert p["extraction"] == pytest.approx(a.predict(s)["extraction"])
        assert merged.contributions(s, "evasion") == pytest.approx(b.contributions(s, "evasion"))
    src = merged.provenance["family_sources"]
    assert (src["evasion"]["dataset"], src["evasion"]["archs"], src["evasion"]["file"]) == ("mnist5k", 30, "B.json")
    assert (src["extraction"]["dataset"], src["extraction"]["archs"]) == ("digits", 24)
    assert fitted_on(merged, "evasion")["store_sha256"] == "sha-mnist5k"
    again = ScoreModel.from_json(merged.to_json())  # the per-family standardisation survives the file
    assert again == merged and again.families["evasion"].center == b.center
    s = next(iter(new.values()))
    assert again.predict(s) == pytest.approx(merged.predict(s))


def test_different_signal_configs_ship_one_whole_file(two_fits) -> None:
    a, b = two_fits
    b_other = replace(b, signal_config=SignalConfig(dataset="mnist5k").to_dict())
    b_wins = replace(b_other, families={f: replace(v, loao_ci=(0.95, 0.99)) for f, v in b_other.families.items()})
    merged, picked = ship(a, b_wins, ("A", "B"))
    assert picked == {"evasion": "B", "extraction": "B"} and merged.signal_config == b_wins.signal_config
    assert merged.families == b_wins.families and "whole file" in merged.provenance["shipping"]
    merged, picked = ship(a, b_other, ("A", "B"))  # one win each: the incumbent's whole file stays
    assert set(picked.values()) == {"A"} and merged.families == a.families


def test_signals_that_differ_on_a_shared_architecture_ship_one_whole_file(two_fits) -> None:
    a, b = two_fits
    arch = next(iter(a.reference))
    # b also measured one of a's architectures, and got other values: another way of measuring
    other = {**b.reference, arch: {k: v + 0.1 for k, v in a.reference[arch].items()}}
    b_wins = replace(b, reference=other, families={f: replace(v, loao_ci=(0.95, 0.99)) for f, v in b.families.items()})
    merged, picked = ship(a, b_wins, ("A", "B"))
    assert set(picked.values()) == {"B"} and merged.families == b_wins.families and "whole file" in merged.provenance["shipping"]
    same = replace(b_wins, reference={**b.reference, arch: dict(a.reference[arch])})  # the same values: mixes
    merged, picked = ship(a, replace(same, families={**same.families, "extraction": b.families["extraction"]}), ("A", "B"))
    assert picked == {"evasion": "B", "extraction": "A"}


def test_compare_rows_cover_both_fits(two_fits) -> None:
    a, b = two_fits
    rows = {r[0]: r for r in compare_rows(a, replace(b, families={"evasion": b.families["evasion"],
                                                                   "backdoor": b.families["extraction"]}))}
    assert set(rows) == {"evasion", "extraction", "backdoor"}
    assert rows["evasion"][1:3] == [24, a.families["evasion"].loao_rho] and rows["evasion"][-1] == "b"
    assert rows["extraction"][5:] == [None] * 4 + ["a"] and rows["backdoor"][1:5] == [None] * 4


# -- choosing a store's dataset ------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    signals = _synthetic_signals(10, seed=4)
    return signals, _write_store(tmp_path_factory.mktemp("two") / "r.db", signals, extra_dataset=True)


def test_targets_of_the_dataset_asked_for(two_datasets) -> None:
    _, path = two_datasets
    t = read_targets(path, dataset="mnist5k")
    assert (t.dataset, t.size, set(t.targets), t.seeds) == ("mnist5k", "tiny", {"evasion"}, [0, 1])
    assert read_targets(path, size="tiny").dataset == "digits"  # the most common matching one
    assert set(t.available) == {"digits/tiny", "mnist5k/tiny"}
    with pytest.raises(InvalidValueError, match="'cifar10'.*--dataset digits --size tiny"):
        read_targets(path, dataset="cifar10")


def test_cli_refit_picks_the_dataset_and_says_which_was_used(two_datasets, tmp_path, monkeypatch, capsys) -> None:
    import archrisk.score.fit as score_pkg  # where fit_store looks the measurement up
    from archrisk.cli import main

    signals, path = two_datasets
    monkeypatch.setattr(score_pkg, "measure_signals", lambda a, c, device="cpu", dataset=None: signals[a[:-5]])
    out = tmp_path / "m.json"
    assert main(["score", "--refit", "--store", str(path), "--dataset", "mnist5k", "--out", str(out), "--json"]) == 0
    assert "note:" not in capsys.readouterr().err
    fitted = ScoreModel.from_json(out.read_text())
    assert set(fitted.families) == {"evasion"} and fitted.provenance["dataset"] == "mnist5k"
    assert main(["score", "--refit", "--store", str(path), "--out", str(out), "--json"]) == 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "digits/tiny" in err and "mnist5k/tiny" in err and "--dataset" in err
    assert ScoreModel.from_json(out.read_text()).provenance["dataset"] == "digits"
    assert main(["score", "--refit", "--store", str(path), "--dataset", "cifar10"]) == 2


def test_cli_compare_prints_both_and_writes_the_better(two_fits, tmp_path, capsys) -> None:
    from archrisk.cli import main

    a, b = two_fits
    (tmp_path / "a.json").write_text(a.to_json())
    (tmp_path / "b.json").write_text(b.to_json())
    args = ["score", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    assert main(args + ["--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["A"]["dataset"] == "digits" and rec["B"]["dataset"] == "mnist5k"
    assert rec["families"]["evasion"]["better validated"] == "b"
    assert rec["families"]["evasion"]["B LOAO rho"] == pytest.approx(b.families["evasion"].loao_rho)
    assert main(args + ["--out", str(tmp_path / "ship.json")]) == 0
    text = capsys.readouterr().out
    assert "mnist5k/tiny, 30 architectures" in text and "evasion from" in text
    assert ScoreModel.from_json((tmp_path / "ship.json").read_text()) == ship(a, b, (str(tmp_path / "a.json"),
                                                                                    str(tmp_path / "b.json")))[0]
    assert main(["score", "--compare", str(tmp_path / "a.json"), str(tmp_path / "none.json")]) == 2


def test_report_sets_the_store_fit_beside_the_shipped(tmp_path) -> None:
    from archrisk.report import write_report
    from archrisk.score import load_model

    signals = _synthetic_signals(12, seed=5)
    path = _write_store(tmp_path / "r.db", signals)
    model = fit_store(path, signal_fn=lambda a, c: signals[a.removesuffix("-text")])
    index = write_report(path, tmp_path / "out")
    rows = {r["attack family"]: r for r in csv.DictReader(open(index.parent / "tables" / "riskscore_vs_shipped.csv"))}
    shipped = load_model()
    assert set(rows) == set(model.families) | set(shipped.families)
    for fam, fit in model.families.items():
        assert float(rows[fam]["this store LOAO rho"]) == pytest.approx(fit.loao_rho)
        assert rows[fam]["better validated"] == "shipped"  # 12 architectures cannot win by the rule
    ev = shipped.families["evasion"]
    assert float(rows["evasion"]["shipped LOAO rho"]) == pytest.approx(ev.loao_rho)
    assert int(rows["evasion"]["shipped archs"]) == ev.n_archs
    html = " ".join(index.read_text().split())
    assert "This store: fitted on digits/tiny, 12 architectures" in html
