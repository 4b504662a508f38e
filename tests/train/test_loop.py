"""Training: accuracy targets of the tiny presets, determinism, divergence, validation-based selection."""
from __future__ import annotations

import pytest
import torch

from archrisk.data import load_dataset
from archrisk.errors import DivergedError, InvalidValueError
from archrisk.train import get_recipe, train_model


@pytest.mark.parametrize("arch", ["darts_v2", "resnet18"])
def test_tiny_models_learn_digits(digits, arch: str) -> None:
    r = train_model(arch, digits, size="tiny", seed=0, cache=False, progress=False)
    assert r.test_acc >= 0.90, r.history


# minutes each on 2 loaded cores, the suite's longest tests: slow tier (the fast tier checks that the tiny
# preset learns on the digits, test_tiny_models_learn_digits)
@pytest.mark.slow
@pytest.mark.parametrize("arch", ["pc_darts", "resnet18"])
def test_tiny_models_reach_95_percent_on_mnist5k(arch: str) -> None:
    # how long this takes is measured by benchmarks/bench_train_report.py, never asserted here
    ds = load_dataset("mnist5k")
    r = train_model(arch, ds, size="tiny", seed=0, cache=False, progress=False)
    assert r.test_acc >= 0.95, r.history


def test_training_is_deterministic_per_seed(digits) -> None:
    a = train_model("darts_v2", digits, size="tiny", seed=3, epochs=1, cache=False, progress=False)
    b = train_model("darts_v2", digits, size="tiny", seed=3, epochs=1, cache=False, progress=False)
    c = train_model("darts_v2", digits, size="tiny", seed=4, epochs=1, cache=False, progress=False)
    sa, sb, sc = (r.model.state_dict() for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_non_finite_loss_raises_diverged(digits) -> None:
    with pytest.raises(DivergedError):
        train_model("resnet18", digits, size="tiny", seed=0, epochs=2, cache=False, progress=False,
              lr=1e12, lr_min=0.0, grad_clip=0.0)


def test_best_epoch_is_chosen_on_validation_not_test(digits) -> None:
    r = train_model("resnet18", digits, size="tiny", seed=1, epochs=4, cache=False, progress=False)
    val = [h.val_acc for h in r.history]
    assert r.best_epoch == max(i + 1 for i, v in enumerate(val) if v == max(val))
    assert r.val_acc == pytest.approx(max(val))


def test_size_preset_adjusts_named_recipes_only() -> None:
    assert get_recipe("study").dropout == 0.2
    from archrisk.train.recipe import size_recipe

    assert dict(size_recipe("tiny").adjust)["dropout"] == 0.0
    assert dict(size_recipe("paper").adjust) == {}
    with pytest.raises(InvalidValueError):
        get_recipe("study", lr=-1.0)
