"""load_dataset: disjoint, stratified, seeded splits; dtypes; statistics; fingerprints; loader validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from archrisk.data import DatasetInfo, RawData, Split, list_datasets, load_dataset, register_dataset
from archrisk.data import registry
from archrisk.data.registry import get_dataset_entry
from archrisk.errors import DataError, InvalidValueError, UnknownNameError
from archrisk.registry import Registry

FAST = ["digits", "synthetic", "mnist5k"]
CARVED_TEST = ["digits", "mnist5k"]  # no official test split


def raw(name):
    return get_dataset_entry(name)[1](None)


def as_uint8(x: torch.Tensor, scale: float = 255.0) -> np.ndarray:
    """Undo the [0, 1] conversion exactly (values were k/scale for integers k)."""
    v = x.numpy() * scale
    k = np.rint(v)
    assert np.abs(v - k).max() < 1e-3
    return k.astype(np.uint8)


@pytest.fixture(scope="module")
def loaded():
    return {name: load_dataset(name) for name in FAST}


@pytest.mark.parametrize("name", FAST)
def test_types_shapes_and_range(loaded, name):
    ds = loaded[name]
    info = {d.name: d for d in list_datasets()}[name]
    assert ds.shape == info.shape and ds.num_classes == info.num_classes == len(ds.classes)
    for split in ds.splits.values():
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.shape[1:] == info.shape and len(split.x) == len(split.y) > 0
        assert split.x.min() >= 0 and split.x.max() <= 1
        assert split.y.min() >= 0 and split.y.max() < ds.num_classes
    assert max(float(s.x.max()) for s in ds.splits.values()) == 1.0  # full range used, not divided twice


@pytest.mark.parametrize("name", FAST)
def test_splits_partition_the_data(loaded, name, as_rows):
    """Together the splits are exactly the source images (a multiset permutation): nothing shared, nothing lost."""
    ds, r = loaded[name], raw(name)
    scale = 16.0 if name == "digits" else 255.0
    src_x = np.rint(r.x_train * 16).astype(np.uint8) if name == "digits" else r.x_train

    def rows(split):
        return as_rows(as_uint8(split.x, scale), split.y.numpy())

    if r.x_test is None:
        carved = rows(ds.train) + rows(ds.val) + rows(ds.pool) + rows(ds.test)
        assert sorted(carved) == as_rows(src_x, r.y_train)
    else:
        assert sorted(rows(ds.train) + rows(ds.val) + rows(ds.pool)) == as_rows(src_x, r.y_train)
        # the official test set, in its official order
        assert np.array_equal(as_uint8(ds.test.x), r.x_test) and np.array_equal(ds.test.y.numpy(), r.y_test)


def test_mnist5k_sizes_and_exact_class_balance(loaded):
    ds = loaded["mnist5k"]
    sizes = {k: len(s) for k, s in ds.splits.items()}
    assert sizes == {"train": 2800, "val": 400, "test": 1000, "pool": 800}
    for k, s in ds.splits.items():  # 500 per class, so every split is exactly balanced
        assert torch.equal(torch.bincount(s.y, minlength=10), torch.full((10,), sizes[k] // 10)), k


@pytest.mark.parametrize("name", FAST)
def test_every_split_is_stratified(loaded, name):
    """Class counts of each split (and of a prefix of it) stay near the proportions of the images
    it was carved from: the whole set for a carved test split, else the official train set minus
    any carved test. Bound: a prefix of a stratified order deviates by (-1.5 - p*C/2, 0.5 + 1.5*p*C)
    (see test_splits); a later slice (pool, train) is a difference of two prefixes: |dev| < 2 + 2*p*C."""
    ds, r = loaded[name], raw(name)
    C = ds.num_classes
    counts_all = np.bincount(r.y_train, minlength=C)
    counts_rest = counts_all - (np.bincount(ds.test.y.numpy(), minlength=C) if name in CARVED_TEST else 0)
    for k in ("train", "val", "pool") + (("test",) if name in CARVED_TEST else ()):
        counts = counts_all if k == "test" else counts_rest
        p = counts / counts.sum()
        y = ds.splits[k].y.numpy()
        lo, hi = (-1.5 - 0.5 * p * C, 0.5 + 1.5 * p * C) if k in ("val", "test") else (-2 - 2 * p * C, 2 + 2 * p * C)
        for n in (len(y), len(y) // 3):  # the split, and the first third of it
            dev = np.bincount(y[:n], minlength=C) - n * p
            assert np.all(dev > lo) and np.all(dev < hi), (k, n, dev)


@pytest.mark.parametrize("name", ["digits", "synthetic"])
def test_deterministic_per_split_seed_and_different_across_seeds(loaded, name):
    a, b = load_dataset(name, split_seed=5), load_dataset(name, split_seed=5)
    for k in a.splits:
        assert torch.equal(a.splits[k].x, b.splits[k].x) and torch.equal(a.splits[k].y, b.splits[k].y)
    assert a.fingerprint() == b.fingerprint()
    c = loaded[name]  # split_seed 0
    for k in ("train", "val", "pool"):
        assert len(c.splits[k]) == len(a.splits[k])
        assert not torch.equal(c.splits[k].x, a.splits[k].x), k
    # a different shuffle, not merely a reordering of the same images
    rows_a = {bytes(v.numpy().tobytes()) for v in a.val.x}
    rows_c = {bytes(v.numpy().tobytes()) for v in c.val.x}
    assert rows_a != rows_c
    assert torch.equal(a.test.x, c.test.x) and torch.equal(a.test.y, c.test.y)  # test fixed across seeds
    assert a.fingerprint() != c.fingerprint()


def test_mnist5k_test_split_fixed_across_seeds(loaded):
    a, c = load_dataset("mnist5k", split_seed=11), loaded["mnist5k"]
    assert torch.equal(a.test.x, c.test.x) and torch.equal(a.test.y, c.test.y)
    assert not torch.equal(a.train.x, c.train.x)


def test_limit_caps_train_only_and_keeps_stratification(loaded):
    full = loaded["mnist5k"]
    ds = load_dataset("mnist5k", limit=100)
    assert len(ds.train) == 100
    assert torch.equal(ds.train.x, full.train.x[:100])  # a prefix of the same shuffle
    assert torch.equal(torch.bincount(ds.train.y, minlength=10), torch.full((10,), 10))
    for k in ("val", "test", "pool"):
        assert torch.equal(ds.splits[k].x, full.splits[k].x)
    assert ds.fingerprint() != full.fingerprint()
    assert load_dataset("mnist5k", limit=100).fingerprint() == ds.fingerprint()
    assert load_dataset("mnist5k", limit=200).fingerprint() != ds.fingerprint()
    # a limit above the train size changes nothing, so neither does the fingerprint
    assert load_dataset("mnist5k", limit=10**6).fingerprint() == full.fingerprint()


def test_fractions_change_sizes_and_fingerprint(loaded):
    base = loaded["digits"]
    ds = load_dataset("digits", val_fraction=0.25, pool_fraction=0.0)
    rest = 1797 - round(0.2 * 1797)
    assert len(ds.val) == round(0.25 * rest) and len(ds.pool) == 0
    assert len(ds.train) == rest - len(ds.val)
    assert ds.fingerprint() != base.fingerprint()


@pytest.mark.parametrize("name", FAST)
def test_mean_std_come_from_train(loaded, name):
    ds = loaded[name]
    x = ds.train.x.double()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3), correction=0)
    assert torch.allclose(torch.tensor(ds.mean, dtype=torch.float64), mean, atol=1e-5)
    assert torch.allclose(torch.tensor(ds.std, dtype=torch.float64), std, atol=1e-5)
    # the check can tell train statistics from whole-dataset ones
    everything = torch.cat([s.x for s in ds.splits.values()]).double().mean(dim=(0, 2, 3))
    assert (everything - mean).abs().max() > 1e-5


def test_fingerprint_differs_between_datasets_and_is_short_hex(loaded):
    fps = {name: loaded[name].fingerprint() for name in FAST}
    assert len(set(fps.values())) == len(FAST)
    assert all(len(f) == 16 and int(f, 16) >= 0 for f in fps.values())


def test_hand_built_dataset_fingerprint_follows_content(loaded):
    import dataclasses

    ds = loaded["digits"]
    a = dataclasses.replace(ds, content_digest="")
    x = ds.train.x.clone()
    x[0, 0, 0, 0] = 1.0 - x[0, 0, 0, 0]
    b = dataclasses.replace(ds, train=Split(x, ds.train.y), content_digest="")
    assert a.fingerprint() == dataclasses.replace(ds, content_digest="").fingerprint()
    assert a.fingerprint() != b.fingerprint()


def test_unknown_dataset_names_the_choices():
    with pytest.raises(UnknownNameError) as e:
        load_dataset("imagenet-9000")
    msg = str(e.value)
    assert "imagenet-9000" in msg and "mnist5k" in msg and "\n" not in msg


def test_duplicate_registration_raises():
    with pytest.raises(InvalidValueError, match="digits"):
        register_dataset("digits", description="x", shape=(1, 8, 8), num_classes=10)(lambda d: None)
    assert get_dataset_entry("digits")[0].shape == (1, 8, 8)


# --- a loader whose output does not match its registration is caught ---------------------

def _install(monkeypatch, raw_data: RawData, shape=(1, 4, 4), num_classes=3):
    info = DatasetInfo("fake", "test", shape, num_classes, needs_files=False)
    patched = Registry("dataset")  # every registered dataset plus the fake, for this test only
    for name, entry in registry._REGISTRY.items():
        patched.register(name, entry)
    patched.register("fake", (info, lambda d: raw_data))
    monkeypatch.setattr(registry, "_REGISTRY", patched)


def _ok(n=40):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, 1, 4, 4), dtype=np.uint8), np.arange(n) % 3


def test_fake_dataset_loads_when_consistent(monkeypatch):
    x, y = _ok()
    _install(monkeypatch, RawData(x, y, None, None, ("a", "b", "c")))
    ds = load_dataset("fake")
    assert sum(len(s) for s in ds.splits.values()) == 40


@pytest.mark.parametrize("case", ["shape", "labels_len", "label_range", "label_float", "float_range", "int_pixels",
                                  "classes", "test_shape"])
def test_inconsistent_loader_output_is_a_data_error(monkeypatch, case):
    x, y = _ok()
    xt, yt, classes = None, None, ("a", "b", "c")
    if case == "shape":
        x = x[:, :, :3]
    elif case == "labels_len":
        y = y[:-1]
    elif case == "label_range":
        y = y.copy()
        y[5] = 3
    elif case == "label_float":
        y = y.astype(np.float32)
    elif case == "float_range":
        x = x.astype(np.float32)  # 0..255 floats: not scaled to [0, 1]
    elif case == "int_pixels":
        x = x.astype(np.int32)
    elif case == "classes":
        classes = ("a", "b")
    elif case == "test_shape":
        xt, yt = x[:5, :, :, :2], y[:5]
    _install(monkeypatch, RawData(x, y, xt, yt, classes))
    with pytest.raises(DataError) as e:
        load_dataset("fake")
    assert "fake" in str(e.value) and "\n" not in str(e.value)


def test_too_few_images_for_the_fractions(monkeypatch):
    x, y = _ok(4)
    _install(monkeypatch, RawData(x, y, x, y, ("a", "b", "c")))
    with pytest.raises(DataError, match="too few images|needs at least"):
        load_dataset("fake", val_fraction=0.5, pool_fraction=0.4)
