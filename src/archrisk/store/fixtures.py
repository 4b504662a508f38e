"""A synthetic results store with known structure, for tests, demos and timing the report.

Numbers are made up but shaped like a real study: each architecture has a latent vulnerability
(shifted by `effect` standard deviations for NAS cells, in the study's direction when positive)
that drives every attack; smoothness and gradient variance are tied to it so the explanations
section has something to find; remedy cells are less vulnerable and less accurate than darts_v2.
Evasion jobs store the test indices they attacked and fooled: inputs have a latent difficulty that
every model of a seed sees, weighted by a group's `shared_rho`, so NAS models share more of their
weak inputs. Landscape metric jobs store quadratic loss surfaces whose curvature (exactly
k1 + k2, the mean Laplacian of 0.5 k1 a^2 + 0.5 k2 b^2 + k12 a b) falls with the latent
vulnerability, so NAS surfaces are flatter. Adversarially trained victims lose clean accuracy.
Everything added for those draws from its own stream, so the older numbers do not move.
Every job records what its results mean (the `meaning` artifact the runner writes), as the real
attack, metric or train job of that name declares it (`FIXTURE_MEANINGS`, checked against those
declarations by the tests); `meanings=False` writes a store from before meanings were recorded.
The store is written by the store's own writer (`Store`: every table, the current schema version,
the app id), so a fixture store opens everywhere a real one does (`archrisk status`, `export`, the
score, the report). Test and benchmark scaffolding, never imported by the runner or the report.
"""
from __future__ import annotations

import hashlib
import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from archrisk.meaning import ARTIFACT, Meaning, record, resolve_all
from archrisk.store.schema import JOB_FIELDS
from archrisk.store.write import Store

NAS = ("darts_v2", "pc_darts", "enas", "snas_mild", "amoebanet", "nasnet", "pdarts", "sgas", "drnas", "random")
MANUAL = ("resnet18", "vgg13_bn", "densenet121", "dla34", "resnext50", "wide_resnet50", "bit", "resnet34",
          "mobilenet", "googlenet")
REMEDY = ("darts_i", "darts_ii", "darts_iii")
# normal-cell (depth, skips) as in the study; others get made-up shallow cells
CELL = {"darts_v2": (2, 2), "pc_darts": (1, 1), "enas": (1, 2), "snas_mild": (1, 4), "amoebanet": (3, 2),
        "nasnet": (1, 2), "pdarts": (3, 2), "sgas": (2, 1), "drnas": (3, 1), "random": (3, 2),
        "darts_i": (4, 2), "darts_ii": (2, 0), "darts_iii": (4, 0)}


@dataclass(frozen=True)
class SyntheticStudy:
    n_nas: int = 5
    n_manual: int = 4
    remedies: bool = True
    seeds: tuple[int, ...] = (0, 1)
    effect: float = 1.5  # NAS latent vulnerability shift (in arch-to-arch standard deviations)
    seed_noise: float = 0.3  # seed-to-seed noise (same units)
    fractions: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4)
    adv_train: bool = False  # also adversarially trained victims with PGD evaluated on them
    adv_scale: float = 0.2  # how much of the latent vulnerability survives adversarial training
    failures: bool = True  # a failed, a diverged and a pending job
    rng_seed: int = 0
    n_inputs: int = 60  # test inputs evasion attacks run on (fooled / attacked artifacts)
    shared_rho: tuple[float, float] = (0.9, 0.3)  # weight of the common input difficulty: NAS (and remedy), manual
    landscapes: bool = True  # a 'landscape' metric job with stored surfaces per architecture and seed
    landscape_sign: float = 1.0  # -1: NAS surfaces sharper instead (independent of the other metrics)
    landscape_points: int = 11
    meanings: bool = True  # record what each result means (False: a store from before they were recorded)


def _m(direction: int, claim: str | None = None, headline: bool = False) -> Meaning:
    return Meaning(direction, headline, (claim,) if claim else ())


