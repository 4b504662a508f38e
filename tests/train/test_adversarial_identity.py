"""Adversarial training through the shared attack core gives the very weights of the training
side's former inner loop: the reference below is that loop, frozen, and one epoch of `pgd` and
`trades` training with either must agree bit for bit (weights and losses)."""
from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn.functional as F

from archrisk.train import torch_threads, train_model
from archrisk.train import adversarial as adv_mod


def _reference_ascent(model, x, x_start, objective, eps, alpha, steps):
    # the training side's own PGD as it stood: ball and box as precomputed bounds, sign steps
    lo, hi = (x - eps).clamp_(0.0, 1.0), (x + eps).clamp_(0.0, 1.0)
    x_adv = torch.max(torch.min(x_start.detach(), hi), lo)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(model(x_adv)), x_adv)
        x_adv = torch.max(torch.min(x_adv.detach() + alpha * grad.sign(), hi), lo)
    return x_adv.detach()


def _reference_pgd_craft(self, model, x, y):
    with adv_mod.crafting(model):
        start = x + (torch.rand(x.shape, generator=self.generator) * 2 - 1).mul_(self.eps).to(x.device, x.dtype)
        return _reference_ascent(model, x, start, lambda logits: F.cross_entropy(logits, y),
                                 self.eps, self.alpha, self.steps)


def _reference_trades_craft(self, model, x):
    with adv_mod.crafting(model):
        p_clean = F.softmax(model(x), dim=1)
        noise = torch.randn(x.shape, generator=self.generator).mul_(self.start_std).to(x.device, x.dtype)
        return _reference_ascent(model, x, x + noise, lambda logits: adv_mod.kl_to(p_clean, logits),
                                 self.eps, self.alpha, self.steps)


def _one_epoch(digits, method: str):
    with torch_threads(1):
        r = train_model("resnet18", digits, size="tiny", seed=0, epochs=1, progress=False, adv_train=method,
                  adv_eps=0.1, adv_alpha=0.1 / 3, adv_steps=3, cache=False)
    state = r.model.state_dict()
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(state[k].detach().contiguous().numpy().tobytes())
    return h.hexdigest(), [e.train_loss for e in r.history], r.val_acc


@pytest.mark.parametrize("method", ["pgd", "trades"])
def test_training_through_the_shared_core_is_bit_identical(digits, method, monkeypatch):
    ours = _one_epoch(digits, method)
    with monkeypatch.context() as m:
        m.setattr(adv_mod.PGDTraining, "craft", _reference_pgd_craft)
        m.setattr(adv_mod.TradesTraining, "craft", _reference_trades_craft)
        ref = _one_epoch(digits, method)
    assert ours == ref
    # and the run is not one where the adversary could not matter: a clean epoch differs
    with torch_threads(1):
        clean = train_model("resnet18", digits, size="tiny", seed=0, epochs=1, progress=False, cache=False)
    assert [e.train_loss for e in clean.history] != ours[1]


@pytest.mark.parametrize("steps", [1, 4])
def test_linf_ascent_matches_the_former_loop_exactly(steps):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(64, 3)).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(16, 1, 4, 4, generator=g)
    x[:4] = torch.randint(0, 2, (4, 1, 4, 4), generator=g).float() / 64  # near the box's lower face
    y = torch.randint(0, 3, (16,), generator=g)
    start = x + 0.3 * torch.randn(x.shape, generator=g)  # partly outside the ball and the box
    objective = lambda logits: F.cross_entropy(logits, y)  # noqa: E731
    ours = adv_mod.linf_ascent(model, x, start, objective, eps=0.1, alpha=0.03, steps=steps)
    assert torch.equal(ours, _reference_ascent(model, x, start, objective, 0.1, 0.03, steps))
