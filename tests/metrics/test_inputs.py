"""Input-gradient norm and local Lipschitz estimate against affine-model closed forms."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from archrisk.data import Split
from archrisk.metrics import measure
from archrisk.metrics.inputs import local_lipschitz
from metric_fixtures import linear, make_split, mlp


def test_input_grad_norm_of_softmax_regression_is_analytic():
    split = make_split(50)
    model = linear(scale=3.0)
    W, b = model[1].weight.detach().double(), model[1].bias.detach().double()
    x = split.x.flatten(1).double()
    p = torch.softmax(x @ W.T + b, dim=1)
    onehot = nn.functional.one_hot(split.y, 3).double()
    expected = ((p - onehot) @ W).norm(dim=1)  # d CE / d x = W^T (p - e_y)
    r = measure(model, split, ["input_grad_norm"], input_smoothness=dict(samples=50))["input_grad_norm"]
    assert r.value == pytest.approx(float(expected.mean()), rel=1e-5)
    assert r.stderr == pytest.approx(float(expected.std() / np.sqrt(50)), rel=1e-4)
    assert r.extra["n"] == 50


def test_lipschitz_of_affine_model_is_its_top_singular_value():
    # interior points and a small radius: the [0, 1] box does not bind
    split = make_split(20, lo=0.4, hi=0.6)
    model = linear(scale=2.0)
    sigma = float(torch.linalg.matrix_norm(model[1].weight.detach().double(), ord=2))
    r = measure(model, split, ["lipschitz"], input_smoothness=dict(samples=20, radius=0.05))["lipschitz"]
    assert r.value == pytest.approx(sigma, rel=1e-3)
    assert r.extra["max"] <= sigma * (1 + 1e-4)  # an estimate of a maximum may not exceed it


def test_lipschitz_of_relu_net_is_a_tight_lower_bound():
    split = make_split(16, lo=0.2, hi=0.8, seed=3)
    model = mlp(act=nn.ReLU, seed=2).eval()
    radius = 0.3
    est = local_lipschitz(model, split.x, radius, steps=10)
    # upper bound: product of the layers' spectral norms (ReLU is 1-Lipschitz)
    layers = [m for m in model if isinstance(m, nn.Linear)]
    bound = float(np.prod([torch.linalg.matrix_norm(m.weight.detach(), ord=2) for m in layers]))
    assert (est <= bound * (1 + 1e-5)).all()
    # it beats every random direction of the same radius (it is a maximum, not a sample)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        f0 = model(split.x)
        for _ in range(20):
            d = torch.randn(split.x.shape, generator=g)
            d = d * radius / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            d = (split.x + d).clamp(0, 1) - split.x
            ratio = (model(split.x + d) - f0).norm(dim=1) / d.flatten(1).norm(dim=1)
            assert (est >= ratio - 1e-5).all()
    # and at least the Jacobian's spectral norm at the point itself (the ascent starts there)
    J = torch.stack([torch.autograd.functional.jacobian(model, xi.unsqueeze(0)).reshape(3, -1) for xi in split.x])
    sig = torch.linalg.matrix_norm(J, ord=2)
    small = local_lipschitz(model.double(), split.x.double(), 1e-6, steps=0)  # float64: no rounding in the ratio
    assert torch.allclose(small, sig.double(), rtol=1e-4)


def test_lipschitz_respects_the_image_box():
    # all-zero images: only non-negative perturbations are valid; the estimate must use only those
    model = linear(scale=2.0)
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[-1.0] * 8, [0.0] * 8, [0.0] * 8]))
        model[1].weight[0, 0] = 5.0
    zeros = Split(torch.zeros(4, 2, 2, 2), torch.zeros(4, dtype=torch.int64))
    est = local_lipschitz(model.eval(), zeros.x, 0.1, steps=20)
    # best valid direction: +e_0 alone gives 5; the unconstrained top singular value is larger
    unconstrained = float(torch.linalg.matrix_norm(model[1].weight.detach(), ord=2))
    assert unconstrained > 5.5
    assert torch.allclose(est, torch.full((4,), 5.0), rtol=1e-3)
