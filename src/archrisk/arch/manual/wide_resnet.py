"""Wide-ResNet-50-2 (Zagoruyko & Komodakis 2016, torchvision's ImageNet form).

ResNet-50 with every bottleneck twice as wide (128*2^i inner channels instead of 64*2^i);
outputs stay 256*2^i. The largest model in the study (~66.8M parameters).
"""
from __future__ import annotations

import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual
from archrisk.arch.manual.resnet import Bottleneck, resnet_features


@register_manual(source="Zagoruyko & Komodakis, Wide Residual Networks (BMVC 2016)")
def wide_resnet50_2(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                    dropout: float = 0.0) -> nn.Module:
    """Bottleneck stages [3, 4, 6, 3] with width_per_group 128."""
    check_args(num_classes, in_channels, width, dropout)
    features, dim = resnet_features(Bottleneck, [3, 4, 6, 3], in_channels, width,
                                    expansion=4, base_width=128)
    return kaiming_init(ManualNet(features, dim, num_classes, dropout))
