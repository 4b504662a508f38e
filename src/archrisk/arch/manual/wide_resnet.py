"""Wide ResNets (Zagoruyko & Komodakis 2016): WRN-50-2 and WRN-28-10.

WRN-50-2 is torchvision's ImageNet form: ResNet-50 with every bottleneck twice as wide (128*2^i
inner channels instead of 64*2^i); outputs stay 256*2^i. The largest model in the study (~66.8M
parameters). WRN-28-10 is the paper's CIFAR network: a 16-channel 3x3 stem, three stages of four
pre-activation basic units at 160, 320 and 640 channels (k = 10 times 16, 32, 64), final BN-ReLU
(~36.5M parameters), without the dropout between a unit's convs that the paper also tries.
"""
from __future__ import annotations

import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled
from archrisk.arch.manual.preact_resnet import preact_features
from archrisk.arch.manual.resnet import Bottleneck, resnet_features

_PAPER = "Zagoruyko & Komodakis, Wide Residual Networks (BMVC 2016)"


@register_manual(source=_PAPER)
def wide_resnet50_2(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                    dropout: float = 0.0) -> nn.Module:
    """Bottleneck stages [3, 4, 6, 3] with width_per_group 128."""
    check_args(num_classes, in_channels, width, dropout)
    features, dim = resnet_features(Bottleneck, [3, 4, 6, 3], in_channels, width,
                                    expansion=4, base_width=128)
    return kaiming_init(ManualNet(features, dim, num_classes, dropout))


@register_manual(source=_PAPER + ", WRN-28-10 for CIFAR")
def wide_resnet28_10(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                     dropout: float = 0.0) -> nn.Module:
    """Depth 28 = 6 * 4 + 4, widening factor 10."""
    check_args(num_classes, in_channels, width, dropout)
    features, dim = preact_features(scaled(16, width), [scaled(16 * 10 * 2**i, width) for i in range(3)], 4,
                                    in_channels)
    return kaiming_init(ManualNet(features, dim, num_classes, dropout))
