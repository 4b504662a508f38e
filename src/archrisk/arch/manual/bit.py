"""BiT: ResNet-v2 50x1 (Kolesnikov et al. 2020), trained from scratch in the study.

Pre-activation bottlenecks (norm and ReLU before each conv), GroupNorm instead of
BatchNorm, and weight-standardised convolutions, which together make training independent
of batch statistics. As in the BiT code, the stride sits on the 3x3 conv and the
projection shortcut reads the pre-activated input. Small-image adaptation, as in the
study: a 3x3 stride-1 standardised stem conv and no max-pool.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from archrisk.arch.manual._base import ManualNet, check_args, register_manual, scaled


class StdConv2d(nn.Conv2d):
    """Conv whose filters are standardised (zero mean, unit variance over fan-in) on use."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(self.weight, dim=(1, 2, 3), keepdim=True, unbiased=False)
        w = (self.weight - mean) / torch.sqrt(var + 1e-10)  # eps as in the BiT release
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


def std_conv(cin: int, cout: int, k: int, stride: int = 1) -> StdConv2d:
    return StdConv2d(cin, cout, k, stride, padding=k // 2, bias=False)


def group_norm(c: int) -> nn.GroupNorm:
    # 32 groups at full width; narrower models (channels a multiple of 8) use the largest
    # divisor of 32 that still divides the channels.
    return nn.GroupNorm(math.gcd(32, c), c)


class PreActBottleneck(nn.Module):
    """GN-ReLU-1x1, GN-ReLU-3x3 (strided), GN-ReLU-1x1, plus the (projected) input."""

    def __init__(self, cin: int, inner: int, cout: int, stride: int = 1):
        super().__init__()
        self.gn1, self.conv1 = group_norm(cin), std_conv(cin, inner, 1)
        self.gn2, self.conv2 = group_norm(inner), std_conv(inner, inner, 3, stride)
        self.gn3, self.conv3 = group_norm(inner), std_conv(inner, cout, 1)
        self.proj = std_conv(cin, cout, 1, stride) if stride != 1 or cin != cout else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.gn1(x))
        residual = x if self.proj is None else self.proj(out)
        out = self.conv1(out)
        out = self.conv2(self.relu(self.gn2(out)))
        out = self.conv3(self.relu(self.gn3(out)))
        return out + residual


@register_manual(source="Kolesnikov et al., Big Transfer (BiT): General Visual Representation Learning (ECCV 2020)")
def bit(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
        dropout: float = 0.0) -> nn.Module:
    """ResNet-v2 50x1: stages [3, 4, 6, 3], inner 64*2^i, output 256*2^i channels."""
    check_args(num_classes, in_channels, width, dropout)
    stem = scaled(64, width, 8)
    mods: list[nn.Module] = [std_conv(in_channels, stem, 3)]
    cin = stem
    for i, n in enumerate([3, 4, 6, 3]):
        inner, cout = scaled(64 * 2**i, width, 8), scaled(256 * 2**i, width, 8)
        for j in range(n):
            mods.append(PreActBottleneck(cin, inner, cout, stride=2 if i > 0 and j == 0 else 1))
            cin = cout
    # blocks end un-normalised (pre-activation), so the head normalises once more
    mods += [group_norm(cin), nn.ReLU(inplace=True)]  # [N, 2048, H/8, W/8]
    return ManualNet(nn.Sequential(*mods), cin, num_classes, dropout)
