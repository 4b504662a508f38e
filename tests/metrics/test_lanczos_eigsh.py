"""The Lanczos solver's top eigenvalues against scipy.sparse.linalg.eigsh on random symmetric
matrices (given only as matvec closures, float32 like the Hessian products), including
near-degenerate spectra. Tolerances come from the iteration count:

- After m steps from start vector q, Saad's bound (Numerical Methods for Large Eigenvalue Problems,
  2nd ed., Thm 6.4) holds for the i-th Ritz value theta_i <= lambda_i:
      lambda_i - theta_i <= (lambda_i - lambda_n) * (kappa_i * tan(q, u_i) / T_{m-i}(gamma_i))^2,
  gamma_i = 1 + 2 (lambda_i - lambda_{i+1}) / (lambda_{i+1} - lambda_n), kappa_1 = 1,
  kappa_i = prod_{j<i} (theta_j - lambda_n) / (theta_j - lambda_i), T the Chebyshev polynomial.
- Inside a near-degenerate cluster u_1..u_c that bound is loose (gamma_i ~ 1). The cluster as a
  whole converges at the rate of its gap to the rest: taking the Chebyshev polynomial of degree
  m - 1 that is small on [lambda_n, lambda_{c+1}] in the Rayleigh quotient gives
      lambda_1 - theta_1 <= (lambda_1 - lambda_c) + (lambda_c - lambda_n) * (tan(q, U_c) / T_{m-1}(gamma_c))^2,
  so the top Ritz value is within the cluster's width of lambda_1 after few steps.
- With m = dim steps the Krylov space is the whole space and the bound is 0.
Both hold in exact arithmetic; the products here are float32 (unit roundoff u = 6e-8), and a dot
product of dim terms is off by at most dim * u * ||A|| (Higham, Thm 3.5), which full
reorthogonalisation keeps from growing with the steps: that is the slack added to every bound.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import eigsh

from archrisk.metrics.hessian import lanczos

U32 = float(np.finfo(np.float32).eps) / 2
K = 4  # top eigenvalues compared


def _matrix(dim: int, spectrum: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    return (q * spectrum) @ q.T


def _spectrum(kind: str, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    bulk = rng.uniform(-1.0, 2.0, dim - 4)
    if kind == "separated":  # a few outliers above the bulk, as in network Hessians
        top = [12.0, 8.0, 6.0, 4.5]
    else:  # near-degenerate: the top pair and the next pair 1e-3 apart
        top = [10.0, 10.0 - 1e-3, 7.0, 7.0 - 1e-3]
    return np.concatenate([top, bulk])


def _cheb(k: int, x: float) -> float:
    return math.cosh(k * math.acosh(x))


def _saad_bounds(theta: np.ndarray, lam: np.ndarray, vecs: np.ndarray, lam_n: float, q: np.ndarray, m: int) -> np.ndarray:
    """Upper bounds on lambda_i - theta_i, i < K, after m Lanczos steps from q (see the module doc)."""
    out = np.full(K, math.inf)
    cos = np.abs(vecs.T @ q)  # [K] cosines of q with u_1..u_K
    for i in range(K):
        if m - 1 - i < 1:
            continue
        kappa = 1.0
        for j in range(i):
            if theta[j] <= lam[i]:  # the bound needs the higher Ritz values above lambda_i
                kappa = math.inf
            else:
                kappa *= (theta[j] - lam_n) / (theta[j] - lam[i])
        gamma = 1 + 2 * (lam[i] - lam[i + 1]) / (lam[i + 1] - lam_n)
        tan = math.sqrt(max(1 - cos[i] ** 2, 0.0)) / cos[i]
        out[i] = (lam[i] - lam_n) * (kappa * tan / _cheb(m - 1 - i, gamma)) ** 2
    return out


def _cluster_bound(lam: np.ndarray, vecs: np.ndarray, lam_n: float, q: np.ndarray, m: int, c: int) -> float:
    """Upper bound on lambda_1 - theta_1 after m steps when u_1..u_c form a cluster (module doc)."""
    cos2 = float(np.sum((vecs[:, :c].T @ q) ** 2))
    gamma = 1 + 2 * (lam[c - 1] - lam[c]) / (lam[c] - lam_n)
    return (lam[0] - lam[c - 1]) + (lam[c - 1] - lam_n) * (1 - cos2) / cos2 / _cheb(m - 1, gamma) ** 2


def _reference(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    lam, vecs = eigsh(A, k=K + 1, which="LA")  # ascending
    lam_n = float(eigsh(A, k=1, which="SA", return_eigenvectors=False)[0])
    return lam[::-1], vecs[:, ::-1], lam_n


def _run(A: np.ndarray, iters: int, seed: int):
    A32 = torch.as_tensor(A, dtype=torch.float32)
    return lanczos(lambda v: A32 @ v, len(A), iters=iters, tol=0.0, gen=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["separated", "near_degenerate"])
@pytest.mark.parametrize("dim", [30, 90, 200])
def test_exhausted_krylov_space_gives_eigsh_top_eigenvalues(dim, kind):
    A = _matrix(dim, _spectrum(kind, dim, dim), dim)
    lam, _, _ = _reference(A)
    run = _run(A, dim, seed=dim)
    assert run.steps == dim and run.converged  # never stopped early: the near-degenerate pair is not lost
    norm = float(np.abs(lam).max())
    np.testing.assert_allclose(run.ritz[:K], lam[:K], rtol=0, atol=dim * U32 * norm)


@pytest.mark.parametrize("kind", ["separated", "near_degenerate"])
@pytest.mark.parametrize("dim,iters", [(30, 12), (90, 25), (200, 40)])
def test_truncated_run_is_within_saads_bound_of_eigsh(dim, iters, kind):
    A = _matrix(dim, _spectrum(kind, dim, dim + 1), dim + 1)
    lam, vecs, lam_n = _reference(A)
    run = _run(A, iters, seed=dim + 1)
    assert run.steps == iters
    q = run.basis[0].double().numpy()  # the normalised start vector
    bound = _saad_bounds(run.ritz, lam, vecs[:, :K], lam_n, q, run.steps)
    slack = dim * U32 * float(np.abs(lam).max())
    err = lam[:K] - run.ritz[:K]
    assert np.all(err >= -slack), err  # Ritz values never exceed the eigenvalues (Cauchy interlacing)
    assert np.all(err <= bound + slack), (err, bound)
    if kind == "separated":  # the bound has teeth here: the top values converge to float32 accuracy
        assert bound[0] < slack and np.all(np.isfinite(bound))
    else:  # and here the cluster bound does: the top value is within the pair's width (1e-3) of lambda_1
        top = _cluster_bound(lam, vecs, lam_n, q, run.steps, c=2)
        assert top < 2e-3 and err[0] <= top + slack, (err[0], top)
