"""Where archrisk keeps derived files (dataset caches, checkpoints), how it names a file's bytes, and
how it checks and writes the files and folders a command outputs."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from archrisk.errors import InvalidValueError


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


# --- Outputs: every command that writes a file or folder checks it here before any work --------------

def check_output(path: str | os.PathLike, what: str, *, folder: bool = False) -> Path:
    """Refuse, before any work, an output that cannot be written, in one line naming `what` (the option
    or role, e.g. "--out"): a file path that is a folder or a symbolic link (a planted link is never
    written through), a folder path that is a file, or a place where nothing can be created (its nearest
    existing folder is a file, read-only, or a pseudo filesystem such as /proc). Missing folders are
    fine: `write_output` creates them. Returns the path, `~` expanded.

    Writability is tried, not asked: a file is created and removed in the nearest existing folder
    (os.access says yes to root even in /proc), and an existing file is opened for writing, unchanged."""
    p = Path(path).expanduser()
    fix = "choose another folder" if folder else "choose another path"
    if folder and p.exists() and not p.is_dir():
        raise InvalidValueError(f"{what} {str(p)!r} is a file; give a folder (it is created if missing)")
    if not folder:
        if p.is_symlink():
            raise InvalidValueError(f"{what} {str(p)!r} is a symbolic link; give the path it points to, or remove "
                                    "the link")
        if p.is_dir():
            raise InvalidValueError(f"{what} {str(p)!r} is a folder; give a file name")
        if p.exists():
            _try_open(p, what)
            return p
    base = (p if folder else p.parent).absolute()
    while not base.exists() and not base.is_symlink() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        kind = "a file" if base.exists() else "a link to nothing"
        raise InvalidValueError(f"{what} {str(p)!r} cannot be created: {str(base)!r} is {kind}, not a folder; {fix}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".archrisk-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InvalidValueError(f"{what} {str(p)!r} cannot be written: nothing can be created in {str(base)!r} "
                                f"({e.strerror}); {fix}") from None
    return p


def _try_open(p: Path, what: str) -> None:
    """Open an existing output for writing without changing it (no truncation; a FIFO does not block)."""
    try:
        os.close(os.open(p, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)))
    except OSError as e:
        raise InvalidValueError(f"{what} {str(p)!r} cannot be written ({e.strerror}); choose another path") from None


def write_output(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` at `path`, creating missing folders, without following a link planted there (the
    link itself is replaced). A failure is one line naming the path."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink():
            p.unlink()
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as e:
        raise InvalidValueError(f"cannot write {str(p)!r} ({e.strerror}); choose another path") from None


def output_folder(path: str | os.PathLike, what: str = "output") -> Path:
    """A folder inside an output (created if missing) that is a real folder: a planted link would
    send the files written into it elsewhere."""
    p = Path(path)
    if p.is_symlink():
        raise InvalidValueError(f"{what} {str(p)!r} is a symbolic link; remove it or choose another folder")
    p.mkdir(exist_ok=True)
    return p
