"""Reading the user's standard dataset files safely: folders, tar archives, gzip, pickles.

Nothing here downloads. Archives are read member by member into memory, never extracted, so a
crafted member name cannot write outside the data directory. CIFAR's python version is a
pickle; it is read with `safe_unpickle`, which can rebuild numpy arrays and plain containers
and nothing else.
"""
from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from archrisk.errors import DataError


def search_dirs(data_dir: Path, aliases: tuple[str, ...]) -> list[Path]:
    """data_dir itself, then data_dir/<alias> and data_dir/<alias>/raw for each alias."""
    dirs = [data_dir]
    for alias in aliases:
        dirs += [data_dir / alias, data_dir / alias / "raw"]
    return dirs


def read_folder(folder: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(f"{folder} lacks {', '.join(missing)}; the folder is incomplete")
    return {n: (folder / n).read_bytes() for n in names}


def read_tar(archive: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The members of `archive` whose base names are in `names`, read in one streaming pass."""
    found: dict[str, bytes] = {}
    try:
        # Streaming mode ("r|*"): one sequential pass; random access into a .gz re-decompresses.
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in names and base not in found:
                    fh = tar.extractfile(member)
                    found[base] = fh.read() if fh is not None else b""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"cannot read {archive}: {exc}; the archive is truncated or corrupt, download it again") from exc
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(f"{archive} lacks {', '.join(missing)}; it is not the expected archive")
    return found


def maybe_gunzip(raw: bytes, source: str) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot decompress {source}: {exc}; download it again") from exc


# --- restricted unpickling ---------------------------------------------------------------

def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(text, "latin1");
    # only that use is allowed (other codecs could be made to import modules).
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise DataError(f"pickle asked for _codecs.encode with encoding {encoding!r}; refusing")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    # Pickles below protocol 3 spell b"" as bytes(); any argument (bytes(10**12)) is refused.
    if args:
        raise DataError("pickle asked for bytes() with arguments; refusing")
    return b""


# The callables numpy itself uses to pickle arrays, taken from numpy's own reductions so they
# are right for numpy 1.x (numpy.core) and 2.x (numpy._core) alike.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # used by protocols 0-4
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # used by protocol 5
_SCALAR = np.uint8(0).__reduce__()[0]  # numpy scalars
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "bytes"): _empty_bytes,  # how Python 3 writes builtins.bytes for protocols < 3
    ("builtins", "bytes"): _empty_bytes,
}
for _mod in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_mod}.multiarray", "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(f"{_mod}.multiarray", "scalar")] = _SCALAR
    _ALLOWED[(f"{_mod}.numeric", "_frombuffer")] = _FROMBUFFER


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        # Every global a pickle names goes through here (also extension codes), so refusing
        # all but the array-building ones means a file cannot run code.
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"pickle refers to {module}.{name}, which is not allowed; only numpy arrays and "
                "plain containers are accepted (is this really a CIFAR file?)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError("pickle uses persistent ids, which are not allowed")


def safe_unpickle(raw: bytes, source: str) -> Any:
    """Unpickle `raw` allowing only numpy arrays/dtypes/scalars and builtin containers.

    encoding="bytes" keeps Python-2 strings (CIFAR's keys, b"data") as bytes, as the
    official CIFAR instructions do.
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None  # name the offending file
    except Exception as exc:  # malformed pickles raise many types (EOFError, ValueError, ...)
        raise DataError(f"cannot unpickle {source}: {exc}; the file is corrupt") from exc
