"""Seeded, stratified carving of index sets into disjoint splits.

Everything here works on indices, so the images are converted to float only once, for the
samples that are actually kept.
"""
from __future__ import annotations

import numbers

import torch

from archrisk.errors import InvalidValueError

# Datasets without an official test split have one carved with this fixed seed, so the test
# images are the same whatever split_seed a study uses (results stay comparable across seeds).
TEST_CARVE_SEED = 1234
TEST_FRACTION = 0.2


def check_fractions(val_fraction: float, pool_fraction: float) -> None:
    for label, value in (("val_fraction", val_fraction), ("pool_fraction", pool_fraction)):
        # bool is an int, and a string would fail the comparison with a TypeError: both are user errors.
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
            raise InvalidValueError(f"{label}={value!r} must be a number in [0, 1)")
    if val_fraction + pool_fraction >= 1.0:
        raise InvalidValueError(
            f"val_fraction + pool_fraction = {val_fraction + pool_fraction!r} leaves no training "
            "images; their sum must be below 1 (e.g. 0.1 and 0.2)"
        )


def stratified_order(y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random permutation of range(len(y)) in which every prefix is class-stratified.

    Each class is shuffled, then sample r of a class of n_c gets the key (r + 0.5) / n_c and all
    samples are sorted by key. Classes are thus interleaved in proportion to their size, so any
    contiguous slice (a split, or the first k images of a split) holds every class in its
    dataset proportion. Ties between classes are broken by the initial random permutation.
    """
    n = len(y)
    perm = torch.randperm(n, generator=generator)
    yp = y[perm]
    by_class = torch.sort(yp, stable=True).indices  # positions in perm, grouped by class
    counts = torch.bincount(yp)
    starts = torch.cumsum(counts, 0) - counts
    labels = yp[by_class]
    rank = torch.arange(n) - starts[labels]  # rank of each sample within its class
    key = torch.empty(n, dtype=torch.float64)
    key[by_class] = (rank.double() + 0.5) / counts[labels].double()
    return perm[torch.sort(key, stable=True).indices]


def carve_test(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(test, rest) indices for a dataset without an official test split; independent of any split seed."""
    order = stratified_order(y, torch.Generator().manual_seed(TEST_CARVE_SEED))
    n_test = round(TEST_FRACTION * len(y))
    # `rest` is returned sorted so the later seeded carving sees a canonical index set.
    return order[:n_test], torch.sort(order[n_test:]).values


def carve_train(
    y: torch.Tensor,
    *,
    split_seed: int,
    val_fraction: float,
    pool_fraction: float,
    limit: int | None,
) -> dict[str, torch.Tensor]:
    """Positions (into y) of the disjoint train / val / pool splits."""
    order = stratified_order(y, torch.Generator().manual_seed(split_seed))
    n_val = round(val_fraction * len(y))
    n_pool = round(pool_fraction * len(y))
    train = order[n_val + n_pool :]
    if limit is not None:
        train = train[:limit]  # still stratified: any slice of the order is
    return {"train": train, "val": order[:n_val], "pool": order[n_val : n_val + n_pool]}
