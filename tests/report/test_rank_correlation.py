"""The report's Spearman rho and its p (SciPy's `spearmanr` underneath): the textbook formula
without ties, nan without a warning on constant or NaN input, and the t approximation above the
exact range."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as st

from archrisk.stats import bootstrap, inference


@pytest.mark.parametrize("n", [3, 7, 30])
def test_rho_without_ties_is_the_textbook_formula(n):
    rng = np.random.default_rng(n)
    x, y = rng.permutation(n).astype(float), rng.permutation(n).astype(float)
    d = x - y  # ranks 0..n-1 already
    assert bootstrap.spearman(x * 10 + 1, np.exp(y)) == pytest.approx(1 - 6 * (d @ d) / (n * (n * n - 1)), abs=1e-12)


@pytest.mark.parametrize("x,y", [([1, 1, 1, 1], [1, 2, 3, 4]), ([1, 2, 3, 4], [5, 5, 5, 5]),
                                 ([1, np.nan, 3, 4], [1, 2, 3, 4])])
def test_rho_of_constant_or_nan_input_is_nan_quietly(x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(bootstrap.spearman(x, y))
        if np.isfinite(x).all():  # callers drop non-finite rows before asking for a p
            assert math.isnan(inference.spearman_p(x, y))


def test_p_above_the_exact_range_is_the_t_approximation():
    rng = np.random.default_rng(3)
    for n in (10, 25):
        x = rng.integers(0, 5, size=n).astype(float)  # ties
        y = x + rng.normal(size=n)
        rho = bootstrap.spearman(x, y)
        t = rho * math.sqrt((n - 2) / (1 - rho * rho))
        assert inference.spearman_p(x, y) == pytest.approx(2 * st.t.sf(abs(t), n - 2), rel=1e-9)
    assert inference.spearman_p(np.arange(12.0), np.arange(12.0) ** 3) == 0.0  # |rho| = 1
