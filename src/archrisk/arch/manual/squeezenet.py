"""SqueezeNet 1.0 (Iandola et al., arXiv:1602.07360, 2016).

Fire modules: a 1x1 "squeeze" conv to few channels, then parallel 1x1 and 3x3 "expand" convs whose
outputs are concatenated, all with ReLU and no batch norm. Layout conv1, pool, fire2-4, pool,
fire5-8, pool, fire9; the final 1x1 conv to the classes and global average pooling become the
shared head's linear layer after the pooling (the same linear map, without the ReLU the original
applies to the class maps). Small-image form: conv1 is 3x3 stride 1 (7x7 stride 2 in the paper),
and the 3x3 stride-2 max-pools pad by 1, so a 32x32 input reaches fire9 at 4x4 and an 8x8 one at 1x1.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled


class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU(inplace=True))
        self.expand1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU(inplace=True))
        self.expand3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return torch.cat([self.expand1(x), self.expand3(x)], dim=1)  # [N, 2 * expand, H, W]


@register_manual(source="Iandola et al., SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and "
                        "<0.5MB model size (arXiv:1602.07360, 2016), version 1.0")
def squeezenet1_0(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                  dropout: float = 0.0) -> nn.Module:
    """Fire modules with (squeeze, expand) = (16, 64) .. (64, 256) (~0.73M params)."""
    check_args(num_classes, in_channels, width, dropout)
    stem = scaled(96, width)
    mods: list[nn.Module] = [nn.Conv2d(in_channels, stem, 3, padding=1), nn.ReLU(inplace=True)]
    cin = stem
    # (squeeze, expand) for fire2..fire9; "M": 3x3 stride-2 max-pool
    for v in ["M", (16, 64), (16, 64), (32, 128), "M", (32, 128), (48, 192), (48, 192), (64, 256), "M", (64, 256)]:
        if v == "M":
            mods.append(nn.MaxPool2d(3, 2, padding=1))  # H/2
        else:
            squeeze, expand = scaled(v[0], width), scaled(v[1], width)
            mods.append(Fire(cin, squeeze, expand))
            cin = 2 * expand
    return kaiming_init(ManualNet(nn.Sequential(*mods), cin, num_classes, dropout))
