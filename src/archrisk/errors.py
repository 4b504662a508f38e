"""Error types. The CLI maps every ArchriskError to exit code 2 and one line."""
from __future__ import annotations


class ArchriskError(Exception):
    """Base class: a user-facing problem with a message naming the bad value and the fix."""


class UnknownNameError(ArchriskError):
    """A name (architecture, dataset, attack, metric, preset...) is not registered."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        shown = ", ".join(self.known[:40]) + (" ..." if len(self.known) > 40 else "")
        super().__init__(f"unknown {kind} {name!r}; choose one of: {shown}")


class InvalidValueError(ArchriskError):
    """A value is out of range or malformed (genotype string, eps < 0, fraction > 1, ...)."""


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
