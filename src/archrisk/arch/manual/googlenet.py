"""GoogLeNet (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015), small-image form.

Nine Inception modules (3a-b, 4a-e, 5a-b) with the paper's branch widths: a 1x1 conv, a 1x1
reduction then a 3x3 conv, a 1x1 reduction then a 5x5 conv, and a 3x3 max-pool then a 1x1
projection, concatenated. Adaptations: every conv is conv-BN-ReLU (as in torchvision's GoogLeNet;
the paper predates batch norm), the auxiliary classifiers are dropped, and the ImageNet stem
(7x7/2 conv, pool, 1x1 and 3x3 convs, pool) becomes one 3x3 stride-1 conv to 192 channels, so a
32x32 input runs the modules at 32, 16 and 8 (max-pools between 3b-4a and 4e-5a, as in the paper).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled


def conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class Inception(nn.Module):
    """Four branches concatenated: 1x1 | 1x1-3x3 | 1x1-5x5 | pool-1x1."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool: int):
        super().__init__()
        self.b1 = conv_bn_relu(cin, c1, 1)
        self.b3 = nn.Sequential(conv_bn_relu(cin, c3r, 1), conv_bn_relu(c3r, c3, 3))
        self.b5 = nn.Sequential(conv_bn_relu(cin, c5r, 1), conv_bn_relu(c5r, c5, 5))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), conv_bn_relu(cin, pool, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)


# The paper's Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj); "M": 3x3/2 max-pool
MODULES = [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "M",
           (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
           (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), "M",
           (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)]


@register_manual(source="Szegedy et al., Going Deeper with Convolutions (CVPR 2015)")
def googlenet(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
              dropout: float = 0.0) -> nn.Module:
    """3x3 stem to 192 channels, Inception 3a-5b, 1024 features (~5.87M params)."""
    check_args(num_classes, in_channels, width, dropout)
    cin = scaled(192, width)
    mods: list[nn.Module] = [conv_bn_relu(in_channels, cin, 3)]
    for m in MODULES:
        if m == "M":
            mods.append(nn.MaxPool2d(3, 2, padding=1))  # H/2
            continue
        c1, c3r, c3, c5r, c5, pool = (scaled(v, width) for v in m)
        mods.append(Inception(cin, c1, c3r, c3, c5r, c5, pool))
        cin = c1 + c3 + c5 + pool
    return kaiming_init(ManualNet(nn.Sequential(*mods), cin, num_classes, dropout))
