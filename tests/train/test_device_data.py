"""Training data held on the device: the same batches as the host path, and the augmentations'
probabilities on a seeded batch (the resident path is forced on the CPU here)."""
from __future__ import annotations

import pytest
import torch

from archrisk.data import Split
from archrisk.train import device_data, fit, get_recipe
from archrisk.train.loop import _augment

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")


def _batch(x: torch.Tensor, recipe, seed: int = 0, mirror: bool = True) -> torch.Tensor:
    src = device_data.source(Split(x, torch.zeros(len(x), dtype=torch.long)), CPU, on_device=True)
    assert src.resident and src.x.dtype == torch.uint8  # 0/1 images store losslessly as uint8
    gen = torch.Generator().manual_seed(seed)
    xb, _ = src.batch(torch.arange(len(x)))
    out = _augment(xb, recipe, mirror, gen)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    return out


def test_uint8_only_when_lossless() -> None:
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    assert torch.equal(device_data.as_uint8(x.float() / 255), x)
    assert device_data.as_uint8(x.float() / 255 + 1e-3) is None  # e.g. an optimised trigger
    src = device_data.source(Split(x.float() / 255 + 1e-3, torch.zeros(4, dtype=torch.long)), CPU, on_device=True)
    assert src.x.dtype == torch.float32  # kept exact rather than rounded


def test_host_stays_host_on_cpu_and_when_it_does_not_fit() -> None:
    split = Split(torch.rand(8, 3, 4, 4), torch.zeros(8, dtype=torch.long))
    assert not device_data.source(split, CPU).resident
    assert not device_data.fits(10, CPU)


def test_flip_happens_with_probability_half() -> None:
    x = torch.zeros(4000, 1, 8, 8)
    x[..., :4] = 1.0  # left half white: a flip moves it right
    out = _batch(x, get_recipe("study", crop_padding=0, cutout=0, flip=True))
    flipped = out[:, 0, 0, 7] == 1
    assert torch.equal(out[flipped], x[flipped].flip(3)) and torch.equal(out[~flipped], x[~flipped])
    assert abs(flipped.float().mean().item() - 0.5) < 0.04  # 4000 draws: sd 0.008
    unmirrored = _batch(x, get_recipe("study", crop_padding=0, cutout=0, flip=True), mirror=False)
    assert torch.equal(unmirrored, x)  # digits are never flipped


def test_crop_shifts_uniformly_within_the_padding() -> None:
    x = torch.ones(4000, 1, 32, 32)
    out = _batch(x, get_recipe("study", crop_padding=4, cutout=0, flip=False))
    zero_rows_top = (out[:, 0, :, 16] == 0).long().cumprod(1).sum(1)  # zero rows from the top
    zero_rows_bottom = (out[:, 0, :, 16].flip(1) == 0).long().cumprod(1).sum(1)
    shift = torch.where(zero_rows_top > 0, -zero_rows_top, zero_rows_bottom)  # row offset - pad
    counts = torch.bincount(shift + 4, minlength=9).float() / len(x)
    assert counts.numel() == 9 and (counts - 1 / 9).abs().max() < 0.03  # uniform over -4..4
    assert (out.sum((1, 2, 3)) == 32 * 32).float().mean().item() < 0.05  # unshifted: 1/81


def test_cutout_zeroes_one_clipped_square_per_image() -> None:
    x = torch.ones(2000, 1, 32, 32)
    out = _batch(x, get_recipe("study", crop_padding=0, cutout=16, flip=False))
    zeros = (out == 0).sum((1, 2, 3))
    assert zeros.min() >= 8 * 8 and zeros.max() == 15 * 15  # centre anywhere; |d| * 2 < 16 -> 15 px
    assert (out.sum(1) == 0).any(2).sum(1).max() == 15


def test_device_resident_training_matches_the_host_path(digits) -> None:
    from archrisk.arch import build

    def run(on_device: bool) -> dict:
        torch.manual_seed(0)
        model = build("resnet18", num_classes=10, in_channels=1, mean=digits.mean, std=digits.std, size="tiny")
        rec = get_recipe("study", crop_padding=2, cutout=4, flip=True, dropout=0.0)
        fit(model, digits.train, digits.val, rec, epochs=1, seed=5, device=CPU, mirror=True,
            progress=False, data_on_device=on_device)
        return model.state_dict()

    host, resident = run(False), run(True)
    assert all(torch.equal(host[k], resident[k]) for k in host)
