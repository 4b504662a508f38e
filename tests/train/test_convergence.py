"""The convergence rule (`Recipe.patience`): the stopping decision, `fit` obeying it with the cap and
the schedule of the cap-long run, what a run records (also from the cache), and keys that stay
pinned for recipes without it."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from archrisk.arch.user import from_factory
from archrisk.errors import InvalidValueError
from archrisk.train import get_recipe, resolve_recipe, torch_threads, train_model
from archrisk.train.checkpoint import checkpoint_dir
from archrisk.train.convergence import converged, epochs_without_rise, plateaued

pytestmark = pytest.mark.usefixtures("one_thread")


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def test_the_stopping_decision_on_known_sequences() -> None:
    assert epochs_without_rise([]) == 0
    assert epochs_without_rise([0.5]) == 0  # the first epoch always rises
    assert epochs_without_rise([0.5, 0.6, 0.6, 0.55]) == 2  # a tie is no rise
    assert epochs_without_rise([0.5, 0.6, 0.6, 0.7]) == 0
    # gains of 0.004 each never beat the best by more than 0.01 until they add up past it
    creep = [0.5, 0.504, 0.508, 0.512]
    assert epochs_without_rise(creep) == 0 and epochs_without_rise(creep, 0.01) == 0
    assert epochs_without_rise(creep[:3], 0.01) == 2
    assert epochs_without_rise([0.5, math.nan, math.nan]) == 2  # no validation: never a rise
    plateau = [0.1, 0.5, 0.5, 0.5]
    assert plateaued(plateau, 2) and not plateaued(plateau, 3) and not plateaued(plateau, None)
    assert converged(plateau, 2) is True and converged(plateau, 3) is False and converged(plateau, None) is None


class _ScriptedVal:
    """Stands in for `evaluate` on the validation split: the given accuracies, one per epoch."""

    def __init__(self, accs):
        self.accs, self.calls = list(accs), 0

    def __call__(self, model, split, batch_size=512):
        self.calls += 1
        return 1.0, self.accs[self.calls - 1]


@pytest.mark.parametrize("accs,patience,run,best", [
    ([0.1, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9], 2, 4, 4),  # plateau: stops; a tie keeps the later epoch
    ([0.1, 0.5, 0.4, 0.6, 0.3, 0.2, 0.9, 0.9], 2, 6, 4),  # a late rise comes too late
    ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], 2, 8, 8),  # keeps rising: the cap ends it
    ([0.1, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9], None, 8, 8),  # the rule off: every epoch
])
def test_fit_stops_where_the_rule_says_on_a_scripted_validation(digits, monkeypatch, accs, patience, run, best):
    import archrisk.train.loop as loop

    monkeypatch.setattr(loop, "evaluate", _ScriptedVal(accs))
    model = from_factory(mlp, "tiny", 1)
    rec = resolve_recipe("study", "tiny", patience=patience)
    history, best_epoch = loop.fit(model, digits.train, digits.val, rec, 8, 0, torch.device("cpu"), progress=False)
    assert [h.val_acc for h in history] == accs[:run] and best_epoch == best


def test_a_stopped_run_is_the_start_of_the_cap_long_run(digits) -> None:
    """The schedules run over the cap, so the rule only decides where to stop: the stopped run's epochs
    are the fixed run's first epochs, and it stops at the first epoch the rule names on them."""
    cap = 12
    full = train_model(mlp, digits, epochs=cap, seed=2, cache=False, progress=False)
    ruled = train_model(mlp, digits, epochs=cap, seed=2, patience=1, cache=False, progress=False)
    vals = [h.val_acc for h in full.history]
    stop = next((i for i in range(1, cap + 1) if plateaued(vals[:i], 1)), cap)
    assert stop < cap  # the digits plateau within the cap (else this test would not test stopping)
    assert (ruled.epochs, ruled.epochs_run, ruled.converged) == (cap, stop, True)
    assert (full.epochs_run, full.converged) == (cap, None)
    assert [(h.train_loss, h.val_acc, h.lr) for h in ruled.history] == \
        [(h.train_loss, h.val_acc, h.lr) for h in full.history[:stop]]
    top = max(vals[:stop])
    assert ruled.best_epoch == max(i + 1 for i in range(stop) if vals[i] == top)
    assert ruled.val_acc == pytest.approx(top)  # the best-on-validation weights are the ones kept
    assert ruled.summary()["epochs_run"] == stop and ruled.summary()["converged"] is True


