"""Risk score: recovers a known signal->risk relation from a synthetic store (LOAO), respects
each key's risk direction, ignores a family of pure noise, round-trips its coefficients, and
scores a real architecture in seconds; bad input exits 2."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from archrisk.errors import ArchriskError, InvalidValueError
from archrisk.meaning import Meaning, record, resolve_all
from archrisk.score import ScoreModel, SignalConfig, fit_store, read_targets, score
from archrisk.score.model import fit_model, loao, ranks01, structural_risk

pytestmark = pytest.mark.usefixtures("one_thread")


def _synthetic_signals(n: int, seed: int = 0) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        manual = i % 6 == 5  # some hand-designed nets: no cell structure
        out[f"a{i:02d}"] = {
            "depth": math.nan if manual else float(rng.integers(1, 5)),
            "width": math.nan if manual else float(rng.integers(1, 5)),
            "skips": math.nan if manual else float(rng.integers(0, 5)),
            "parametric": math.nan if manual else float(rng.integers(2, 9)),
            "log_params": float(rng.normal(5, 0.5)), "ntk_cond": float(rng.normal(3, 1)),
            "grad_var": float(rng.normal(0, 1)), "input_grad": float(rng.normal(-1, 0.3)),
            "early_acc": float(rng.uniform(0.3, 0.9)), "early_loss": float(rng.uniform(0.3, 2.0)),
        }
    return out


def _latent(s: dict[str, float]) -> float:
    """The known risk: skips raise it, depth lowers it, early convergence raises it."""
    skips = 2.0 if math.isnan(s["skips"]) else s["skips"]
    depth = 2.5 if math.isnan(s["depth"]) else s["depth"]
    return 0.8 * skips - 0.7 * depth + 4.0 * (s["early_acc"] - 0.6)


def _write_store(path, signals, seeds=(0, 1), noise=0.15, seed=0, dataset="digits", extra_dataset=False,
                 record_meanings=True):
    from archrisk.store import Store

    rng = np.random.default_rng(seed)
    db = Store(path, create=True)
    c = db.conn
    c.execute("INSERT INTO studies(id, name, source_path, source_text, spec_json, created) VALUES (?,?,?,?,?,?)",
              ("s1", "synthetic", "", "", "{}", 0.0))
    n = 0

    # What the producers recorded: the headline of each attack and its risk direction (the knockoff
    # here records KL as its headline, lower = riskier, so the score must flip it).
    meanings = {"pgd": {"success_rate": Meaning(1, True), "mean_iters": Meaning(-1)},
                "knockoff": {"kl": Meaning(-1, True)}, "loss_threshold": {"auc": Meaning(1, True)}}

    def job(arch, family, name, params, s, results, ds=dataset):
        nonlocal n
        n += 1
        jid = f"j{n}"
        c.execute("INSERT INTO jobs(id, study_id, kind, name, family, arch, arch_group, spec_hash, genotype, dataset,"
                  " size, recipe_json, seed, params_json, status, spec_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  (jid, "s1", "attack", name, family, arch, "nas", "h", None, ds, "tiny", "{}", s,
                   json.dumps(params), "done", json.dumps({"arch": f"{arch}-text", "data": {"limit": 500}})))
        c.execute("INSERT INTO study_jobs(study_id, job_id) VALUES (?, ?)", ("s1", jid))
        for k, v in results.items():
            c.execute("INSERT INTO results(job_id, key, value) VALUES (?,?,?)", (jid, k, v))
        if record_meanings:
            c.execute("INSERT INTO artifacts(job_id, key, json) VALUES (?,?,?)",
                      (jid, "meaning", json.dumps(record(resolve_all(meanings[name], results)))))

    for arch, sig in signals.items():
        lat = _latent(sig)
        for s in seeds:
            for eps in (0.1, 0.2):
                p = 1 / (1 + math.exp(-(lat + eps * 5 + rng.normal(0, noise))))
                job(arch, "evasion", "pgd", {"eps": eps}, s, {"success_rate": p, "mean_iters": 7 * (1 - p)})
            job(arch, "extraction", "knockoff", {}, s, {"kl": math.exp(-0.5 * lat + rng.normal(0, noise)), "n": 100})
            job(arch, "membership", "loss_threshold", {}, s, {"auc": 0.5 + rng.normal(0, 0.05)})
            if extra_dataset:  # another dataset whose results must not leak into the fit
                job(arch, "evasion", "pgd", {"eps": 0.1}, s, {"success_rate": rng.uniform()}, ds="mnist5k")
    c.commit()
    db.close()
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    signals = _synthetic_signals(30)
    path = _write_store(tmp_path_factory.mktemp("store") / "results.db", signals, extra_dataset=True)
    model = fit_store(path, dataset="digits", signal_fn=lambda arch, cfg: signals[arch.removesuffix("-text")])
    return signals, path, model


def test_store_targets_are_oriented_ranks(synthetic) -> None:
    signals, path, _ = synthetic
    t = read_targets(path, dataset="digits")
    lat = {a: _latent(s) for a, s in signals.items()}
    assert set(t.targets) == {"evasion", "extraction", "membership"}
    assert t.archs["a03"] == "a03-text" and t.data_limit == 500 and t.dataset == "digits"
    assert len(t.settings["evasion"]) == 2  # two eps settings, each ranked, then averaged
    for fam in ("evasion", "extraction"):  # kl: lower = riskier, so it must be flipped
        archs = sorted(lat)
        r = np.corrcoef(ranks01(np.array([lat[a] for a in archs])),
                        ranks01(np.array([t.targets[fam][a] for a in archs])))[0, 1]
        assert r > 0.85, fam
    assert read_targets(path).dataset == "digits"  # the most common dataset by default


def test_fit_recovers_the_known_ranking_loao(synthetic) -> None:
    signals, _, model = synthetic
    ev, ex, mem = (model.families[f] for f in ("evasion", "extraction", "membership"))
    assert ev.n_archs == 30
    assert ev.loao_rho > 0.8 and ev.loao_ci[0] > 0.5, ev.loao_rho
    assert ex.loao_rho > 0.8
    assert abs(mem.loao_rho) < 0.5 and mem.loao_ci[0] < 0.2  # noise is not "explained"
    coef = dict(zip(model.signals, ev.coef))
    assert coef["skips"] > 0 and coef["depth"] < 0 and coef["early_acc"] > 0
    # prediction follows the known relation on unseen architectures
    new = _synthetic_signals(40, seed=7)
    pred = np.array([model.predict(s)["evasion"] for s in new.values()])
    true = np.array([_latent(s) for s in new.values()])
    from scipy.stats import spearmanr

    assert spearmanr(pred, true).statistic > 0.8


def test_loao_is_honest_against_an_in_sample_fit() -> None:
    # pure noise signals, more of them than is comfortable: in-sample fits look good, LOAO must not
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 10)), rng.normal(size=16)
    pred = loao(x, y)
    from scipy.stats import spearmanr

    assert spearmanr(pred, y).statistic < 0.5


def test_coefficients_round_trip_and_provenance(synthetic, tmp_path) -> None:
    signals, path, model = synthetic
    f = tmp_path / "coef.json"
    model.save(f)
    again = ScoreModel.from_json(f.read_text())
    json.loads(f.read_text())  # standard JSON: NaN written as null
    for s in list(signals.values())[:6]:
        assert again.predict(s) == pytest.approx(model.predict(s))
    assert again.provenance["store_sha256"] and again.provenance["dataset"] == "digits"
    assert "pgd" in again.families["evasion"].target
    with pytest.raises(InvalidValueError):
        ScoreModel.from_json('{"signals": []}')


def test_structural_risk_is_differentiable_and_signed(synthetic) -> None:
    import torch

    *_, model = synthetic
    depth = torch.tensor(2.0, requires_grad=True)
    skips = torch.tensor(2.0, requires_grad=True)
    stats = {"depth": depth, "skips": skips, "width": torch.tensor(3.0), "parametric": torch.tensor(5.0)}
    structural_risk(stats, model=model).backward()
    assert skips.grad > 0 and depth.grad < 0


def test_fit_needs_enough_architectures(tmp_path) -> None:
    signals = _synthetic_signals(3)
    path = _write_store(tmp_path / "small.db", signals)
    with pytest.raises(InvalidValueError):
        fit_store(path, signal_fn=lambda a, c: signals[a.removesuffix("-text")])
    with pytest.raises(ArchriskError):
        fit_model({}, {}, ("depth",), {}, {})


TINY_CFG = SignalConfig(dataset="digits", limit=200, short_epochs=1, ntk_samples=8, grad_samples=16,
                        input_samples=16)


@pytest.fixture(scope="module")
def tiny_model(synthetic, tmp_path_factory):
    """The synthetic fit, re-labelled to measure real signals cheaply (digits, 1 epoch)."""
    from dataclasses import replace

    *_, model = synthetic
    path = tmp_path_factory.mktemp("coef") / "tiny.json"
    replace(model, signal_config=TINY_CFG.to_dict()).save(path)
    return path


def test_score_measures_real_signals_in_seconds(tiny_model, capsys) -> None:
    from archrisk.cli import main

    assert main(["score", "darts_v2", "--model", str(tiny_model), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    sig = rec["signals"]
    assert (sig["depth"], sig["skips"], sig["width"]) == (2, 2, 4)  # the study's DARTS cell
    assert all(math.isfinite(sig[k]) for k in ("ntk_cond", "grad_var", "input_grad", "early_acc", "log_params"))
    assert 0 <= rec["risk"]["evasion"] <= 1 and rec["seconds"] > 0  # how long: benchmarks, not tests
    manual = score("resnet18", model=tiny_model)
    assert math.isnan(manual.signals["depth"]) and math.isfinite(manual.risk["evasion"])


@pytest.mark.parametrize("args", [[], ["--fit", "/nonexistent/results.db"], ["no_such_arch", "--model", "{m}"],
                                  ["darts_v2", "--model", "/nonexistent/coef.json"]])
def test_cli_score_bad_input_exit_2(args, tiny_model, capsys) -> None:
    from archrisk.cli import main

    assert main(["score", *[a.format(m=tiny_model) for a in args]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_cli_fit_writes_coefficients_then_scores(synthetic, tmp_path, monkeypatch, capsys) -> None:
    import archrisk.score.fit as score_pkg  # where fit_store looks the measurement up
    from archrisk.cli import main

    signals, path, _ = synthetic
    fake = lambda arch, cfg, device="cpu", dataset=None: signals[arch.removesuffix("-text")]  # noqa: E731
    monkeypatch.setattr(score_pkg, "measure_signals", fake)
    out = tmp_path / "coef.json"
    assert main(["score", "--fit", str(path), "--out", str(out), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["families"]["evasion"]["loao_rho"] > 0.8 and out.exists()
    assert main(["score", "a04-text", "--model", str(out), "--json"]) == 0
    risk = json.loads(capsys.readouterr().out)["risk"]
    assert risk == pytest.approx(ScoreModel.from_json(out.read_text()).predict(signals["a04"]))
    # without --out the fit lands beside the store; the shipped coefficients stay as they are
    from archrisk.score import DEFAULT_PATH

    shipped = DEFAULT_PATH.read_bytes()
    assert main(["score", "--fit", str(path)]) == 0
    assert path.with_suffix(".score.json").exists() and DEFAULT_PATH.read_bytes() == shipped
    assert "recorded in" in capsys.readouterr().out


def test_fit_is_recorded_in_the_store_and_shown_by_the_report(tmp_path) -> None:
    import csv

    from archrisk.report import write_report
    from archrisk.store import SCORE_FIT_KEY
    from archrisk.store import open_store

    signals = _synthetic_signals(12, seed=5)
    path = _write_store(tmp_path / "r.db", signals)
    model = fit_store(path, signal_fn=lambda a, c: signals[a.removesuffix("-text")])
    with open_store(path) as db:
        assert ScoreModel.from_json(db.meta()[SCORE_FIT_KEY]) == model
    index = write_report(path, tmp_path / "out")
    html = " ".join(index.read_text().split())
    assert "this store&#39;s fit" in html or "this store's fit" in html
    rows = {r["attack family"]: r for r in csv.DictReader(open(index.parent / "tables" / "riskscore_validation.csv"))}
    assert set(rows) == set(model.families)
    for fam, fit in model.families.items():
        assert float(rows[fam]["LOAO rho"]) == pytest.approx(fit.loao_rho, abs=1e-9)
        assert int(rows[fam]["architectures"]) == fit.n_archs == 12
    per_arch = list(csv.DictReader(open(index.parent / "tables" / "riskscore_archs.csv")))
    ev = {r["architecture"]: float(r["LOAO prediction"]) for r in per_arch if r["attack family"] == "evasion"}
    assert ev == pytest.approx(model.families["evasion"].predicted)
    # record=False leaves the store as it was
    other = _write_store(tmp_path / "r2.db", signals)
    fit_store(other, signal_fn=lambda a, c: signals[a.removesuffix("-text")], record=False)
    with open_store(other) as db:
        assert SCORE_FIT_KEY not in db.meta()


def test_target_seed_agreement_separates_signal_from_noise(synthetic) -> None:
    from archrisk.score.model import rho_ceiling

    _, path, model = synthetic
    t = read_targets(path, dataset="digits")
    (ev, k_ev), (mem, k_mem) = t.agreement["evasion"], t.agreement["membership"]
    assert k_ev == k_mem == 2
    assert ev > 0.8  # both seeds rank by the same latent risk
    assert abs(mem) < 0.5  # membership AUC is noise drawn anew for every seed
    fit = model.families["evasion"]
    assert (fit.seed_agreement, fit.seeds) == (pytest.approx(ev), 2)
    assert fit.ceiling == pytest.approx(math.sqrt(2 * ev / (1 + ev)))
    assert rho_ceiling(1.0, 3) == 1.0 and rho_ceiling(0.5, 1) == pytest.approx(math.sqrt(0.5))
    assert rho_ceiling(0.5, 3) == pytest.approx(math.sqrt(0.75)) and rho_ceiling(-0.2, 3) == 0.0
    assert math.isnan(rho_ceiling(math.nan, 2))
    again = ScoreModel.from_json(model.to_json()).families["evasion"]
    assert (again.seed_agreement, again.seeds, again.ceiling) == (fit.seed_agreement, 2, fit.ceiling)


def test_a_store_that_cannot_be_written_costs_a_warning_not_the_fit(tmp_path, monkeypatch, caplog) -> None:
    import sqlite3

    from archrisk.store import Store

    def readonly(self, key, value):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    signals = _synthetic_signals(8, seed=2)
    path = _write_store(tmp_path / "ro.db", signals)
    monkeypatch.setattr(Store, "set_meta", readonly)
    model = fit_store(path, signal_fn=lambda a, c: signals[a.removesuffix("-text")])
    assert model.families["evasion"].n_archs == 8
    assert "not recorded" in caplog.text and "readonly" in caplog.text


def test_targets_follow_the_recorded_meaning_not_the_key_names(synthetic, tmp_path) -> None:
    from archrisk.runner import record_meanings

    signals, path, _ = synthetic
    lat = {a: _latent(s) for a, s in signals.items()}
    archs = sorted(lat)
    base = read_targets(path, dataset="digits").targets["extraction"]
    # the same numbers with KL recorded as "higher = riskier": the extraction target turns over
    flipped = _write_store(tmp_path / "flip.db", signals, extra_dataset=True)
    import sqlite3

    with sqlite3.connect(flipped) as c:
        for jid, text in c.execute("SELECT job_id, json FROM artifacts WHERE key='meaning'").fetchall():
            m = json.loads(text)
            if "kl" in m:
                m["kl"]["direction"] = 1
                c.execute("UPDATE artifacts SET json=? WHERE job_id=? AND key='meaning'", (json.dumps(m), jid))
    turned = read_targets(flipped, dataset="digits").targets["extraction"]
    r = np.corrcoef([base[a] for a in archs], [turned[a] for a in archs])[0, 1]
    assert r < -0.99
    # a store that recorded no meanings is refused, not guessed at ...
    old = _write_store(tmp_path / "old.db", signals, record_meanings=False)
    with pytest.raises(InvalidValueError, match="records no result meanings"):
        read_targets(old)
    # ... until today's declarations are recorded: the real knockoff's headline is agreement, which
    # this store lacks, so extraction is left out instead of falling back to KL
    assert record_meanings(old) == len(signals) * 2 * 4
    assert record_meanings(old) == 0  # jobs that have a meaning keep it
    assert set(read_targets(old).targets) == {"evasion", "membership"}


def test_each_family_is_held_against_parameter_count_and_flops() -> None:
    """A family whose vulnerability is model size gains nothing over size alone: the score's held-out rho
    does not beat the size baselines, so the family is not predicted; one driven by another signal is."""
    from archrisk.score import is_predicted

    rng = np.random.default_rng(0)
    archs = [f"a{i}" for i in range(24)]
    sig = {a: {"depth": float(rng.integers(1, 5)), "skips": float(rng.integers(0, 4)), "log_params": 4 + rng.random(),
               "log_flops": 0.0} for a in archs}
    for a in archs:
        sig[a]["log_flops"] = 2 * sig[a]["log_params"] + 0.01 * rng.normal()
    targets = {"size": {a: sig[a]["log_params"] for a in archs},
               "skips": {a: sig[a]["skips"] + 0.1 * sig[a]["depth"] + 0.01 * rng.normal() for a in archs}}
    m = fit_model(sig, targets, ("depth", "skips", "log_params"), {}, {})
    size, skips = m.families["size"], m.families["skips"]
    assert set(size.baselines) == {"parameter count", "FLOPs"}
    assert size.baselines["parameter count"] > 0.95 and size.beats_baselines() is False
    assert skips.beats_baselines() is True and skips.loao_rho > 0.8
    valid = lambda f: {"rho": f.loao_rho, "ci": list(f.loao_ci), "ceiling": f.ceiling, "baselines": f.baselines}  # noqa: E731
    assert not is_predicted(valid(size)) and is_predicted(valid(skips))
    # the baselines survive the coefficient file
    assert ScoreModel.from_json(m.to_json()).families["size"].baselines == pytest.approx(size.baselines)
