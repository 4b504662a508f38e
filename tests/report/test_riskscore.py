"""Risk-score section: significance threshold and a broken fit entry."""
from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest
from report_helpers import check_report
from scipy.stats import spearmanr

from archrisk.report import write_report
from archrisk.store.fixtures import write_synthetic_store
from archrisk.report.riskscore import critical_rho
from archrisk.store import SCORE_FIT_KEY


@pytest.mark.parametrize("n", [10, 35])
def test_critical_rho_is_where_scipy_p_crosses_alpha(n):
    r = critical_rho(n)
    rng = np.random.default_rng(n)
    x = np.arange(n, dtype=float)
    above, below = [], []  # p-values of random rankings whose |rho| lands just above / below r
    for _ in range(20000):
        rho, p = spearmanr(x, rng.permutation(n))
        if abs(abs(rho) - r) < 0.03:
            (above if abs(rho) >= r else below).append(p)
    assert above and below
    assert max(above) <= 0.05 + 1e-12 and min(below) > 0.05
    assert critical_rho(n) < critical_rho(5) < 1


def test_unreadable_fit_entry_is_reported_and_the_reference_shown(tmp_path):
    db = write_synthetic_store(tmp_path / "s.db", n_nas=2, n_manual=2, remedies=False, fractions=(0.2,))
    con = sqlite3.connect(db)
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (SCORE_FIT_KEY, "{not json"))
    con.commit()
    con.close()
    text = " ".join(check_report(write_report(db, tmp_path / "out"))["text"].split())
    assert "is not valid JSON" in text and "the reference fit shipped with archrisk" in text
    assert math.isfinite(critical_rho(4))
