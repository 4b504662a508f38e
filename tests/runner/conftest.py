"""Fixtures of the runner tests: the fakes registered once, and a private checkpoint cache."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # runner_fakes: importable here and in spawned workers

import runner_fakes  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def fakes():
    runner_fakes.install()
    return runner_fakes


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private checkpoint cache for one test (so training really happens in it)."""
    d = tmp_path / "cache"
    d.mkdir()
    monkeypatch.setenv("ARCHRISK_CACHE", str(d))
    return d
