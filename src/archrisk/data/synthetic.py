"""`synthetic`: a deterministic, generated 10-class image dataset for fast tests.

Each class has a colour tint plus an oriented sinusoidal grating with its own orientation,
frequency and colour. Every image gets a random grating phase (so the class is not one fixed
template) and pixel noise. The tint makes the task learnable to ~100% by tiny models in a few
epochs; the grating gives convolutions a spatial signal. The generator seed is fixed, so the
data is identical on every machine and for every split_seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from archrisk.data.registry import RawData, register_dataset

NUM_CLASSES = 10
SIZE = 16
N_TRAIN, N_TEST = 2500, 500
_SEED = 20240607
CLASSES = tuple(f"pattern{k}" for k in range(NUM_CLASSES))


def make_synthetic(n: int, rng: np.random.Generator, colours: np.ndarray, tints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % NUM_CLASSES  # exactly balanced
    rng.shuffle(y)
    k = np.arange(NUM_CLASSES)
    theta = k * np.pi / NUM_CLASSES  # 18 degrees apart
    freq = 1.5 + (k % 3)  # cycles per image
    rows, cols = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
    u = (cols[None] * np.cos(theta[y])[:, None, None] + rows[None] * np.sin(theta[y])[:, None, None]) / SIZE
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    wave = np.sin(2 * np.pi * freq[y][:, None, None] * u + phase)  # [n, H, W]
    x = 0.5 + tints[y][:, :, None, None] + 0.25 * colours[y][:, :, None, None] * wave[:, None]
    x = x + rng.normal(0.0, 0.08, size=x.shape)  # [n, 3, H, W]
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8), y.astype(np.int64)


@register_dataset(
    "synthetic",
    description="generated 3x16x16 images of 10 tinted grating classes; deterministic, for tests",
    shape=(3, SIZE, SIZE),
    num_classes=NUM_CLASSES,
)
def _load_synthetic(data_dir: Path | None) -> RawData:
    rng = np.random.default_rng(_SEED)
    colours = rng.uniform(-1.0, 1.0, size=(NUM_CLASSES, 3))
    tints = rng.uniform(-0.15, 0.15, size=(NUM_CLASSES, 3))
    x_train, y_train = make_synthetic(N_TRAIN, rng, colours, tints)
    x_test, y_test = make_synthetic(N_TEST, rng, colours, tints)
    return RawData(x_train, y_train, x_test, y_test, CLASSES)
