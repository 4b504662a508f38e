"""One registry type for every name -> entry table (architectures, attacks, datasets, metrics,
search penalties, claims), so the same mistake gets the same error everywhere: an unknown name
raises `UnknownNameError` (one line, with near misses), a reused name `DuplicateNameError`.

A registry reads like a dict (`name in reg`, `reg[name]`, iteration, `len`) in registration order;
writes go through `register`, never item assignment, so the duplicate check cannot be bypassed.

    ATTACKS: Registry[type[Attack]] = Registry("attack")
    ATTACKS.register("pgd", PGD)          # or, as a decorator: @ATTACKS.register("pgd")
    ATTACKS.get("pgdd")                   # UnknownNameError: unknown attack 'pgdd'; did you mean 'pgd'? ...
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar, overload

from archrisk.errors import DuplicateNameError, UnknownNameError

T = TypeVar("T")
_MISSING: Any = object()


class Registry(Mapping[str, T], Generic[T]):
    """Names (strings) to entries, in registration order."""

    def __init__(self, kind: str):
        self.kind = kind  # what a name names, for messages: "attack", "dataset", "search penalty"
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, entry: T) -> T: ...

    def register(self, name: str, entry: T = _MISSING) -> T | Callable[[T], T]:
        """Add `entry` under `name` and return it; without `entry`, a decorator doing the same."""
        if entry is _MISSING:
            return lambda e: self.register(name, e)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise DuplicateNameError(self.kind, name)
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove `name` if present (tests that register their own entries clean up with this)."""
        self._entries.pop(name, None)

    def get(self, name: str, default: Any = _MISSING) -> T:
        """The entry under `name`; an unknown name raises UnknownNameError unless a default is given."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable "name" is unknown too
            if default is not _MISSING:
                return default
            raise UnknownNameError(self.kind, name, self._entries) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def filter(self, pattern: str | None = None) -> dict[str, T]:
        """The entries whose names match a shell-style pattern (`darts*`); None: all of them."""
        return {n: e for n, e in self._entries.items() if pattern is None or fnmatch.fnmatch(n, pattern)}

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"
