"""Let a subpackage also be the function of the same name (`archrisk.train(...)`, `archrisk.report(...)`).

Importing `archrisk.train` binds the *module* to the attribute `archrisk.train`, shadowing any
function exported under that name; making the module callable keeps both spellings working.
"""
from __future__ import annotations

import sys
import types
from typing import Any, Callable


def make_callable(module_name: str, fn: Callable[..., Any]) -> None:
    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

    _CallableModule.__call__.__doc__ = fn.__doc__
    sys.modules[module_name].__class__ = _CallableModule
