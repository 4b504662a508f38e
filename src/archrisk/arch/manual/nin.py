"""Network in Network (Lin et al., ICLR 2014), the paper's CIFAR-10 model.

Three "mlpconv" blocks, each a spatial conv followed by two 1x1 convs (a per-pixel MLP), all with
ReLU: 5x5-192, 160, 96 | max-pool, dropout | 5x5-192, 192, 192 | avg-pool, dropout | 3x3-192, 192,
then the last 1x1 conv maps to the classes and global average pooling replaces fully connected
layers. Here that last 1x1 conv is the shared head's linear layer after the pooling (the same linear
map, since pooling and a 1x1 conv commute), without the ReLU the original applies before pooling.
The 3x3 stride-2 pools pad by 1 (half-size maps at any input size, 8x8 included); `dropout` sets
the paper's two in-body dropouts as well as the head's.
"""
from __future__ import annotations

import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled


def mlpconv(cin: int, widths: tuple[int, int, int], k: int) -> list[nn.Module]:
    """A k x k conv, then two 1x1 convs, each followed by ReLU."""
    mods: list[nn.Module] = []
    for i, cout in enumerate(widths):
        size = k if i == 0 else 1
        mods += [nn.Conv2d(cin, cout, size, padding=size // 2), nn.ReLU(inplace=True)]
        cin = cout
    return mods


@register_manual(source="Lin et al., Network In Network (ICLR 2014)")
def nin(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
        dropout: float = 0.0) -> nn.Module:
    """Three mlpconv blocks, global average pooling (~0.97M params)."""
    check_args(num_classes, in_channels, width, dropout)
    c192, c160, c96 = (scaled(v, width) for v in (192, 160, 96))
    features = nn.Sequential(
        *mlpconv(in_channels, (c192, c160, c96), 5),  # H x W
        nn.MaxPool2d(3, 2, padding=1), nn.Dropout(dropout),  # H/2
        *mlpconv(c96, (c192, c192, c192), 5),
        nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), nn.Dropout(dropout),  # H/4
        *mlpconv(c192, (c192, c192), 3),  # [N, 192, H/4, W/4]
    )
    return kaiming_init(ManualNet(features, c192, num_classes, dropout))