# What the fixture's jobs' keys mean: the real producers' declarations for the keys written here.
FIXTURE_MEANINGS: dict[tuple[str, str], dict[str, Meaning]] = {
    ("train", "train"): {k: _m(0) for k in ("test_acc", "val_acc", "train_wall", "best_epoch", "epochs", "params",
                                                      "flops")},
    ("attack", "pgd"): {"success_rate": _m(1, "C1", True), "mean_iters": _m(-1, "C1"), "clean_acc": _m(0)},
    ("attack", "nes"): {"success_rate": _m(1, "C1", True)},
    ("attack", "label_flip"): {"acc_drop": _m(1, "C2", True), "clean_acc": _m(0)},
    ("attack", "badnets"): {"asr": _m(1, "C3", True), "clean_drop": _m(0)},
    ("attack", "knockoff"): {"agreement": _m(1, "C4", True), "kl": _m(-1, "C4"), "ce": _m(-1, "C4")},
    ("attack", "boundary"): {"auc": _m(1, "C5", True)},
    **{("metric", k): {k: m} for k, m in {
        "hessian_top": _m(-1, "C7"), "grad_var": _m(-1, "C6"), "grad_var_norm": _m(-1, "C6"),
        "conv_acc_auc": _m(1, "C8"), "cell_depth": _m(-1, "C8"), "cell_skips": _m(1, "C8")}.items()},
    ("metric", "landscape"): {f"landscape_{s}_{f}": _m(-1, "C7") for s in ("conv", "filter", "input")
                              for f in ("curvature", "rise")},
}


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# The jobs columns a fixture fills, in the order `FixtureWriter.job` gives them (the claim columns stay empty).
_JOB_FIELDS = JOB_FIELDS[:JOB_FIELDS.index("priority") + 1]  # what a fixture fills in, in this order


class FixtureWriter:
    """Writes jobs with their results and artifacts into a new store, through the store's own writer
    (`Store.write_job`), so a fixture is a store like any other (tests build odd stores with it).
    `declared`: (kind, name) -> declaration table, the meanings of jobs not given their own
    (default `FIXTURE_MEANINGS`, as the runner records them; {}: a store from before meanings)."""

    def __init__(self, path: str | Path, study_id: str = "study0", source: str = "", study_name: str = "synthetic",
                 declared: Mapping[tuple[str, str], Mapping[str, Meaning]] | None = None,
                 analysis: Mapping[str, object] | None = None):
        path = Path(path)
        self.declared = dict(FIXTURE_MEANINGS if declared is None else declared)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        self.db, self.study_id, self.n = Store(path, create=True), study_id, 0
        spec = json.dumps({"analysis": dict(analysis)} if analysis is not None else {})  # the registered analysis
        self.db.add_study(study_id, study_name, f"studies/{study_name}.toml", source, spec, [], [])
        self.path = path

    def close(self) -> Path:
        self.db.close()
        return self.path

    def job(self, kind: str, name: str, family: str, arch: str, group: str, seed: int, params: dict,
            results: dict[str, float], artifacts: dict | None = None, status: str = "done",
            error: str | None = None, recipe: dict | None = None, wall: float = 1.0,
            genotype: str | None = None, meanings: Mapping[str, Meaning] | None = None,
            dataset: str = "mnist5k", size: str = "tiny") -> str:
        """Write one job; `meanings` (a declaration table, as an attack's) is resolved for the
        result keys and stored as the job's `meaning` artifact; None stores none."""
        recipe = {"name": "study", "adv_train": None, **(recipe or {})}
        scale = [] if (dataset, size) == ("mnist5k", "tiny") else [dataset, size]  # older fixtures keep their ids
        spec = json.dumps([kind, name, arch, seed, params, recipe, *scale], sort_keys=True)
        jid = hashlib.sha256(spec.encode()).hexdigest()[:16]
        depth_skip = CELL.get(arch)
        if genotype is None and depth_skip:
            genotype = json.dumps({"normal_depth": depth_skip[0], "name": arch})
        self.n += 1
        now = 1.7e9 + self.n
        row = dict(zip(_JOB_FIELDS, (
            jid, self.study_id, kind, name, family, arch, group, hashlib.md5(arch.encode()).hexdigest()[:16],
            genotype, dataset, size, json.dumps(recipe), seed, json.dumps(params), status, error,
            wall if status == "done" else None, "host0", "cpu", "0.1.0", now, now + wall, 1, 0.0)))
        done = status == "done"
        if done:
            meanings = meanings if meanings is not None else self.declared.get((kind, name))
            if meanings is not None:
                artifacts = {**(artifacts or {}), ARTIFACT: record(resolve_all(meanings, results))}
        self.db.write_job(row, results if done else {}, (artifacts or {}) if done else {})
        return jid


