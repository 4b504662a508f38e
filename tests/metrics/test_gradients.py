"""Gradient variance against analytic per-sample gradients and a per-sample loop."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from archrisk.data import Split
from archrisk.errors import ResourceError
from archrisk.metrics import measure
from archrisk.metrics.gradients import clip_rows
from metric_fixtures import linear, make_split


def _study_statistics(G: torch.Tensor, clip: float) -> tuple[float, float]:
    """Reference on explicit per-sample gradient rows: clip, then sum of population stds (ddof 0,
    the study's) and total variance (ddof 1) over the squared mean norm."""
    G = G.double()
    if clip > 0:
        G = G * (clip / G.norm(dim=1, keepdim=True)).clamp(max=1.0)
    return float(G.std(dim=0, unbiased=False).sum()), float(G.var(dim=0).sum() / G.mean(0).pow(2).sum())


def _snr(G: torch.Tensor, clip: float) -> float:
    G = G.double()
    if clip > 0:
        G = G * (clip / G.norm(dim=1, keepdim=True)).clamp(max=1.0)
    total = float(G.var(dim=0).sum())
    return (float(G.mean(0).pow(2).sum()) - total / len(G)) / total


def test_identical_samples_have_zero_variance():
    x = torch.rand(1, 2, 2, 2).expand(24, -1, -1, -1).contiguous()
    split = Split(x, torch.full((24,), 2, dtype=torch.int64))
    r = measure(linear(), split, ["grad_var", "grad_var_norm", "grad_var_per_sqrt_p", "grad_snr"],
                gradient_variance=dict(samples=24, groups=4))
    assert r["grad_var"].value == pytest.approx(0.0, abs=1e-9)
    assert r["grad_var_per_sqrt_p"].value == pytest.approx(0.0, abs=1e-9)
    assert r["grad_var_norm"].value == pytest.approx(0.0, abs=1e-12)
    assert r["grad_snr"].value == math.inf  # all signal, no noise
    assert r["grad_var"].extra["mean_grad_norm"] > 0.01  # not zero because the gradients vanish


@pytest.mark.parametrize("clip", [5.0, 0.0])
def test_softmax_regression_matches_analytic_per_sample_gradients(clip):
    # inputs scaled up so that a good share of the per-sample gradients exceed the clip norm
    split = make_split(64, lo=0.0, hi=6.0, seed=4)
    model = linear(scale=2.0, seed=1)
    W, b = model[1].weight.detach().double(), model[1].bias.detach().double()
    x = split.x.flatten(1).double()
    err = torch.softmax(x @ W.T + b, dim=1) - nn.functional.one_hot(split.y, 3).double()  # [n, K]
    G = torch.cat([(err[:, :, None] * x[:, None, :]).flatten(1), err], dim=1)  # d CE_i / d (W, b)
    expected, expected_norm = _study_statistics(G, clip)
    r = measure(model, split, ["grad_var", "grad_var_norm", "grad_var_per_sqrt_p", "grad_snr"], gradient_variance=dict(samples=64, clip=clip, chunk=10))
    assert r["grad_var"].value == pytest.approx(expected, rel=1e-5)
    assert r["grad_var_norm"].value == pytest.approx(expected_norm, rel=1e-5)
    assert r["grad_var_per_sqrt_p"].value == pytest.approx(expected / math.sqrt(G.shape[1]), rel=1e-5)
    assert r["grad_snr"].value == pytest.approx(_snr(G, clip), rel=1e-5)
    assert r["grad_var"].extra["log_params"] == pytest.approx(math.log10(G.shape[1]))
    if clip:
        assert 0.2 < r["grad_var"].extra["clipped_fraction"] < 1.0
        assert r["grad_var"].value < _study_statistics(G, 0.0)[0]  # clipping is not a no-op


def test_conv_net_matches_a_per_sample_backward_loop():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 5))
        with torch.no_grad():  # non-trivial running statistics, used in eval mode
            model[1].running_mean.uniform_(-0.2, 0.2)
            model[1].running_var.uniform_(0.5, 2.0)
    split = make_split(40, shape=(1, 6, 6), classes=5, seed=7)
    model.train()  # measure must switch to eval mode itself, and restore this afterwards
    r = measure(model, split, ["grad_var", "grad_var_norm"], gradient_variance=dict(samples=40, groups=5, clip=1.0))
    assert model.training
    model.eval()
    rows = []
    for xi, yi in zip(split.x, split.y):
        model.zero_grad()
        nn.functional.cross_entropy(model(xi[None]), yi[None]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    G = torch.stack(rows)
    # measure draws a seeded permutation of the split; all 40 are used, and the statistics
    # do not depend on order
    expected, expected_norm = _study_statistics(G, 1.0)
    assert r["grad_var"].value == pytest.approx(expected, rel=1e-4)
    assert r["grad_var_norm"].value == pytest.approx(expected_norm, rel=1e-4)
    # the jackknife standard error, recomputed from the same rows and groups
    idx = torch.randperm(40, generator=_measure_generator(0, "gradient_variance"))
    groups = [idx[k * 8:(k + 1) * 8] for k in range(5)]
    loo = [_study_statistics(G[torch.cat([g for j, g in enumerate(groups) if j != k])], 1.0)[0] for k in range(5)]
    jack = math.sqrt(4 / 5 * sum((v - np.mean(loo)) ** 2 for v in loo))
    assert r["grad_var"].stderr == pytest.approx(jack, rel=1e-3)


def _measure_generator(seed: int, family: str) -> torch.Generator:
    from archrisk.metrics.base import MetricContext

    return MetricContext(None, None, torch.device("cpu"), seed, frozenset(), family=family).generator()


def test_clip_rows():
    g = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    assert torch.allclose(clip_rows(g, 1.0), torch.tensor([[0.6, 0.8], [0.3, 0.4]]))
    assert torch.equal(clip_rows(g, 0.0), g)


def test_too_many_parameters_for_the_budget_is_refused():
    with pytest.raises(ResourceError, match="memory_limit_gb"):
        measure(linear(), make_split(10), ["grad_var"], memory_limit_gb=1e-7)


def test_population_std_is_the_study_statistic():
    # two samples: the per-parameter population std is half the gap (ddof=1 would give gap / sqrt(2))
    x = torch.zeros(2, 2, 2, 2)
    x[1] = 1.0
    split = Split(x, torch.tensor([0, 0]))
    model = linear(bias=False)
    r = measure(model, split, ["grad_var"], gradient_variance=dict(samples=2, groups=1, clip=0.0))
    p = torch.softmax(model(x[1:]).detach().double(), 1)[0]
    g1 = torch.outer(p - torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.ones(8, dtype=torch.float64))
    assert r["grad_var"].value == pytest.approx(float((g1.abs() / 2).sum()), rel=1e-6)  # the first sample's gradient is 0


def test_test_split_by_default_and_recorded(digits):
    from archrisk.arch import build

    model = build("resnet18", size="tiny", width=0.125, num_classes=10, in_channels=1)
    r = measure(model, digits, ["grad_var"], gradient_variance=dict(samples=8, groups=2))
    assert r["grad_var"].extra["split"] == "test"
    test_x = {tuple(v.flatten().tolist()) for v in digits.test.x}
    from archrisk.metrics.base import MetricContext
    ctx = MetricContext(model, digits, torch.device("cpu"), 0, frozenset(), family="gradient_variance")
    x, _ = ctx.sample("test", 8, "grad_samples")
    assert all(tuple(v.flatten().tolist()) in test_x for v in x)


def test_initial_batch_norm_is_recalibrated_on_a_copy(digits):
    from archrisk.arch import build

    torch.manual_seed(0)
    model = build("resnet18", size="tiny", width=0.125, num_classes=10, in_channels=1, mean=digits.mean, std=digits.std)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = measure(model, digits, ["grad_var"], gradient_variance=dict(samples=16, groups=2))
    assert r["grad_var"].extra["bn_recalibrated"]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the user's model untouched


def test_per_sqrt_p_form_is_steady_across_widths_at_init(digits):
    """One net at two widths (about 4x the parameters): the study's sum of stds roughly doubles
    (it tracks sqrt(P)), the per-sqrt(P) form stays within 15%. Why 15%: clipped gradients have
    norm ~5 at init, so the form is ~5 x (mean / RMS of the per-parameter stds), which depends on
    how evenly the variance spreads over the parameters, not on their number; measured 2.04 vs
    2.10 on 128 images, and the tolerance leaves room for the 64-image sampling noise."""
    from archrisk.arch import build

    out = []
    for w in (0.125, 0.25):
        torch.manual_seed(0)
        model = build("resnet18", size="tiny", width=w, num_classes=10, in_channels=1, mean=digits.mean, std=digits.std)
        r = measure(model, digits, ["grad_var", "grad_var_per_sqrt_p"], gradient_variance=dict(samples=64, groups=2))
        out.append((r["grad_var"].value, r["grad_var_per_sqrt_p"].value))
    (raw_a, norm_a), (raw_b, norm_b) = out
    assert raw_b / raw_a > 1.7  # the raw statistic tracks size
    assert abs(norm_b / norm_a - 1) < 0.15
