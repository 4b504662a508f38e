"""ResNet (He et al. 2016) adapted to small images, plus the blocks its relatives reuse.

Small-image adaptation (as in the study): the 7x7 stride-2 stem and its max-pool are
replaced by one 3x3 stride-1 conv, so a 32x32 input reaches the last stage at 4x4.
`BasicBlock` is also DLA's block; `Bottleneck` + `resnet_features` also build ResNeXt and
Wide-ResNet (they differ only in cardinality, bottleneck width and number of stages).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    # padding k//2 with stride 2 gives ceil(H/2), the same size as a 1x1 stride-2 shortcut,
    # so odd maps (7x7 from 28x28 inputs) still add up.
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)
    )


def shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    """Identity when shapes match, else a strided 1x1 projection."""
    return nn.Identity() if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride)


class BasicBlock(nn.Module):
    """3x3 -> 3x3 residual block. `residual` may be supplied by the caller (DLA trees
    compute their own), in which case build it with `project=False`."""

    def __init__(self, cin: int, inner: int, cout: int, stride: int = 1, groups: int = 1,
                 project: bool = True):
        super().__init__()
        self.conv1 = conv_bn(cin, inner, 3, stride)
        self.conv2 = conv_bn(inner, cout, 3)
        self.shortcut = shortcut(cin, cout, stride) if project else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        residual = self.shortcut(x) if residual is None else residual
        out = self.conv2(self.relu(self.conv1(x)))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (grouped, strided) -> 1x1 expand, post-activation (ResNet v1.5)."""

    def __init__(self, cin: int, inner: int, cout: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv1 = conv_bn(cin, inner, 1)
        self.conv2 = conv_bn(inner, inner, 3, stride, groups)
        self.conv3 = conv_bn(inner, cout, 1)
        self.shortcut = shortcut(cin, cout, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.conv1(x))
        out = self.relu(self.conv2(out))
        return self.relu(self.conv3(out) + self.shortcut(x))


def resnet_features(
    block: type[nn.Module], layers: list[int], in_channels: int, width: float,
    expansion: int, groups: int = 1, base_width: int = 64,
) -> tuple[nn.Sequential, int]:
    """Stem + one stage per entry of `layers` (pass fewer entries to drop stages).

    Returns (features, output channels). Stage i has 64*2^i "planes", outputs
    planes*expansion channels and a bottleneck of planes*base_width/64*groups channels
    (torchvision's rule). Width scaling shrinks the cardinality with the channels, so the
    per-group width stays what the architecture names (the "4d" of 32x4d).
    """
    g = max(1, round(groups * width)) if groups > 1 else 1
    stem = scaled(64, width)
    mods: list[nn.Module] = [conv_bn(in_channels, stem, 3), nn.ReLU(inplace=True)]  # H x W
    cin = stem
    for i, n in enumerate(layers):
        planes = 64 * 2**i
        inner = scaled(planes * base_width // 64 * groups, width, g)
        cout = scaled(planes * expansion, width)
        for j in range(n):
            stride = 2 if i > 0 and j == 0 else 1  # H/2^i at stage i
            mods.append(block(cin, inner, cout, stride, g))
            cin = cout
    return nn.Sequential(*mods), cin


@register_manual(source="He et al., Deep Residual Learning for Image Recognition (CVPR 2016)")
def resnet18(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
             dropout: float = 0.0) -> nn.Module:
    """ResNet-18: BasicBlocks [2, 2, 2, 2], 64-512 channels (11.17M params at 10 classes)."""
    check_args(num_classes, in_channels, width, dropout)
    features, dim = resnet_features(BasicBlock, [2, 2, 2, 2], in_channels, width, expansion=1)
    return kaiming_init(ManualNet(features, dim, num_classes, dropout))
