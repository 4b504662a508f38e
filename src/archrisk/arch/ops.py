"""Cell operations: the only place an op name becomes a Module.

Each factory takes (channels C, stride) and keeps the channel count; stride 2 halves the map.
Convolutions follow the DARTS ordering ReLU -> conv -> BN.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from archrisk.arch.genotype import PRIMITIVES


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


class DilConv(nn.Sequential):
    """Depthwise (dilated) conv then pointwise conv: one separable conv."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )


class SepConv(nn.Sequential):
    """Two stacked separable convs (the DARTS 'sep_conv'); only the first one strides."""

    def __init__(self, c: int, kernel: int, stride: int):
        pad = kernel // 2
        super().__init__(DilConv(c, c, kernel, stride, pad, 1), DilConv(c, c, kernel, 1, pad, 1))


class Conv7x1_1x7(nn.Sequential):
    """Factorised 7x7 conv used by AmoebaNet's reduction cell."""

    def __init__(self, c: int, stride: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(c, c, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            nn.BatchNorm2d(c),
        )


class Zero(nn.Module):
    """The 'none' op: a zero map of the right shape (keeps the cell's sum well defined)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the map with two offset stride-2 1x1 convs (so no pixel is simply dropped)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        a = self.conv1(x)
        # the shifted path sees the odd pixels; pad odd-sized maps so both halves agree
        b = self.conv2(nn.functional.pad(x[:, :, 1:, 1:], (0, x.shape[3] % 2, 0, x.shape[2] % 2)))
        return self.bn(torch.cat([a, b], dim=1))


def _pool(kind: type[nn.Module], stride: int) -> nn.Module:
    if kind is nn.AvgPool2d:
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    return nn.MaxPool2d(3, stride=stride, padding=1)


OPS: dict[str, Callable[[int, int], nn.Module]] = {
    "none": lambda c, s: Zero(s),
    "avg_pool_3x3": lambda c, s: _pool(nn.AvgPool2d, s),
    "max_pool_3x3": lambda c, s: _pool(nn.MaxPool2d, s),
    "skip_connect": lambda c, s: nn.Identity() if s == 1 else FactorizedReduce(c, c),
    "sep_conv_3x3": lambda c, s: SepConv(c, 3, s),
    "sep_conv_5x5": lambda c, s: SepConv(c, 5, s),
    "sep_conv_7x7": lambda c, s: SepConv(c, 7, s),
    "dil_conv_3x3": lambda c, s: DilConv(c, c, 3, s, 2, 2),
    "dil_conv_5x5": lambda c, s: DilConv(c, c, 5, s, 4, 2),
    "conv_7x1_1x7": lambda c, s: Conv7x1_1x7(c, s),
}
assert set(OPS) == set(PRIMITIVES), "ops table and genotype vocabulary must agree"


def make_op(name: str, channels: int, stride: int) -> nn.Module:
    return OPS[name](channels, stride)
