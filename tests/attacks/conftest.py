"""Victims trained once per test session, small enough for CPU, each for one kind of check.

- `digits_victim`: resnet18 at the tiny preset on digits with the default recipe (the CLI tests
  reuse its checkpoint from the session cache).
- `mlp_victim`: a two-layer perceptron on digits, for tests that need many attack runs.
- `mnist_victim`: resnet18 (tiny, half width) on 600 mnist5k training images (the default data), for backdoors.
- `overfit_victim` / `control_victim`: the same overfitting recipe on 120 digits training images, or
  on images the membership attack never draws (the pool), so members were never seen.

Each trains at `VICTIM_THREADS` itself. The package's `one_thread` fixture is no guarantee: a session
fixture asked for by the package's first test is set up before it (at the session's thread count),
one asked for later inside it, so the victim, and every attack result on it, used to depend on
which tests ran first (a strong TrojanNN test passed alone and failed after any other test).
"""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from attack_helpers import MLP, VICTIM_THREADS, wrap

from archrisk.train import torch_threads, train_model


@pytest.fixture(scope="session")
def mlp_victim(digits) -> TrainResult:
    with torch_threads(VICTIM_THREADS), torch.random.fork_rng():
        torch.manual_seed(0)
        model = MLP(64, digits.num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(300):  # full batch: ~97% test accuracy in well under a second
            opt.zero_grad()
            F.cross_entropy(model(digits.train.x), digits.train.y).backward()
            opt.step()
    return wrap(model, digits)


@pytest.fixture(scope="session")
def digits_victim(digits) -> TrainResult:
    with torch_threads(VICTIM_THREADS):
        return train_model("resnet18", digits, size="tiny", seed=0, progress=False)


@pytest.fixture(scope="session")
def mnist_victim(mnist_small) -> TrainResult:
    with torch_threads(VICTIM_THREADS):
        return train_model("resnet18", mnist_small, size="tiny", width=0.125, seed=0, epochs=12, batch_size=32,
                           progress=False)


OVERFIT = dict(size="tiny", seed=0, epochs=30, batch_size=16, crop_padding=0, progress=False)


@pytest.fixture(scope="session")
def small_digits(digits):
    """digits with only 120 training images: easy to memorise."""
    return replace(digits, train=type(digits.train)(digits.train.x[:120], digits.train.y[:120]), content_digest="")


@pytest.fixture(scope="session")
def overfit_victim(small_digits) -> TrainResult:
    with torch_threads(VICTIM_THREADS):
        return train_model("resnet18", small_digits, **OVERFIT)


@pytest.fixture(scope="session")
def control_victim(small_digits) -> TrainResult:
    """Same recipe, trained on 120 pool images: the attack's members and non-members are both unseen."""
    pool = small_digits.pool
    other = replace(small_digits, train=type(pool)(pool.x[:120], pool.y[:120]), content_digest="")
    with torch_threads(VICTIM_THREADS):
        return train_model("resnet18", other, **OVERFIT)


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """These models are small enough that one thread is as fast as two on an idle machine, and far
    faster on a busy one (intra-op threads wait on each other when the cores are shared)."""
    with torch_threads(1):
        yield
