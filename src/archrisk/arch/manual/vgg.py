"""VGG-11, -13 and -16 with batch norm (Simonyan & Zisserman 2015), small-image form.

The convolutional bodies are torchvision's `vgg11_bn`, `vgg13_bn` and `vgg16_bn` (configurations A, B
and D) unchanged; the study replaced the 7x7-pooled 4096-4096 head with global average pooling and a
512-512 MLP head, so the penultimate features are the 512-d output of the second hidden layer.
"""
from __future__ import annotations

import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled

_PAPER = "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition (ICLR 2015)"
# Conv widths per configuration, "M" = 2x2 max-pool. Five pools take 32x32 to 1x1.
VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
VGG13 = [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg_bn(config: list, num_classes: int, in_channels: int, width: float, dropout: float) -> ManualNet:
    """3x3 conv-BN-ReLU layers as `config` lists them, then a 512-512 hidden head."""
    check_args(num_classes, in_channels, width, dropout)
    mods: list[nn.Module] = []
    cin = in_channels
    for v in config:
        if v == "M":
            # ceil_mode: an 8x8 or 28x28 input hits 1x1 before the fifth pool; ceil keeps it
            # at 1x1 instead of 0x0, and changes nothing for power-of-two sizes.
            mods.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            cout = scaled(v, width)
            conv = nn.Conv2d(cin, cout, 3, padding=1)
            mods += [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
    hidden = scaled(512, width)
    # dropout after each hidden layer; ManualNet adds the last one before the classifier.
    neck = nn.Sequential(
        nn.Linear(cin, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
    )
    model = ManualNet(nn.Sequential(*mods), hidden, num_classes, dropout, neck=neck)
    return kaiming_init(model)


@register_manual(source=_PAPER + ", configuration A with batch norm")
def vgg11_bn(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
             dropout: float = 0.0) -> nn.Module:
    """Eight 3x3 conv-BN-ReLU layers, then a 512-512 hidden head (~9.76M params)."""
    return vgg_bn(VGG11, num_classes, in_channels, width, dropout)


@register_manual(source=_PAPER + ", configuration B with batch norm")
def vgg13_bn(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
             dropout: float = 0.0) -> nn.Module:
    """Ten 3x3 conv-BN-ReLU layers, then a 512-512 hidden head (~9.94M params)."""
    return vgg_bn(VGG13, num_classes, in_channels, width, dropout)


@register_manual(source=_PAPER + ", configuration D with batch norm")
def vgg16_bn(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
             dropout: float = 0.0) -> nn.Module:
    """Thirteen 3x3 conv-BN-ReLU layers, then a 512-512 hidden head (~15.25M params)."""
    return vgg_bn(VGG16, num_classes, in_channels, width, dropout)
