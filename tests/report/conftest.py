"""A full synthetic report, rendered once per test session and shared by the report tests."""
from __future__ import annotations

import pytest

from archrisk.report import write_report
from archrisk.store.fixtures import write_synthetic_store


@pytest.fixture(scope="session")
def full_report(tmp_path_factory):
    """(store path, index.html path) of a store with every section's data (incl. adversarial training)."""
    d = tmp_path_factory.mktemp("full_report")
    db = write_synthetic_store(d / "s.db", adv_train=True)
    return db, write_report(db, d / "out")
