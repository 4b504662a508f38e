"""Hand-designed ("manual") families of the study, adapted to small images.

Every factory takes (num_classes, in_channels, width, dropout) and returns a
`ManualNet`: `model(x)` gives logits, `model.penultimate(x)` the pooled features and
`model.classifier` the final nn.Linear. A family is one module whose factory is decorated with
`@register_manual`; importing the module below registers it (the zoo then lists it as an architecture).
"""
from __future__ import annotations

from archrisk.arch.manual import (bit, cifar_resnet, densenet, dla, googlenet, lenet, mobilenet,  # noqa: F401
                                  nin, preact_resnet, resnet, resnext, shufflenet, squeezenet, vgg,  # (registers)
                                  wide_resnet)
from archrisk.arch.manual._base import MANUAL_FAMILIES, MANUAL_SOURCES, ManualNet, register_manual

__all__ = ["MANUAL_FAMILIES", "MANUAL_SOURCES", "ManualNet", "register_manual"]
