"""Standard datasets read from the user's copies of the official files (never downloaded).

Looked for in data_dir, data_dir/<name>/ and data_dir/<name>/raw (plus the folder names
torchvision uses), either extracted or as the original archive:

- cifar10:  cifar-10-batches-bin/ or cifar-10-binary.tar.gz  (data_batch_1..5.bin, test_batch.bin,
            batches.meta.txt; records of 1 label byte + 3072 pixel bytes, planes R, G, B);
            cifar-10-batches-py/ or cifar-10-python.tar.gz  (pickled dicts, read restrictedly).
- cifar100: cifar-100-binary/ or cifar-100-binary.tar.gz  (train.bin, test.bin,
            fine_label_names.txt; records of coarse byte + fine byte + 3072 pixel bytes; the
            fine labels are used); cifar-100-python/ or cifar-100-python.tar.gz.
- mnist, fashion_mnist: the four idx files (train-images-idx3-ubyte, ...), gzipped or not.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from archrisk.data.files import maybe_gunzip, read_folder, read_tar, safe_unpickle, search_dirs
from archrisk.data.registry import RawData, register_dataset
from archrisk.errors import DataError

_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
_PIXELS = 3 * 32 * 32


@dataclass(frozen=True)
class _Format:
    folder: str  # name of the extracted folder
    archive: str  # name of the official archive
    files: tuple[str, ...]  # base names needed from either
    parse: Callable[[dict[str, bytes], str], RawData]


def _find_and_parse(name: str, data_dir: Path, aliases: tuple[str, ...], formats: list[_Format], url: str) -> RawData:
    dirs = search_dirs(data_dir, aliases)
    for d in dirs:
        for fmt in formats:
            # The folder itself may be given as data_dir, hence the second candidate.
            for folder in (d / fmt.folder, d):
                if (folder / fmt.files[0]).is_file():
                    return fmt.parse(read_folder(folder, fmt.files), str(folder))
            if (d / fmt.archive).is_file():
                return fmt.parse(read_tar(d / fmt.archive, fmt.files), str(d / fmt.archive))
    wanted = "; or ".join(f"{f.archive} (or its extracted folder {f.folder}/)" for f in formats)
    raise DataError(
        f"dataset {name!r}: no files found in {', '.join(map(str, dirs))}; expected {wanted}. "
        f"Download them from {url} and pass data_dir (or set ARCHRISK_DATA) to their folder"
    )


def _records(raw: bytes, head: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Split CIFAR binary records of `head` label bytes + 3072 pixels into (labels, images)."""
    size = head + _PIXELS
    if len(raw) == 0 or len(raw) % size:
        raise DataError(f"{source}: {len(raw)} bytes is not a whole number of {size}-byte CIFAR records; the file is truncated")
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, size)
    return rec[:, :head], rec[:, head:].reshape(-1, 3, 32, 32)


def _names(raw: bytes) -> tuple[str, ...]:
    return tuple(line.strip() for line in raw.decode("utf-8", "replace").splitlines() if line.strip())


def _cifar10_binary(files: dict[str, bytes], source: str) -> RawData:
    parts = [_records(files[f"data_batch_{i}.bin"], 1, f"{source}/data_batch_{i}.bin") for i in range(1, 6)]
    y_test, x_test = _records(files["test_batch.bin"], 1, f"{source}/test_batch.bin")
    return RawData(
        x_train=np.concatenate([x for _, x in parts]),
        y_train=np.concatenate([y[:, 0] for y, _ in parts]).astype(np.int64),
        x_test=np.ascontiguousarray(x_test),
        y_test=y_test[:, 0].astype(np.int64),
        classes=_names(files["batches.meta.txt"]),
    )


def _cifar100_binary(files: dict[str, bytes], source: str) -> RawData:
    y_train, x_train = _records(files["train.bin"], 2, f"{source}/train.bin")
    y_test, x_test = _records(files["test.bin"], 2, f"{source}/test.bin")
    return RawData(
        x_train=np.ascontiguousarray(x_train),
        y_train=y_train[:, 1].astype(np.int64),  # byte 0 is the coarse label, byte 1 the fine one
        x_test=np.ascontiguousarray(x_test),
        y_test=y_test[:, 1].astype(np.int64),
        classes=_names(files["fine_label_names.txt"]),
    )


def _unpickle_dict(raw: bytes, source: str) -> dict[str, object]:
    obj = safe_unpickle(raw, source)
    if not isinstance(obj, dict):
        raise DataError(f"{source}: expected a pickled dict, got {type(obj).__name__}")
    # Keys are bytes in the official (Python 2) files; accept str keys from re-pickled copies.
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _py_batch(raw: bytes, source: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle_dict(raw, source)
    if "data" not in d or label_key not in d:
        raise DataError(f"{source}: pickled dict lacks 'data' or {label_key!r} (keys: {sorted(d)})")
    x, y = d["data"], np.asarray(d[label_key])
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != _PIXELS:
        raise DataError(f"{source}: 'data' must be a uint8 array [N, {_PIXELS}], got {getattr(x, 'dtype', type(x))} {getattr(x, 'shape', '')}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: {label_key!r} must hold {len(x)} integer labels")
    return x.reshape(-1, 3, 32, 32), y.astype(np.int64)


def _meta_names(raw: bytes, source: str, key: str) -> tuple[str, ...]:
    names = _unpickle_dict(raw, source).get(key)
    if not isinstance(names, list):
        raise DataError(f"{source}: lacks the {key!r} list of class names")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)


