"""TrainRequest: the resolved training run below the public `train` edge. A typed call and the
equivalent public call must be the same run (cache key and weights), and the request refuses
anything still unresolved."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from archrisk.arch import resolve
from archrisk.errors import ArchriskError, InvalidValueError
from archrisk.train import TrainRequest, get_recipe, resolve_arch, resolve_recipe, run_training, train_model

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_thread")  # the thread count enters CPU keys


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_typed_and_public_calls_train_the_same_model_under_the_same_key(digits) -> None:
    public = train_model("resnet18", digits, recipe="darts", size="tiny", seed=2, epochs=1, cache=False, progress=False,
                   lr=0.05)
    typed = run_training(TrainRequest(resolve("resnet18", "tiny"), digits, resolve_recipe("darts", "tiny", lr=0.05),
                                      1, seed=2, device=CPU, cache=False, progress=False))
    assert typed.key == public.key and typed.epochs == public.epochs == 1
    assert typed.recipe == public.recipe and typed.spec == public.spec
    assert _same_weights(typed.model, public.model)
    assert (typed.test_acc, typed.val_acc, typed.history[0].train_loss) == \
        (public.test_acc, public.val_acc, public.history[0].train_loss)
    other = run_training(TrainRequest(resolve("resnet18", "tiny"), digits, resolve_recipe("darts", "tiny", lr=0.05),
                                      1, seed=3, device=CPU, cache=False, progress=False))
    assert other.key != public.key and not _same_weights(other.model, public.model)  # the comparison can fail


def test_a_typed_call_reads_the_checkpoint_the_public_call_wrote(digits) -> None:
    public = train_model("darts_v2", digits, size="tiny", seed=5, epochs=1, progress=False)
    typed = run_training(TrainRequest(resolve("darts_v2", "tiny"), digits, resolve_recipe("study", "tiny"), 1,
                                      seed=5, device=CPU, progress=False))
    assert typed.from_cache and typed.key == public.key
    assert _same_weights(typed.model, public.model)


def test_a_factory_request_matches_the_public_call(digits) -> None:
    def factory() -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

    public = train_model(factory, digits, size="small", seed=1, epochs=1, cache=False, progress=False)
    typed = run_training(TrainRequest(factory, digits, resolve_recipe("study", "small"), 1, seed=1,
                                      device=CPU, size="small", cache=False, progress=False))
    assert typed.key == public.key and typed.spec.size == "small"
    assert _same_weights(typed.model, public.model)


def test_params_resolve_at_the_edge_to_the_same_width(digits) -> None:
    public = train_model("resnet18", digits, size="tiny", params=20_000, epochs=0, cache=False, progress=False)
    spec = resolve_arch("resnet18", "tiny", digits, params=20_000)
    typed = run_training(TrainRequest(spec, digits, resolve_recipe("study", "tiny"), 0, device=CPU, cache=False,
                                      progress=False))
    assert spec.width == public.spec.width != resolve("resnet18", "tiny").width
    assert typed.key == public.key and _same_weights(typed.model, public.model)


def test_the_request_refuses_what_is_not_resolved(digits) -> None:
    spec, rec = resolve("darts_v2", "tiny"), get_recipe("study")
    with pytest.raises(InvalidValueError, match="ArchSpec or a model factory"):
        TrainRequest(nn.Linear(2, 2), digits, rec, 1)
    with pytest.raises(InvalidValueError, match="ArchSpec or a model factory"):
        TrainRequest("darts_v2", digits, rec, 1)  # names are resolved at the edge
    with pytest.raises(InvalidValueError, match="resolved Recipe"):
        TrainRequest(spec, digits, "study", 1)
    with pytest.raises(InvalidValueError, match="loaded Dataset"):
        TrainRequest(spec, "digits", rec, 1)
    with pytest.raises(InvalidValueError, match="torch.device"):
        TrainRequest(spec, digits, rec, 1, device="cpu")
    with pytest.raises(ArchriskError, match="epochs must be >= 0, got -1"):
        TrainRequest(spec, digits, rec, -1)
    with pytest.raises(ArchriskError, match="needs a tag"):
        TrainRequest(spec, digits, rec, 1, after_augment=lambda x, idx: x)
    with pytest.raises(InvalidValueError, match="size preset"):
        TrainRequest(lambda: nn.Linear(2, 2), digits, rec, 1)
    # a spec carries its own size: the request labels the model with it, whatever the caller held
    assert TrainRequest(spec, digits, rec, 1, size="paper").size == "tiny"


def test_retraining_attacks_hand_the_contexts_objects_on(digits, monkeypatch) -> None:
    """Poisoning, backdoor and shadow models train the context's spec and resolved recipe."""
    import archrisk.attacks.poisoning as poisoning
    from archrisk.attacks import AttackContext

    seen = []
    monkeypatch.setattr(poisoning, "run_training", seen.append)
    spec, rec = resolve("darts_v2", "small"), resolve_recipe("darts", "small")
    ctx = AttackContext(spec=spec, dataset=digits, recipe=rec, size="small", seed=4, device=CPU, cache=False)
    poisoning.retrain(ctx, digits, {"attack": "x"}, epochs=3, lr=0.01)
    (req,) = seen
    assert req.arch is spec and req.dataset is digits and req.recipe == rec.with_(lr=0.01)
    assert (req.epochs, req.seed, req.device, req.tag, req.cache) == (3, 4, CPU, {"attack": "x"}, False)
