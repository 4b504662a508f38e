"""Evasion: PGD against a from-scratch reference and an analytic optimum, budgets respected,
strength rising with eps and queries, APGD at least as strong as PGD, validity flags."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from archrisk.attacks import get_attack, run_attack
from archrisk.attacks.common import pick_targets
from archrisk.perturb import apgd, apgd_checkpoints, nes, pgd, random_start
from attack_helpers import MLP, context, wrap


def reference_pgd(model, x, y, target, eps, alpha, steps, start):
    """Plain PGD written independently of the library (torchattacks' update and projection order)."""
    path, adv = [start.clone()], start.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        logits = model(adv)
        if target is None:
            (g,) = torch.autograd.grad(F.cross_entropy(logits, y), adv)
            adv = adv.detach() + alpha * g.sign()
        else:
            (g,) = torch.autograd.grad(F.cross_entropy(logits, target), adv)
            adv = adv.detach() - alpha * g.sign()
        delta = torch.clamp(adv - x, min=-eps, max=eps)
        adv = torch.clamp(x + delta, 0, 1).detach()
        path.append(adv)
    return path


@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_matches_reference_step_for_step(digits_victim, digits, targeted):
    model = digits_victim.model.eval()
    x, y = digits.test.x[:48], digits.test.y[:48]
    target = (y + 3) % 10 if targeted else None
    eps, alpha = 0.1, 0.03
    start = random_start(x, eps, "linf", torch.Generator().manual_seed(1))
    path = reference_pgd(model, x, y, target, eps, alpha, 6, start)
    for k in range(7):
        ours = pgd(model, x, y, target, eps=eps, alpha=alpha, steps=k, early_stop=False, start=start).x_adv
        assert torch.allclose(ours, path[k], atol=1e-6), f"diverged at step {k}"
    assert (path[6] - x).abs().max() > 0.05  # the comparison is not between two no-ops


def _linear_pair():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    x = 0.4 + 0.2 * torch.rand(8, 1, 4, 4)  # interior: clipping to [0, 1] never binds at eps 0.05
    y = model(x).argmax(1)
    w = model[1].weight.detach()
    away = (w[1 - y] - w[y]).view(-1, 1, 4, 4)  # the direction that lowers the margin of the true class
    return model, x, y, away


@pytest.mark.parametrize("algo", ["pgd", "apgd"])
def test_linf_attack_reaches_analytic_optimum_on_linear_model(algo):
    """For a linear two-class model the loss-maximising L-inf perturbation is eps * sign(w_other - w_true)."""
    model, x, y, away = _linear_pair()
    eps = 0.05
    if algo == "pgd":
        out = pgd(model, x, y, eps=eps, alpha=eps / 4, steps=7, early_stop=False)
    else:
        out = apgd(model, x, y, eps=eps, steps=10)  # its first step (2 eps) already lands on the corner
    assert torch.allclose(out.x_adv - x, eps * away.sign(), atol=1e-6)


def test_l2_attack_reaches_analytic_optimum_on_linear_model():
    model, x, y, away = _linear_pair()
    eps = 0.05
    out = pgd(model, x, y, eps=eps, alpha=eps / 3, steps=6, norm="l2", early_stop=False)
    unit = away / away.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert torch.allclose(out.x_adv - x, eps * unit, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(eps=st.floats(0, 0.5), alpha=st.floats(0, 0.5), steps=st.integers(0, 4),
       norm=st.sampled_from(["linf", "l2"]), algo=st.sampled_from(["pgd", "apgd", "nes"]),
       targeted=st.booleans(), seed=st.integers(0, 100))
def test_perturbations_stay_in_budget_and_box(eps, alpha, steps, norm, algo, targeted, seed):
    torch.manual_seed(seed)
    model = MLP(16, 4, hidden=8).eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 1, 4, 4, generator=gen)
    x[0] = 0.0  # corners of the box
    x[1] = 1.0
    y = torch.randint(0, 4, (6,), generator=gen)
    target = (y + 1) % 4 if targeted else None
    if algo == "pgd":
        out = pgd(model, x, y, target, eps=eps, alpha=alpha, steps=steps, norm=norm,
                  start=random_start(x, eps, norm, gen))
    elif algo == "apgd":
        out = apgd(model, x, y, target, eps=eps, steps=max(steps, 1), norm=norm)
    else:
        out = nes(model, x, y, target, eps=eps, alpha=alpha, queries=1 + 21 * steps, pop=10, sigma=1e-3,
                  gen=gen, norm=norm)
    d = (out.x_adv - x).flatten(1)
    size = d.abs().max(1).values if norm == "linf" else d.norm(dim=1)
    assert (size <= eps + 1e-5).all()
    assert out.x_adv.min() >= 0 and out.x_adv.max() <= 1


def test_apgd_checkpoints_follow_the_paper():
    # p0=0, p1=0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), w_j = ceil(p_j * N)
    assert sorted(apgd_checkpoints(100)) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_targets():
    logits = torch.randn(200, 10)
    y = torch.randint(0, 10, (200,))
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(pick_targets(logits, y, "least_likely", gen), logits.argmin(1))
    mlw = pick_targets(logits, y, "most_likely_wrong", gen)
    assert (mlw != y).all()
    second = logits.scatter(1, y[:, None], float("-inf")).argmax(1)
    assert torch.equal(mlw, second)
    rnd = pick_targets(logits, y, "random", gen)
    assert (rnd != y).all() and len(rnd.unique()) == 10


def test_success_rises_with_eps_and_is_zero_without_budget(mlp_victim, digits):
    r = get_attack("pgd", n=150, targeted=False, curve_eps=(0.0, 0.02, 0.05, 0.1, 0.2), steps=10, alpha=0.02, eps=0.2)(
        context(mlp_victim, digits))
    rates = [row["success_rate"] for row in r.curves["eps"]]
    assert rates[0] == 0.0 and r.curves["eps"][0]["robust_acc"] == 1.0
    assert all(b >= a - 0.02 for a, b in zip(rates, rates[1:])), rates
    assert rates[-1] > 0.8 and rates[-1] > rates[1] + 0.3, rates
    assert r.metrics["n"] == 150 and len(r.arrays["fooled"]) == round(r.metrics["success_rate"] * 150)
    # fooled indices point at test images that the victim classified correctly
    fooled = torch.tensor(r.arrays["fooled"])
    assert (mlp_victim.model(digits.test.x[fooled]).argmax(1) == digits.test.y[fooled]).all()


def test_targeted_success_means_target_reached(mlp_victim, digits):
    model = mlp_victim.model
    x, y = digits.test.x[:100], digits.test.y[:100]
    keep = model(x).argmax(1) == y
    x, y = x[keep], y[keep]
    target = model(x).argmin(1)
    out = pgd(model, x, y, target, eps=0.3, alpha=0.05, steps=20)
    assert out.success.float().mean() > 0.5
    assert torch.equal(model(out.x_adv).argmax(1)[out.success], target[out.success])
    conf = pgd(model, x, y, target, eps=0.3, alpha=0.05, steps=20, confident=True)
    assert (F.softmax(model(conf.x_adv), 1).gather(1, target[:, None]).squeeze(1)[conf.success] > 0.99).all()
    assert conf.success.sum() <= out.success.sum() + 2


def test_apgd_at_least_as_strong_as_pgd(mlp_victim, digits):
    ctx = context(mlp_victim, digits)
    for targeted, eps in ((True, 0.15), (False, 0.08)):
        common = dict(n=150, eps=eps, targeted=targeted)
        p = get_attack("pgd", steps=20, alpha=eps / 4, **common)(ctx).metrics
        a = get_attack("apgd", steps=20, **common)(ctx).metrics
        assert 0 < p["success_rate"] < 1  # a budget where the two can differ
        assert a["success_rate"] >= p["success_rate"]
        if not targeted:  # a targeted attack does not minimise robust accuracy
            assert a["robust_acc"] <= p["robust_acc"]


def test_nes_success_rises_with_queries_and_needs_none_of_the_gradient(mlp_victim, digits):
    ctx = context(mlp_victim, digits)
    rates = [get_attack("nes", n=60, eps=0.15, alpha=0.03, queries=q, pop=10, targeted=False)(ctx).metrics
             for q in (1, 64, 400)]
    s = [m["success_rate"] for m in rates]
    assert s[0] == 0.0 and s[1] < s[2] and s[2] > 0.5, s
    assert rates[2]["mean_queries"] <= 400


def test_l2_pgd_runs_through_the_interface(mlp_victim, digits):
    r = get_attack("pgd_l2", n=50, eps=1.5, alpha=0.3, targeted=False)(context(mlp_victim, digits))
    assert r.metrics["success_rate"] > 0.5


class _Rounded(nn.Module):
    """Quantised input: its gradient is zero almost everywhere (classic gradient masking)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(torch.round(x * 4) / 4)


class _NanGrad(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        zero = (x - x.detach()).pow(2).flatten(1).sum(1, keepdim=True)
        return self.inner(x) + 0 * zero.sqrt()  # d sqrt/dz at 0 is inf; inf * 0 = NaN


def test_gradient_masking_flag(mlp_victim, digits):
    atk = get_attack("pgd", n=100, eps=0.3, alpha=0.075, targeted=False, probe=8)
    masked = atk(context(wrap(_Rounded(mlp_victim.model), digits), digits))
    assert masked.metrics["success_rate"] == 0.0 and masked.flags["gradient_masking"]
    honest = atk(context(mlp_victim, digits))
    assert not honest.flags["gradient_masking"] and honest.metrics["success_rate"] > 0.5


def test_nonfinite_gradient_flag(mlp_victim, digits):
    r = get_attack("pgd", n=20, eps=0.1, probe=0)(context(wrap(_NanGrad(mlp_victim.model), digits), digits))
    assert r.flags["nonfinite_grad"]
    assert not get_attack("pgd", n=20, probe=0)(context(mlp_victim, digits)).flags.get("nonfinite_grad", False)


def test_eval_mode_is_set_and_restored(digits_victim, digits):
    model = digits_victim.model
    seen = []
    hook = model.register_forward_pre_hook(lambda m, inp: seen.append(m.training))
    model.train()
    try:
        r = run_attack(None, "pgd", digits, victim=digits_victim, n=10)
    finally:
        hook.remove()
    assert model.training  # restored
    model.eval()
    assert seen and not any(seen)  # attacked in eval mode
    assert r.flags["victim_in_train_mode"]


class _FirstPixels(nn.Module):
    """logits = scale * (the first three pixels): confidences known in closed form at every point."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale
        self.classifier = nn.Linear(3, 3)  # unused; victims carry a classifier

    def forward(self, x):
        return self.scale * x.flatten(1)[:, :3]


def test_alpha_follows_eps_unless_given_and_warns_when_short():
    assert get_attack("pgd").alpha == pytest.approx(2 / 255)  # the study's step at its eps
    assert get_attack("pgd", eps=0.3).alpha == pytest.approx(0.075)
    assert get_attack("pgd", eps=0.3, alpha=0.1).alpha == 0.1
    assert get_attack("pgd_l2").alpha == pytest.approx(0.1) and get_attack("pgd_l2", eps=2.0).alpha == pytest.approx(0.4)
    assert get_attack("pgd", eps=0.3).at_eps(0.1).alpha == pytest.approx(0.025)
    with pytest.warns(UserWarning, match="cannot reach eps"):
        get_attack("pgd", eps=0.3, alpha=2 / 255)
    with pytest.warns(UserWarning, match="cannot reach eps"):
        get_attack("nes", eps=0.3, alpha=0.01)


@pytest.mark.parametrize("scale,confident", [(3.0, False), (6.0, True)])
def test_pgd_records_both_success_rules(digits, scale, confident):
    """Every input reaches the corner x_target = 1, others = 0, where the target probability is
    e^s / (e^s + 2): 0.909 at s = 3 (argmax only), 0.995 at s = 6 (the study's > 0.99 rule too)."""
    from dataclasses import replace

    from archrisk.data import Split

    x = torch.zeros(20, *digits.shape)
    x.view(20, -1)[:, :3] = torch.tensor([0.6, 0.4, 0.2])  # class 0; least likely: class 2
    ds = replace(digits, test=Split(x, torch.zeros(20, dtype=torch.long)), content_digest="")
    ctx = context(wrap(_FirstPixels(scale), ds), ds)
    for criterion in ("argmax", "confident"):
        m = get_attack("pgd", n=20, eps=1.0, criterion=criterion, probe=0)(ctx).metrics
        assert m["success_rate_argmax"] == 1.0
        assert m["success_rate_confident"] == (1.0 if confident else 0.0)
        assert m["success_rate"] == m[f"success_rate_{criterion}"]  # the headline follows `criterion`


def test_nes_spends_the_study_budget_by_default(mlp_victim, digits):
    """Defaults: 7 estimates of 400 queries each plus 8 success checks = 2,808 queries for an input
    that resists, against the least-likely and the most-likely-wrong target."""
    robust = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        robust[1].weight.zero_()
        robust[1].bias.copy_(torch.arange(10.0))  # always class 9: nothing the attacker does matters
    x = digits.test.x[digits.test.y == 9][:3]
    model = _Counting(robust)
    out = nes(model, x, torch.full((3,), 9), torch.zeros(3, dtype=torch.long), eps=8 / 255, alpha=2 / 255,
              queries=get_attack("nes").queries, pop=get_attack("nes").pop, sigma=1e-3,
              gen=torch.Generator().manual_seed(0))
    assert out.queries.tolist() == [2808] * 3 and model.seen == 3 * 2808
    assert not out.success.any()
    atk = get_attack("nes", n=3, probe=0)
    ds_victim = wrap(robust, digits)
    m = atk(context(ds_victim, digits)).metrics
    assert m["mean_queries"] == 2808 and m["mean_queries_most_likely_wrong"] == 2808
    assert "success_rate_most_likely_wrong" in m
    old = get_attack("nes_matched", n=3, probe=0)(context(ds_victim, digits)).metrics
    assert old["mean_queries"] <= 400 and "success_rate_most_likely_wrong" not in old


class _Counting(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, 0

    def forward(self, x):
        self.seen += len(x)
        return self.inner(x)
