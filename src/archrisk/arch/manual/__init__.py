"""Hand-designed ("manual") families of the study, adapted to small images.

Every factory takes (num_classes, in_channels, width, dropout) and returns a
`ManualNet`: `model(x)` gives logits, `model.penultimate(x)` the pooled features and
`model.classifier` the final nn.Linear.
"""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

from archrisk.arch.manual._base import ManualNet
from archrisk.arch.manual.bit import bit
from archrisk.arch.manual.densenet import densenet121
from archrisk.arch.manual.dla import dla34
from archrisk.arch.manual.resnet import resnet18
from archrisk.arch.manual.resnext import resnext50_32x4d
from archrisk.arch.manual.vgg import vgg13_bn
from archrisk.arch.manual.wide_resnet import wide_resnet50_2

MANUAL_FAMILIES: dict[str, Callable[..., nn.Module]] = {
    "bit": bit,
    "densenet121": densenet121,
    "dla34": dla34,
    "resnet18": resnet18,
    "resnext50_32x4d": resnext50_32x4d,
    "vgg13_bn": vgg13_bn,
    "wide_resnet50_2": wide_resnet50_2,
}

__all__ = ["MANUAL_FAMILIES", "ManualNet"]
