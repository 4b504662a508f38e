"""Empirical NTK against X X^T for linear models and explicit Jacobians for an MLP."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from archrisk.errors import ResourceError
from archrisk.metrics import measure
from archrisk.metrics.ntk import empirical_ntk
from metric_fixtures import flat_params, linear, make_split, mlp


@pytest.mark.parametrize("bias", [False, True])
def test_linear_model_ntk_is_gram_matrix(bias):
    split = make_split(6)
    x = split.x.flatten(1).double()
    K = empirical_ntk(linear(bias=bias).eval(), split.x)
    expected = x @ x.T + (1.0 if bias else 0.0)  # d f_k / d W_k = x, d f_k / d b_k = 1
    assert torch.allclose(K, expected, rtol=1e-5, atol=1e-6)


def test_linear_model_ntk_spectrum():
    split = make_split(5)  # 5 images in 8 dimensions: X X^T is non-singular
    x = split.x.flatten(1).double()
    evals = torch.linalg.eigvalsh(x @ x.T)
    r = measure(linear(bias=False), split, ["ntk_cond", "ntk_min", "ntk_max", "ntk_trace"], ntk=dict(samples=5))
    assert r["ntk_min"].value == pytest.approx(float(evals[0]), rel=1e-4)
    assert r["ntk_max"].value == pytest.approx(float(evals[-1]), rel=1e-5)
    assert r["ntk_cond"].value == pytest.approx(float(evals[-1] / evals[0]), rel=1e-4)
    assert r["ntk_trace"].value == pytest.approx(float((x**2).sum()), rel=1e-5)
    assert np.allclose(r["ntk_max"].extra["eigenvalues"], evals.flip(0).numpy(), rtol=1e-4)


def test_more_images_than_parameters_is_singular():
    r = measure(linear(d=8, k=2, bias=False), make_split(20, classes=2), ["ntk_cond", "ntk_min"], ntk=dict(samples=20))
    assert r["ntk_min"].value < 1e-4 * r["ntk_cond"].extra["params"]
    assert r["ntk_cond"].value > 1e4 or r["ntk_cond"].value == float("inf")


def test_mlp_ntk_matches_explicit_jacobian():
    split = make_split(7, seed=2)
    model = mlp(seed=4).eval()
    from torch.func import functional_call

    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]

    def f(theta):
        params = {n: t.view(s) for n, t, s in zip(names, theta.split(sizes), shapes)}
        return functional_call(model, params, (split.x,))  # [n, K]

    J = torch.autograd.functional.jacobian(f, flat_params(model)).double()  # [n, K, P]
    expected = torch.einsum("ikp,jkp->ij", J, J) / J.shape[1]
    assert torch.allclose(empirical_ntk(model, split.x), expected, rtol=1e-5, atol=1e-7)
    # chunks of images and groups of logits (the memory-bounded path) change nothing
    assert torch.allclose(empirical_ntk(model, split.x, chunk=3, group=2), expected, rtol=1e-5, atol=1e-7)


def test_batches_and_seeds():
    split = make_split(30, seed=5)
    model = mlp(seed=1)
    a = measure(model, split, ["ntk_cond"], ntk=dict(samples=8, batches=3), seed=1)["ntk_cond"]
    b = measure(model, split, ["ntk_cond"], ntk=dict(samples=8, batches=3), seed=1)["ntk_cond"]
    c = measure(model, split, ["ntk_cond"], ntk=dict(samples=8, batches=3), seed=2)["ntk_cond"]
    assert a.value == b.value and a.value != c.value
    assert len(a.extra["per_batch"]) == 3 and a.stderr is not None


def test_too_large_a_batch_is_refused_with_its_size():
    with pytest.raises(ResourceError, match=r"NTK on 30 images x 75 parameters needs about .* GB"):
        measure(mlp(), make_split(30), ["ntk_cond"], ntk=dict(samples=30), memory_limit_gb=1e-6)


def test_gram_is_formed_in_float64():
    # rows sharing a large common part: the eigenvalues that set the condition number are ~1e-6 of
    # the largest, below float32's resolution of the Gram entries
    gen = torch.Generator().manual_seed(0)
    x = (0.5 + 1e-3 * torch.randn(5, 1, 2, 4, generator=gen)).float()
    K = empirical_ntk(linear(bias=False).eval(), x)
    x64 = x.flatten(1).double()
    expected = torch.linalg.eigvalsh(x64 @ x64.T)
    got = torch.linalg.eigvalsh(K)
    assert K.dtype == torch.float64
    assert torch.allclose(got[:2], expected[:2], rtol=1e-6, atol=0)


@pytest.mark.parametrize("chunk", [1, 4])
def test_loop_and_vmap_paths_agree(chunk):
    split = make_split(6, seed=3)
    model = mlp(seed=1).eval()
    assert torch.allclose(empirical_ntk(model, split.x, chunk=chunk, loop=True),
                          empirical_ntk(model, split.x, chunk=chunk, loop=False), rtol=1e-6, atol=1e-7)
