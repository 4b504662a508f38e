"""Loss-landscape surfaces: analytic quadratic surfaces, batched == per-point, the registered metric."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from archrisk.errors import InvalidValueError
from archrisk.metrics import measure
from archrisk.metrics.landscape import (LandscapeConfig, conv_directions, filter_directions, grid, input_surfaces,
                                        orthogonal_signs, summarize, weight_surface)


def sq_error(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return (out - t).pow(2).sum(1)


def _linear_conv(seed: int = 0) -> nn.Module:
    """Output linear in both the conv weights and the input, so squared error is a quadratic in either."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()).eval()


def _data(n: int, lo: float, hi: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = lo + (hi - lo) * torch.rand(n, 1, 6, 6, generator=g)
    return x, torch.randn(n, 2 * 4 * 4, generator=g)


def test_grid_and_orthogonal_signs():
    g = grid(0.5, 11)
    assert g[5] == 0 and g[0] == -0.5 and g[-1] == 0.5 and len(g) == 11
    gen = torch.Generator().manual_seed(0)
    for n in (144, 145, 2, 3, 784):
        d1, d2 = orthogonal_signs(n, gen)
        assert set(d1.tolist()) <= {-1.0, 1.0} and set(d2.tolist()) <= {-1.0, 1.0}
        assert abs(float(d1 @ d2)) == n % 2  # exactly orthogonal when the parity allows
    a = orthogonal_signs(100, torch.Generator().manual_seed(3))
    b = orthogonal_signs(100, torch.Generator().manual_seed(3))
    assert all(torch.equal(u, v) for u, v in zip(a, b)) and not torch.equal(*a)


def test_weight_surface_of_a_quadratic_matches_the_analytic_surface():
    model = _linear_conv()
    x, t = _data(5, 0.0, 1.0)
    dirs = conv_directions(model, torch.Generator().manual_seed(1))
    coords = grid(0.5, 7)
    surface = weight_surface(model, x, t, dirs, coords, loss_fn=sq_error, chunk=10)  # 49 points, 5 chunks
    # L(a, b) = mean_i |r_i + a u_i + b v_i|^2 with u = conv(x; d1, no bias), r the residual at theta
    (name,) = dirs[0]
    with torch.no_grad():
        r = model(x) - t
        u = F.conv2d(x, dirs[0][name]).flatten(1)
        v = F.conv2d(x, dirs[1][name]).flatten(1)
    A, B = torch.meshgrid(coords, coords, indexing="ij")
    analytic = (r[:, None, None] + A[None, ..., None] * u[:, None, None] + B[None, ..., None] * v[:, None, None]
                ).pow(2).sum(-1).mean(0)
    torch.testing.assert_close(surface, analytic, rtol=1e-5, atol=1e-4)
    rough = summarize(surface, coords, radius=0.5)
    # the Laplacian of a quadratic is the trace of its Hessian: 2 mean|u|^2 + 2 mean|v|^2
    expected_curv = float(2 * u.pow(2).sum(1).mean() + 2 * v.pow(2).sum(1).mean())
    assert rough.curvature == pytest.approx(expected_curv, rel=1e-4)
    inside = A**2 + B**2 <= 0.25**2 + 1e-9
    assert rough.rise == pytest.approx(float((analytic[inside] - analytic[3, 3]).max()), rel=1e-4)
    assert rough.fit_residual < 1e-3 * float(analytic.abs().max())


def test_input_surfaces_of_a_quadratic_match_the_analytic_surfaces():
    model = _linear_conv(1)
    x, t = _data(3, 0.4, 0.6)  # |a d1 + b d2| <= 0.4 never reaches the [0, 1] clamp
    gen = torch.Generator().manual_seed(2)
    pairs = [orthogonal_signs(36, gen) for _ in range(3)]
    d1 = torch.stack([p[0] for p in pairs]).view_as(x)
    d2 = torch.stack([p[1] for p in pairs]).view_as(x)
    coords = grid(0.2, 5)
    surfaces = input_surfaces(model, x, t, d1, d2, coords, loss_fn=sq_error, batch=7)  # 75 images, ragged batches
    w = model[0].weight.detach()
    with torch.no_grad():
        r = model(x) - t
        u, v = F.conv2d(d1, w).flatten(1), F.conv2d(d2, w).flatten(1)  # linear part only: no bias
    A, B = torch.meshgrid(coords, coords, indexing="ij")
    analytic = (r[:, None, None] + A[None, ..., None] * u[:, None, None] + B[None, ..., None] * v[:, None, None]
                ).pow(2).sum(-1)
    torch.testing.assert_close(surfaces, analytic, rtol=1e-5, atol=1e-4)
    curv = [summarize(s, coords, 0.5).curvature for s in surfaces]
    torch.testing.assert_close(torch.tensor(curv), 2 * (u.pow(2).sum(1) + v.pow(2).sum(1)), rtol=1e-4, atol=1e-3)


def test_summaries_on_hand_surfaces():
    coords = grid(1.0, 9)
    A, B = torch.meshgrid(coords, coords, indexing="ij")
    bowl = summarize(A**2 + 3 * B**2, coords, radius=1.0)
    assert bowl.curvature == pytest.approx(8.0) and bowl.rise == pytest.approx(3.0) and bowl.fit_residual < 1e-9
    flat = summarize(torch.full_like(A, 2.0), coords, radius=1.0)
    assert flat.curvature == 0 and flat.rise == 0
    cone = summarize(A.abs() + B.abs(), coords, radius=0.5)  # kinked: not a quadratic
    assert cone.fit_residual > 0.05 and cone.rise == pytest.approx(0.5)


@pytest.fixture(scope="module")
def small_net(digits):
    torch.manual_seed(0)
    from archrisk.arch import build

    return build("resnet18", num_classes=10, in_channels=1, mean=digits.mean, std=digits.std).eval()


def test_batched_equals_per_point_forward_passes(small_net, digits):
    """vmapped grid == one functional_call per grid point (BN in eval mode); stacked input
    batches == one forward pass per point, including the clamp at 0 and 1."""
    x, y = digits.test.x[:6], digits.test.y[:6]
    coords = grid(0.5, 5)
    for fn in (conv_directions, filter_directions):
        d1, d2 = fn(small_net, torch.Generator().manual_seed(0))
        fast = weight_surface(small_net, x, y, (d1, d2), coords, chunk=7)  # vmapped, ragged last chunk
        torch.testing.assert_close(weight_surface(small_net, x, y, (d1, d2), coords, chunk=1), fast)  # looped
        params = {n: p.detach() for n, p in small_net.named_parameters()}
        slow = torch.zeros(5, 5)
        with torch.no_grad():
            for i, a in enumerate(coords):
                for j, b in enumerate(coords):
                    moved = {n: params[n] + a * d1[n] + b * d2[n] for n in d1}
                    slow[i, j] = F.cross_entropy(functional_call(small_net, {**params, **moved}, (x,)), y)
        torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)
    assert set(d1) == {n for n, p in small_net.named_parameters() if p.ndim > 1}  # filter: all weights, no BN
    d1, d2 = torch.sign(torch.randn(2, *x.shape, generator=torch.Generator().manual_seed(4)))
    fast = input_surfaces(small_net, x, y, d1, d2, coords, batch=11)
    with torch.no_grad():
        slow = torch.stack([torch.stack([F.cross_entropy(small_net((x + a * d1 + b * d2).clamp(0, 1)), y,
                                                         reduction="none") for b in coords]) for a in coords])
    torch.testing.assert_close(fast, slow.permute(2, 0, 1), rtol=1e-4, atol=1e-5)


