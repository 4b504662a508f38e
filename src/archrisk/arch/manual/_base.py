"""What every hand-designed family shares: the pooled head, width scaling, init.

A family only builds `features` (image -> feature map); `ManualNet` adds global average
pooling so any input size >= 8x8 works, and exposes the penultimate features and the final
linear layer that backdoor and feature-space attacks hook into.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from archrisk.errors import InvalidValueError
from archrisk.registry import Registry


class ManualNet(nn.Module):
    """features -> global avg pool -> flatten -> [neck] = penultimate -> dropout -> classifier."""

    def __init__(self, features: nn.Module, dim: int, num_classes: int, dropout: float = 0.0,
                 neck: nn.Module | None = None):
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.neck = neck if neck is not None else nn.Identity()  # e.g. VGG's hidden MLP
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, num_classes)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)  # [N, C]
        return self.neck(x)  # [N, dim]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.penultimate(x)))  # [N, num_classes]


# name -> factory(num_classes, in_channels, width, dropout) -> ManualNet; the zoo registers each as an architecture
MANUAL_FAMILIES: Registry[Callable[..., ManualNet]] = Registry("manual network")
MANUAL_SOURCES: dict[str, str] = {}  # name -> the paper that designed the network


def register_manual(factory: Callable[..., ManualNet] | None = None, *, source: str = ""):
    """Decorator: the factory's function name becomes the network's name (`resnet18`); `source` cites
    the paper (`@register_manual(source="He et al., ...")`)."""
    if factory is None:
        return lambda f: register_manual(f, source=source)
    entry = MANUAL_FAMILIES.register(factory.__name__, factory)
    MANUAL_SOURCES[factory.__name__] = source
    return entry


def check_args(num_classes: int, in_channels: int, width: float, dropout: float) -> None:
    """Validate the arguments every factory takes (user input: raise, never assert)."""
    if num_classes < 1:
        raise InvalidValueError(f"num_classes={num_classes} must be >= 1")
    if in_channels < 1:
        raise InvalidValueError(f"in_channels={in_channels} must be >= 1")
    if not width > 0:
        raise InvalidValueError(f"width={width} must be > 0 (1.0 gives the standard model)")
    if not 0.0 <= dropout < 1.0:
        raise InvalidValueError(f"dropout={dropout} must be in [0, 1)")


def scaled(channels: int, width: float, multiple: int = 1) -> int:
    """`channels * width`, rounded to a multiple of `multiple` and never below it."""
    return max(multiple, int(round(channels * width / multiple)) * multiple)


def kaiming_init(model: nn.Module, mode: str = "fan_out") -> nn.Module:
    """The torchvision init the study inherited: He-normal convs, unit/zero norm affine.
    Linear layers keep PyTorch's default (the study built its own heads)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model
