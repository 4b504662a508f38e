"""LeNet-5 (LeCun et al., "Gradient-Based Learning Applied to Document Recognition", Proc. IEEE 1998).

C1: 6 5x5 convs, S2: 2x2 subsampling, C3: 16 5x5 convs, S4: subsampling, C5: 120 5x5 convs, F6: 84
units, then the classifier; tanh activations. As is usual today, C3 connects to all six S2 maps (the
paper's sparse table is dropped), subsampling is plain 2x2 average pooling (no trainable
coefficient), and the output is a linear layer instead of RBF units: 61,706 parameters for 10
classes on one channel, the count usually quoted. Any input size: every conv pads by 2 (on a 28x28
digit C1 sees the paper's 32x32 padded input) and C5's maps are averaged over the remaining
positions (7x7 for 28x28; 1x1 in the paper), which keeps every weight of the paper's C5.
"""
from __future__ import annotations

import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, register_manual, scaled


@register_manual(source="LeCun et al., Gradient-Based Learning Applied to Document Recognition (Proc. IEEE 1998)")
def lenet5(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
           dropout: float = 0.0) -> nn.Module:
    """C1-S2-C3-S4-C5 convolutional body, F6 as the hidden head."""
    check_args(num_classes, in_channels, width, dropout)
    c1, c3, c5, f6 = (scaled(v, width) for v in (6, 16, 120, 84))
    features = nn.Sequential(
        nn.Conv2d(in_channels, c1, 5, padding=2), nn.Tanh(),  # C1: H x W
        nn.AvgPool2d(2, ceil_mode=True),  # S2: H/2 (ceil keeps odd maps' last row)
        nn.Conv2d(c1, c3, 5, padding=2), nn.Tanh(),  # C3
        nn.AvgPool2d(2, ceil_mode=True),  # S4: H/4
        nn.Conv2d(c3, c5, 5, padding=2), nn.Tanh(),  # C5: [N, 120, H/4, W/4]
    )
    neck = nn.Sequential(nn.Linear(c5, f6), nn.Tanh())  # F6
    # PyTorch's default init (LeCun-style uniform), suited to tanh; no He init here.
    return ManualNet(features, f6, num_classes, dropout, neck=neck)
