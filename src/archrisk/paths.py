"""Where archrisk keeps derived files (dataset caches, checkpoints), and how it names a file's bytes."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_dir() -> Path:
    """Root of archrisk's caches: $ARCHRISK_CACHE, else ~/.cache/archrisk. Created on demand."""
    root = Path(os.environ.get("ARCHRISK_CACHE") or Path.home() / ".cache" / "archrisk")
    root.mkdir(parents=True, exist_ok=True)
    return root


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