def test_the_cap_ends_a_run_the_rule_cannot_stop(digits) -> None:
    r = train_model(mlp, digits, epochs=3, seed=2, patience=3, cache=False, progress=False)  # needs 4 epochs to stop
    assert (r.epochs_run, r.converged) == (3, False)


def test_the_cache_returns_what_the_run_recorded(digits, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ARCHRISK_CACHE", str(tmp_path))  # its own cache: the first call trains
    for kw in ({"patience": 1}, {}):
        first = train_model(mlp, digits, epochs=12, seed=21, progress=False, **kw)
        again = train_model(mlp, digits, epochs=12, seed=21, progress=False, **kw)
        assert not first.from_cache and again.from_cache and again.key == first.key
        assert (again.epochs_run, again.converged, again.best_epoch, again.val_acc) == \
            (first.epochs_run, first.converged, first.best_epoch, first.val_acc)
        meta = json.loads((checkpoint_dir() / f"{first.key}.json").read_text())
        assert (meta["epochs"], meta["epochs_run"], meta["converged"]) == (12, first.epochs_run, first.converged)
    assert first.converged is None and first.epochs_run == 12  # the fixed-epoch run, last in the loop


def test_patience_needs_a_validation_split(digits) -> None:
    from dataclasses import replace

    no_val = replace(digits, val=type(digits.val)(digits.val.x[:0], digits.val.y[:0]), content_digest="")
    with pytest.raises(InvalidValueError, match="patience=2.*no validation split"):
        train_model(mlp, no_val, epochs=2, patience=2, cache=False, progress=False)


def test_recipe_fields_and_their_rules() -> None:
    base = get_recipe("study")
    assert get_recipe("study", patience=None) == base
    assert not {"patience", "min_delta"} & (set(base.to_dict()) | set(base.cache_fields(torch.device("cpu"))))
    on = get_recipe("study", patience=5)
    assert on.to_dict() == {**base.to_dict(), "patience": 5}  # min_delta at its default stays out
    assert on.cache_fields(torch.device("cpu")) == {**base.cache_fields(torch.device("cpu")), "patience": 5}
    assert get_recipe("study", patience=5, min_delta=0.01).to_dict()["min_delta"] == 0.01
    with pytest.raises(InvalidValueError, match="patience=0"):
        get_recipe("study", patience=0)
    with pytest.raises(InvalidValueError, match="min_delta=0.01.*unless patience is set"):
        get_recipe("study", min_delta=0.01)


# (patience) -> checkpoint key of tests/train/test_recipe_pins.py's first case (darts_v2, tiny, study)
KEYS = [(None, "c80b33bbf78254b8ee25957f"), (5, "a377d56ed31f210d7752370a")]


@pytest.mark.parametrize("patience,key", KEYS)
def test_patience_enters_the_checkpoint_key_only_when_set(digits, monkeypatch, patience, key) -> None:
    import archrisk.train.loop as loop

    monkeypatch.setattr(loop, "fit", lambda model, tr, va, rec, n, seed, dev, **kw: ([], n))  # keys, not training
    monkeypatch.setattr(loop, "evaluate", lambda model, split: (0.0, 0.0))
    with torch_threads(1):  # the thread count enters CPU keys
        r = train_model("darts_v2", digits, recipe="study", size="tiny", seed=1, cache=False, progress=False,
                  patience=patience)
    assert r.key == key
