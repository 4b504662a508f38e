"""Seeded stratified carving (archrisk.data.splits) and fraction validation."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from archrisk.data import load_dataset
from archrisk.data.splits import carve_test, carve_train, check_fractions, stratified_order
from archrisk.errors import InvalidValueError


def labels(counts: list[int], seed: int = 0) -> torch.Tensor:
    y = torch.cat([torch.full((c,), k, dtype=torch.int64) for k, c in enumerate(counts)])
    return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))]


def prefix_within_bound(order: torch.Tensor, y: torch.Tensor) -> bool:
    """Every prefix holds each class near its share. Sample r of a class of n_c has key (r+0.5)/n_c,
    so a prefix ending at key t holds between t*n_c - 1.5 and t*n_c + 0.5 of class c (ties included
    partially); eliminating t gives -1.5 - p_c*C/2 < count_c(k) - k*p_c < 0.5 + 1.5*p_c*C."""
    C, N = int(y.max()) + 1, len(y)
    p = torch.bincount(y, minlength=C).double() / N
    cum = torch.nn.functional.one_hot(y[order], C).double().cumsum(0)
    dev = cum - torch.arange(1, N + 1).double()[:, None] * p
    return bool(((dev > -1.5 - 0.5 * p * C) & (dev < 0.5 + 1.5 * p * C)).all())


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 60), min_size=1, max_size=12), seed=st.integers(0, 2**32))
def test_stratified_order_is_a_permutation_with_stratified_prefixes(counts, seed):
    y = labels(counts, seed)
    order = stratified_order(y, torch.Generator().manual_seed(seed))
    assert torch.equal(torch.sort(order).values, torch.arange(len(y)))
    assert prefix_within_bound(order, y)


def test_prefix_bound_rejects_an_unstratified_shuffle():
    # The bound is tight enough to matter: a plain random permutation of mnist5k-like labels breaks it.
    y = labels([500] * 10)
    for seed in range(3):
        assert prefix_within_bound(stratified_order(y, torch.Generator().manual_seed(seed)), y)
        assert not prefix_within_bound(torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)), y)


def test_stratified_order_depends_on_seed_only():
    y = labels([30, 50, 20])
    a, b = (stratified_order(y, torch.Generator().manual_seed(s)) for s in (7, 7))
    assert torch.equal(a, b)
    assert not torch.equal(a, stratified_order(y, torch.Generator().manual_seed(8)))


def test_carve_test_is_fixed_stratified_and_disjoint():
    y = labels([178, 182, 177, 183, 181, 182, 181, 179, 174, 180])  # digits' class sizes
    test, rest = carve_test(y)
    assert len(test) == round(0.2 * len(y)) and len(test) + len(rest) == len(y)
    assert torch.equal(torch.sort(torch.cat([test, rest])).values, torch.arange(len(y)))
    assert torch.equal(rest, torch.sort(rest).values)
    t2, r2 = carve_test(y)
    assert torch.equal(test, t2) and torch.equal(rest, r2)
    p = torch.bincount(y, minlength=10).double() / len(y)
    dev = torch.bincount(y[test], minlength=10).double() - len(test) * p
    assert bool(((dev > -1.5 - 5 * p) & (dev < 0.5 + 15 * p)).all())  # the prefix bound, C = 10


def test_carve_train_sizes_disjoint_and_limit_is_a_prefix():
    y = labels([400] * 10)
    parts = carve_train(y, split_seed=3, val_fraction=0.1, pool_fraction=0.2, limit=None)
    assert {k: len(v) for k, v in parts.items()} == {"train": 2800, "val": 400, "pool": 800}
    assert torch.equal(torch.sort(torch.cat(list(parts.values()))).values, torch.arange(len(y)))
    for k in ("val", "pool", "train"):
        assert torch.equal(torch.bincount(y[parts[k]]), torch.full((10,), len(parts[k]) // 10))
    limited = carve_train(y, split_seed=3, val_fraction=0.1, pool_fraction=0.2, limit=250)
    assert torch.equal(limited["train"], parts["train"][:250])
    assert torch.equal(limited["val"], parts["val"]) and torch.equal(limited["pool"], parts["pool"])
    assert torch.equal(torch.bincount(y[limited["train"]]), torch.full((10,), 25))
    other = carve_train(y, split_seed=4, val_fraction=0.1, pool_fraction=0.2, limit=None)
    assert not torch.equal(other["val"], parts["val"])


@pytest.mark.parametrize("val,pool", [(0.0, 0.0), (0.1, 0.2), (0.5, 0.49), (0, 0.3)])
def test_check_fractions_accepts(val, pool):
    check_fractions(val, pool)


@pytest.mark.parametrize("val,pool", [(-0.1, 0.2), (1.0, 0.0), (0.1, 1.5), (0.5, 0.5), (0.7, 0.4),
                                      (float("nan"), 0.2), (0.1, float("inf")), ("0.1", 0.2), (True, 0.2), (None, 0.1)])
def test_bad_fractions_raise(val, pool):
    with pytest.raises(InvalidValueError) as e:
        check_fractions(val, pool)
    assert "\n" not in str(e.value) and "fraction" in str(e.value)
    with pytest.raises(InvalidValueError):
        load_dataset("digits", val_fraction=val, pool_fraction=pool)


@pytest.mark.parametrize("kwargs", [{"split_seed": -1}, {"split_seed": 1.5}, {"split_seed": True}, {"split_seed": 2**64},
                                    {"limit": 0}, {"limit": -3}, {"limit": 2.0}, {"limit": True}])
def test_bad_seed_or_limit_raise(kwargs):
    with pytest.raises(InvalidValueError) as e:
        load_dataset("digits", **kwargs)
    assert next(iter(kwargs)) in str(e.value)
