"""Datasets: a registry of loaders and one seeded, documented way to split them.

`load_dataset(name, split_seed=..)` returns a `Dataset` with four disjoint splits of float32
images in [0, 1] (normalisation is a layer inside the model, using `Dataset.mean/std`):

- test:  the official test set where one exists (cifar10, cifar100, mnist, fashion_mnist,
         synthetic), in its official order. Datasets without one (mnist5k, digits) have 20% of
         their images carved off as test with a FIXED seed, so the test set is identical for
         every split_seed and results stay comparable across seeds.
- the official train set (or what remains after carving test) is shuffled with
  `torch.Generator().manual_seed(split_seed)`, stratified by class, and cut into
    val   (val_fraction, default 0.1): the victim's held-out images;
    pool  (pool_fraction, default 0.2): the attacker's own images, for extraction queries and
          shadow models; the victim never trains or tunes on them;
    train (the rest, capped at `limit` images when given, for fast tests).

Stratification: every split, and every prefix `x[:k]` of a carved split, holds each class in
its dataset proportion (see `splits.stratified_order`). The same (name, files, split_seed,
fractions, limit) always give the same splits; `Dataset.fingerprint()` names them in caches.

Registered datasets: mnist5k (default, embedded, offline), digits, synthetic (generated, for
tests), and cifar10, cifar100, mnist, fashion_mnist (read from the user's copies of the
official files in `data_dir`, default $ARCHRISK_DATA or <cache>/data; never downloaded).
"""
from __future__ import annotations

from archrisk.data import archives, embedded, imagenet32, synthetic  # noqa: F401  (import registers the datasets)
from archrisk.data.dataset import Dataset, Split
from archrisk.data.load import default_data_dir, load_dataset
from archrisk.data.registry import DatasetInfo, RawData, list_datasets, register_dataset

DEFAULT_DATASET = "mnist5k"

__all__ = [
    "DEFAULT_DATASET",
    "Dataset",
    "DatasetInfo",
    "RawData",
    "Split",
    "default_data_dir",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]
