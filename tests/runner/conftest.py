"""Fixtures of the runner tests: the fakes registered for this package, and a private checkpoint cache."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # runner_fakes: importable here and in spawned workers

import runner_fakes  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def fakes():
    # per module: registered for the runner tests only, and removed before other tests run
    runner_fakes.install()
    yield runner_fakes
    runner_fakes.uninstall()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private checkpoint cache for one test (so training really happens in it)."""
    d = tmp_path / "cache"
    d.mkdir()
    monkeypatch.setenv("ARCHRISK_CACHE", str(d))
    return d