def _names(known: tuple[str, ...], n: int, stem: str) -> list[str]:
    """The first n known names, then made-up ones (large stores for timing the report)."""
    return list(known[:n]) + [f"{stem}{i}" for i in range(len(known), n)]


def _archs(cfg: SyntheticStudy) -> list[tuple[str, str]]:
    out = [(a, "nas") for a in _names(NAS, cfg.n_nas, "nas")] + [(a, "manual") for a in _names(MANUAL, cfg.n_manual, "manual")]
    if cfg.remedies:
        out += [(a, "remedy") for a in REMEDY]
    return out


def write_synthetic_store(path: str | Path, cfg: SyntheticStudy = SyntheticStudy(), **overrides) -> Path:
    """Write a store at `path` (replaced if it exists) and return its path."""
    from dataclasses import replace

    cfg = replace(cfg, **overrides)
    rng = np.random.default_rng(cfg.rng_seed)
    w = FixtureWriter(path, source='[study]\nname = "synthetic"\nseeds = %s\n' % list(cfg.seeds),
                      declared=None if cfg.meanings else {})
    latent = {}
    for arch, group in _archs(cfg):
        if group == "remedy":  # the source cell's vulnerability, lowered by the remedy
            source = latent.get("darts_v2", ("nas", cfg.effect))[1]
            latent[arch] = (group, source - {"darts_i": 1.5, "darts_ii": 0.5, "darts_iii": 2.0}[arch])
        else:
            latent[arch] = (group, rng.normal() + (cfg.effect if group == "nas" else 0.0))
    for arch, (group, v) in latent.items():
        depth, skips = CELL.get(arch, (2, 1))
        for seed in cfg.seeds:
            _write_arch_seed(w, cfg, rng, arch, group, v + cfg.seed_noise * rng.normal(), depth, skips, seed)
    if cfg.failures:
        arch0 = next(iter(latent))
        w.job("attack", "pgd", "evasion", arch0, latent[arch0][0], 99, {}, {}, status="failed",
              error="RuntimeError: out of memory <b>boom</b>")
        w.job("train", "train", "train", arch0, latent[arch0][0], 98, {}, {}, status="diverged",
              error="training diverged: loss=nan at epoch 3 step 10")
        w.job("metric", "hessian_top", "hessian", arch0, latent[arch0][0], 97, {"at": "trained"}, {}, status="pending")
    return w.close()


