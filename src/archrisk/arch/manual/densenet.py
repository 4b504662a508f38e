"""DenseNet-121 (Huang et al. 2017), small-image form.

Every layer sees the concatenation of all earlier layers' outputs in its block; transitions
halve channels and resolution between blocks. The study's adaptation keeps only the stem
conv (3x3, stride 1) and drops the stem's norm, ReLU and max-pool: the first dense layer
normalises its input anyway (pre-activation), so blocks run at 32, 16, 8, 4 for CIFAR.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled


def bn_relu_conv(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                         nn.Conv2d(cin, cout, k, padding=k // 2, bias=False))


class DenseLayer(nn.Module):
    """Bottleneck 1x1 (4k channels) then 3x3 (k new channels), appended to the input."""

    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.body = nn.Sequential(
            bn_relu_conv(cin, 4 * growth, 1), bn_relu_conv(4 * growth, growth, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)  # [N, cin + growth, H, W]


@register_manual(source="Huang et al., Densely Connected Convolutional Networks (CVPR 2017)")
def densenet121(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                dropout: float = 0.0) -> nn.Module:
    """Growth 32, blocks [6, 12, 24, 16], 64 stem channels, 1024 features (~6.96M params)."""
    check_args(num_classes, in_channels, width, dropout)
    growth = scaled(32, width)
    c = 2 * growth
    mods: list[nn.Module] = [nn.Conv2d(in_channels, c, 3, padding=1, bias=False)]
    blocks = [6, 12, 24, 16]
    for i, n in enumerate(blocks):
        for _ in range(n):
            mods.append(DenseLayer(c, growth))
            c += growth
        if i < len(blocks) - 1:  # transition: halve channels, then H/2 (8x8 input ends at 1x1)
            mods += [bn_relu_conv(c, c // 2, 1), nn.AvgPool2d(2)]
            c //= 2
    mods += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]  # final norm: blocks end un-normalised
    # torchvision initialises DenseNet convs with fan_in (not fan_out as for ResNet/VGG)
    return kaiming_init(ManualNet(nn.Sequential(*mods), c, num_classes, dropout), mode="fan_in")
