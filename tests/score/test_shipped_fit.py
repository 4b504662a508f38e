"""The shipped coefficients are reproduced from the inputs they record (the reference signals and
the measured ranks), and the ridge strength is the one an explicit leave-one-out loop picks."""
from __future__ import annotations

import numpy as np
import pytest

from archrisk.score.model import CLIP, RIDGE_GRID, _fit_ridge, fit_model, load_model, rho_with_bootstrap_ci

pytestmark = pytest.mark.usefixtures("one_thread")


def test_shipped_coefficients_refit_from_their_own_inputs():
    shipped = load_model()
    # the measured ranks stand in for the raw targets: the fit only sees their ranks
    targets = {f: dict(fit.measured) for f, fit in shipped.families.items()}
    agreement = {f: (fit.seed_agreement, fit.seeds) for f, fit in shipped.families.items()}
    labels = {f: fit.target for f, fit in shipped.families.items()}
    refit = fit_model(shipped.reference, targets, shipped.signals, shipped.signal_config, shipped.provenance,
                      labels, agreement=agreement)
    np.testing.assert_allclose(refit.center, shipped.center, rtol=0, atol=1e-9)
    np.testing.assert_allclose(refit.scale, shipped.scale, rtol=0, atol=1e-9)
    assert set(refit.families) == set(shipped.families)
    for fam, want in shipped.families.items():
        got = refit.families[fam]
        assert got.ridge == want.ridge and got.n_archs == want.n_archs, fam
        np.testing.assert_allclose(got.coef, want.coef, rtol=0, atol=1e-9, err_msg=fam)
        assert got.intercept == pytest.approx(want.intercept, abs=1e-9)
        assert got.loao_rho == pytest.approx(want.loao_rho, abs=1e-9)
        np.testing.assert_allclose(got.loao_ci, want.loao_ci, rtol=0, atol=1e-9, err_msg=fam)
        np.testing.assert_allclose([got.predicted[a] for a in want.predicted], list(want.predicted.values()),
                                   rtol=0, atol=1e-9, err_msg=fam)


def _loo_by_refitting(z, y, lam):
    """Mean squared error of predicting each row from a ridge (intercept unshrunk) fitted without it."""
    errs = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        zk, yk = z[keep], y[keep]
        zm, ym = zk.mean(0), yk.mean()
        beta = np.linalg.solve((zk - zm).T @ (zk - zm) + lam * np.eye(z.shape[1]), (zk - zm).T @ (yk - ym))
        errs.append((y[i] - (ym + (z[i] - zm) @ beta)) ** 2)
    return float(np.mean(errs))


@pytest.mark.parametrize("seed", range(6))
def test_ridge_strength_is_the_leave_one_out_choice(seed):
    rng = np.random.default_rng(seed)
    n, p = [(6, 10), (12, 4), (35, 10)][seed % 3]  # fewer rows than signals, and more
    z = np.clip(rng.normal(size=(n, p)) * 1.5, -CLIP, CLIP)
    y = (np.argsort(np.argsort(z[:, 0] * (seed % 2) + rng.normal(size=n))) + 0.5) / n
    errs = [_loo_by_refitting(z, y, lam) for lam in RIDGE_GRID]
    beta, b0, lam = _fit_ridge(z, y, RIDGE_GRID)
    assert lam == RIDGE_GRID[int(np.argmin(errs))]
    zm = z.mean(0)  # the coefficients are the full-data ridge at that strength
    want = np.linalg.solve((z - zm).T @ (z - zm) + lam * np.eye(p), (z - zm).T @ (y - y.mean()))
    np.testing.assert_allclose(beta, want, atol=1e-12)
    assert b0 == pytest.approx(y.mean() - zm @ want, abs=1e-12)


def test_rho_with_bootstrap_ci_is_seeded_and_nan_for_constant_input():
    rng = np.random.default_rng(0)
    a = rng.normal(size=20)
    b = a + rng.normal(size=20)
    rho, ci = rho_with_bootstrap_ci(a, b)
    assert rho_with_bootstrap_ci(a, b) == (rho, ci) and ci[0] < rho < ci[1]
    assert np.isnan(rho_with_bootstrap_ci(a, np.ones(20))[0])
