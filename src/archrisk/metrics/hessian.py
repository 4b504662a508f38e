"""Loss smoothness in weight space: top Hessian eigenvalue and Hessian trace.

The Hessian is that of the mean cross-entropy over `hessian_samples` random training images, in
eval mode, with respect to every parameter. It is never formed: only Hessian-vector products.

- Top eigenvalue (largest algebraic): Lanczos with full reorthogonalisation from a random start,
  stopped when the a-posteriori error bound of the top Ritz value, min(r, r^2 / gap) with
  r = |beta_k s_k| the Ritz residual, falls below `hessian_tol * |theta|`. For a symmetric
  matrix this bounds the distance to a true eigenvalue, which makes the tolerance mean the same
  thing on every model; it needs far fewer products than power iteration (PyHessian) for the
  same accuracy, because Krylov methods converge with the square root of the eigen-gap ratio.
- Trace: Hutchinson with Rademacher probes, deflated by the Lanczos basis Q (as in Hutch++):
  tr(H) = tr(Q^T H Q) + tr((I-P) H (I-P)) with P = QQ^T; the first term is the sum of the
  Lanczos alphas (exact), the second is estimated by z^T(I-P)H(I-P)z. The large eigenvalues
  that make plain Hutchinson noisy sit in Q, so the remaining variance is small.

With `hessian_batches` > 1 the computation is repeated on disjoint random batches; the value is
the batch mean and the standard error the batch spread (data noise included). With one batch the
trace's error is the probes' standard error and the top eigenvalue has none (its Lanczos error
bound is in `extra`).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

from archrisk.errors import ResourceError
from archrisk.meaning import Meaning
from archrisk.metrics.base import Estimate, MetricContext, register_metric, require
from archrisk.metrics.functional import ModelFn, activation_bytes, chunk_size, gib


@dataclass(frozen=True)
class HessianConfig:
    hessian_samples: int = 64  # images per batch; the Hessian is that of their mean loss
    hessian_batches: int = 2  # independent batches (value = mean, stderr = spread)
    hessian_iters: int = 40  # Lanczos step budget per batch
    hessian_tol: float = 1e-3  # relative error bound on the top eigenvalue; 0 runs the full budget
    hessian_probes: int = 8  # Rademacher probes per batch for the deflated trace estimate
    hessian_chunk: int = 128  # images per forward pass (bounds memory; larger batches are chunked)

    def __post_init__(self) -> None:
        require(self, counts=("hessian_samples", "hessian_batches", "hessian_iters", "hessian_probes",
                              "hessian_chunk"), nonneg=("hessian_tol",))


@dataclass(frozen=True)
class Lanczos:
    """Outcome of one Lanczos run on a symmetric operator."""

    ritz: np.ndarray  # Ritz values, descending
    alphas: np.ndarray  # diagonal of the tridiagonal matrix (sum = tr(Q^T H Q))
    basis: torch.Tensor  # [k, P] orthonormal Krylov basis Q
    error_bound: float  # bound on |top Ritz value - nearest eigenvalue|
    steps: int
    converged: bool


def lanczos(matvec: Callable[[torch.Tensor], torch.Tensor], dim: int, iters: int, tol: float,
            gen: torch.Generator, device: torch.device | str = "cpu") -> Lanczos:
    """Top of the spectrum of a symmetric `matvec` on R^dim (see the module docstring)."""
    k_max = min(iters, dim)
    Q = torch.zeros(k_max, dim, device=device)
    q = torch.randn(dim, generator=gen).to(device)
    Q[0] = q / q.norm()
    alphas: list[float] = []
    betas: list[float] = []
    bound, converged = math.inf, False
    for j in range(k_max):
        w = matvec(Q[j])
        alphas.append(float(w @ Q[j]))
        for _ in range(2):  # full reorthogonalisation, twice ("twice is enough")
            w = w - Q[:j + 1].T @ (Q[:j + 1] @ w)
        beta = float(w.norm())
        top, s_last, gap = _top_ritz(alphas, betas)
        resid = beta * abs(s_last)
        bound = min(resid, resid**2 / gap) if gap > 0 else resid
        scale = max(abs(top), 1e-30)
        # beta ~ 0: the Krylov space is invariant, every Ritz value is exact
        invariant = beta <= 1e-6 * max(abs(top), abs(alphas[-1]), 1e-30)
        if (j >= 1 and bound < tol * scale) or invariant or j + 1 == dim:
            converged = True
            break
        if j + 1 < k_max:
            betas.append(beta)
            Q[j + 1] = w / beta
    steps = len(alphas)
    evals = _tridiag_eigvals(alphas, betas)
    return Lanczos(evals[::-1].copy(), np.array(alphas), Q[:steps], float(bound), steps, converged)


def _tridiag_eigvals(alphas: list[float], betas: list[float]) -> np.ndarray:
    """Eigenvalues (ascending) of the Lanczos tridiagonal matrix, O(k^2)."""
    if len(alphas) == 1:
        return np.asarray(alphas, dtype=np.float64)
    return eigh_tridiagonal(np.asarray(alphas), np.asarray(betas[:len(alphas) - 1]), eigvals_only=True)


def _top_ritz(alphas: list[float], betas: list[float]) -> tuple[float, float, float]:
    """(top Ritz value, last component of its eigenvector, gap to the next Ritz value)."""
    k = len(alphas)
    if k == 1:
        return alphas[0], 1.0, math.inf
    w, v = eigh_tridiagonal(np.asarray(alphas), np.asarray(betas[:k - 1]), select="i", select_range=(k - 2, k - 1))
    return float(w[-1]), float(v[-1, -1]), float(w[-1] - w[-2])


def deflated_trace(matvec: Callable[[torch.Tensor], torch.Tensor], run: Lanczos, probes: int,
                   gen: torch.Generator, device: torch.device | str = "cpu") -> tuple[float, float, list[float]]:
    """tr(H) = sum(alphas) + Hutchinson on the complement of the Lanczos basis.
    Returns (estimate, probe standard error, per-probe values of the complement term)."""
    Q = run.basis
    values = []
    for _ in range(probes):
        z = (torch.randint(0, 2, (Q.shape[1],), generator=gen) * 2 - 1).to(device=device, dtype=Q.dtype)
        z = z - Q.T @ (Q @ z)
        values.append(float(z @ matvec(z)))
    head = float(run.alphas.sum())
    se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
    return head + float(np.mean(values)), se, values


@register_metric(kind="model", config=HessianConfig, metrics={
    "hessian_top": "largest eigenvalue of the loss Hessian w.r.t. the weights (Lanczos)",
    "hessian_trace": "trace of the loss Hessian w.r.t. the weights (deflated Hutchinson)",
}, meanings={k: Meaning(-1, claims=("C7",)) for k in ("hessian_top", "hessian_trace")})  # C7: smoother = riskier
def hessian(ctx: MetricContext, cfg: HessianConfig, names: tuple[str, ...]) -> dict[str, Estimate]:
    fn = ModelFn(ctx.model)
    basis_bytes = cfg.hessian_iters * fn.dim * 4
    if basis_bytes > ctx.memory_limit_bytes:
        raise ResourceError(f"Hessian: a Lanczos basis of hessian_iters={cfg.hessian_iters} x {fn.dim:,} "
                            f"parameters needs {gib(basis_bytes)} (memory_limit_gb={ctx.memory_limit_gb}); "
                            "lower hessian_iters or raise memory_limit_gb")
    x_all, y_all = ctx.sample("train", cfg.hessian_samples * cfg.hessian_batches,
                              ("hessian_samples", "hessian_batches"))
    per = len(x_all) // cfg.hessian_batches
    if per < 1:
        per, batches = len(x_all), 1
    else:
        batches = cfg.hessian_batches
    # a double-backward graph keeps roughly three copies of the activations
    chunk = chunk_size(3 * activation_bytes(ctx.model, x_all), ctx.memory_limit_bytes - basis_bytes,
                       cfg.hessian_chunk)
    gen = ctx.generator(1)
    tops, traces, probe_se, bounds, steps, converged, ritz = [], [], [], [], [], [], []
    for b in range(batches):
        xb, yb = x_all[b * per:(b + 1) * per], y_all[b * per:(b + 1) * per]
        hvp = fn.hvp_closure(xb, yb, chunk)
        run = lanczos(hvp, fn.dim, cfg.hessian_iters, cfg.hessian_tol, gen, ctx.device)
        tops.append(float(run.ritz[0]))
        bounds.append(run.error_bound)
        steps.append(run.steps)
        converged.append(run.converged)
        ritz.append([float(v) for v in run.ritz[:5]])
        if "hessian_trace" in names:
            tr, se, _ = deflated_trace(hvp, run, cfg.hessian_probes, gen, ctx.device)
            traces.append(tr)
            probe_se.append(se)
        del hvp, run
    if not all(converged):
        warnings.warn(f"hessian_top: Lanczos did not reach hessian_tol={cfg.hessian_tol} within "
                      f"hessian_iters={cfg.hessian_iters} (error bounds {bounds}); raise hessian_iters",
                      stacklevel=2)
    common = {"samples_per_batch": per, "batches": batches, "params": fn.dim}
    out = {"hessian_top": Estimate(float(np.mean(tops)), _spread(tops), {
        **common, "per_batch": tops, "error_bound": bounds, "lanczos_steps": steps,
        "converged": converged, "top_ritz_values": ritz})}
    if "hessian_trace" in names:
        se = _spread(traces) if batches > 1 else probe_se[0]
        out["hessian_trace"] = Estimate(float(np.mean(traces)), se, {
            **common, "per_batch": traces, "probe_stderr": probe_se, "probes": cfg.hessian_probes})
    return out


def _spread(values: list[float]) -> float | None:
    """Standard error of the mean across independent batches (None for a single batch)."""
    if len(values) < 2:
        return None
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))
