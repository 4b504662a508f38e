"""Your own model: attacks called the torchattacks way on any nn.Module (or a model factory) give the
same numbers as the same architecture and weights run through the zoo."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from archrisk.arch import build
from archrisk.attacks import PGD, LabelFlip, run_attack
from archrisk.errors import InvalidValueError

pytestmark = pytest.mark.usefixtures("one_thread")


class Plain(nn.Module):
    """A user's module: not a zoo Classifier, no spec, normalises nothing."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


def test_pgd_on_a_users_module_equals_the_zoo_run(digits_victim, digits):
    zoo = run_attack(None, "pgd", digits, victim=digits_victim, n=25, target="random", seed=3)
    mine = Plain(copy.deepcopy(digits_victim.model))
    r = PGD(n=25, target="random")(mine, digits.test.x, digits.test.y, seed=3)
    assert r.metrics == zoo.metrics and r.arrays == zoo.arrays
    assert r.arch == "user:Plain"
    # the adversarial images come back, inside the budget, for the attacked rows in order
    x0 = digits.test.x[r.arrays["attacked"]]
    assert r.adv.shape == x0.shape and float((r.adv - x0).abs().max()) <= 8 / 255 + 1e-6
    assert "adv" not in r.to_record()
    # a Dataset works as well as tensors, and run_attack takes the module by name of attack
    assert PGD(n=25, target="random")(mine, digits, seed=3).metrics == zoo.metrics
    assert run_attack(mine, "pgd", data=digits, n=25, target="random", seed=3).metrics == zoo.metrics


def test_the_attack_really_moves_the_users_model(digits_victim, digits):
    mine = Plain(copy.deepcopy(digits_victim.model))
    strong = PGD(n=25, eps=0.3, alpha=0.05, steps=10)(mine, digits.test.x, digits.test.y)
    none = PGD(n=25, eps=0.0)(mine, digits.test.x, digits.test.y)
    assert none.metrics["success_rate"] == 0.0 < strong.metrics["success_rate"]
    assert mine.training  # the caller's mode is restored


def test_a_factory_trains_like_the_zoo_architecture(digits):
    def factory() -> nn.Module:
        return build("resnet18", num_classes=10, in_channels=1, mean=digits.mean, std=digits.std)

    zoo = run_attack("resnet18", "label_flip", digits, fraction=0.2, epochs=1, cache=False, seed=1)
    mine = LabelFlip(fraction=0.2)(factory, digits, epochs=1, seed=1)
    assert mine.metrics == pytest.approx(zoo.metrics)


def test_retraining_attacks_need_a_factory(digits_victim, digits):
    with pytest.raises(InvalidValueError, match="factory"):
        LabelFlip(fraction=0.1)(Plain(digits_victim.model), digits)


@pytest.mark.parametrize("args, match", [
    ((torch.rand(4, 1, 8, 8), torch.zeros(3, dtype=torch.long)), "labels"),
    ((torch.rand(4, 8, 8), torch.zeros(4, dtype=torch.long)), r"\[N, C, H, W\]"),
    (("not a tensor", None), "unknown dataset"),
    ((None, None), "needs data"),
])
def test_bad_data_is_one_clear_error(digits_victim, args, match):
    from archrisk.errors import ArchriskError
    with pytest.raises(ArchriskError, match=match):
        PGD(n=2)(Plain(digits_victim.model), *args)


def test_a_non_module_is_refused():
    with pytest.raises(InvalidValueError, match="nn.Module"):
        PGD()(42, torch.rand(2, 1, 8, 8), torch.zeros(2, dtype=torch.long))


def test_a_trained_module_with_its_factory_backdoors_and_keys_by_its_weights(digits, tmp_path, monkeypatch):
    """Fine-tuning starts from the module's own weights (it is wrapped like a factory's model), and
    what is cached from it is keyed by those weights, not by the architecture alone."""
    from archrisk.attacks import BadNets
    from archrisk.attacks.own import as_victim
    from archrisk.train import get_recipe

    monkeypatch.setenv("ARCHRISK_CACHE", str(tmp_path))

    def make() -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    torch.manual_seed(0)
    mine = make()
    opt = torch.optim.Adam(mine.parameters(), lr=1e-2)
    for _ in range(100):
        opt.zero_grad()
        nn.functional.cross_entropy(mine(digits.train.x), digits.train.y).backward()
        opt.step()
    r = BadNets(finetune_epochs=1, rate=0.1)(mine, digits, factory=make, cache=True)
    assert r.metrics["victim_acc"] > 0.8 and r.metrics["clean_acc"] > 0.5  # fine-tuned from the trained weights
    other = make()
    rec = get_recipe("study")
    keys = [as_victim(m, digits, rec, seed=0, epochs=1, device=torch.device("cpu")).key for m in (mine, other, mine)]
    assert keys[0] == keys[2] != keys[1] and keys[0].startswith("weights-")
