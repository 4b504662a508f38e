"""load_dataset: raw loader -> validated arrays -> seeded disjoint splits -> float tensors."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from archrisk.data.dataset import Dataset, Split
from archrisk.data.registry import DatasetInfo, RawData, get_dataset_entry
from archrisk.data.splits import carve_test, carve_train, check_fractions
from archrisk.errors import DataError, InvalidValueError
from archrisk.paths import cache_dir

# Fewest training images (before splitting) a class may have: ten leave each split one or more.
MIN_PER_CLASS = 10


def default_data_dir() -> Path:
    """Where file-based datasets are looked for when no data_dir is given: $ARCHRISK_DATA, else <cache>/data."""
    env = os.environ.get("ARCHRISK_DATA")
    return Path(env) if env else cache_dir() / "data"


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    split_seed: int = 0,
    val_fraction: float = 0.1,
    pool_fraction: float = 0.2,
    limit: int | None = None,
) -> Dataset:
    """Load a registered dataset and carve it into disjoint train / val / test / pool splits."""
    info, loader = get_dataset_entry(name)  # a non-string name is refused there
    check_fractions(val_fraction, pool_fraction)
    if isinstance(split_seed, bool) or not isinstance(split_seed, int) or not 0 <= split_seed < 2**64:
        # 2**64: torch.Generator.manual_seed's limit
        raise InvalidValueError(f"split_seed={split_seed!r} must be an integer in [0, 2**64)")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidValueError(f"limit={limit!r} must be a positive integer or None")
    if info.needs_files:
        data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    elif data_dir is not None:
        data_dir = Path(data_dir).expanduser()

    if limit is not None and limit < info.num_classes:
        raise InvalidValueError(f"limit={limit} leaves some of the {info.num_classes} classes without training "
                                f"images; use at least {info.num_classes}")
    raw = loader(data_dir)
    _check_raw(info, raw)
    y_all = torch.from_numpy(raw.y_train.astype(np.int64))
    if raw.x_test is None:
        # No official test split: carve one with a fixed seed, then split the rest.
        test_idx, rest = carve_test(y_all)
        parts = carve_train(
            y_all[rest], split_seed=split_seed, val_fraction=val_fraction,
            pool_fraction=pool_fraction, limit=limit,
        )
        idx = {k: rest[v] for k, v in parts.items()}
        idx["test"] = test_idx
        x_test_src, y_test_src = raw.x_train, raw.y_train
    else:
        idx = carve_train(
            y_all, split_seed=split_seed, val_fraction=val_fraction,
            pool_fraction=pool_fraction, limit=limit,
        )
        idx["test"] = torch.arange(len(raw.y_test))
        x_test_src, y_test_src = raw.x_test, raw.y_test
    if len(idx["train"]) == 0:
        raise DataError(
            f"dataset {name!r} has too few images ({len(raw.y_train)}) for val_fraction="
            f"{val_fraction} and pool_fraction={pool_fraction}; lower the fractions"
        )

    splits = {k: _take(raw.x_train, raw.y_train, idx[k]) for k in ("train", "val", "pool")}
    splits["test"] = _take(x_test_src, y_test_src, idx["test"])
    # Biased (population) std over all train pixels of a channel: what a normalisation layer needs.
    std, mean = torch.std_mean(splits["train"].x, dim=(0, 2, 3), correction=0)
    return Dataset(
        name=name,
        classes=tuple(raw.classes),
        **splits,
        mean=tuple(float(v) for v in mean),
        std=tuple(max(float(v), 1e-6) for v in std),  # a constant channel must not divide by 0
        split_seed=split_seed,
        content_digest=_content_digest(raw, idx),
        info=info,
    )


def _take(x: np.ndarray, y: np.ndarray, idx: torch.Tensor) -> Split:
    sel = idx.numpy()
    xs = torch.from_numpy(np.ascontiguousarray(x[sel]))
    xs = xs.float().div_(255.0) if xs.dtype == torch.uint8 else xs.float()
    return Split(x=xs, y=torch.from_numpy(y[sel].astype(np.int64)))


def _content_digest(raw: RawData, idx: dict[str, torch.Tensor]) -> str:
    # Hash the compact source arrays (uint8 for real images) once, plus the chosen indices:
    # together they pin down every byte of every split.
    h = hashlib.sha256()
    for arr in (raw.x_train, raw.y_train.astype(np.int64), raw.x_test, raw.y_test):
        if arr is None:
            h.update(b"none")
            continue
        arr = np.ascontiguousarray(arr)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr)
    for key in sorted(idx):
        h.update(key.encode())
        h.update(idx[key].numpy())
    return h.hexdigest()


def _check_raw(info: DatasetInfo, raw: RawData) -> None:
    """A loader's output must match its registration; a mismatch means corrupt or wrong files."""
    if info.num_classes < 2:
        raise DataError(f"dataset {info.name!r} has {info.num_classes} class; a classifier needs at least 2")
    pairs = [("train", raw.x_train, raw.y_train)]
    if raw.x_test is not None:
        pairs.append(("test", raw.x_test, raw.y_test))
    for part, x, y in pairs:
        where = f"dataset {info.name!r} ({part})"
        if y is None or x.ndim != 4 or tuple(x.shape[1:]) != info.shape:
            raise DataError(f"{where}: images have shape {x.shape}, expected [N, *{info.shape}]")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{where}: {len(x)} images but labels of shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{where}: labels have dtype {y.dtype}, expected integers")
        if len(y) and (y.min() < 0 or y.max() >= info.num_classes):
            raise DataError(f"{where}: labels span {y.min()}..{y.max()}, expected 0..{info.num_classes - 1}")
        if len(y) and (y == y[0]).all():  # every dataset, the standard archives too: a broken copy may hold one class
            raise DataError(f"{where}: every label is {int(y[0])} ({len(y)} images); a classifier needs at least 2 "
                            "classes; check the files")
        if x.dtype != np.uint8:
            if not np.issubdtype(x.dtype, np.floating):
                raise DataError(f"{where}: images have dtype {x.dtype}, expected uint8 or float")
            if x.size and not np.isfinite(x).all():
                raise DataError(f"{where}: float images hold NaN or infinite values")
            if x.size and (x.min() < 0.0 or x.max() > 1.0):
                raise DataError(f"{where}: float images span {x.min()}..{x.max()}, expected [0, 1]")
    if len(raw.classes) != info.num_classes:
        raise DataError(f"dataset {info.name!r}: {len(raw.classes)} class names, expected {info.num_classes}")
    if not info.needs_files:  # the standard archives have known sizes; their loaders check the files
        _check_classes(info, raw)


def _check_classes(info: DatasetInfo, raw: RawData) -> None:
    """Every class present, each with enough images for all four splits: a missing class or a handful
    of images would otherwise train to a perfect (and meaningless) validation accuracy."""
    counts = np.bincount(raw.y_train, minlength=info.num_classes)
    low = int(counts.argmin())
    if counts[low] < MIN_PER_CLASS:
        what = "no" if counts[low] == 0 else f"only {counts[low]}"
        raise DataError(f"dataset {info.name!r}: class {raw.classes[low]!r} (label {low}) has {what} training "
                        f"images; every class needs at least {MIN_PER_CLASS} (train, val, test and pool share them)")
