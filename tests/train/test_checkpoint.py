"""The checkpoint cache: hits, tamper detection (rebuilt, never trusted), wrong architecture, and
recorded victims (loaded exactly or refused, shipped copies checked before they are installed)."""
from __future__ import annotations

import pytest
import torch

from archrisk.arch import build
from archrisk.errors import CheckpointError
from archrisk.train import load_weights, train_model
from archrisk.train.checkpoint import Recorded, checkpoint_dir, install, load_recorded, pack, sha256_of


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_second_call_is_a_cache_hit_with_identical_weights(digits) -> None:
    a = train_model("resnet18", digits, size="tiny", seed=11, epochs=1, progress=False)
    b = train_model("resnet18", digits, size="tiny", seed=11, epochs=1, progress=False)
    assert not a.from_cache and b.from_cache and a.key == b.key
    assert b.test_acc == a.test_acc
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])
    c = train_model("resnet18", digits, size="tiny", seed=12, epochs=1, progress=False)
    assert c.key != a.key and not c.from_cache


def test_thread_count_enters_the_cache_key(digits) -> None:
    # training differs between thread counts, so a model trained on 2 threads must not be served
    # to a 1-thread run as if it were the same
    from archrisk.train.loop import torch_threads

    with torch_threads(1):
        one = train_model("resnet18", digits, size="tiny", seed=13, epochs=0, progress=False)
    with torch_threads(2):
        two = train_model("resnet18", digits, size="tiny", seed=13, epochs=0, progress=False)
    assert one.key != two.key and not two.from_cache


def test_flipped_bytes_are_detected_and_the_model_rebuilt(digits, caplog) -> None:
    first = train_model("darts_v2", digits, size="tiny", seed=5, epochs=1, progress=False)
    path = checkpoint_dir() / f"{first.key}.safetensors"
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) - 64, len(raw) - 32):  # inside the tensor data, not the header
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    again = train_model("darts_v2", digits, size="tiny", seed=5, epochs=1, progress=False)
    assert not again.from_cache, "a tampered checkpoint must not be loaded"
    assert "SHA-256" in caplog.text
    for k, v in first.model.state_dict().items():  # rebuilt deterministically: same weights
        assert torch.equal(v, again.model.state_dict()[k]), k
    assert train_model("darts_v2", digits, size="tiny", seed=5, epochs=1, progress=False).from_cache


def test_checkpoint_of_another_architecture_is_refused(digits) -> None:
    r = train_model("resnet18", digits, size="tiny", seed=11, epochs=1, progress=False)
    other = build("vgg13_bn", num_classes=10, in_channels=1, size="tiny")
    before = _weights(other)
    with pytest.raises(CheckpointError):
        load_weights(other, checkpoint_dir() / f"{r.key}.safetensors")
    for k, v in other.state_dict().items():  # nothing half-loaded
        assert torch.equal(v, before[k])
    with pytest.raises(CheckpointError):
        load_weights(other, checkpoint_dir() / "missing.safetensors")


def _recorded(r) -> Recorded:
    return Recorded(job="t1", key=r.key, sha256=sha256_of(r.key))


def _load_recorded(digits, rec: Recorded):
    """What the runner does for a job on a recorded victim: a request that loads exactly those weights."""
    from archrisk.train import TrainRequest, resolve_arch, resolve_recipe, run_training

    return run_training(TrainRequest(resolve_arch("vgg13_bn", "tiny"), digits, resolve_recipe("study", "tiny"), 0,
                                     seed=21, progress=False, recorded=rec))


def test_recorded_weights_load_exactly_and_never_retrain(digits, tmp_path) -> None:
    r = train_model("vgg13_bn", digits, size="tiny", seed=21, epochs=0, progress=False)
    rec = _recorded(r)
    got = _load_recorded(digits, rec)
    assert got.from_cache and got.key == r.key
    for k, v in r.model.state_dict().items():
        assert torch.equal(v, got.model.state_dict()[k]), k
    # a coherent but different checkpoint under the key (its own sidecar agrees with it): refused
    other = train_model("vgg13_bn", digits, size="tiny", seed=22, epochs=0, progress=False)
    for ext in (".safetensors", ".json"):
        (checkpoint_dir() / f"{r.key}{ext}").write_bytes((checkpoint_dir() / f"{other.key}{ext}").read_bytes())
    with pytest.raises(CheckpointError, match=f"train job t1 recorded victim SHA-256 {rec.sha256}, but this "
                                              f"node's checkpoint has {sha256_of(other.key)}"):
        _load_recorded(digits, rec)
    for ext in (".safetensors", ".json"):
        (checkpoint_dir() / f"{r.key}{ext}").unlink()
    with pytest.raises(CheckpointError, match="is not in this node's cache"):
        _load_recorded(digits, rec)
    assert not (checkpoint_dir() / f"{r.key}.safetensors").exists()  # nothing was retrained


def test_a_shipped_copy_is_checked_then_installed(digits, tmp_path, caplog) -> None:
    r = train_model("vgg13_bn", digits, size="tiny", seed=23, epochs=0, progress=False)
    rec = _recorded(r)
    blob = pack(rec.key, rec.sha256)
    assert blob is not None and pack(rec.key, "0" * 64) is None  # only the recorded bytes are sent
    node = tmp_path / "node"
    node.mkdir()
    install(rec, blob, root=node)
    assert sha256_of(rec.key, root=node) == rec.sha256
    model = build("vgg13_bn", num_classes=10, in_channels=1, size="tiny")
    load_recorded(rec, model, root=node)
    for k, v in r.model.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    broken = {**blob, "weights": blob["weights"][:-1] + bytes([blob["weights"][-1] ^ 1])}
    with pytest.raises(CheckpointError, match=f"sent for train job t1 .* but the job recorded .* {rec.sha256}"):
        install(rec, broken, root=tmp_path)
    assert not (tmp_path / f"{rec.key}.safetensors").exists()
    # a local file with other bytes under the key is replaced by the recorded copy, with a warning
    (node / f"{rec.key}.safetensors").write_bytes(broken["weights"])
    install(rec, blob, root=node)
    assert sha256_of(rec.key, root=node) == rec.sha256 and "differs from the one train job t1 recorded" in caplog.text
