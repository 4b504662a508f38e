"""Dataset registry: a name maps to a raw loader plus metadata that can be listed without loading.

A raw loader returns the dataset exactly as published (official train/test, uint8 pixels);
splitting, float conversion and statistics happen once, in `load.py`, so every dataset is
carved the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from archrisk.errors import InvalidValueError
from archrisk.registry import Registry


@dataclass(frozen=True, eq=False)  # eq=False: arrays do not compare to a single bool
class RawData:
    """A dataset as published, before any splitting."""

    x_train: np.ndarray  # [N, C, H, W] uint8 in 0..255, or float in [0, 1]
    y_train: np.ndarray  # [N] integer labels in 0..num_classes-1
    x_test: np.ndarray | None  # official test images; None where the source has no test split
    y_test: np.ndarray | None
    classes: tuple[str, ...]  # class names, indexed by label


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    needs_files: bool  # True: the user must supply the standard archive files (data_dir)
    mirror: bool = False  # True: a horizontal flip keeps the label (photos), so training may flip


RawLoader = Callable[[Path | None], RawData]

_REGISTRY: Registry[tuple[DatasetInfo, RawLoader]] = Registry("dataset")


def register_dataset(
    name: str,
    *,
    description: str,
    shape: tuple[int, int, int],
    num_classes: int,
    needs_files: bool = False,
    mirror: bool = False,
) -> Callable[[RawLoader], RawLoader]:
    """Decorator registering `fn(data_dir) -> RawData` under `name`. A duplicate name raises."""
    info = DatasetInfo(name, description, tuple(shape), int(num_classes), bool(needs_files), bool(mirror))

    def decorate(fn: RawLoader) -> RawLoader:
        # A duplicate raises: silently replacing a loader would change what an existing cache key means.
        _REGISTRY.register(name, (info, fn))
        return fn

    return decorate


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, sorted by name."""
    return [info for _, (info, _) in sorted(_REGISTRY.items())]


def get_dataset_entry(name: str) -> tuple[DatasetInfo, RawLoader]:
    """A registered name, or the user's own data as `npz:path` or `folder:path` (see `data/own.py`)."""
    if not isinstance(name, str):
        raise InvalidValueError(f"dataset {name!r} must be one name (a string), e.g. 'mnist5k' or 'npz:my.npz'")
    from archrisk.data.own import is_own, own_entry  # deferred: own.py imports this module

    if is_own(name):
        return own_entry(name)
    return _REGISTRY.get(name)
