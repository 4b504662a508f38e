"""PreAct-ResNet-18 (He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016).

ResNet-18's layout with every residual unit pre-activated (BN and ReLU before each conv), so the
identity path from input to output has no nonlinearity; a final BN-ReLU follows the last unit, as
the paper adds. The projection shortcut reads the unit's pre-activated input. Small-image form as
for ResNet-18: one 3x3 stride-1 stem conv, no max-pool. `PreActBlock` is also Wide-ResNet's unit.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class PreActBlock(nn.Module):
    """BN-ReLU-3x3 (strided), BN-ReLU-3x3, plus the input (projected when its shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), conv3x3(cin, cout, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), conv3x3(cout, cout)
        self.proj = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(x))
        residual = x if self.proj is None else self.proj(out)
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + residual


def preact_features(stem: int, widths: list[int], blocks: int, in_channels: int) -> tuple[nn.Sequential, int]:
    """Stem conv, one stage of `blocks` units per width (stride 2 from the second stage), final BN-ReLU."""
    mods: list[nn.Module] = [conv3x3(in_channels, stem)]
    cin = stem
    for i, cout in enumerate(widths):
        for j in range(blocks):
            mods.append(PreActBlock(cin, cout, 2 if i > 0 and j == 0 else 1))
            cin = cout
    mods += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True)]  # units end un-normalised
    return nn.Sequential(*mods), cin


@register_manual(source="He et al., Identity Mappings in Deep Residual Networks (ECCV 2016)")
def preact_resnet18(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                    dropout: float = 0.0) -> nn.Module:
    """Pre-activation units [2, 2, 2, 2], 64-512 channels (~11.17M params)."""
    check_args(num_classes, in_channels, width, dropout)
    features, dim = preact_features(scaled(64, width), [scaled(64 * 2**i, width) for i in range(4)], 2,
                                    in_channels)
    return kaiming_init(ManualNet(features, dim, num_classes, dropout))
