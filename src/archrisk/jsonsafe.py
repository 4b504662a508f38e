"""Strict JSON: NaN and infinities become null (standard JSON has neither; readers such as jq
reject them). Readers of archrisk's files turn null back into NaN where a number is expected."""
from __future__ import annotations

import json
import math
from typing import Any


def finite(o: Any) -> Any:
    """`o` with every non-finite float (at any depth of dicts, lists and tuples) replaced by None."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite(v) for v in o]
    return o


def dumps(o: Any, **kwargs) -> str:
    return json.dumps(finite(o), allow_nan=False, **kwargs)
