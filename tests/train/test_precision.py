"""Training precision: recipe fields, their part in checkpoint keys, bf16 accuracy against fp32,
and float32 measurements (attacks, metrics) even under an enclosing autocast."""
from __future__ import annotations

import pytest
import torch

from archrisk.errors import ArchriskError
from archrisk.train import get_recipe, train_model
from archrisk.train.precision import autocast, float32, resolve_channels_last, resolve_precision

pytestmark = pytest.mark.usefixtures("one_thread")
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_resolves_per_device() -> None:
    assert resolve_precision("auto", CPU) == "fp32" and resolve_precision("auto", CUDA) == "bf16"
    assert resolve_precision("bf16", CPU) == "bf16" and resolve_precision("fp32", CUDA) == "fp32"
    assert resolve_channels_last("auto", CPU) is False and resolve_channels_last("auto", CUDA) is True
    assert resolve_channels_last(True, CPU) is True


@pytest.mark.parametrize("bad", [{"precision": "fp16"}, {"channels_last": "yes"}, {"compile": "on"}])
def test_bad_execution_options_are_one_line_errors(bad) -> None:
    with pytest.raises(ArchriskError, match=list(bad)[0]):
        get_recipe("study", **bad)


def test_defaults_keep_old_dicts_and_precision_enters_the_key() -> None:
    rec = get_recipe("study")
    assert "precision" not in rec.to_dict() and "compile" not in rec.to_dict()  # job ids unchanged
    assert get_recipe("study", precision="bf16").to_dict()["precision"] == "bf16"
    # auto on CPU trains in fp32: the same key as explicit fp32 (and as before the option existed)
    assert rec.cache_fields(CPU) == get_recipe("study", precision="fp32").cache_fields(CPU)
    assert "precision" not in rec.cache_fields(CPU)
    # auto on CUDA trains in bf16: the resolved value is in the key
    assert rec.cache_fields(CUDA)["precision"] == "bf16"
    assert rec.cache_fields(CUDA) == get_recipe("study", precision="bf16").cache_fields(CPU)
    # layout only changes rounding: not part of the key
    assert get_recipe("study", channels_last=True).cache_fields(CPU) == rec.cache_fields(CPU)


def test_float32_context_overrides_an_enclosing_autocast() -> None:
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with autocast("bf16", CPU):
        assert lin(x).dtype == torch.bfloat16
        with float32():
            assert lin(x).dtype == torch.float32
    with autocast("auto", CPU):
        assert lin(x).dtype == torch.float32


@pytest.fixture(scope="module")
def synthetic():
    from archrisk.data import load_dataset

    return load_dataset("synthetic")


@pytest.fixture(scope="module")
def pair(synthetic):
    """The same tiny net trained fp32 and bf16 (CPU autocast), same seed, stopped while still
    learning (2 epochs: ~0.94 test accuracy, not yet saturated) so that a gap would show."""
    kw = dict(size="tiny", seed=0, epochs=2, cache=False, progress=False)
    return train_model("resnet18", synthetic, precision="fp32", **kw), train_model("resnet18", synthetic, precision="bf16", **kw)


def test_bf16_training_reaches_fp32_accuracy(pair) -> None:
    fp32, bf16 = pair
    # bf16 really ran (the weights differ) yet the stored weights stay float32
    assert any(not torch.equal(a, b) for a, b in zip(fp32.model.state_dict().values(), bf16.model.state_dict().values()))
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    assert fp32.key != bf16.key
    assert fp32.test_acc >= 0.8
    # Stated tolerance: 5 points of test accuracy. bf16 rounding perturbs the trajectory about as
    # much as another seed would; a broken bf16 path (no learning, NaNs) lands near 10% (chance).
    assert abs(bf16.test_acc - fp32.test_acc) <= 0.05


def test_attack_success_comes_from_float32_logits(pair, synthetic) -> None:
    from archrisk.attacks import run_attack

    victim = pair[1]
    seen: list[torch.dtype] = []
    hook = victim.model.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    try:
        with autocast("bf16", CPU):  # a caller that left autocast open must not change the measurement
            r = run_attack("resnet18", "pgd", synthetic, victim=victim, n=32, steps=3)
    finally:
        hook.remove()
    assert seen and set(seen) == {torch.float32}
    assert 0.0 <= r.metrics["success_rate"] <= 1.0
