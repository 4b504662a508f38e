"""Adversarial training (recipe.adv_train): the inner maximisation, the losses, and the effect."""
from __future__ import annotations

import contextlib
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from archrisk.errors import InvalidValueError, UnknownNameError
from archrisk.train import Recipe, get_recipe, train_model
from archrisk.train.adversarial import PGDTraining, kl_to, linf_ascent, make_adversary


def _linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 2))


def _bn_net(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(dropout),
                         nn.Flatten(), nn.Linear(64, 3))


def _batch(n: int = 8, lo: float = 0.0, hi: float = 1.0, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = lo + (hi - lo) * torch.rand(n, 1, 4, 4, generator=g)
    return x, torch.randint(0, 2, (n,), generator=g)


@pytest.mark.parametrize("lo,hi", [(0.3, 0.7), (0.0, 1.0)])
def test_pgd_reaches_the_analytic_worst_case_of_a_linear_model(lo, hi):
    # For logits W x + b the CE of class y is maximised over the L-inf ball (within [0, 1]) at
    # x - eps * sign(w_y - w_other), clipped to the box: PGD must land exactly there.
    model, eps = _linear(), 0.1
    x, y = _batch(lo=lo, hi=hi)
    w = model[1].weight.detach()  # [2, 16]
    direction = (w[y] - w[1 - y]).sign().view_as(x)
    expected = (x - eps * direction).clamp(0, 1)
    adv = PGDTraining(eps, eps / 2, 5, 0.0, torch.Generator().manual_seed(0))
    x_adv = adv.craft(model, x, y)
    torch.testing.assert_close(x_adv, expected)
    assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y) + 0.05


def test_linf_ascent_stays_in_ball_and_box():
    model = _bn_net()
    x, y = _batch(lo=0.0, hi=1.0)
    start = x + 0.5 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))  # far outside
    with torch.no_grad():
        model.eval()
    x_adv = linf_ascent(model, x, start, lambda z: F.cross_entropy(z, y), eps=0.05, alpha=0.02, steps=4)
    assert (x_adv - x).abs().max() <= 0.05 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert not x_adv.requires_grad


@pytest.mark.parametrize("method,outer_forwards", [("pgd", 1), ("trades", 2)])
def test_crafting_in_eval_mode_leaves_training_state_alone(method, outer_forwards):
    model = _bn_net(dropout=0.3)
    model.train()
    adv = make_adversary(Recipe(adv_train=method, adv_eps=0.1, adv_alpha=0.03, adv_steps=5), seed=0)
    x, y = _batch()
    loss, logits = adv(model, x, y)
    bn = model[1]
    # only the outer (train-mode) forward passes moved the BN running statistics
    assert int(bn.num_batches_tracked) == outer_forwards
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())  # crafting took input gradients only
    loss.backward()
    assert all(p.grad is not None for p in model.parameters()) and logits.shape == (8, 3)


def test_zero_budget_and_zero_beta_reduce_to_the_clean_loss():
    x, y = _batch()
    model = _bn_net().train()
    ref = F.cross_entropy(copy.deepcopy(model)(x), y)
    loss, _ = make_adversary(Recipe(adv_train="pgd", adv_eps=0.0), seed=0)(model, x, y)
    torch.testing.assert_close(loss, ref)
    loss, logits = make_adversary(Recipe(adv_train="trades", trades_beta=0.0), seed=0)(model, x, y)
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(logits, copy.deepcopy(model)(x))


def test_trades_loss_is_ce_plus_beta_kl_at_a_kl_maximiser():
    x, y = _batch()
    model = _bn_net().train()
    rec = Recipe(adv_train="trades", adv_eps=0.1, adv_alpha=0.03, adv_steps=5, trades_beta=6.0)
    x_adv = make_adversary(rec, seed=4).craft(model, x)
    loss, _ = make_adversary(rec, seed=4)(model, x, y)  # same seed: same Gaussian start
    logits = model(x)
    expected = F.cross_entropy(logits, y) + 6.0 * kl_to(F.softmax(logits, 1), model(x_adv))
    torch.testing.assert_close(loss, expected)
    # the inner loop raised the KL well above its value at the random start (eval mode)
    model.eval()
    with torch.no_grad():
        p = F.softmax(model(x), 1)
        start = x + 0.001 * torch.randn(x.shape, generator=torch.Generator().manual_seed(4))
        assert kl_to(p, model(x_adv)) > 10 * kl_to(p, model(start.clamp(0, 1)))
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6


