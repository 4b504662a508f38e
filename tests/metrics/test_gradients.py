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
    """Reference on explicit per-sample gradient rows: clip, then sum of stds (ddof 1) and
    total variance over the squared mean norm."""
    G = G.double()
    if clip > 0:
        G = G * (clip / G.norm(dim=1, keepdim=True)).clamp(max=1.0)
    var = G.var(dim=0)
    return float(var.sqrt().sum()), float(var.sum() / G.mean(0).pow(2).sum())


def test_identical_samples_have_zero_variance():
    x = torch.rand(1, 2, 2, 2).expand(24, -1, -1, -1).contiguous()
    split = Split(x, torch.full((24,), 2, dtype=torch.int64))
    r = measure(linear(), split, ["grad_var", "grad_var_norm"], grad_samples=24, grad_groups=4)
    assert r["grad_var"].value == pytest.approx(0.0, abs=1e-9)
    assert r["grad_var_norm"].value == pytest.approx(0.0, abs=1e-12)
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
    r = measure(model, split, ["grad_var", "grad_var_norm"], grad_samples=64, grad_clip=clip, grad_chunk=10)
    assert r["grad_var"].value == pytest.approx(expected, rel=1e-5)
    assert r["grad_var_norm"].value == pytest.approx(expected_norm, rel=1e-5)
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
    r = measure(model, split, ["grad_var", "grad_var_norm"], grad_samples=40, grad_groups=5, grad_clip=1.0)
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
