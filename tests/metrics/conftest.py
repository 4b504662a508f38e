"""The models here are tiny: one intra-op thread is faster than two (no pool synchronisation,
and other processes share the machine's cores)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
