"""The shipped coefficients are reproduced from the inputs they record (the reference signals and
the measured ranks), and the ridge strength is the one an explicit leave-one-out loop picks."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dataclasses import replace

from archrisk.errors import InvalidValueError
from archrisk.score.fit import is_predicted, with_size_baselines
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


def test_shipped_baselines_are_measured_on_the_fits_own_architectures():
    """The parameter-count and FLOPs baselines stored with each family are what rebuilding its
    architectures gives now, and a family that does not beat both is not printed as a risk."""
    shipped = load_model()
    again = with_size_baselines(replace(shipped, families={f: replace(fit, baselines={})
                                                           for f, fit in shipped.families.items()}))
    for fam, fit in shipped.families.items():
        assert set(fit.baselines) == {"parameter count", "FLOPs"}, fam
        assert again.families[fam].baselines == pytest.approx(fit.baselines, abs=1e-12), fam
        if fit.beats_baselines() is False:
            assert not is_predicted({"rho": fit.loao_rho, "ci": list(fit.loao_ci), "ceiling": fit.ceiling,
                                     "baselines": fit.baselines}), fam
    # a fit whose architectures the code no longer builds as they were fitted is refused, not mixed
    label = sorted(shipped.reference)[0]
    moved = {**shipped.reference, label: {**shipped.reference[label], "log_params": 9.0}}
    with pytest.raises(InvalidValueError, match="refit instead"):
        with_size_baselines(replace(shipped, reference=moved))


def test_readme_quotes_the_shipped_fit_and_its_baselines():
    """The README's held-out rho per family, and its two baselines, are the shipped file's."""
    text = " ".join((Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8").split())
    for fam, fit in load_model().families.items():
        m = re.search(rf"{fam} (-?\d\.\d\d) \(parameter count (-?\d\.\d\d), FLOPs (-?\d\.\d\d)\)", text)
        assert m, fam
        want = (fit.loao_rho, fit.baselines["parameter count"], fit.baselines["FLOPs"])
        assert m.groups() == tuple(f"{x:.2f}" for x in want), fam


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
