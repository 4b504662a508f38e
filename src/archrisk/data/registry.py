"""Dataset registry: a name maps to a raw loader plus metadata that can be listed without loading.

A raw loader returns the dataset exactly as published (official train/test, uint8 pixels);
splitting, float conversion and statistics happen once, in `load.py`, so every dataset is
carved the same way.
"""
from __future__ import annotations

from typing import Callable

from archrisk.data.own import is_own, own_entry
from archrisk.data.raw import DatasetInfo, RawData, RawLoader  # noqa: F401  (loaders import them from here)
from archrisk.errors import InvalidValueError
from archrisk.registry import Registry


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
    if is_own(name):
        return own_entry(name)
    return _REGISTRY.get(name)
