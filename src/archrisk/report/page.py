"""The report's page model: sections of blocks holding text, figures and tables.

Tables keep raw values; the template formats them and `build` writes them as CSV (a table may
carry a separate long-format CSV when its display cells combine several numbers).
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    slug: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""
    csv_columns: list[str] | None = None  # when set, the CSV holds these instead of the display rows
    csv_rows: list[list[Any]] | None = None


@dataclass
class Fig:
    slug: str
    title: str
    png: bytes
    caption: str = ""

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Block:
    title: str
    text: list[str] = field(default_factory=list)
    figures: list[Fig] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    code: list[str] = field(default_factory=list)  # preformatted text (study files)


@dataclass
class Section:
    id: str
    title: str
    intro: str = ""
    blocks: list[Block] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what this section could not show, and why
    exploratory: bool = False  # set when the report cites a registered plan that does not cover it


def fmt(value: Any) -> str:
    """Display form of a table cell: 3 significant digits for floats, '-' for missing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def ci(value: float, lo: float, hi: float) -> str:
    """'0.82 [0.71, 0.90]' (no bracket when there is no interval)."""
    if not math.isfinite(value):
        return "-"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return fmt(value)
    return f"{fmt(value)} [{fmt(lo)}, {fmt(hi)}]"
