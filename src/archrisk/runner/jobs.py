"""Run one job from its stored spec and return an `Outcome` (plain data, picklable).

Workers call `run_job`; they never touch the store. Victims come from `archrisk.train.train_model`:
the train job records its checkpoint's key and SHA-256 (`checkpoint` artifact), and every later
job on that victim loads exactly that file, or fails (see `train_victim`). Any exception
becomes a `failed` outcome with a one-line error (and the traceback as an artifact); a
non-finite training loss (`DivergedError`) becomes `diverged`.

Every done job also stores what its numbers mean: a `meaning` artifact {result key: Meaning JSON},
resolved from the producer's declarations (the attack class, the metric family, `TRAIN_MEANINGS`
here) for the keys it actually returned, so that the report and the score never guess.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import traceback
from collections import OrderedDict, defaultdict
from typing import Any

from archrisk import meaning
from archrisk.errors import CheckpointError, DivergedError, InvalidValueError
from archrisk.meaning import Meaning
from archrisk.store import Outcome

log = logging.getLogger(__name__)


# Per-process caches: consecutive jobs on one victim skip reloading data and weights. Both are
# guarded against jobs that modify shared objects in place: victims get their weights restored
# from a snapshot on every hand-out, datasets are checksummed after every job.
_DATA: OrderedDict[str, tuple[Any, str]] = OrderedDict()
_VICTIMS: OrderedDict[str, tuple[Any, dict]] = OrderedDict()
_KEEP = 2


def _digest(ds) -> str:
    h = hashlib.blake2b(digest_size=16)
    for split in (ds.train, ds.val, ds.test, ds.pool):
        for t in (split.x, split.y):
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _remember(cache: OrderedDict, key: str, value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _KEEP:
        cache.popitem(last=False)


def dataset_of(spec: dict[str, Any]):
    from archrisk.data import load_dataset

    key = json.dumps(spec["data"], sort_keys=True)
    if key not in _DATA:
        d = spec["data"]
        ds = load_dataset(d["name"], data_dir=d.get("data_dir"), split_seed=d["split_seed"],
                          val_fraction=d["val_fraction"], pool_fraction=d["pool_fraction"], limit=d["limit"])
        _remember(_DATA, key, (ds, _digest(ds)))
    return _DATA[key][0]


def _check_shared_data(job: str) -> None:
    for key, (ds, digest) in list(_DATA.items()):
        if _digest(ds) != digest:
            log.warning("job %s modified the %s dataset in place; reloading it for the next jobs", job, ds.name)
            del _DATA[key]


def recipe_of(spec: dict[str, Any]):
    from archrisk.train import Recipe

    return Recipe(**spec["recipe"])


def architecture_of(spec: dict[str, Any]):
    """What `archrisk.train` builds the job's architecture from: the arch string, or for the user's
    own model its factory, imported again from `package.module:factory` (in a worker too)."""
    from archrisk.arch.user import load_factory

    return load_factory(spec["model"], "model") if spec.get("model") else spec["arch"]


def _weights_victim(spec: dict[str, Any], device: str):
    """The user's own weights as the victim: loaded into the factory's module, nothing trained."""
    import torch

    from archrisk.arch.user import load_weights_file
    from archrisk.attacks.own import as_victim
    from archrisk.paths import file_sha256
    from archrisk.train import resolve_device, train_epochs

    if file_sha256(spec["weights"]) != spec["weights_sha256"]:
        raise InvalidValueError(f"weights {spec['weights']!r} changed since the study was planned (its sha256 "
                                "differs); restore it, or give the new weights their own entry and label")
    factory, rec, ds = architecture_of(spec), recipe_of(spec), dataset_of(spec)
    with torch.random.fork_rng():
        torch.manual_seed(spec["seed"])
        module = load_weights_file(factory(), spec["weights"], "weights")
    epochs = train_epochs(rec, spec["size"])  # what retraining attacks use
    return as_victim(module, ds, rec, seed=spec["seed"], epochs=epochs, device=resolve_device(device),
                     size=spec["size"], source=factory.ref)


def train_victim(spec: dict[str, Any], device: str):
    """The job's victim: trained by its train job, then reused (memory, else the checkpoint cache);
    with a weights file, those weights.

    A dependent job's spec carries the train job's record (`victim`: job, key, sha256; added by the
    scheduler, not stored in the job's spec): then exactly those weights are loaded, never retrained."""
    from archrisk.train import TrainRequest, resolve_arch, resolve_device, run_training, train_epochs
    from archrisk.train.checkpoint import Recorded

    recorded = Recorded(**spec["victim"]) if spec.get("victim") else None
    key = json.dumps({k: spec.get(k) for k in ("arch", "size", "data", "recipe", "seed", "model", "weights_sha256",
                                               "victim")}, sort_keys=True) + device
    if key in _VICTIMS and spec["kind"] != "train":  # a train job records the file in this cache: read it
        result, snapshot = _VICTIMS[key]
        _VICTIMS.move_to_end(key)
        result.model.load_state_dict(snapshot)  # undo anything a previous job did to the weights
        result.model.eval()
        for p in result.model.parameters():
            p.requires_grad_(True)
            p.grad = None
        return result
    if spec.get("weights"):
        result = _weights_victim(spec, device)
    else:
        try:
            size, rec = spec["size"], recipe_of(spec)
            result = run_training(TrainRequest(resolve_arch(architecture_of(spec), size), dataset_of(spec), rec,
                                               train_epochs(rec, size), seed=spec["seed"], size=size,
                                               device=resolve_device(device), progress=False, recorded=recorded))
        except CheckpointError as e:  # name the job that refused, beside the train job in the message
            raise CheckpointError(f"{spec['kind']} {spec.get('name', '')} on {spec['arch']} (seed {spec['seed']}): "
                                  f"{e}") from None
    _remember(_VICTIMS, key, (result, {k: v.detach().clone() for k, v in result.model.state_dict().items()}))
    return result


# The train job's artifact naming its victim checkpoint: {"key": cache key, "sha256": of the weights file}.
CHECKPOINT = "checkpoint"

# A train job's results describe the victim; none is a risk measurement.
TRAIN_MEANINGS: dict[str, Meaning] = {
    "test_acc": Meaning(description="clean test accuracy of the trained victim (0..1)"),
    "val_acc": Meaning(description="validation accuracy of the trained victim (0..1)"),
    "best_epoch": Meaning(description="epoch of the best validation accuracy"),
    "epochs": Meaning(description="epochs trained (under the convergence rule: until it stopped, at most epoch_cap)"),
    "epoch_cap": Meaning(description="most epochs the convergence rule allowed (the recipe's epochs; rule on only)"),
    "converged": Meaning(description="1 when validation accuracy plateaued for `patience` epochs (the rule stopped "
                                     "training), 0 when the cap ended it (rule on only)"),
    "train_wall": Meaning(description="training wall time (s)"),
    "params": Meaning(description="trainable parameters of the victim (count)"),
    "flops": Meaning(description="multiply-accumulates of one forward pass on one input (count)"),
}


def _train(spec: dict[str, Any], device: str) -> tuple[dict, dict, str]:
    from archrisk.arch import count_flops
    from archrisk.train.checkpoint import sha256_of

    r = train_victim(spec, device)
    # size and compute, so the report can show and adjust for them beside every comparison
    results = {"test_acc": r.test_acc, "val_acc": r.val_acc, "best_epoch": r.best_epoch,
               "epochs": 0 if spec.get("weights") else r.epochs, "train_wall": sum(h.seconds for h in r.history),
               "params": sum(p.numel() for p in r.model.parameters()),
               "flops": count_flops(r.model, tuple(dataset_of(spec).shape))}
    if r.converged is not None and not spec.get("weights"):  # the convergence rule: length run, out of the cap
        results.update({"epochs": r.epochs_run, "epoch_cap": r.epochs, "converged": float(r.converged)})
    artifacts = {"history": [vars(h) for h in r.history], "train": r.summary(),
                 meaning.ARTIFACT: meaning.record(meanings_of("train", "train", results))}
    if not spec.get("weights"):  # a user's weights file is checked by its own sha256 (_weights_victim)
        # what every job on this victim must load (checked there, shipped by the Ray executor)
        artifacts[CHECKPOINT] = {"key": r.key, "sha256": sha256_of(r.key)}
    return results, artifacts, r.device


def _attack(spec: dict[str, Any], device: str) -> tuple[dict, dict, str]:
    from archrisk import attacks

    victim = train_victim(spec, device)
    atk = attacks.get_attack(spec["name"], **spec["params"])
    own = spec.get("model") is not None  # the user's model: attacks that retrain call its factory
    r = attacks.run_attack(None if own else spec["arch"], atk, dataset_of(spec), size=spec["size"],
                           seed=spec["seed"], recipe=recipe_of(spec), device=device, victim=victim,
                           factory=architecture_of(spec) if own else None, progress=False)
    # Validity flags (e.g. gradient_masking) travel with the numbers they qualify, and so does meaning.
    artifacts: dict[str, Any] = {"config": r.config, "flags": dict(getattr(r, "flags", {}) or {})}
    for x, rows in r.curves.items():
        artifacts[f"curve.{x}"] = rows
    arrays = dict(r.arrays)
    if "roc_fpr" in arrays and "roc_tpr" in arrays:  # the store's ROC record: {"fpr": [...], "tpr": [...]}
        artifacts["roc"] = {"fpr": arrays.pop("roc_fpr"), "tpr": arrays.pop("roc_tpr")}
    artifacts.update(arrays)
    artifacts[meaning.ARTIFACT] = meaning.record(type(atk).meanings_of(r.metrics))
    return dict(r.metrics), artifacts, r.device


def _metric(spec: dict[str, Any], device: str) -> tuple[dict, dict, str]:
    from archrisk import metrics
    from archrisk.runner.entries import metric_names

    victim = train_victim(spec, device) if spec["at"] == "trained" else None
    # params as the study wrote them, nested per family (hessian={"samples": 64}): explain's own form
    out = metrics.explain(architecture_of(spec), dataset_of(spec), size=spec["size"], seed=spec["seed"],
                          at=spec["at"], metrics=metric_names(spec["name"]), recipe=recipe_of(spec), device=device,
                          victim=victim, progress=False, **spec["params"])
    results: dict[str, float] = {}
    artifacts: dict[str, Any] = {"config": {"metric": spec["name"], "at": spec["at"], **spec["params"]}}
    for key, m in out.items():
        results[key] = m.value
        if m.stderr is not None and math.isfinite(m.stderr):
            results[f"{key}.stderr"] = m.stderr
        results[f"{key}.cost_s"] = m.cost_s
        # Details become '<metric>.<field>' artifacts, e.g. landscape_conv_rise.grid / .surface.
        for k, v in (m.extra or {}).items():
            artifacts[f"{key}.{k}"] = v
    artifacts[meaning.ARTIFACT] = meaning.record(meanings_of("metric", spec["name"], out))
    return results, artifacts, device


KINDS = {"train": _train, "attack": _attack, "metric": _metric}


def meanings_of(kind: str, name: str, keys) -> dict[str, Meaning] | None:
    """What the result keys of a job of this kind and name mean, from the current declarations;
    None for an attack that is not registered (nothing is known about it)."""
    if kind == "attack":
        from archrisk.attacks import list_attacks

        cls = next((c for c in list_attacks() if c.name == name), None)
        return cls.meanings_of(keys) if cls is not None else None
    if kind == "metric":
        from archrisk import metrics

        return {k: metrics.meaning_of(k) for k in keys if not k.endswith(meaning.BOOKKEEPING_SUFFIXES)}
    return meaning.resolve_all(TRAIN_MEANINGS if kind == "train" else {}, keys)


def record_meanings(path) -> int:
    """Give every done job of a store that has no `meaning` artifact (a store written before they
    were recorded) the one today's declarations give its result keys; returns how many got one.
    Jobs of attacks no longer registered are left as they are."""
    from archrisk.store import Store

    with Store(path) as db:
        have = {a["job_id"] for a in db.artifacts(key=meaning.ARTIFACT)}
        keys: dict[str, list[str]] = defaultdict(list)
        for r in db.results():
            keys[r["job_id"]].append(r["key"])
        rows = []
        for job in db.jobs(status="done"):
            found = None if job["id"] in have else meanings_of(job["kind"], job["name"], keys[job["id"]])
            if found is not None:
                rows.append((job["id"], meaning.ARTIFACT, meaning.record(found)))
        db.add_artifacts(rows)
    return len(rows)


def run_job(spec: dict[str, Any], device: str = "cpu", victim_copy: dict | None = None) -> Outcome:
    """Run a job; never raises for a job's own failure (KeyboardInterrupt still propagates).
    `victim_copy` is the recorded victim checkpoint sent from another node (`checkpoint.pack`),
    written into this node's cache, once checked against the record, before the job loads it."""
    t0 = time.perf_counter()
    try:
        if victim_copy is not None and spec.get("victim"):
            from archrisk.train.checkpoint import Recorded, install

            install(Recorded(**spec["victim"]), victim_copy)
        results, artifacts, dev = KINDS[spec["kind"]](spec, device)
        return Outcome("done", {k: float(v) for k, v in results.items()}, artifacts,
                       wall_time=time.perf_counter() - t0, device=str(dev))
    except Exception as e:  # a job's failure is data: record it, keep the grid going
        status = "diverged" if isinstance(e, DivergedError) else "failed"
        return Outcome(status, error=_one_line(e), wall_time=time.perf_counter() - t0, device=device,
                       artifacts={"traceback": traceback.format_exc()})
    finally:
        _check_shared_data(f"{spec['kind']} {spec.get('name', '')}")


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or "(no message)"
    return f"{type(e).__name__}: {text}"[:500]
