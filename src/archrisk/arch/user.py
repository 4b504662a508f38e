"""The user's own `nn.Module`, wrapped so the trainer and the attacks treat it like a zoo network.

A user module maps inputs in [0, 1] to logits and normalises inside itself, so the wrapper's
normalisation is the identity ((x - 0) / 1 is exact in floating point). Its `ArchSpec` names the
class and carries a digest of the parameter and buffer shapes, so cache keys separate different
structures built by the same factory name.
"""
from __future__ import annotations

import hashlib
from typing import Callable

from torch import nn

from archrisk.arch.zoo import ArchSpec, Classifier
from archrisk.errors import InvalidValueError

Factory = Callable[[], nn.Module]


def user_spec(module: nn.Module, size: str = "tiny") -> ArchSpec:
    """A spec for a module archrisk did not build: its class name and a digest of its tensor shapes."""
    if isinstance(module, Classifier):
        return module.spec
    h = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for name, t in (*module.named_parameters(), *module.named_buffers()):
        h.update(f"{name}:{tuple(t.shape)};".encode())
    return ArchSpec(name=f"user:{type(module).__name__}", kind="user", group="user", size=size,
                    family=h.hexdigest()[:16])


def wrap(module: nn.Module, size: str = "tiny", in_channels: int = 3) -> Classifier:
    """`module` as a Classifier with an identity normalisation (zoo models pass through unchanged)."""
    if isinstance(module, Classifier):
        return module
    if not isinstance(module, nn.Module):
        raise InvalidValueError(f"expected a torch.nn.Module, got {type(module).__name__}; "
                                "a factory must return the model, not a tuple or a path")
    return Classifier(user_spec(module, size), module, (0.0,) * in_channels, (1.0,) * in_channels)


def from_factory(factory: Factory, size: str = "tiny", in_channels: int = 3) -> Classifier:
    """Call a user factory (`Callable[[], nn.Module]`) and wrap what it returns."""
    if not callable(factory) or isinstance(factory, nn.Module):
        raise InvalidValueError(f"a model factory must be a callable returning a fresh nn.Module, "
                                f"got {type(factory).__name__}")
    return wrap(factory(), size, in_channels)


def is_factory(obj: object) -> bool:
    """A callable that is not itself a module, a name or a spec (those are architectures)."""
    return callable(obj) and not isinstance(obj, (nn.Module, str, ArchSpec))
