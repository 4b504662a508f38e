"""MobileNet V1 (Howard et al. 2017) and V2 (Sandler et al., CVPR 2018), small-image form.

V1 factorises each conv into a depthwise 3x3 and a pointwise 1x1 conv, each with BN and ReLU. V2
stacks inverted residual blocks: a 1x1 expansion (t times the input channels), a depthwise 3x3 and
a linear 1x1 projection (BN, no ReLU), with an identity shortcut when shapes match; ReLU6
throughout, then a 1x1 conv to 1280 channels. Small-image form (as commonly done for CIFAR): the
stem conv has stride 1, and V2's second stage (24 channels) stride 1, so a 32x32 input ends at 2x2
(V1) or 4x4 (V2). `width` scales every layer, V2's last 1280-channel conv included, to whole
channels (the papers' width multiplier rounds to multiples of 8 and keeps 1280 below width 1).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, kaiming_init, register_manual, scaled


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU
            ) -> nn.Sequential:
    mods = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*mods, act(inplace=True)) if act else nn.Sequential(*mods)


# V1 (Table 1 of the paper): (output channels, stride) of each depthwise-separable layer
V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


@register_manual(source="Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision "
                        "Applications (arXiv:1704.04861, 2017)")
def mobilenet_v1(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                 dropout: float = 0.0) -> nn.Module:
    """Stem conv to 32 channels, 13 depthwise-separable layers to 1024 (~3.2M params)."""
    check_args(num_classes, in_channels, width, dropout)
    cin = scaled(32, width)
    mods: list[nn.Module] = [conv_bn(in_channels, cin, 3)]  # stride 1 (2 in the paper)
    for c, stride in V1:
        cout = scaled(c, width)
        mods += [conv_bn(cin, cin, 3, stride, groups=cin), conv_bn(cin, cout, 1)]  # depthwise, pointwise
        cin = cout
    return kaiming_init(ManualNet(nn.Sequential(*mods), cin, num_classes, dropout))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden, 1, act=nn.ReLU6)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                   conv_bn(hidden, cout, 1, act=None)]  # linear bottleneck
        self.body = nn.Sequential(*layers)
        self.identity = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.identity else self.body(x)


# V2 (Table 2 of the paper): expansion t, output channels c, repeats n, stride s of the first repeat
V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


@register_manual(source="Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks (CVPR 2018)")
def mobilenet_v2(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
                 dropout: float = 0.0) -> nn.Module:
    """Stem conv to 32 channels, 17 inverted residual blocks, 1x1 conv to 1280 (~2.24M params)."""
    check_args(num_classes, in_channels, width, dropout)
    cin = scaled(32, width)
    mods: list[nn.Module] = [conv_bn(in_channels, cin, 3, act=nn.ReLU6)]  # stride 1 (2 in the paper)
    for t, c, n, s in V2:
        s = 1 if c == 24 else s  # small images: H, H, H, H/2, H/4, H/4, H/8, H/8
        cout = scaled(c, width)
        for i in range(n):
            mods.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
            cin = cout
    last = scaled(1280, width)
    mods.append(conv_bn(cin, last, 1, act=nn.ReLU6))
    return kaiming_init(ManualNet(nn.Sequential(*mods), last, num_classes, dropout))
