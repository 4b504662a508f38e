"""Where a training split's batches are gathered: on the host, or held whole on the device.

On a GPU, a small model trains faster than a host loop can slice, augment and copy its batches.
A split that fits under a memory cap is therefore copied to the device once, as uint8 when that
is lossless (images that came from 8-bit files: 4x smaller), and each batch is gathered and
augmented there. The augmentation functions and the draws from the job's generator are the
same on both paths (the generator draws on the host; only small index tensors travel), so a
seed gives the same batches wherever they are made.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from archrisk.data import Split

# Hold a split on the device only when it takes at most this many bytes there (CIFAR-10's
# training images are 150 MB as uint8) and at most this share of the device's memory.
DEVICE_CAP_BYTES = 2 << 30
DEVICE_CAP_SHARE = 0.25


def as_uint8(x: torch.Tensor) -> torch.Tensor | None:
    """`x` as uint8 0..255 when that round-trips exactly through the loader's x / 255, else None."""
    u = x.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return u if torch.equal(u.float().div_(255.0), x) else None


def fits(nbytes: int, device: torch.device) -> bool:
    if device.type != "cuda":
        return False
    total = torch.cuda.get_device_properties(device).total_memory
    return nbytes <= min(DEVICE_CAP_BYTES, DEVICE_CAP_SHARE * total)


@dataclass(frozen=True, eq=False)
class BatchSource:
    """A split's images and labels where batches are gathered. `batch(idx)` returns float32 images
    in [0, 1] and labels, on the device when `resident`, else on the host; `idx` is a host index
    tensor drawn from the job's generator."""

    x: torch.Tensor  # [N, C, H, W] uint8 or float32
    y: torch.Tensor  # [N] int64
    resident: bool  # held on the training device (gather + augment there), not on the host

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx = idx.to(self.x.device, non_blocking=True)
        x = self.x[idx]
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x
        return x, self.y[idx]


def source(split: Split, device: torch.device, on_device: bool | None = None) -> BatchSource:
    """A host source, or a device-resident one when `on_device` (None: when the device is CUDA and
    the split fits the cap). Forcing it with a CPU device runs the resident path on the host,
    which is how the tests exercise it."""
    if on_device is False or (on_device is None and device.type != "cuda"):
        return BatchSource(split.x, split.y, False)
    u8 = as_uint8(split.x)
    x = u8 if u8 is not None else split.x
    if on_device is None and not fits(x.numel() * x.element_size() + split.y.numel() * 8, device):
        return BatchSource(split.x, split.y, False)
    return BatchSource(x.to(device), split.y.to(device), True)
