"""DenseNet-121 and DenseNet-BC-100 (Huang et al. 2017), small-image form.

Every layer sees the concatenation of all earlier layers' outputs in its block; transitions
halve channels and resolution between blocks. DenseNet-121 is the ImageNet network; the study's
adaptation keeps only the stem conv (3x3, stride 1) and drops the stem's norm, ReLU and max-pool:
the first dense layer normalises its input anyway (pre-activation), so blocks run at 32, 16, 8, 4
for CIFAR. DenseNet-BC-100 (k = 12) is the paper's CIFAR network: a 3x3 stem conv to 2k channels
and three blocks of 16 bottleneck layers, run at 32, 16, 8.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled


def bn_relu_conv(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                         nn.Conv2d(cin, cout, k, padding=k // 2, bias=False))


class DenseLayer(nn.Module):
    """Bottleneck 1x1 (4k channels unless given) then 3x3 (k new channels), appended to the input."""

    def __init__(self, cin: int, growth: int, bottleneck: int | None = None):
        super().__init__()
        bottleneck = bottleneck or 4 * growth
        self.body = nn.Sequential(
            bn_relu_conv(cin, bottleneck, 1), bn_relu_conv(bottleneck, growth, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)  # [N, cin + growth, H, W]


_PAPER = "Huang et al., Densely Connected Convolutional Networks (CVPR 2017)"


def dense_features(c: int, growth: int, blocks: list[int], in_channels: int,
                   bottleneck: int | None = None) -> tuple[nn.Sequential, int]:
    """Stem conv to `c` channels, dense blocks with halving transitions between them, final BN-ReLU."""
    mods: list[nn.Module] = [nn.Conv2d(in_channels, c, 3, padding=1, bias=False)]
    for i, n in enumerate(blocks):
        for _ in range(n):
            mods.append(DenseLayer(c, growth, bottleneck))
            c += growth
        if i < len(blocks) - 1:  # transition: halve channels, then H/2 (three take an 8x8 input to 1x1)
            mods += [bn_relu_conv(c, c // 2, 1), nn.AvgPool2d(2)]
            c //= 2
    mods += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]  # final norm: blocks end un-normalised
    return nn.Sequential(*mods), c


@register_manual(source=_PAPER)
def densenet121(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                dropout: float = 0.0) -> nn.Module:
    """Growth 32, blocks [6, 12, 24, 16], 64 stem channels, 1024 features (~6.96M params)."""
    check_args(num_classes, in_channels, width, dropout)
    growth = scaled(32, width)
    features, c = dense_features(2 * growth, growth, [6, 12, 24, 16], in_channels)
    # torchvision initialises DenseNet convs with fan_in (not fan_out as for ResNet/VGG)
    return kaiming_init(ManualNet(features, c, num_classes, dropout), mode="fan_in")


@register_manual(source=_PAPER + ", DenseNet-BC with L = 100, k = 12")
def densenet_bc100(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                   dropout: float = 0.0) -> nn.Module:
    """Growth 12, blocks [16, 16, 16] of bottleneck layers, compression 0.5 (~0.77M params)."""
    check_args(num_classes, in_channels, width, dropout)
    # stem (2k) and bottleneck (4k) widths are rounded on their own, not as multiples of the rounded
    # k: at small widths k alone moves in steps of 1 channel (50% jumps at k = 2), too coarse to match
    # a parameter budget
    stem, growth, bottleneck = (scaled(v, width) for v in (24, 12, 48))
    features, c = dense_features(stem, growth, [16, 16, 16], in_channels, bottleneck)
    return kaiming_init(ManualNet(features, c, num_classes, dropout), mode="fan_in")
