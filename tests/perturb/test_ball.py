"""The threat model's geometry: both projections land in ball ∩ box and agree up to rounding,
ascent directions have unit norm, random starts follow the ball's uniform law and the seed."""
from __future__ import annotations

import pytest
import torch

from archrisk.perturb import ascent, clip, linf_box, project, random_start, uniform_noise


def _pair(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(64, 1, 6, 6, generator=g)
    x0[:8] = 0.0  # corners of the box
    x0[8:16] = 1.0
    return x0, x0 + 0.3 * torch.randn(x0.shape, generator=g)  # far outside ball and box in places


def test_both_linf_projections_land_in_ball_and_box_and_agree_up_to_rounding():
    x0, x = _pair()
    eps = 0.1
    a, b = project(x, x0, eps, "linf"), clip(x, *linf_box(x0, eps))
    for p in (a, b):
        assert (p - x0).abs().max() <= eps + 1e-7 and p.min() >= 0 and p.max() <= 1
    assert torch.allclose(a, b, rtol=0, atol=1e-7)
    inside = ((x - x0).abs() < eps) & (x > 0) & (x < 1)
    assert inside.any() and (~inside).any()  # both cases occur
    assert torch.equal(b[inside], x[inside])  # clip leaves an inside point exactly where it was
    assert torch.equal(a[~inside], b[~inside])  # on a face both give the same bound


def test_l2_projection_keeps_inner_points_and_shrinks_outer_ones_onto_the_sphere():
    x0 = torch.full((4, 1, 3, 3), 0.5)
    d = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1)) * 0.01
    d = d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * torch.tensor([0.05, 0.1, 0.2, 0.4]).view(-1, 1, 1, 1)
    p = project(x0 + d, x0, 0.1, "l2")
    norms = (p - x0).flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.tensor([0.05, 0.1, 0.1, 0.1]))
    torch.testing.assert_close(p[0], (x0 + d)[0])


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_ascent_has_unit_norm_and_follows_the_gradient(norm):
    g = torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    d = ascent(g, norm)
    size = d.flatten(1).abs().max(1).values if norm == "linf" else d.flatten(1).norm(dim=1)
    torch.testing.assert_close(size, torch.ones(5))
    assert ((d * g).flatten(1).sum(1) > 0).all()


def test_uniform_noise_fills_the_cube_and_follows_the_seed():
    x = torch.zeros(4000)
    a = uniform_noise(x, 0.2, torch.Generator().manual_seed(3))
    assert torch.equal(a, uniform_noise(x, 0.2, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, uniform_noise(x, 0.2, torch.Generator().manual_seed(4)))
    assert a.abs().max() <= 0.2 and a.max() > 0.19 and a.min() < -0.19
    assert abs((a > 0).float().mean().item() - 0.5) < 0.05


def test_l2_random_start_is_uniform_in_the_ball():
    # uniform in a d-ball: the radius r/eps has P(r/eps <= q^(1/d)) = q; the ball lies inside the box
    x0, eps = torch.full((3000, 1, 4, 4), 0.5), 0.1
    r = (random_start(x0, eps, "l2", torch.Generator().manual_seed(5)) - x0).flatten(1).norm(dim=1) / eps
    assert r.max() <= 1 + 1e-6
    for q in (0.25, 0.5, 0.75):
        assert abs((r <= q ** (1 / 16)).float().mean().item() - q) < 0.05, q
