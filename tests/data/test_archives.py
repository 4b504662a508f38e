"""CIFAR-10/100 and MNIST-format readers on tiny files written in the official formats."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from archrisk.cli import main
from archrisk.data import load_dataset
from archrisk.data.archives import parse_idx
from archrisk.data.registry import get_dataset_entry
from archrisk.errors import DataError


def read_raw(name, data_dir):
    return get_dataset_entry(name)[1](data_dir)


def assert_same(raw, written):
    assert np.array_equal(raw.x_train, written.x_train) and np.array_equal(raw.y_train, written.y_train)
    assert np.array_equal(raw.x_test, written.x_test) and np.array_equal(raw.y_test, written.y_test)
    assert raw.classes == tuple(written.classes)
    assert raw.y_train.dtype == np.int64 and raw.x_train.dtype == np.uint8


# --- CIFAR-10 ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt_name,archive,protocol", [
    ("binary", False, None), ("binary", True, None),
    ("python", False, "py2"), ("python", True, "py2"),  # as the official files were written
    ("python", False, 2), ("python", False, 4), ("python", False, 5),  # re-pickled copies
])
def test_cifar10_decodes_what_was_written(tmp_path, fmt, fmt_name, archive, protocol):
    written = fmt.cifar10(tmp_path, fmt_name, archive=archive, protocol=protocol)
    assert_same(read_raw("cifar10", tmp_path), written)


@pytest.mark.parametrize("where", ["cifar10", "cifar-10/raw", "FOLDER"])
def test_cifar10_found_in_alias_folders_or_given_the_folder_itself(tmp_path, fmt, where):
    root = tmp_path if where == "FOLDER" else tmp_path / where
    written = fmt.cifar10(root, "binary", archive=False)
    data_dir = written.path if where == "FOLDER" else tmp_path
    assert_same(read_raw("cifar10", data_dir), written)


def test_cifar_channel_order_is_r_g_b_planes(tmp_path, fmt):
    """A record is label, then 1024 red bytes, 1024 green, 1024 blue, each plane row-major."""
    rec = bytearray([3]) + bytes(3072)
    rec[1 + 0 * 1024 + 0 * 32 + 5] = 200  # red at row 0, col 5
    rec[1 + 1 * 1024 + 2 * 32 + 0] = 100  # green at row 2, col 0
    rec[1 + 2 * 1024 + 31 * 32 + 31] = 50  # blue at row 31, col 31
    files = {f"data_batch_{i}.bin": bytes(rec) * 2 for i in range(1, 6)}
    files.update({"test_batch.bin": bytes(rec), "batches.meta.txt": "\n".join("abcdefghij").encode()})
    fmt.write_members(tmp_path, "cifar-10-batches-bin", files, None)
    raw = read_raw("cifar10", tmp_path)
    img = raw.x_test[0]
    assert img[0, 0, 5] == 200 and img[1, 2, 0] == 100 and img[2, 31, 31] == 50
    assert int(img.astype(int).sum()) == 350 and raw.y_test[0] == 3 and len(raw.x_train) == 10


def test_cifar10_load_dataset_uses_the_official_test_split(tmp_path, fmt, as_rows):
    written = fmt.cifar10(tmp_path, "binary", archive=True, n_per_batch=8, n_test=7)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.shape == (3, 32, 32) and ds.classes == written.classes
    assert torch.equal(ds.test.y, torch.from_numpy(written.y_test).long())
    assert torch.equal(ds.test.x, torch.from_numpy(written.x_test).float() / 255)
    assert (len(ds.train), len(ds.val), len(ds.pool)) == (28, 4, 8)
    rows = [as_rows(np.rint(s.x.numpy() * 255).astype(np.uint8), s.y.numpy()) for s in (ds.train, ds.val, ds.pool)]
    assert sorted(sum(rows, [])) == as_rows(written.x_train, written.y_train)

def test_archrisk_data_is_the_default_folder(tmp_path, fmt, monkeypatch):
    fmt.cifar10(tmp_path, "binary", archive=True)
    monkeypatch.setenv("ARCHRISK_DATA", str(tmp_path))
    assert load_dataset("cifar10").fingerprint() == load_dataset("cifar10", data_dir=tmp_path).fingerprint()


# --- CIFAR-100 -----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt_name,archive,protocol", [
    ("binary", False, None), ("binary", True, None), ("python", False, "py2"), ("python", True, "py2"), ("python", True, 4),
])
def test_cifar100_decodes_fine_labels(tmp_path, fmt, fmt_name, archive, protocol):
    written = fmt.cifar100(tmp_path, fmt_name, archive=archive, protocol=protocol)
    raw = read_raw("cifar100", tmp_path)
    assert_same(raw, written)
    assert not np.array_equal(raw.y_train, written.coarse_train)
    assert len(raw.classes) == 100


def test_cifar100_load_dataset(tmp_path, fmt):
    written = fmt.cifar100(tmp_path / "cifar100", "binary", archive=True)
    ds = load_dataset("cifar100", data_dir=tmp_path, split_seed=2)
    assert ds.num_classes == 100
    assert torch.equal(ds.test.y, torch.from_numpy(written.y_test).long())
    assert sum(len(ds.splits[k]) for k in ("train", "val", "pool")) == len(written.y_train)


# --- broken or missing CIFAR files ---------------------------------------------------------

def test_truncated_binary_batch(tmp_path, fmt):
    written = fmt.cifar10(tmp_path, "binary", archive=False)
    p = written.path / "data_batch_3.bin"
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(DataError, match="data_batch_3.bin.*truncated"):
        read_raw("cifar10", tmp_path)


def test_incomplete_folder_names_the_missing_files(tmp_path, fmt):
    written = fmt.cifar10(tmp_path, "binary", archive=False)
    (written.path / "data_batch_4.bin").unlink()
    (written.path / "test_batch.bin").unlink()
    with pytest.raises(DataError) as e:
        read_raw("cifar10", tmp_path)
    assert "data_batch_4.bin" in str(e.value) and "test_batch.bin" in str(e.value)
    assert "data_batch_1.bin" not in str(e.value).split("lacks")[1]


def test_archive_without_a_member_names_it(tmp_path, fmt):
    files = {"train.bin": bytes(3074), "fine_label_names.txt": b"x"}
    fmt.write_members(tmp_path, "cifar-100-binary", files, "cifar-100-binary.tar.gz")
    with pytest.raises(DataError, match="lacks test.bin"):
        read_raw("cifar100", tmp_path)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_archive(tmp_path, fmt, cut):
    written = fmt.cifar10(tmp_path, "python", archive=True)
    data = written.path.read_bytes()
    written.path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_raw("cifar10", tmp_path)


def test_not_an_archive(tmp_path):
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(b"<html>404 not found</html>")
    with pytest.raises(DataError, match="cifar-10-binary.tar.gz"):
        read_raw("cifar10", tmp_path)


@pytest.mark.parametrize("bad", ["float_data", "short_rows", "labels_len", "missing_key", "not_dict", "meta"])
def test_malformed_python_batch(tmp_path, fmt, bad):
    import pickle

    written = fmt.cifar10(tmp_path, "python", archive=False)
    x = written.x_train[:4].reshape(4, -1)
    batch = {b"data": x, b"labels": [0, 1, 2, 3]}
    target = "data_batch_2"
    if bad == "float_data":
        batch[b"data"] = x.astype(np.float32)
    elif bad == "short_rows":
        batch[b"data"] = x[:, :3000]
    elif bad == "labels_len":
        batch[b"labels"] = [0, 1, 2]
    elif bad == "missing_key":
        del batch[b"labels"]
    elif bad == "not_dict":
        batch = [x]
    elif bad == "meta":
        target, batch = "batches.meta", {b"num_vis": 3072}
    (written.path / target).write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(DataError) as e:
        read_raw("cifar10", tmp_path)
    assert target in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name,expected", [
    ("cifar10", ["cifar-10-binary.tar.gz", "cifar-10-python.tar.gz", "cifar-10-batches-py"]),
    ("cifar100", ["cifar-100-binary.tar.gz", "cifar-100-python.tar.gz"]),
    ("mnist", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
    ("fashion_mnist", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
])
def test_missing_files_name_what_is_expected(tmp_path, name, expected):
    with pytest.raises(DataError) as e:
        load_dataset(name, data_dir=tmp_path)
    msg = str(e.value)
    assert all(x in msg for x in expected) and str(tmp_path) in msg and "\n" not in msg


def test_cli_missing_files_exit_2_one_line(tmp_path, capsys):
    rc = main(["train", "resnet18", "--dataset", "cifar10", "--data-dir", str(tmp_path)])
    out = capsys.readouterr()
    assert rc == 2
    assert len(out.err.strip().splitlines()) == 1 and "cifar-10-binary.tar.gz" in out.err
    assert "Traceback" not in out.err + out.out
    assert not any(tmp_path.iterdir())  # nothing written into the data folder


def _one_class_cifar10(root, fmt, label=3):
    """A CIFAR-10 binary folder whose every record, train and test, carries `label`."""
    rng = np.random.default_rng(0)
    rec = b"".join(fmt.cifar_record(bytes([label]), img) for img in rng.integers(0, 256, (30, 3, 32, 32), np.uint8))
    files = {f"data_batch_{i}.bin": rec for i in range(1, 6)}
    files.update({"test_batch.bin": rec, "batches.meta.txt": "\n".join(map(str, range(10))).encode()})
    fmt.write_members(root, "cifar-10-batches-bin", files, None)


def test_a_one_class_archive_is_refused(tmp_path, fmt):
    _one_class_cifar10(tmp_path / "cifar", fmt)
    with pytest.raises(DataError, match="every label is 3 .*at least 2 classes") as e:
        load_dataset("cifar10", data_dir=tmp_path / "cifar")
    assert "\n" not in str(e.value)
    w = fmt.idx_set(tmp_path / "mnist", gz=False)
    w.paths["train-labels-idx1-ubyte"].write_bytes(fmt.idx_bytes(np.zeros(len(w.y_train), np.uint8)))
    with pytest.raises(DataError, match="every label is 0"):
        load_dataset("mnist", data_dir=tmp_path / "mnist")


def test_cli_one_class_archive_exit_2_one_line(tmp_path, fmt, capsys, monkeypatch):
    from archrisk.train import loop

    monkeypatch.setattr(loop, "fit", lambda *a, **k: pytest.fail("training started"))
    _one_class_cifar10(tmp_path, fmt)
    assert main(["train", "resnet18", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "every label is 3" in err


def test_cli_unknown_dataset_exit_2_one_line(capsys):
    rc = main(["train", "resnet18", "--dataset", "no_such_data"])
    out = capsys.readouterr()
    assert rc == 2 and len(out.err.strip().splitlines()) == 1
    assert "no_such_data" in out.err and "mnist5k" in out.err


# --- MNIST-format idx files ----------------------------------------------------------------

@pytest.mark.parametrize("name,sub,gz", [
    ("mnist", "", True), ("mnist", "", False), ("mnist", "MNIST/raw", True),
    ("fashion_mnist", "FashionMNIST/raw", False), ("fashion_mnist", "fashion-mnist", True),
])
def test_idx_files_decode(tmp_path, fmt, name, sub, gz):
    w = fmt.idx_set(tmp_path / sub if sub else tmp_path, gz=gz)
    raw = read_raw(name, tmp_path)
    assert np.array_equal(raw.x_train, w.x_train[:, None]) and np.array_equal(raw.y_train, w.y_train)
    assert np.array_equal(raw.x_test, w.x_test[:, None]) and np.array_equal(raw.y_test, w.y_test)
    assert raw.y_train.dtype == np.int64 and len(raw.classes) == 10
    if name == "fashion_mnist":
        assert raw.classes[0] == "T-shirt/top" and raw.classes[9] == "Ankle boot"
    ds = load_dataset(name, data_dir=tmp_path)
    assert torch.equal(ds.test.x, torch.from_numpy(w.x_test[:, None]).float() / 255)
    assert ds.shape == (1, 28, 28)


def test_mixed_gz_and_plain_idx(tmp_path, fmt):
    w = fmt.idx_set(tmp_path, gz=True)
    p = w.paths["t10k-images-idx3-ubyte"]
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(p.read_bytes()))
    p.unlink()
    assert np.array_equal(read_raw("mnist", tmp_path).x_test[:, 0], w.x_test)


def test_parse_idx_reference():
    # magic 0,0,8,3 ; dims 2,2,3 big-endian ; 12 bytes
    raw = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(12))
    assert np.array_equal(parse_idx(raw, "x", 3), np.arange(12, dtype=np.uint8).reshape(2, 2, 3))
    big = bytes([0, 0, 8, 1, 0, 0, 1, 0]) + bytes(256)  # 256 = 0x00000100: big-endian, not little
    assert parse_idx(big, "x", 1).shape == (256,)


@pytest.mark.parametrize("damage,match", [
    ("truncate_data", "truncated"), ("extra_bytes", "truncated"), ("truncate_header", "truncated idx header"),
    ("bad_magic", "bad magic"), ("wrong_ndim", "bad magic"), ("int_type", "bad magic"), ("empty", "bad magic"),
    ("bad_gzip", "decompress"), ("count_mismatch", "labels"),
])
def test_damaged_idx_is_a_data_error(tmp_path, fmt, damage, match):
    w = fmt.idx_set(tmp_path, gz=False)
    p = w.paths["train-images-idx3-ubyte"]
    data = p.read_bytes()
    if damage == "truncate_data":
        data = data[:-5]
    elif damage == "extra_bytes":
        data = data + b"\x00"
    elif damage == "truncate_header":
        data = data[:10]
    elif damage == "bad_magic":
        data = b"\x1f\x00" + data[2:]
    elif damage == "wrong_ndim":
        data = w.paths["train-labels-idx1-ubyte"].read_bytes()  # a labels file where images belong
    elif damage == "int_type":
        data = data[:2] + b"\x0c" + data[3:]  # 0x0C: int32 elements, not unsigned bytes
    elif damage == "empty":
        data = b""
    elif damage == "bad_gzip":
        data = gzip.compress(data)[:-20]
    elif damage == "count_mismatch":
        data = fmt.idx_bytes(w.x_train[:-1])
    p.write_bytes(data)
    with pytest.raises(DataError, match=match) as e:
        read_raw("mnist", tmp_path)
    assert "\n" not in str(e.value)
