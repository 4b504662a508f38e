"""A guard against a fault in oneDNN, the CPU convolution library inside torch 2.13.0's wheel.

Its AVX2 kernel for the weight gradient of a 1x1 convolution with stride > 1 (`jit_1x1:avx2`,
backward_weights) mishandles inputs of 2 to 7 channels stored channels-last: at one thread it
writes past its buffer (glibc aborts the process: "free(): invalid next size", "corrupted
double-linked list"); at two or three threads it returns a wrong weight gradient (relative error
0.1 to 1) without a sign. Measured op by op with oneDNN capped at each ISA level
(ONEDNN_MAX_CPU_ISA: SSE41, AVX, AVX2, AVX2_VNNI, AVX512_CORE; the training that aborted also under
AVX512_CORE_VNNI, AVX512_CORE_BF16 and AMX): only the AVX2 levels fault. The forward pass and the
input gradient are exact; 1 or >= 8 input channels, grouped, 3x3, 5x5, depthwise, dilated and
stride-1 convolutions, and NCHW inputs are fine. Training reaches the kernel on CPU when a 1-channel
batch leaves the random crop (its strides then fit both layouts and torch picks channels-last) or
with channels_last=True; measurements see NCHW tensors and need no guard.

A model with such a convolution therefore trains with oneDNN off on such a machine (torch's native
convolutions run instead). That changes its weights, so `run_training` names the guard in the
checkpoint key exactly when it is on; every other key stays as it was.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import torch

# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA, formerly DNNL_MAX_CPU_ISA) under which its AVX2 kernels run
AVX2_LEVELS = ("AVX2", "AVX2_VNNI", "AVX2_VNNI_2")
BELOW_AVX2 = ("SSE41", "AVX")


def onednn_uses_avx2() -> bool:
    """Whether oneDNN runs its AVX2 kernels here: a CPU with AVX2 but without oneDNN's AVX-512 core
    set (F, BW, DQ, VL), or an AVX-512 CPU whose oneDNN is capped at an AVX2 level."""
    caps = torch.cpu.get_capabilities()
    if not caps.get("avx2", False):
        return False
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    if cap in AVX2_LEVELS or cap in BELOW_AVX2:
        return cap in AVX2_LEVELS
    return not all(caps.get(f"avx512_{x}", False) for x in ("f", "bw", "dq", "vl"))


def faulty_convs(model: torch.nn.Module) -> list[str]:
    """Names of the convolutions whose weight gradient oneDNN's AVX2 kernel gets wrong."""
    return [name for name, m in model.named_modules()
            if isinstance(m, torch.nn.Conv2d) and m.groups == 1 and m.kernel_size == (1, 1)
            and max(m.stride) > 1 and 2 <= m.in_channels <= 7]


def needs_guard(model: torch.nn.Module, device: torch.device) -> bool:
    """Whether training `model` on `device` must run with oneDNN off."""
    return (device.type == "cpu" and torch.backends.mkldnn.is_available() and bool(faulty_convs(model))
            and onednn_uses_avx2())


@contextmanager
def onednn_off(on: bool):
    """oneDNN off inside the block when `on` (its other settings untouched), restored after."""
    if not on:
        yield
        return
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before
