"""What a raw loader returns and what a dataset declares, shared by the registry and the loaders
(its own module so `own.py`, which the registry dispatches to, need not import the registry)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


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
