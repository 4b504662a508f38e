"""House rules for the source tree that a reader relies on: modules read in one sitting."""
from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "archrisk"
MAX_LINES = 400  # DESIGN.md: a module reads top to bottom in one sitting; past this, split it along a seam


def test_no_module_is_longer_than_a_sitting() -> None:
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