def test_random_start_follows_the_seed():
    model, (x, y) = _linear(), _batch(hi=0.5)
    rec = Recipe(adv_train="pgd", adv_eps=0.2, adv_alpha=0.01, adv_steps=1)  # small step: the start shows
    a, b, c = (make_adversary(rec, seed=s).craft(model, x, y) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with torch.random.fork_rng():  # inside train_model(): the job seed, via torch.initial_seed()
        torch.manual_seed(1)
        assert torch.equal(make_adversary(rec).craft(model, x, y), a)


def test_bad_settings_raise():
    with pytest.raises(InvalidValueError, match="adv_eps"):
        get_recipe("study", adv_train="pgd", adv_eps=-0.1)
    with pytest.raises(UnknownNameError, match="pgd, trades"):
        get_recipe("study", adv_train="fgsm")
    with pytest.raises(InvalidValueError, match="eps"):
        PGDTraining(-1.0, 0.1, 3, 0.0, torch.Generator())


def test_cli_unknown_method_exit_2_one_line(capsys):
    from archrisk.cli import main

    rc = main(["train", "resnet18", "-d", "digits", "--adv-train", "fgsm", "--epochs", "1", "--no-cache"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "fgsm" in err and "pgd" in err


def test_cli_negative_eps_exit_2_one_line(tmp_path, capsys):
    # The train command sets only the method; budgets come from study files (`audit`).
    from archrisk.cli import main

    study = tmp_path / "adv.toml"
    study.write_text('name = "adv"\nseeds = [0]\nsize = "tiny"\narchs = ["resnet18"]\n[data]\nname = "digits"\n'
                     '[recipe]\nadv_train = "pgd"\nadv_eps = -0.1\n')
    rc = main(["audit", str(study), "--store", str(tmp_path / "r.db")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "adv_eps=-0.1" in err


# --- the effect, through train_model() ----------------------------------------------------------

@contextlib.contextmanager
def one_thread():
    """On 8x8 inputs thread synchronisation costs more than it saves; on a shared machine two
    spinning threads made these runs 5-20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


EPS = 0.1  # digits are 8x8 with 17 grey levels; 8/255 is below one level, so use a visible budget


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 20) -> float:
    """Untargeted L-inf PGD written independently of the library: random start, eps/4 steps,
    more steps than training uses, so a model cannot pass by overfitting a weak attack."""
    model.eval()
    g = torch.Generator().manual_seed(123)
    xa = (x + (2 * torch.rand(x.shape, generator=g) - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(xa), y), xa)
        xa = torch.min(torch.max(xa.detach() + eps / 4 * grad.sign(), x - eps), x + eps).clamp(0, 1)
    with torch.no_grad():
        return (model(xa).argmax(1) == y).float().mean().item()


@pytest.fixture(scope="module")
def runs(digits):
    common = dict(size="tiny", seed=0, epochs=10, progress=False, adv_eps=EPS, adv_alpha=EPS / 3, adv_steps=3)
    with one_thread():
        return {m: train_model("resnet18", digits, adv_train=m, **common) for m in (None, "pgd", "trades")}


@pytest.mark.slow  # three full trainings, minutes on loaded cores
@pytest.mark.parametrize("method", ["pgd", "trades"])
def test_adversarial_training_raises_robust_accuracy(runs, digits, method):
    x, y = digits.test.x, digits.test.y
    std, adv = runs[None], runs[method]
    assert std.key != adv.key and adv.recipe.adv_train == method  # the flag reached the cache key
    with one_thread():
        r_std, r_adv = robust_accuracy(std.model, x, y, EPS), robust_accuracy(adv.model, x, y, EPS)
    assert r_adv > r_std + 0.15, (r_std, r_adv)
    assert adv.test_acc > 0.7  # still a working classifier


@pytest.mark.slow  # reuses the three trainings above
def test_adversarial_run_is_cached_under_its_own_key(runs, digits):
    with one_thread():  # the thread count is part of the cache key, as for `runs`
        again = train_model("resnet18", digits, size="tiny", seed=0, epochs=10, progress=False, adv_train="pgd",
                      adv_eps=EPS, adv_alpha=EPS / 3, adv_steps=3)
    assert again.from_cache and again.key == runs["pgd"].key
    assert torch.equal(again.model(digits.test.x[:5]), runs["pgd"].model(digits.test.x[:5]))
