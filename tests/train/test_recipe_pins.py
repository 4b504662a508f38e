"""Pins what a (recipe, size preset, overrides) triple resolves to, and the checkpoint keys of a few
trainings: these values are stored with every study's jobs and checkpoints, so moving code around
must not change them."""
from __future__ import annotations

import pytest
import torch

from archrisk.runner import parse_study
from archrisk.runner.config import build_recipe
from archrisk.train import RECIPES, get_recipe, torch_threads

OVERRIDES = [{}, {"epochs": 3}, {"dropout": 0.1, "batch_size": 32}, {"cutout": 8, "lr": 0.05}]
DARTS = {"name": "darts", "weight_decay": 3e-4, "dropout": 0.0, "drop_path": 0.2, "aux_weight": 0.4}
TINY = {"dropout": 0.0, "cutout": 0}  # what the tiny preset changes under a named recipe
# (recipe, size) -> the fields that differ from Recipe() with no overrides
EXPECTED = {("study", "tiny"): TINY, ("study", "small"): {}, ("study", "paper"): {},
            ("darts", "tiny"): {**DARTS, **TINY}, ("darts", "small"): DARTS, ("darts", "paper"): DARTS}


def _expected(recipe: str, size: str, overrides: dict) -> dict:
    return {**get_recipe("study").to_dict(), **EXPECTED[recipe, size], **overrides}


def _study(recipe: str, size: str, overrides: dict):
    lines = [f'name = "{recipe}"'] + [f"{k} = {v!r}" for k, v in overrides.items()]
    text = (f'name = "pin"\nseeds = [0]\nsize = "{size}"\narchs = ["darts_v2"]\n[data]\nname = "digits"\n'
            f'[recipe]\n' + "\n".join(lines) + '\n[[attacks]]\nname = "pgd"\n')
    return parse_study(text)


def test_every_recipe_and_size_preset_pins_its_recipe_values() -> None:
    assert set(RECIPES) == {"study", "darts"}  # a new recipe needs its row in EXPECTED
    for (recipe, size) in EXPECTED:
        for ov in OVERRIDES:
            assert build_recipe(_study(recipe, size, ov)).to_dict() == _expected(recipe, size, ov), (recipe, size, ov)


# (arch, size, recipe (None: a Recipe object, which the size preset leaves alone), train kwargs)
# -> checkpoint key, epochs trained, dropout rates in the built model
KEYS = [
    (("darts_v2", "tiny", "study", {}), "c80b33bbf78254b8ee25957f", 8, []),
    (("resnet18", "small", "darts", {}), "33b6bb6807832ee47524d0a1", 30, [0.0]),
    (("random(3)", "paper", "study", {"epochs": 5}), "184cad18a8915708fc371c8d", 5, [0.2]),
    (("resnet18(width=0.25)", "tiny", "darts", {"lr": 0.05}), "eae0d3d1d76ef65835ef1738", 8, [0.0]),
    (("darts_v2", "tiny", None, {}), "bc8aefacbf6e818f5b20ab8c", 8, [0.2]),
    (("vgg13_bn", "tiny", "study", {"batch_size": 32, "epochs": 4}), "82056b46d73f06975798d1e8", 4, [0.0]),
]


@pytest.mark.parametrize("case,key,epochs,dropouts", KEYS, ids=[str(c[0][:3]) for c in KEYS])
def test_train_cache_keys_and_epochs_are_pinned(digits, monkeypatch, case, key, epochs, dropouts) -> None:
    import archrisk.train.loop as loop
    from archrisk.train import train_model

    monkeypatch.setattr(loop, "fit", lambda model, tr, va, rec, n, seed, dev, **kw: ([], n))  # keys, not training
    monkeypatch.setattr(loop, "evaluate", lambda model, split: (0.0, 0.0))
    arch, size, recipe, kw = case
    with torch_threads(1):  # the thread count enters CPU keys
        r = train_model(arch, digits, recipe=get_recipe("study") if recipe is None else recipe, size=size, seed=1,
                  cache=False, progress=False, **kw)
    assert (r.key, r.epochs) == (key, epochs)
    assert sorted({m.p for m in r.model.modules() if isinstance(m, torch.nn.Dropout)}) == dropouts


def test_resolve_recipe_is_the_one_merge_and_every_size_has_training_defaults() -> None:
    from archrisk.arch import SIZES
    from archrisk.errors import UnknownNameError
    from archrisk.train import SIZE_RECIPES, resolve_recipe, train_epochs

    assert set(SIZE_RECIPES) == set(SIZES)
    assert not {"epochs", "recipe", "dropout", "cutout"} & set(vars(SIZES["tiny"]))  # architecture scale only
    for (recipe, size) in EXPECTED:
        for ov in OVERRIDES:
            assert resolve_recipe(recipe, size, **ov).to_dict() == _expected(recipe, size, ov), (recipe, size, ov)
    obj = get_recipe("study")  # a Recipe object is already resolved: the size preset leaves it alone
    assert resolve_recipe(obj, "tiny") == obj and resolve_recipe(obj, "tiny", lr=0.1).lr == 0.1
    assert [train_epochs(resolve_recipe("study", s), s) for s in ("tiny", "small", "paper")] == [8, 30, 200]
    assert train_epochs(resolve_recipe("study", "paper", epochs=3), "paper") == 3
    assert train_epochs(resolve_recipe("study", "paper", epochs=3), "paper", epochs=0) == 0
    with pytest.raises(UnknownNameError, match="huge"):
        resolve_recipe("study", "huge")
    with pytest.raises(UnknownNameError, match="fast"):
        resolve_recipe("fast", "tiny")


def test_run_attack_and_explain_hand_train_the_resolved_recipe(digits, monkeypatch) -> None:
    """Below the public edge the recipe travels resolved, as a Recipe, never as a name to re-merge."""
    import archrisk.attacks as attacks
    import archrisk.attacks.api as attack_api
    import archrisk.metrics.api as api
    from archrisk.train import Recipe, resolve_recipe

    seen = []

    class Stop(Exception):
        pass

    def fake_train(request):  # the one internal entry: a resolved TrainRequest
        seen.append((request.recipe, request.size))
        raise Stop

    monkeypatch.setattr(attack_api, "run_training", fake_train)
    monkeypatch.setattr(api, "run_training", fake_train)
    with pytest.raises(Stop):
        attacks.run_attack("darts_v2", "pgd", digits, size="small", recipe="darts")
    with pytest.raises(Stop):
        api.explain("resnet18", digits, size="tiny", metrics="hessian_top")
    assert [type(r) for r, _ in seen] == [Recipe, Recipe]
    assert seen == [(resolve_recipe("darts", "small"), "small"), (resolve_recipe("study", "tiny"), "tiny")]
