"""ShuffleNet V2 1.0x (Ma et al., ECCV 2018), small-image form.

Each unit splits its channels in two: in a basic unit one half passes unchanged and the other goes
through 1x1 conv, depthwise 3x3 conv (BN, no ReLU) and 1x1 conv; in a downsampling unit both halves
see the whole input, one through a strided depthwise 3x3 and a 1x1 conv. The halves are concatenated
and the channels shuffled (two groups). Stages of 4, 8 and 4 units at 116, 232 and 464 channels, then
a 1x1 conv to 1024. Small-image form: the stem conv has stride 1 and no max-pool follows it, so the
three stages run at H/2, H/4, H/8 (a 32x32 input ends at 4x4, an 8x8 one at 1x1).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, relu: bool = True, groups: int = 1) -> nn.Sequential:
    mods = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*mods, nn.ReLU(inplace=True)) if relu else nn.Sequential(*mods)


def shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        half = cout // 2
        self.stride = stride
        # the branch that sees the whole input when downsampling; absent (identity half) otherwise
        self.left = nn.Sequential(conv_bn(cin, cin, 3, stride, relu=False, groups=cin),
                                  conv_bn(cin, half, 1)) if stride > 1 else None
        cin_right = cin if stride > 1 else cin // 2
        self.right = nn.Sequential(conv_bn(cin_right, half, 1),
                                   conv_bn(half, half, 3, stride, relu=False, groups=half),
                                   conv_bn(half, half, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.left is None:
            keep, x = x.chunk(2, dim=1)
            return shuffle(torch.cat([keep, self.right(x)], dim=1))
        return shuffle(torch.cat([self.left(x), self.right(x)], dim=1))  # [N, cout, H/2, W/2]


@register_manual(source="Ma et al., ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design "
                        "(ECCV 2018), 1.0x")
def shufflenet_v2_x1_0(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                       dropout: float = 0.0) -> nn.Module:
    """Stem to 24 channels, stages [4, 8, 4] at 116-232-464, 1x1 conv to 1024 (~1.26M params)."""
    check_args(num_classes, in_channels, width, dropout)
    cin = scaled(24, width)
    mods: list[nn.Module] = [conv_bn(in_channels, cin, 3)]  # stride 1, no max-pool (small images)
    for repeats, c in zip((4, 8, 4), (116, 232, 464)):
        cout = scaled(c, width, 2)  # even: a unit splits its channels in two
        for i in range(repeats):
            mods.append(ShuffleUnit(cin, cout, 2 if i == 0 else 1))
            cin = cout
    last = scaled(1024, width)
    mods.append(conv_bn(cin, last, 1))
    return kaiming_init(ManualNet(nn.Sequential(*mods), last, num_classes, dropout))
