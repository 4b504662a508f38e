"""ResNeXt-50 32x4d (Xie et al. 2017): ResNet-50 with 32-way grouped 3x3 convs.

The study's small-image variant keeps only the first three stages (its classifier reads
1024 features, not 2048), which also cuts the model from ~23M to ~8.4M parameters. Its
head also happens to lose the classifier bias; a biased head is kept here so that all
families share one head.
"""
from __future__ import annotations

import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual
from archrisk.arch.manual.resnet import Bottleneck, resnet_features


@register_manual(source="Xie et al., Aggregated Residual Transformations for Deep Neural Networks (CVPR 2017)")
def resnext50_32x4d(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                    dropout: float = 0.0) -> nn.Module:
    """ResNeXt-50 32x4d, stages [3, 4, 6] (the fourth stage of 3 blocks is dropped)."""
    check_args(num_classes, in_channels, width, dropout)
    features, dim = resnet_features(Bottleneck, [3, 4, 6], in_channels, width,
                                    expansion=4, groups=32, base_width=4)
    return kaiming_init(ManualNet(features, dim, num_classes, dropout))
