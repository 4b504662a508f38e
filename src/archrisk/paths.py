"""Where archrisk keeps derived files (dataset caches, checkpoints)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Root of archrisk's caches: $ARCHRISK_CACHE, else ~/.cache/archrisk. Created on demand."""
    root = Path(os.environ.get("ARCHRISK_CACHE") or Path.home() / ".cache" / "archrisk")
    root.mkdir(parents=True, exist_ok=True)
    return root
