"""Writers for tiny dataset files in the official formats (CIFAR binary/python, idx), for the data tests.

They build every file from an image array independently of the readers under test: CIFAR
records are label byte(s) followed by the R, G and B planes, each row-major; idx files are the
magic 0x00 0x00 0x08 <ndim>, big-endian uint32 sizes, then the bytes.
"""
from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def cifar_images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


def cifar_record(label_bytes: bytes, img: np.ndarray) -> bytes:
    r, g, b = img  # planes in the official order
    return label_bytes + r.tobytes() + g.tobytes() + b.tobytes()


def write_members(root: Path, folder: str, files: dict[str, bytes], archive: str | None) -> Path:
    """Write `files` into root/folder/, or into the tar.gz root/archive under folder/ (like the official archives)."""
    root.mkdir(parents=True, exist_ok=True)
    if archive is None:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (root / folder / name).write_bytes(data)
        return root / folder
    with tarfile.open(root / archive, "w:gz") as tar:
        d = tarfile.TarInfo(folder)
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
        for name, data in {"readme.html": b"<html></html>", **files}.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return root / archive


def py2_pickle(obj) -> bytes:
    """Protocol-2 pickle as Python 2's cPickle wrote the official CIFAR python files: str (bytes)
    as SHORT_BINSTRING/BINSTRING, numpy arrays via numpy.core.multiarray._reconstruct."""

    def s(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b

    def enc(o) -> bytes:
        if isinstance(o, bytes):
            return s(o)
        if isinstance(o, bool) or o is None:
            return {True: b"\x88", False: b"\x89", None: b"N"}[o]
        if isinstance(o, int):
            return b"J" + struct.pack("<i", o)
        if isinstance(o, list):
            return b"](" + b"".join(enc(v) for v in o) + b"e"
        if isinstance(o, tuple):
            return b"(" + b"".join(enc(v) for v in o) + b"t"
        if isinstance(o, dict):
            return b"}(" + b"".join(enc(k) + enc(v) for k, v in o.items()) + b"u"
        if isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            dtype = b"cnumpy\ndtype\n" + enc((b"u1", 0, 1)) + b"R" + enc((3, b"|", None, None, None, -1, -1, 0)) + b"b"
            head = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + enc((0,)) + enc(b"b") + b"\x87R"
            state = b"(" + enc(1) + enc(tuple(o.shape)) + dtype + enc(False) + s(o.tobytes()) + b"t"
            return head + state + b"b"
        raise TypeError(type(o))

    return b"\x80\x02" + enc(obj) + b"."


def dump(obj, protocol) -> bytes:
    return py2_pickle(obj) if protocol == "py2" else pickle.dumps(obj, protocol=protocol)


def write_cifar10(root: Path, fmt: str, *, archive: bool, n_per_batch: int = 4, n_test: int = 6, seed: int = 0,
                  protocol=4) -> SimpleNamespace:
    """Tiny CIFAR-10 in `fmt` 'binary' or 'python'; returns what was written (train in file order)."""
    rng = np.random.default_rng(seed)
    xs = [cifar_images(rng, n_per_batch) for _ in range(5)]
    ys = [rng.integers(0, 10, size=n_per_batch) for _ in range(5)]
    x_test, y_test = cifar_images(rng, n_test), rng.integers(0, 10, size=n_test)
    files: dict[str, bytes] = {}
    if fmt == "binary":
        def batch(x, y):
            return b"".join(cifar_record(bytes([int(label)]), img) for img, label in zip(x, y))
        for i in range(5):
            files[f"data_batch_{i + 1}.bin"] = batch(xs[i], ys[i])
        files["test_batch.bin"] = batch(x_test, y_test)
        files["batches.meta.txt"] = ("\n".join(CIFAR10_NAMES) + "\n\n").encode()  # the real file ends in blank lines
        folder, name = "cifar-10-batches-bin", "cifar-10-binary.tar.gz"
    else:
        def batch(x, y, label):
            return dump({b"batch_label": label, b"labels": [int(v) for v in y], b"data": x.reshape(len(x), -1),
                         b"filenames": [b"img%d.png" % i for i in range(len(x))]}, protocol)
        for i in range(5):
            files[f"data_batch_{i + 1}"] = batch(xs[i], ys[i], b"training batch %d of 5" % (i + 1))
        files["test_batch"] = batch(x_test, y_test, b"testing batch 1 of 1")
        files["batches.meta"] = dump({b"label_names": [n.encode() for n in CIFAR10_NAMES],
                                      b"num_cases_per_batch": n_per_batch, b"num_vis": 3072}, protocol)
        folder, name = "cifar-10-batches-py", "cifar-10-python.tar.gz"
    path = write_members(root, folder, files, name if archive else None)
    return SimpleNamespace(path=path, x_train=np.concatenate(xs), y_train=np.concatenate(ys),
                           x_test=x_test, y_test=y_test, classes=CIFAR10_NAMES)


def write_cifar100(root: Path, fmt: str, *, archive: bool, n_train: int = 40, n_test: int = 8, seed: int = 0,
                   protocol=4) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    x_train, x_test = cifar_images(rng, n_train), cifar_images(rng, n_test)
    fine_train, fine_test = rng.integers(0, 100, size=n_train), rng.integers(0, 100, size=n_test)
    coarse_train, coarse_test = rng.integers(0, 20, size=n_train), rng.integers(0, 20, size=n_test)
    names = tuple(f"fine{k:02d}" for k in range(100))
    if fmt == "binary":
        def part(x, coarse, fine):
            return b"".join(cifar_record(bytes([int(c), int(f)]), img) for img, c, f in zip(x, coarse, fine))
        files = {"train.bin": part(x_train, coarse_train, fine_train), "test.bin": part(x_test, coarse_test, fine_test),
                 "fine_label_names.txt": "\n".join(names).encode(),
                 "coarse_label_names.txt": "\n".join(f"coarse{k}" for k in range(20)).encode()}
        folder, name = "cifar-100-binary", "cifar-100-binary.tar.gz"
    else:
        def part(x, coarse, fine):
            return dump({b"data": x.reshape(len(x), -1), b"fine_labels": [int(v) for v in fine],
                         b"coarse_labels": [int(v) for v in coarse]}, protocol)
        files = {"train": part(x_train, coarse_train, fine_train), "test": part(x_test, coarse_test, fine_test),
                 "meta": dump({b"fine_label_names": [n.encode() for n in names],
                               b"coarse_label_names": [b"coarse%d" % k for k in range(20)]}, protocol)}
        folder, name = "cifar-100-python", "cifar-100-python.tar.gz"
    path = write_members(root, folder, files, name if archive else None)
    return SimpleNamespace(path=path, x_train=x_train, y_train=fine_train, x_test=x_test, y_test=fine_test,
                           coarse_train=coarse_train, classes=names)


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return b"\x00\x00\x08" + bytes([arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes()


def write_idx_set(folder: Path, *, gz: bool, n_train: int = 30, n_test: int = 10, seed: int = 0) -> SimpleNamespace:
    """The four MNIST-format idx files (optionally gzipped) with random 28x28 images."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=n_test).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stem, arr in arrays.items():
        data = idx_bytes(arr)
        paths[stem] = folder / (stem + (".gz" if gz else ""))
        paths[stem].write_bytes(gzip.compress(data) if gz else data)
    return SimpleNamespace(paths=paths, x_train=arrays["train-images-idx3-ubyte"], y_train=arrays["train-labels-idx1-ubyte"],
                           x_test=arrays["t10k-images-idx3-ubyte"], y_test=arrays["t10k-labels-idx1-ubyte"])


@pytest.fixture
def fmt():
    """The writers above, as a fixture (test folders have no __init__.py to import from)."""
    return SimpleNamespace(cifar10=write_cifar10, cifar100=write_cifar100, idx_set=write_idx_set, idx_bytes=idx_bytes,
                           py2_pickle=py2_pickle, write_members=write_members, cifar_record=cifar_record)


def rows(x, y=None) -> list[bytes]:
    """Sorted byte strings of (image, label) rows: equal lists mean equal multisets."""
    x = np.asarray(x)
    out = [x[i].tobytes() + (b"" if y is None else int(y[i]).to_bytes(2, "little")) for i in range(len(x))]
    return sorted(out)


@pytest.fixture
def as_rows():
    return rows
