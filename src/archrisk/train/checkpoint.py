"""Checkpoint cache: safetensors weights + a JSON sidecar, keyed by a content hash.

The key hashes everything that determines the trained weights (architecture spec, dataset
fingerprint, recipe, epochs, seed, and any extra tag such as a poisoning config). The sidecar
stores the SHA-256 of the weights file, so a corrupt or tampered file is detected and the model
retrained; nothing is ever unpickled.

A study's train job records that SHA-256 in the results store (`Recorded`). Jobs that load its
victim go through `load_recorded`, which never retrains: the file must be there and match the
record. On a node without it, `pack` / `install` carry the two files over as plain bytes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from archrisk.errors import CheckpointError
from archrisk.paths import cache_dir, file_sha256

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the key or file layout changes


def cache_key(parts: dict) -> str:
    blob = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def checkpoint_dir() -> Path:
    d = cache_dir() / "checkpoints"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _paths(key: str, root: Path | None) -> tuple[Path, Path]:
    root = root or checkpoint_dir()
    return root / f"{key}.safetensors", root / f"{key}.json"




def save(key: str, model: torch.nn.Module, meta: dict, root: Path | None = None) -> Path:
    """Write weights then sidecar, each atomically (tmp + rename): a killed run leaves either
    nothing or a complete pair."""
    weights, sidecar = _paths(key, root)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = weights.with_suffix(f".tmp{os.getpid()}")
    save_file(state, str(tmp), metadata={"archrisk_key": key})
    digest = file_sha256(tmp)
    os.replace(tmp, weights)
    tmp_meta = sidecar.with_suffix(f".tmp{os.getpid()}")
    tmp_meta.write_text(json.dumps({**meta, "key": key, "sha256": digest}, indent=1, default=str))
    os.replace(tmp_meta, sidecar)
    return weights


def _read_verified(weights: Path, sidecar: Path) -> tuple[dict, dict]:
    """(meta, state) or CheckpointError when anything does not check out."""
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint metadata {sidecar} is unreadable ({e})") from None
    if not isinstance(meta, dict) or meta.get("sha256") != file_sha256(weights):
        raise CheckpointError(f"checkpoint {weights} does not match its recorded SHA-256 (corrupt or modified)")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {weights} is not a valid safetensors file ({e})") from None
    return meta, state


def _apply(model: torch.nn.Module, state: dict, source: Path) -> None:
    own = model.state_dict()
    if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
        raise CheckpointError(f"checkpoint {source} holds weights of another architecture "
                              f"({len(state)} tensors, model has {len(own)}); pick the matching model")
    model.load_state_dict(state)


def load_cached(key: str, model: torch.nn.Module, root: Path | None = None) -> dict | None:
    """Load the cached weights into `model` and return the metadata; None when there is no
    usable entry. A corrupt entry is logged, removed and reported as missing (so it is rebuilt)."""
    weights, sidecar = _paths(key, root)
    if not (weights.exists() and sidecar.exists()):
        return None
    try:
        meta, state = _read_verified(weights, sidecar)
        _apply(model, state, weights)
    except CheckpointError as e:
        log.warning("%s; retraining", e)
        for p in (weights, sidecar):
            p.unlink(missing_ok=True)
        return None
    return meta


@dataclass(frozen=True)
class Recorded:
    """The victim checkpoint a train job recorded in the results store."""

    job: str  # the train job's id
    key: str  # cache key of the checkpoint it wrote
    sha256: str  # SHA-256 of the weights file's bytes


def sha256_of(key: str, root: Path | None = None) -> str:
    """SHA-256 of a cached checkpoint's weights file (the value a train job records)."""
    weights, _ = _paths(key, root)
    if not weights.exists():
        raise CheckpointError(f"checkpoint {weights} does not exist; train with the cache on to record it")
    return file_sha256(weights)


def pack(key: str, sha256: str, root: Path | None = None) -> dict | None:
    """A cached checkpoint's two files as plain data, to ship to another node; None when this
    node does not hold exactly the weights with that SHA-256."""
    weights, sidecar = _paths(key, root)
    if not (weights.exists() and sidecar.exists()):
        return None
    data = weights.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        return None
    return {"key": key, "weights": data, "meta": sidecar.read_text()}


def install(rec: Recorded, blob: dict, root: Path | None = None) -> None:
    """Write a shipped checkpoint into this node's cache after checking it against the record.
    A local file with other bytes under the same key (an older run's training, or a modified
    file) is replaced by the recorded one, with a warning."""
    found = hashlib.sha256(blob["weights"]).hexdigest()
    if blob.get("key") != rec.key or found != rec.sha256:
        raise CheckpointError(f"the checkpoint copy sent for train job {rec.job} has key {blob.get('key')} and "
                              f"SHA-256 {found}, but the job recorded key {rec.key} and SHA-256 {rec.sha256}")
    weights, sidecar = _paths(rec.key, root)
    if weights.exists() and sidecar.exists() and file_sha256(weights) == rec.sha256:
        return
    if weights.exists():
        log.warning("checkpoint %s differs from the one train job %s recorded; replacing it with the recorded copy",
                    weights, rec.job)
    for path, data in ((weights, blob["weights"]), (sidecar, blob["meta"].encode())):
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)


def load_recorded(rec: Recorded, model: torch.nn.Module, root: Path | None = None) -> dict:
    """Load the weights a train job recorded into `model`; never trains. CheckpointError when this
    node's cache lacks them or holds other bytes under their key."""
    weights, sidecar = _paths(rec.key, root)
    if not (weights.exists() and sidecar.exists()):
        raise CheckpointError(
            f"the victim checkpoint of train job {rec.job} ({weights.name}) is not in this node's cache "
            f"{weights.parent} and no copy came with the job; copy it (and its .json) there from the node "
            "that trained it, or share ARCHRISK_CACHE between nodes")
    found = file_sha256(weights)
    if found != rec.sha256:
        raise CheckpointError(f"train job {rec.job} recorded victim SHA-256 {rec.sha256}, but this node's "
                              f"checkpoint has {found}; refusing other weights (restore {weights} or rerun the "
                              "study into a new store)")
    meta, state = _read_verified(weights, sidecar)
    _apply(model, state, weights)
    return meta


def load_weights(model: torch.nn.Module, path: str | Path) -> dict:
    """Load a user-supplied checkpoint (safetensors + .json sidecar) into `model`; raises
    CheckpointError if it is missing, corrupt, or of another architecture."""
    weights = Path(path)
    sidecar = weights.with_suffix(".json")
    if not weights.exists():
        raise CheckpointError(f"checkpoint {weights} does not exist")
    if not sidecar.exists():
        raise CheckpointError(f"checkpoint {weights} has no metadata file {sidecar.name} beside it")
    meta, state = _read_verified(weights, sidecar)
    spec_hash = getattr(getattr(model, "spec", None), "hash", lambda: None)()
    if spec_hash and meta.get("spec_hash") not in (None, spec_hash):
        raise CheckpointError(f"checkpoint {weights} was trained for architecture "
                              f"{meta.get('spec', {}).get('name', '?')!r}, not {model.spec.name!r}")
    _apply(model, state, weights)
    return meta
