"""Error types. The CLI maps every ArchriskError to exit code 2 and one line."""
from __future__ import annotations

import difflib
from typing import Iterable


class ArchriskError(Exception):
    """Base class: a user-facing problem with a message naming the bad value and the fix."""


def close_matches(value: object, options: Iterable[object], n: int = 3) -> list[str]:
    """Options that look like a near miss of `value` (a typo), best first."""
    return difflib.get_close_matches(str(value), [str(o) for o in options], n=n, cutoff=0.6)


class UnknownNameError(ArchriskError):
    """A name (architecture, dataset, attack, metric, preset...) is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        shown = ", ".join(self.known[:40]) + (" ..." if len(self.known) > 40 else "")
        near = [repr(c) for c in close_matches(name, self.known)]
        hint = f" (did you mean {' or '.join([', '.join(near[:-1]), near[-1]] if near[:-1] else near)}?)" if near else ""
        super().__init__(f"unknown {kind} {name!r}{hint}; choose one of: {shown}")


class InvalidValueError(ArchriskError):
    """A value is out of range or malformed (genotype string, eps < 0, fraction > 1, ...)."""


class StudyError(InvalidValueError):
    """A study file is malformed or names something that does not exist."""


class DuplicateNameError(InvalidValueError):
    """A registration reuses a name: silently replacing an entry would change what stored results mean."""

    def __init__(self, kind: str, name: str):
        self.kind, self.name = kind, name
        super().__init__(f"{kind} {name!r} is already registered; pick another name")


class DataError(ArchriskError):
    """Dataset files are missing, truncated or not in the expected format."""


class CheckpointError(ArchriskError):
    """A checkpoint does not match the architecture, or is corrupt."""


class DivergedError(ArchriskError):
    """Training produced a non-finite loss."""

    def __init__(self, epoch: int, step: int, loss: float):
        self.epoch, self.step, self.loss = epoch, step, loss
        super().__init__(
            f"training diverged: loss={loss} at epoch {epoch} step {step}; "
            "lower the learning rate or enable gradient clipping"
        )


class ResourceError(ArchriskError):
    """A request would exceed memory or a budget (e.g. NTK on too large a batch)."""
