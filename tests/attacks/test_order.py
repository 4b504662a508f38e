"""Attack results must not depend on which tests ran before: the whole package, run backwards."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_attack_tests_pass_in_reverse_order() -> None:
    # a fresh process, its own checkpoint cache (tests/conftest.py makes one), one test process
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("ARCHRISK_TEST_KEEP_CACHE", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "--reverse", "-m", "not slow", str(HERE)],
                          cwd=HERE.parents[1], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