def _write_arch_seed(w: FixtureWriter, cfg: SyntheticStudy, rng: np.random.Generator, arch: str, group: str,
                     v: float, depth: int, skips: int, seed: int) -> None:
    """One architecture x seed: training, five attack families, metrics."""
    noise = lambda s: s * rng.normal()  # noqa: E731
    acc = 0.93 - 0.02 * (group == "remedy") * depth / 2 + noise(0.005)
    speed = 0.9 + 0.1 * _sig(v)  # vulnerable (NAS-like) cells converge faster early
    history = [{"epoch": e, "train_loss": 2.3 * (1 - speed) ** e, "train_acc": 0.0, "val_loss": 0.0,
                "val_acc": acc * (1 - (1 - speed) ** (e + 1)), "lr": 0.025, "seconds": 1.0} for e in range(8)]
    w.job("train", "train", "train", arch, group, seed, {},
          {"test_acc": acc, "val_acc": acc + noise(0.005), "train_wall": 30 + 10 * depth, "best_epoch": 7, "epochs": 8,
           # size and compute from the name and depth, no draw: the other numbers stay
           "params": 6e5 + 1e4 * len(arch) if group == "manual" else 4e4 * (1 + depth),
           "flops": 4e7 + 1e6 * len(arch) if group == "manual" else 3e6 * (1 + depth)},
          {"history": history}, wall=30 + 10 * depth)
    eps = [1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255]
    curve = [{"eps": e, "success_rate": _sig(v + math.log(e * 255) - 1.5)} for e in eps]
    aux = np.random.default_rng([cfg.rng_seed, zlib.crc32(arch.encode()), seed])
    sets = lambda name, rate: _evasion_sets(cfg, aux, name, group, seed, rate)  # noqa: E731
    w.job("attack", "pgd", "evasion", arch, group, seed, {},
          {"success_rate": _sig(v + 0.6), "mean_iters": 4 - _sig(v), "clean_acc": acc},
          {"curve.eps": curve, **sets("pgd", _sig(v + 0.6))})
    w.job("attack", "nes", "evasion", arch, group, seed, {}, {"success_rate": _sig(v - 0.5)},
          sets("nes", _sig(v - 0.5)))
    for p in cfg.fractions:
        drop = 0.0 if p == 0 else p * (0.2 + 0.1 * _sig(v)) + noise(0.003)
        w.job("attack", "label_flip", "poisoning", arch, group, seed, {"fraction": p},
              {"acc_drop": drop, "clean_acc": acc - drop}, wall=20)
    w.job("attack", "badnets", "backdoor", arch, group, seed, {},
          {"asr": _sig(2 + v), "clean_drop": 0.03 + noise(0.005)})
    budgets = [1000, 2000, 4000, 8000, 16000]
    rows = [{"queries": b, "agreement": _sig(v + math.log2(b / 1000) - 1), "kl": 2.0 / (1 + b / 4000) * (1 - 0.3 * _sig(v))}
            for b in budgets]
    w.job("attack", "knockoff", "extraction", arch, group, seed, {},
          {"agreement": rows[-1]["agreement"], "kl": rows[-1]["kl"], "ce": rows[-1]["kl"] + 0.3},
          {"curve.queries": rows})
    auc = 0.5 + 0.05 * _sig(v) + noise(0.01)
    fpr = np.linspace(0, 1, 11)
    tpr = np.clip(fpr ** (1 / (1 + 4 * (auc - 0.5))), 0, 1)
    w.job("attack", "boundary", "membership", arch, group, seed, {}, {"auc": auc},
          {"roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()}})
    if cfg.adv_train:
        rate = _sig(cfg.adv_scale * v - 0.4 + noise(0.1))
        w.job("attack", "pgd", "evasion", arch, group, seed, {}, {"success_rate": rate},
              sets("pgd_adv", rate), recipe={"adv_train": "pgd"})
        adv_acc = acc - 0.06 - 0.03 * (group == "nas") + 0.003 * aux.normal()
        w.job("train", "train", "train", arch, group, seed, {},
              {"test_acc": adv_acc, "val_acc": adv_acc, "train_wall": 3 * (30 + 10 * depth), "epochs": 8},
              {"history": [{**h, "val_acc": h["val_acc"] * adv_acc / acc} for h in history]},
              recipe={"adv_train": "pgd"}, wall=3 * (30 + 10 * depth))
    if cfg.landscapes:
        _landscape_job(w, cfg, aux, arch, group, v, seed)
    cell = group != "manual"  # structure metrics are NaN for hand-designed nets
    for name, family, value in (("hessian_top", "hessian", math.exp(-v) * 10 + noise(0.2)),
                                ("grad_var", "gradients", 1000 * math.exp(-0.5 * v) + noise(20)),
                                ("grad_var_norm", "gradients", 1.0 - 0.1 * v + noise(0.05)),
                                ("conv_acc_auc", "convergence", 0.5 + 0.3 * _sig(v) + noise(0.01)),
                                ("cell_depth", "structure", depth if cell else math.nan),
                                ("cell_skips", "structure", skips if cell else math.nan)):
        w.job("metric", name, family, arch, group, seed, {"at": "trained"},
              {name: value, f"{name}.stderr": 0.01 * abs(value), f"{name}.cost_s": 0.5})


def _evasion_sets(cfg: SyntheticStudy, aux: np.random.Generator, attack: str, group: str, seed: int,
                  rate: float) -> dict[str, list[int]]:
    """Attacked test indices (a few inputs the model got wrong are left out) and the `rate` share of
    them it is fooled on: the hardest by a difficulty common to the seed's models plus its own noise."""
    common = np.random.default_rng([cfg.rng_seed, zlib.crc32(attack.encode()), seed]).normal(size=cfg.n_inputs)
    rho = cfg.shared_rho[group == "manual"]
    score = rho * common + math.sqrt(1 - rho * rho) * aux.normal(size=cfg.n_inputs)
    attacked = np.flatnonzero(aux.random(cfg.n_inputs) > 0.05)
    k = int(round(rate * len(attacked)))
    fooled = attacked[np.argsort(-score[attacked], kind="stable")[:k]]
    return {"attacked": attacked.tolist(), "fooled": sorted(fooled.tolist())}


LANDSCAPE_SPANS = {"conv": (0.5, 2.0), "filter": (1.0, 5.0), "input": (0.2, 40.0)}  # span, curvature scale


def _quadratic(aux: np.random.Generator, coords: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
    """A quadratic surface on the grid, its exact mean Laplacian (k1 + k2) and loss rise within half the span."""
    k1 = scale * math.exp(0.2 * aux.normal())
    k2 = k1 * aux.uniform(0.3, 1.0)
    k12 = 0.2 * min(k1, k2) * aux.uniform(-1, 1)
    A, B = np.meshgrid(coords, coords, indexing="ij")
    rise = 0.5 * k1 * A ** 2 + 0.5 * k2 * B ** 2 + k12 * A * B
    inside = A ** 2 + B ** 2 <= (0.5 * coords[-1]) ** 2 + 1e-12
    return 0.05 + 0.1 * aux.random() + rise, k1 + k2, float(rise[inside].max())


def _landscape_job(w: FixtureWriter, cfg: SyntheticStudy, aux: np.random.Generator, arch: str, group: str,
                   v: float, seed: int) -> None:
    results: dict[str, float] = {}
    artifacts: dict[str, object] = {}
    for kind, (span, scale) in LANDSCAPE_SPANS.items():
        coords = np.linspace(-span, span, cfg.landscape_points)
        scale *= math.exp(-0.5 * cfg.landscape_sign * v)  # vulnerable (NAS-like) nets are flatter
        surfs = [_quadratic(aux, coords, scale) for _ in range(3 if kind == "input" else 1)]
        curv, rise = float(np.mean([s[1] for s in surfs])), float(np.mean([s[2] for s in surfs]))
        z = [s[0].tolist() for s in surfs]
        for field, value in (("curvature", curv), ("rise", rise)):
            key = f"landscape_{kind}_{field}"
            results |= {key: value, f"{key}.cost_s": 0.5}
            artifacts |= {f"{key}.grid": coords.tolist(), f"{key}.surfaces" if kind == "input" else f"{key}.surface":
                          z if kind == "input" else z[0]}
    w.job("metric", "landscape", "landscape", arch, group, seed, {"at": "trained"}, results, artifacts)
