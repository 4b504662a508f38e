"""The user's own `nn.Module`, wrapped so the trainer and the attacks treat it like a zoo network.

A user module maps inputs in [0, 1] to logits and normalises inside itself, so the wrapper's
normalisation is the identity ((x - 0) / 1 is exact in floating point). Its `ArchSpec` names the
class and carries a digest of the parameter and buffer shapes and, for a factory named as
`package.module:factory` (`NamedFactory`), of that name: cache keys separate different structures
and different factories. Code edited without changing either still hits the old checkpoints.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

from torch import nn

from archrisk.arch.zoo import ArchSpec, Classifier
from archrisk.errors import InvalidValueError

Factory = Callable[[], nn.Module]


@dataclass(frozen=True)
class NamedFactory:
    """A factory loaded from `package.module:factory` (`load_factory`): called like the factory,
    and its name enters the architecture's spec, so two factories never share a checkpoint."""

    ref: str  # package.module:factory
    fn: Factory

    def __call__(self) -> nn.Module:
        return self.fn()


def user_spec(module: nn.Module, size: str = "tiny", source: str | None = None) -> ArchSpec:
    """A spec for a module archrisk did not build: its class name and a digest of its tensor shapes
    (and of `source`, the factory's `package.module:factory` name, when known)."""
    if isinstance(module, Classifier):
        return module.spec
    h = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    if source is not None:
        h.update(f"factory:{source};".encode())
    for name, t in (*module.named_parameters(), *module.named_buffers()):
        h.update(f"{name}:{tuple(t.shape)};".encode())
    # kind "user" is what code checks; group "user" is only part of the spec's hash (job ids of studies of
    # user models), and studies store such models in the group 'custom' (runner/plan.py)
    return ArchSpec(name=f"user:{type(module).__name__}", kind="user", group="user", size=size,
                    family=h.hexdigest()[:16])


def wrap(module: nn.Module, size: str = "tiny", in_channels: int = 3, source: str | None = None) -> Classifier:
    """`module` as a Classifier with an identity normalisation (zoo models pass through unchanged),
    in the module's own train/eval mode."""
    if isinstance(module, Classifier):
        return module
    if not isinstance(module, nn.Module):
        raise InvalidValueError(f"expected a torch.nn.Module, got {type(module).__name__}; "
                                "a factory must return the model, not a tuple or a path")
    out = Classifier(user_spec(module, size, source), module, (0.0,) * in_channels, (1.0,) * in_channels)
    out.training = module.training  # the wrapper alone: module.train() would reset the user's submodules
    return out


def from_factory(factory: Factory, size: str = "tiny", in_channels: int = 3) -> Classifier:
    """Call a user factory (`Callable[[], nn.Module]`) and wrap what it returns."""
    if not callable(factory) or isinstance(factory, nn.Module):
        raise InvalidValueError(f"a model factory must be a callable returning a fresh nn.Module, "
                                f"got {type(factory).__name__}")
    return wrap(factory(), size, in_channels, factory.ref if isinstance(factory, NamedFactory) else None)


def is_factory(obj: object) -> bool:
    """A callable that is not itself a module, a name or a spec (those are architectures)."""
    return callable(obj) and not isinstance(obj, (nn.Module, str, ArchSpec))


def load_factory(ref: str, what: str = "--model") -> NamedFactory:
    """`package.module:factory` -> the callable. This IMPORTS AND RUNS the user's module (their own
    code, named explicitly): the same trust as `python -c 'import package.module'`. `what` names
    the argument in error messages (a CLI option or a study key)."""
    import importlib
    import sys

    mod_name, sep, attr = ref.partition(":")
    if not sep or not mod_name or not attr or not all(p.isidentifier() for p in (*mod_name.split("."), *attr.split("."))):
        raise InvalidValueError(f"{what} {ref!r} must look like package.module:factory")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # the current folder, as `python -m` does, so a local models.py is found
    try:
        obj = importlib.import_module(mod_name)
    except ImportError as e:
        raise InvalidValueError(f"{what} {ref!r}: cannot import {mod_name!r} ({e}); run from the folder "
                                "that holds it or add it to PYTHONPATH") from None
    except Exception as e:  # the user's module raised while it ran: say so on one line
        raise InvalidValueError(f"{what} {ref!r}: importing {mod_name!r} failed: "
                                f"{type(e).__name__}: {' '.join(str(e).split())[:200]}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidValueError(f"{what} {ref!r}: {mod_name!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    if not is_factory(obj):
        raise InvalidValueError(f"{what} {ref!r} is a {type(obj).__name__}, not a callable returning an nn.Module")
    return obj if isinstance(obj, NamedFactory) else NamedFactory(ref, obj)


def load_weights_file(module: nn.Module, path: str, what: str = "--weights") -> nn.Module:
    """Load a .safetensors state dict into `module` (strict: every key and shape must match); `what`
    names the argument in error messages."""
    from pathlib import Path

    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    if p.suffix != ".safetensors":
        raise InvalidValueError(f"{what} {path!r} must be a .safetensors file (pickled .pt files are not loaded)")
    if not p.is_file():
        raise InvalidValueError(f"{what} {path!r} does not exist")
    try:
        state = load_file(str(p))
    except (SafetensorError, OSError, ValueError) as e:
        raise InvalidValueError(f"{what} {path!r} is not a readable safetensors file ({e})") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = " ".join(line.strip() for line in str(e).splitlines()[:2])
        raise InvalidValueError(f"{what} {path!r} does not fit the model: {first[:300]}") from None
    return module
