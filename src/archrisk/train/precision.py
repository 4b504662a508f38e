"""Numeric precision and memory layout for training, resolved per device.

Training may run its forward pass under bf16 autocast (weights, gradients and the optimiser
stay float32). Everything that *measures* a model runs in float32: attacks (success rates come
from float32 logits), the Hessian, NTK and gradient-variance metrics (their small differences
of large numbers do not survive bf16's 8-bit mantissa), and evaluation. `float32` is the
context those callers enter so that an autocast region around them cannot leak in.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' is bf16 on CUDA (tensor cores, no loss scaling needed) and fp32 on CPU."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def resolve_channels_last(channels_last: bool | str, device: torch.device) -> bool:
    """'auto': channels-last on CUDA, where cuDNN's NHWC kernels avoid layout transposes; on CPU
    the default layout is as fast for these small nets and keeps tests on the common path."""
    if channels_last == "auto":
        return device.type == "cuda"
    return bool(channels_last)


def autocast(precision: str, device: torch.device):
    """The context a training step runs in: bf16 autocast, or nothing for fp32."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


@contextmanager
def float32():
    """Disable autocast on every device type inside the block (measurements stay in float32)."""
    with torch.autocast("cpu", enabled=False):
        if torch.cuda.is_available():
            with torch.autocast("cuda", enabled=False):
                yield
        else:
            yield
