"""ImageNet32 on small generated files in the official npz format."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from archrisk.data import list_datasets, load_dataset
from archrisk.data.imagenet32 import TRAIN_FILES, VAL_FILE, load_imagenet32, read_batch, register_imagenet32_subset
from archrisk.errors import DataError, InvalidValueError

N_LABELS = 70  # the generated files hold labels 1..70: enough for the 60-class subset, not for 1000
PER_CLASS = 6  # training images per label, spread over the 10 batch files


def _images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows in the official layout: R plane, G plane, B plane, each row-major 32x32.
    Pixel (c, h, w) of image i is set to a value recoverable from its position, plus noise."""
    n = len(labels)
    x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    x[:, 0, 0, 0] = labels  # red, top-left: the label
    x[:, 1, 0, 1] = 200  # green, row 0 col 1
    x[:, 2, 31, 0] = 77  # blue, bottom-left
    return x.reshape(n, 3072)


def _write(folder: Path, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = rng.permutation(np.repeat(np.arange(1, N_LABELS + 1), PER_CLASS))
    out = {}
    for i, chunk in enumerate(np.array_split(labels, len(TRAIN_FILES))):
        data = _images(chunk, rng)
        # labels as a Python list, as the official files were written
        np.savez(folder / TRAIN_FILES[i], data=data, labels=chunk.tolist(), mean=data.mean(0))
        out[TRAIN_FILES[i]] = (data, chunk)
    val_labels = np.concatenate([np.arange(1, N_LABELS + 1), np.arange(1, 11)])
    data = _images(val_labels, rng)
    np.savez(folder / VAL_FILE, data=data, labels=val_labels.tolist())
    out[VAL_FILE] = (data, val_labels)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("in32")
    return root, _write(root / "imagenet32")


def test_registered_with_study_subset():
    names = {d.name: d for d in list_datasets()}
    assert names["imagenet32"].num_classes == 1000 and names["imagenet32_60"].num_classes == 60
    assert names["imagenet32_60"].shape == (3, 32, 32) and names["imagenet32_60"].needs_files


def test_subset_reads_layout_and_relabels(files):
    root, written = files
    ds = load_dataset("imagenet32_60", data_dir=root)
    assert ds.num_classes == 60 and ds.shape == (3, 32, 32)
    # test split = val file, official order, labels 61..70 dropped, relabelled 0..59
    data, labels = written[VAL_FILE]
    keep = labels <= 60
    assert len(ds.test) == keep.sum()
    assert ds.test.y.tolist() == (labels[keep] - 1).tolist()
    expected = data[keep].reshape(-1, 3, 32, 32).astype(np.float32) / 255
    np.testing.assert_array_equal(ds.test.x.numpy(), expected)
    # the planted pixels sit where the CHW layout says
    assert (ds.test.x[:, 1, 0, 1] * 255).round().eq(200).all() and (ds.test.x[:, 2, 31, 0] * 255).round().eq(77).all()
    # every carved train/val/pool image belongs to the subset, and its red corner still encodes its label
    n_subset = sum(int((y <= 60).sum()) for f, (_, y) in written.items() if f != VAL_FILE)
    assert len(ds.train) + len(ds.val) + len(ds.pool) == n_subset
    for split in (ds.train, ds.val, ds.pool):
        assert split.y.max() < 60
        assert ((split.x[:, 0, 0, 0] * 255).round().long() == split.y + 1).all()


def test_direct_loader_other_subset_and_class_names(files, tmp_path):
    root, _ = files
    (root / "imagenet32" / "map_clsloc.txt").write_text("n01 1 kit_fox\nn02 2 English_setter\nn03 3 Siberian_husky\n")
    try:
        raw = load_imagenet32(root, 3)
    finally:
        (root / "imagenet32" / "map_clsloc.txt").unlink()
    assert raw.classes == ("kit_fox", "English_setter", "Siberian_husky")
    assert set(np.unique(raw.y_train)) == {0, 1, 2} and len(raw.y_train) == 3 * PER_CLASS
    assert load_imagenet32(root, 4).classes[-1] == "class4"


def test_reads_official_zips(files, tmp_path):
    _, written = files
    src = tmp_path / "src"
    _write(src)
    for zname, members in (("Imagenet32_train_npz.zip", TRAIN_FILES), ("Imagenet32_val_npz.zip", (VAL_FILE,))):
        with zipfile.ZipFile(tmp_path / zname, "w") as zf:
            for m in members:
                zf.write(src / m, f"{zname[:-4]}/{m}")
    a = load_imagenet32(tmp_path, 60)
    b = load_imagenet32(src, 60)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_missing_files_named(tmp_path, files):
    with pytest.raises(DataError, match="train_data_batch_1.npz.*val_data.npz"):
        load_imagenet32(tmp_path, 60)
    root, _ = files
    partial = tmp_path / "partial"
    partial.mkdir()
    for f in TRAIN_FILES[:-1]:
        (partial / f).write_bytes((root / "imagenet32" / f).read_bytes())
    with pytest.raises(DataError) as err:
        load_imagenet32(partial, 60)
    assert "train_data_batch_10.npz" in str(err.value) and "train_data_batch_1.npz," not in str(err.value)


def test_subset_larger_than_files(files):
    root, _ = files
    with pytest.raises(InvalidValueError, match="larger than"):
        load_imagenet32(root, 1000)
    with pytest.raises(InvalidValueError, match="2..1000"):
        load_imagenet32(root, 1001)


def test_refuses_pickled_and_malformed(tmp_path):
    np.savez(tmp_path / "obj.npz", data=np.zeros((2, 3072), np.uint8), labels=np.array([1, {"x": 1}], dtype=object))
    with pytest.raises(DataError, match="cannot read"):
        read_batch(tmp_path / "obj.npz", "obj.npz")
    np.savez(tmp_path / "shape.npz", data=np.zeros((2, 100), np.uint8), labels=[1, 2])
    with pytest.raises(DataError, match="uint8"):
        read_batch(tmp_path / "shape.npz", "shape.npz")
    np.savez(tmp_path / "lab.npz", data=np.zeros((2, 3072), np.uint8), labels=[0, 2])
    with pytest.raises(DataError, match="labels span"):
        read_batch(tmp_path / "lab.npz", "lab.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError):
        read_batch(tmp_path / "junk.npz", "junk.npz")


@pytest.mark.parametrize("case", ["missing", "too_many_classes"])
def test_cli_exit_2_one_line(case, files, tmp_path, capsys):
    from archrisk.cli import main

    root, _ = files
    data_dir, name = (tmp_path, "imagenet32_60") if case == "missing" else (root, "imagenet32")
    rc = main(["train", "resnet18", "-d", name, "--data-dir", str(data_dir), "--epochs", "1", "--no-cache"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert ("train_data_batch_1.npz" in err) if case == "missing" else ("larger than" in err)


def test_a_one_class_subset_is_refused(files):
    root, _ = files
    with pytest.raises(InvalidValueError, match="2..1000"):
        register_imagenet32_subset(1)
    with pytest.raises(InvalidValueError, match="2..1000"):
        load_imagenet32(root, 1)
