"""Test session set-up: a private cache (checkpoints, decoded datasets) shared by all tests of one run."""
from __future__ import annotations

import os
import tempfile

import pytest
import torch

# Set before any archrisk import reads it: tests never touch the user's cache.
if "ARCHRISK_TEST_KEEP_CACHE" not in os.environ:
    os.environ["ARCHRISK_CACHE"] = tempfile.mkdtemp(prefix="archrisk-test-cache-")
# Parallel test processes (pytest-xdist) share the cores: split them rather than oversubscribe.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1) // _workers))


def pytest_addoption(parser):
    parser.addoption("--reverse", action="store_true",
                     help="run the collected tests in reverse order (tests must not depend on their order)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--reverse"):
        items.reverse()


@pytest.fixture
def one_thread():
    """Tiny models run many small ops: a second intra-op thread only adds synchronisation, and
    on a shared machine it waits for cores. Modules opt in with `pytestmark`."""
    from archrisk.train import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def digits():
    from archrisk.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def mnist_small():
    """A few hundred real mnist5k images: enough to train a tiny model to high accuracy in seconds."""
    from archrisk.data import load_dataset

    return load_dataset("mnist5k", limit=600)


@pytest.fixture
def fit_and_save():
    """`fit(factory, digits, path, seed)`: a user's model built after `seed`, fitted to the digits
    (150 full-batch Adam steps: high accuracy in seconds), its weights saved as safetensors at
    `path`; returns the model in eval mode."""
    def fit(factory, digits, path, seed: int):
        from safetensors.torch import save_file

        torch.manual_seed(seed)
        model = factory()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(150):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(digits.train.x), digits.train.y).backward()
            opt.step()
        save_file(model.state_dict(), str(path))
        return model.eval()

    return fit