def _cifar10_python(files: dict[str, bytes], source: str) -> RawData:
    parts = [_py_batch(files[f"data_batch_{i}"], f"{source}/data_batch_{i}", "labels") for i in range(1, 6)]
    x_test, y_test = _py_batch(files["test_batch"], f"{source}/test_batch", "labels")
    return RawData(
        x_train=np.concatenate([x for x, _ in parts]),
        y_train=np.concatenate([y for _, y in parts]),
        x_test=np.ascontiguousarray(x_test),
        y_test=y_test,
        classes=_meta_names(files["batches.meta"], f"{source}/batches.meta", "label_names"),
    )


def _cifar100_python(files: dict[str, bytes], source: str) -> RawData:
    x_train, y_train = _py_batch(files["train"], f"{source}/train", "fine_labels")
    x_test, y_test = _py_batch(files["test"], f"{source}/test", "fine_labels")
    return RawData(
        np.ascontiguousarray(x_train), y_train, np.ascontiguousarray(x_test), y_test,
        _meta_names(files["meta"], f"{source}/meta", "fine_label_names"),
    )


_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10 = [
    _Format("cifar-10-batches-bin", "cifar-10-binary.tar.gz",
            tuple(f"{b}.bin" for b in _BATCHES) + ("test_batch.bin", "batches.meta.txt"), _cifar10_binary),
    _Format("cifar-10-batches-py", "cifar-10-python.tar.gz", _BATCHES + ("test_batch", "batches.meta"), _cifar10_python),
]
_CIFAR100 = [
    _Format("cifar-100-binary", "cifar-100-binary.tar.gz", ("train.bin", "test.bin", "fine_label_names.txt"), _cifar100_binary),
    _Format("cifar-100-python", "cifar-100-python.tar.gz", ("train", "test", "meta"), _cifar100_python),
]


@register_dataset("cifar10", description="CIFAR-10 (32x32 colour, 10 classes) from the official archive",
                  shape=(3, 32, 32), num_classes=10, needs_files=True, mirror=True)
def _load_cifar10(data_dir: Path | None) -> RawData:
    return _find_and_parse("cifar10", Path(data_dir), ("cifar10", "cifar-10"), _CIFAR10, _CIFAR_URL)


@register_dataset("cifar100", description="CIFAR-100 (32x32 colour, 100 fine classes) from the official archive",
                  shape=(3, 32, 32), num_classes=100, needs_files=True, mirror=True)
def _load_cifar100(data_dir: Path | None) -> RawData:
    return _find_and_parse("cifar100", Path(data_dir), ("cifar100", "cifar-100"), _CIFAR100, _CIFAR_URL)


# --- MNIST-format idx files ---------------------------------------------------------------

_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def parse_idx(raw: bytes, source: str, ndim: int) -> np.ndarray:
    """Decode an idx file of unsigned bytes: magic 0x00 0x00 0x08 <ndim>, big-endian uint32 dims, data."""
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise DataError(f"{source}: not an idx file of unsigned bytes with {ndim} dimensions (bad magic {raw[:4]!r})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated idx header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{source}: holds {data.size} bytes of data, its header promises {dims}; the file is truncated")
    return data.reshape(dims)


def _load_idx(name: str, data_dir: Path, aliases: tuple[str, ...], classes: tuple[str, ...], url: str) -> RawData:
    dirs = search_dirs(data_dir, aliases)
    for d in dirs:
        paths = []
        for stem in _IDX_FILES:
            hits = [d / f"{stem}{ext}" for ext in (".gz", "")]
            hits = [p for p in hits if p.is_file()]
            if not hits:
                break
            paths.append(hits[0])
        else:
            arrays = [parse_idx(maybe_gunzip(p.read_bytes(), str(p)), str(p), 3 if "images" in p.name else 1)
                      for p in paths]
            x_train, y_train, x_test, y_test = arrays
            for x, y, p in ((x_train, y_train, paths[0]), (x_test, y_test, paths[2])):
                if len(x) != len(y):
                    raise DataError(f"{p}: {len(x)} images but {len(y)} labels in the matching labels file")
            return RawData(x_train[:, None], y_train.astype(np.int64), x_test[:, None], y_test.astype(np.int64), classes)
    raise DataError(
        f"dataset {name!r}: the idx files were not found in {', '.join(map(str, dirs))}; expected "
        f"{', '.join(_IDX_FILES)} (each optionally .gz). Download them from {url} and pass data_dir "
        "(or set ARCHRISK_DATA) to their folder"
    )


@register_dataset("mnist", description="MNIST (28x28 digits, 60k train / 10k test) from the official idx files",
                  shape=(1, 28, 28), num_classes=10, needs_files=True)
def _load_mnist(data_dir: Path | None) -> RawData:
    return _load_idx("mnist", Path(data_dir), ("mnist", "MNIST"), tuple(str(d) for d in range(10)),
                     "https://yann.lecun.com/exdb/mnist/")


@register_dataset("fashion_mnist", description="Fashion-MNIST (28x28 clothing, 10 classes) from the official idx files",
                  shape=(1, 28, 28), num_classes=10, needs_files=True)
def _load_fashion_mnist(data_dir: Path | None) -> RawData:
    return _load_idx("fashion_mnist", Path(data_dir), ("fashion_mnist", "fashion-mnist", "FashionMNIST"),
                     _FASHION_CLASSES, "https://github.com/zalandoresearch/fashion-mnist")
