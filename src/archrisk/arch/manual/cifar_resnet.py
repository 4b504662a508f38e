"""ResNet-20 and ResNet-56, the CIFAR-10 ResNets of He et al. (CVPR 2016, Sec. 4.2).

A 3x3 conv with 16 channels, three stages of n basic blocks at 16, 32 and 64 channels (the first
block of the second and third stage halves the resolution), global average pooling and the
classifier: 6n + 2 layers. Shortcuts are identities; where a stage doubles the channels the
paper's option A subsamples the identity and pads it with zero channels, so no shortcut has
parameters (0.27M and 0.85M in all). Designed for 32x32 inputs: no adaptation is needed, and an
8x8 input ends at 2x2.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled
from archrisk.arch.manual.resnet import BasicBlock, conv_bn

_PAPER = "He et al., Deep Residual Learning for Image Recognition (CVPR 2016), Sec. 4.2"


class ZeroPadShortcut(nn.Module):
    """Option A: the identity, subsampled by `stride`, with `extra` zero channels appended."""

    def __init__(self, extra: int, stride: int):
        super().__init__()
        self.extra, self.stride = extra, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]  # ceil(H/2): the strided 3x3 conv's size
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # [N, C + extra, H', W']


def cifar_resnet(n: int, num_classes: int, in_channels: int, width: float, dropout: float) -> ManualNet:
    check_args(num_classes, in_channels, width, dropout)
    c = [scaled(v, width) for v in (16, 32, 64)]
    mods: list[nn.Module] = [conv_bn(in_channels, c[0], 3), nn.ReLU(inplace=True)]
    cin = c[0]
    for i, cout in enumerate(c):
        for j in range(n):
            stride = 2 if i > 0 and j == 0 else 1  # H, H/2, H/4
            block = BasicBlock(cin, cout, cout, stride, project=False)
            if stride != 1 or cin != cout:
                block.shortcut = ZeroPadShortcut(cout - cin, stride)
            mods.append(block)
            cin = cout
    return kaiming_init(ManualNet(nn.Sequential(*mods), cin, num_classes, dropout))


@register_manual(source=_PAPER)
def resnet20(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
             dropout: float = 0.0) -> nn.Module:
    """n = 3: 20 layers (~0.27M params)."""
    return cifar_resnet(3, num_classes, in_channels, width, dropout)


@register_manual(source=_PAPER)
def resnet56(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
             dropout: float = 0.0) -> nn.Module:
    """n = 9: 56 layers (~0.85M params)."""
    return cifar_resnet(9, num_classes, in_channels, width, dropout)
