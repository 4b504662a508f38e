"""Loss smoothness in weight space: extreme Hessian eigenvalues and Hessian trace.

The Hessian is that of the mean cross-entropy over `samples` random training images, in
eval mode, with respect to every parameter. It is never formed: only Hessian-vector products.

Sign convention: `hessian_top` is the largest *algebraic* eigenvalue (the sharpest upward
curvature); PyHessian reports the dominant one (largest in magnitude), which differs when the
most negative eigenvalue is larger in size. `hessian_min` is the most negative (smallest
algebraic) eigenvalue, from Lanczos on -H: with both, either convention can be read off.

- Extreme eigenvalues: Lanczos with full reorthogonalisation from a random start, stopped when
  the residual norm of the top Ritz pair, r = ||H v - theta v|| = |beta_k s_k|, falls below
  `tol * |theta|`. For a symmetric matrix r bounds the distance from theta to *some*
  eigenvalue (whatever the spectrum), so the tolerance means the same on every model. (The
  sharper r^2 / gap needs the true gap to the rest of the spectrum; the Ritz gap that stands in
  for it is larger whenever an eigenvalue is not yet resolved, and then the "bound" is not one.)
- Trace: Hutchinson with Rademacher probes, deflated by the Lanczos basis Q (as in Hutch++):
  tr(H) = tr(Q^T H Q) + tr((I-P) H (I-P)) with P = QQ^T; the first term is the sum of the
  Lanczos alphas (exact), the second is estimated by z^T(I-P)H(I-P)z. Probes are added
  `probes` at a time until the standard error is at most `trace_rse` of the
  estimate or `probes_max` are spent.

With `batches` > 1 the computation is repeated on disjoint random batches; eigenvalues
are the batch mean with the batch spread as standard error (data noise included; none for one
batch, whose Lanczos residual bound is in `extra`). The trace's standard error is that of its
probes (the estimator's own noise, which `trace_rse` controls), combined over batches;
the spread of the batch means (data noise) is in `extra` as `batch_spread`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Annotated, Callable, ClassVar

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

from archrisk.errors import ResourceError
from archrisk.meaning import Meaning
from archrisk.metrics.base import Estimate, MetricContext, register_metric
from archrisk.metrics.functional import ModelFn, activation_bytes, chunk_size, gib
from archrisk.validate import Checked, Ge


@dataclass(frozen=True)
class HessianConfig(Checked):
    config_label: ClassVar[str] = "metric 'hessian'"
    samples: Annotated[int, Ge(1)] = 64  # images per batch; the Hessian is that of their mean loss
    batches: Annotated[int, Ge(1)] = 2  # independent batches (value = mean, stderr = spread)
    iters: Annotated[int, Ge(1)] = 40  # Lanczos step budget per batch
    # relative residual bound on the top eigenvalue; 0 runs the full budget
    tol: Annotated[float, Ge(0)] = 1e-3
    probes: Annotated[int, Ge(1)] = 8  # Rademacher probes per round for the deflated trace estimate
    # add probe rounds until the trace's SE <= this share of it; 0: one round
    trace_rse: Annotated[float, Ge(0)] = 0.1
    probes_max: Annotated[int, Ge(1)] = 256  # probes per batch at most when chasing trace_rse
    chunk: Annotated[int, Ge(1)] = 128  # images per forward pass (bounds memory; larger batches are chunked)


@dataclass(frozen=True)
class Lanczos:
    """Outcome of one Lanczos run on a symmetric operator."""

    ritz: np.ndarray  # Ritz values, descending
    alphas: np.ndarray  # diagonal of the tridiagonal matrix (sum = tr(Q^T H Q))
    basis: torch.Tensor  # [k, P] orthonormal Krylov basis Q
    error_bound: float  # residual norm of the top Ritz pair: >= |top Ritz value - nearest eigenvalue|
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
        top, s_last, _ = _top_ritz(alphas, betas)
        bound = beta * abs(s_last)  # ||H v - theta v||: a valid bound whatever the unknown gap
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
                   gen: torch.Generator, device: torch.device | str = "cpu", rse: float = 0.0,
                   max_probes: int | None = None) -> tuple[float, float, list[float]]:
    """tr(H) = sum(alphas) + Hutchinson on the complement of the Lanczos basis, `probes` at a time
    until the standard error is at most `rse` of the estimate (0: one round) or `max_probes` are spent.
    Returns (estimate, probe standard error, per-probe values of the complement term)."""
    Q = run.basis
    head = float(run.alphas.sum())
    cap = max(probes, max_probes or probes)
    values: list[float] = []
    while True:
        for _ in range(min(probes, cap - len(values))):
            z = (torch.randint(0, 2, (Q.shape[1],), generator=gen) * 2 - 1).to(device=device, dtype=Q.dtype)
            z = z - Q.T @ (Q @ z)
            values.append(float(z @ matvec(z)))
        est = head + float(np.mean(values))
        se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
        if rse <= 0 or len(values) >= cap or (math.isfinite(se) and se <= rse * abs(est)):
            return est, se, values


@register_metric(kind="model", config=HessianConfig, metrics={
    "hessian_top": "largest (algebraic) eigenvalue of the loss Hessian w.r.t. the weights (Lanczos)",
    "hessian_trace": "trace of the loss Hessian w.r.t. the weights (deflated Hutchinson)",
    "hessian_min": "most negative eigenvalue of the loss Hessian w.r.t. the weights (Lanczos on -H)",
}, meanings={k: Meaning(-1, claims=("C7",)) for k in ("hessian_top", "hessian_trace")})  # C7: smoother = riskier
def hessian(ctx: MetricContext, cfg: HessianConfig, names: tuple[str, ...]) -> dict[str, Estimate]:
    fn = ModelFn(ctx.model)
    basis_bytes = cfg.iters * fn.dim * 4
    if basis_bytes > ctx.memory_limit_bytes:
        raise ResourceError(f"Hessian: a Lanczos basis of hessian.iters={cfg.iters} x {fn.dim:,} "
                            f"parameters needs {gib(basis_bytes)} (memory_limit_gb={ctx.memory_limit_gb}); "
                            "lower hessian.iters or raise memory_limit_gb")
    x_all, y_all = ctx.sample("train", cfg.samples * cfg.batches, ("samples", "batches"))
    per = len(x_all) // cfg.batches
    if per < 1:
        per, batches = len(x_all), 1
    else:
        batches = cfg.batches
    # a double-backward graph keeps roughly three copies of the activations
    chunk = chunk_size(3 * activation_bytes(ctx.model, x_all), ctx.memory_limit_bytes - basis_bytes,
                       cfg.chunk)
    gen = ctx.generator(1)
    tops, traces, probe_se, bounds, steps, converged, ritz = [], [], [], [], [], [], []
    mins, min_bounds, min_steps, min_conv, probes_used = [], [], [], [], []
    for b in range(batches):
        xb, yb = x_all[b * per:(b + 1) * per], y_all[b * per:(b + 1) * per]
        hvp = fn.hvp_closure(xb, yb, chunk)
        run = lanczos(hvp, fn.dim, cfg.iters, cfg.tol, gen, ctx.device)
        tops.append(float(run.ritz[0]))
        bounds.append(run.error_bound)
        steps.append(run.steps)
        converged.append(run.converged)
        ritz.append([float(v) for v in run.ritz[:5]])
        if "hessian_trace" in names:
            tr, se, vals = deflated_trace(hvp, run, cfg.probes, gen, ctx.device,
                                          cfg.trace_rse, cfg.probes_max)
            traces.append(tr)
            probe_se.append(se)
            probes_used.append(len(vals))
        if "hessian_min" in names:
            low = lanczos(lambda v: -hvp(v), fn.dim, cfg.iters, cfg.tol, gen, ctx.device)
            mins.append(-float(low.ritz[0]))
            min_bounds.append(low.error_bound)
            min_steps.append(low.steps)
            min_conv.append(low.converged)
            del low
        del hvp, run
    if not all(converged + min_conv):
        warnings.warn(f"hessian: Lanczos did not reach hessian.tol={cfg.tol} within "
                      f"hessian.iters={cfg.iters} (residual bounds {bounds + min_bounds}); raise hessian.iters",
                      stacklevel=2)
    common = {"samples_per_batch": per, "batches": batches, "params": fn.dim}
    out = {"hessian_top": Estimate(float(np.mean(tops)), _spread(tops), {
        **common, "per_batch": tops, "error_bound": bounds, "lanczos_steps": steps,
        "converged": converged, "top_ritz_values": ritz, "sign": "largest algebraic"})}
    if "hessian_min" in names:
        out["hessian_min"] = Estimate(float(np.mean(mins)), _spread(mins), {
            **common, "per_batch": mins, "error_bound": min_bounds, "lanczos_steps": min_steps,
            "converged": min_conv})
    if "hessian_trace" in names:
        se = math.sqrt(sum(e**2 for e in probe_se)) / batches  # probe noise of the batch mean
        if len(traces) > 1:
            common["batch_spread"] = _spread(traces)
        if cfg.trace_rse > 0 and not se <= cfg.trace_rse * abs(float(np.mean(traces))):
            warnings.warn(f"hessian_trace: standard error {se:.3g} is above hessian.trace_rse={cfg.trace_rse} "
                          f"of the estimate after {probes_used} probes; raise hessian.probes_max", stacklevel=2)
        out["hessian_trace"] = Estimate(float(np.mean(traces)), se, {
            **common, "per_batch": traces, "probe_stderr": probe_se, "probes": probes_used,
            "target_rse": cfg.trace_rse})
    return out


def _spread(values: list[float]) -> float | None:
    """Standard error of the mean across independent batches (None for a single batch)."""
    if len(values) < 2:
        return None
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))