def test_filter_directions_are_filter_normalised(small_net):
    d1, _ = filter_directions(small_net, torch.Generator().manual_seed(0))
    for name, p in small_net.named_parameters():
        if name in d1:
            torch.testing.assert_close(d1[name].flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1))


NAMES = [f"landscape_{s}_{m}" for s in ("conv", "filter", "input") for m in ("curvature", "rise")]
SMALL = dict(landscape=dict(points=5, samples=16, inputs=3))


def test_registered_metric(small_net, digits):
    res = measure(small_net, digits, NAMES, seed=0, **SMALL)
    assert list(res) == NAMES
    conv, filt = res["landscape_conv_curvature"].extra, res["landscape_filter_curvature"].extra
    stem = small_net.net.features[0][0]
    assert conv["layer"] == "net.features.0.0.weight" and conv["perturbed_params"] == stem.weight.numel()
    # both weight surfaces are centred on the same model and the same training images
    assert conv["surface"][2][2] == pytest.approx(filt["surface"][2][2], rel=1e-5)
    assert all(res[n].value >= 0 for n in NAMES)  # rise includes the centre; curvature is an |.|
    assert len(res["landscape_input_rise"].extra["per_input"]) == 3 and res["landscape_input_rise"].stderr is not None
    # each surface draws from its own stream: asking for one alone gives the same number
    alone = measure(small_net, digits, ["landscape_input_curvature"], seed=0, **SMALL)
    assert alone["landscape_input_curvature"].value == pytest.approx(res["landscape_input_curvature"].value)
    other = measure(small_net, digits, ["landscape_conv_curvature"], seed=1, **SMALL)
    assert other["landscape_conv_curvature"].value != res["landscape_conv_curvature"].value


@pytest.mark.parametrize("bad", [0, 4, 1, -3, 2.5])
def test_bad_grid_raises(bad):
    with pytest.raises(InvalidValueError, match="points"):
        LandscapeConfig(points=bad)


def test_model_without_conv_gets_nan_conv_surface(digits):
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.warns(UserWarning, match="no Conv2d"):
        res = measure(mlp, digits, ["landscape_conv_rise", "landscape_filter_rise"], **SMALL)
    assert math.isnan(res["landscape_conv_rise"].value) and res["landscape_filter_rise"].value >= 0
    with pytest.raises(InvalidValueError, match="Conv2d"):
        conv_directions(mlp, torch.Generator())


def test_cli_zero_grid_exit_2_one_line(capsys):
    from archrisk.cli import main

    rc = main(["explain", "resnet18", "-d", "digits", "--at", "init", "-m", "landscape_conv_curvature",
               "--set", "landscape.points=0"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "points=0" in err
