"""Jobs on a victim use exactly the checkpoint its train job recorded in the store: a modified or
missing file fails them loudly (with both checksums), and nothing is retrained in their place."""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from types import SimpleNamespace

import pytest
from safetensors.torch import load_file
from runner_fakes import query, study_toml

from archrisk.runner import audit, jobs
from archrisk.train import checkpoint

VGG = ("vgg13_bn",)  # the fastest tiny network


def _train_only(tmp_path, monkeypatch):
    """A store whose train job is done (and recorded its checkpoint) and whose other jobs wait;
    with an empty in-memory victim cache, as in a fresh worker."""
    log = tmp_path / "log"
    monkeypatch.setenv("ARCHRISK_FAKE_LOG", str(log))
    monkeypatch.setattr(jobs, "_VICTIMS", OrderedDict())
    text, store = study_toml(seeds=(0,), archs=VGG), tmp_path / "r.db"
    assert audit(text, store, progress=False, max_jobs=1).counts["done"] == 1
    (train_id, rec), = query(store, "SELECT job_id, json FROM artifacts WHERE key='checkpoint'")
    rec = json.loads(rec)
    weights = checkpoint.checkpoint_dir() / f"{rec['key']}.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == rec["sha256"]  # the file's bytes, recorded
    return text, store, log, train_id, rec, weights


def _flip_bytes(weights, rec):
    raw = bytearray(weights.read_bytes())
    for i in range(len(raw) - 64, len(raw) - 32):  # inside the tensor data
        raw[i] ^= 0xFF
    weights.write_bytes(bytes(raw))


def _coherent_swap(weights, rec):
    """Other weights under the same names, written through the cache itself: the sidecar's own
    checksum agrees with them, so only the store's record tells them apart."""
    state = {k: v + 1 if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
    meta = json.loads(weights.with_suffix(".json").read_text())
    checkpoint.save(rec["key"], SimpleNamespace(state_dict=lambda: state), meta)


@pytest.mark.parametrize("tamper", [_flip_bytes, _coherent_swap])
def test_a_modified_victim_fails_its_jobs_with_both_checksums(tmp_path, cache, monkeypatch, tamper):
    text, store, log, train_id, rec, weights = _train_only(tmp_path, monkeypatch)
    tamper(weights, rec)
    found = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert found != rec["sha256"]
    s = audit(text, store, progress=False)
    errors = {f["id"]: f["error"] for f in s.failures}
    dependents = {j for (j,) in query(store, "SELECT job_id FROM deps WHERE dep_id=?", train_id)}
    assert set(errors) == dependents and len(dependents) == 5  # 4 attacks + 1 trained metric
    for job, error in errors.items():
        assert error.startswith("CheckpointError: ") and f"train job {train_id} recorded victim SHA-256 " \
            f"{rec['sha256']}, but this node's checkpoint has {found}" in error, error
    assert not log.exists() or " attack " not in log.read_text()  # no attack ran on the other weights
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == found  # and nothing retrained over it


def test_a_missing_victim_fails_its_jobs_instead_of_retraining(tmp_path, cache, monkeypatch):
    text, store, log, train_id, rec, weights = _train_only(tmp_path, monkeypatch)
    weights.unlink()
    weights.with_suffix(".json").unlink()
    s = audit(text, store, progress=False)
    assert s.counts["failed"] == 5 and s.counts["done"] == s.total - 5
    assert all(f"the victim checkpoint of train job {train_id}" in f["error"] and "not in this node's cache"
               in f["error"] for f in s.failures)
    assert not weights.exists()  # the victim was not trained again
