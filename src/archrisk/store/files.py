"""The store's file: creating it atomically, opening a connection, and who owns a claim.

Kept apart from the `Store` API (write.py) because this is about the file and the process, not
about studies and jobs; it never imports torch.
"""
from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from archrisk import __version__
from archrisk.store.schema import StoreError, create_schema


@dataclass(frozen=True)
class Owner:
    """Who holds a claim: a token unique to one running audit, plus where it runs."""

    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a zombie (killed, not yet reaped) is dead for our purposes
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def create_file(path: Path, timeout: float) -> None:
    """Build a new store beside `path` and link it into place: readers never see a half-made
    file, and of two processes creating the same store at once exactly one wins."""
    if not path.parent.is_dir():
        raise StoreError(f"cannot create store {path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise StoreError(f"cannot create store {path}: folder {path.parent} is not writable; choose another path")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    try:
        conn = connect(tmp, timeout)
    except sqlite3.OperationalError as e:
        raise StoreError(f"cannot create store {path} ({e}); choose another path") from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file header
        conn.execute("BEGIN")
        create_schema(conn, created_by=__version__)
        conn.execute("COMMIT")
    finally:
        conn.close()  # checkpoints the WAL into the file and removes it
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # someone else created it first: use theirs
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)


def connect(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    # WAL + NORMAL: a commit survives the process being killed (the WAL is in the OS cache) and
    # costs no fsync; only a power cut may roll back the last commits, never corrupt the file.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


# (device, inode) -> stores this process has open on that file (see Store.__init__).
OPEN: Counter[tuple[int, int]] = Counter()


def inode(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino
