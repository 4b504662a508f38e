"""Genotype -> genotype transforms: the study's two remedies, for any cell.

`deepen` rewires a cell so its intermediate nodes chain (ops kept, inputs changed): the study's
DARTS-i transform makes every node after the first read both of its inputs from the node before
it; `deepen(g, k)` stops that rewiring as soon as the depth has grown by exactly k.
`suppress_skips` replaces every skip connect with a parametric op (DARTS-ii). Both act on the
normal cell by default, leaving the reduction cell unchanged as the study did.

A remedy is named in a study or on the command line as an architecture string,
``remedy(darts_v2, deepen=1, no_skip=true)`` (see `RemedySpec.parse`; parsed, never evaluated),
which `archrisk.arch.resolve` turns into a spec of group 'remedy'.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from archrisk.arch.genotype import PARAMETRIC, Edge, Genotype, cell_stats
from archrisk.errors import InvalidValueError

CELLS = ("normal", "reduce")
FULL = "full"  # deepen until every intermediate node lies on one chain


def _cells(cells: tuple[str, ...] | str) -> tuple[str, ...]:
    cells = (cells,) if isinstance(cells, str) else tuple(cells)
    if not cells or any(c not in CELLS for c in cells):
        raise InvalidValueError(f"cells must be a subset of {CELLS}, got {cells!r}")
    return cells


def _chain(edges: tuple[Edge, ...], m: int, p: int) -> tuple[Edge, ...]:
    """Nodes 1..m-1 read both inputs from the node before them; node m reads both from input p."""
    out = list(edges)
    for j in range(1, m + 1):
        src = j + 1 if j < m else p  # input index of node j-1 is j+1
        out[2 * j] = (out[2 * j][0], src)
        out[2 * j + 1] = (out[2 * j + 1][0], src)
    return tuple(out)


def _deepen_cell(kind: str, edges: tuple[Edge, ...], concat: tuple[int, ...], k: int | str) -> tuple[Edge, ...]:
    steps = len(edges) // 2
    if k == FULL:
        return _chain(edges, steps - 1, steps) if steps > 1 else edges
    depth = cell_stats(edges, concat).depth
    if k == 0:
        return edges
    target = depth + k
    # Candidates in order of how much they rewire: chain a longer prefix only when a shorter one
    # cannot reach the target; within a prefix, the study's chain (p = m + 1) comes first and
    # shorter links only to avoid overshooting when later nodes read the rewired one.
    reached = set()
    for m in range(1, steps):
        for p in range(m + 1, 1, -1):
            cand = _chain(edges, m, p)
            d = cell_stats(cand, concat).depth
            if d == target:
                return cand
            reached.add(d)
    raise InvalidValueError(
        f"cannot deepen the {kind} cell by {k}: its depth is {depth} and rewiring reaches only "
        f"{sorted(reached | {depth})} (at most {steps}, the number of nodes); use a smaller deepen "
        f"or deepen={FULL!r}")


def deepen(genotype: Genotype, k: int | str = FULL, cells: tuple[str, ...] | str = ("normal",)) -> Genotype:
    """Rewire `cells` so their depth grows by exactly `k` (ops unchanged); `k='full'` chains every
    node, the study's DARTS-i transform (`deepen(darts_v2) == darts_i`), and is idempotent."""
    if not (k == FULL or (isinstance(k, int) and not isinstance(k, bool) and k >= 0)):
        raise InvalidValueError(f"deepen must be a non-negative integer or {FULL!r}, got {k!r}")
    changes = {}
    for kind in _cells(cells):
        changes[kind] = _deepen_cell(kind, getattr(genotype, kind), getattr(genotype, f"{kind}_concat"), k)
    return replace(genotype, **changes)  # replace() re-validates the cell


def suppress_skips(genotype: Genotype, op: str = "sep_conv_3x3",
                   cells: tuple[str, ...] | str = ("normal",)) -> Genotype:
    """Replace every skip connect in `cells` with the parametric `op`, wiring kept (DARTS-ii).
    Idempotent. (The study's stored DARTS-ii cell used dil_conv_3x3 for one of the two.)"""
    if op not in PARAMETRIC:
        raise InvalidValueError(f"skip replacement op must be parametric, one of {sorted(PARAMETRIC)}; got {op!r}")
    changes = {kind: tuple((op if o == "skip_connect" else o, i) for o, i in getattr(genotype, kind))
               for kind in _cells(cells)}
    return replace(genotype, **changes)


# -- naming remedies in studies ---------------------------------------------------------------
@dataclass(frozen=True)
class RemedySpec:
    """`remedy(<source arch>, deepen=<int|full>, no_skip=<bool>, skip_op=<op>, cells=<normal|reduce|both>)`."""

    source: str  # any cell architecture string: a name, random(k), a genotype, another remedy(...)
    deepen: int | str = 0
    no_skip: bool = False
    skip_op: str = "sep_conv_3x3"
    cells: tuple[str, ...] = ("normal",)

    def apply(self, genotype: Genotype) -> Genotype:
        # skips first, then rewiring: the two commute (one changes ops, the other inputs)
        g = suppress_skips(genotype, self.skip_op, self.cells) if self.no_skip else genotype
        return deepen(g, self.deepen, self.cells) if self.deepen != 0 else g

    @property
    def name(self) -> str:
        """Canonical string: equal specs give equal names (it is the arch name in results)."""
        parts = [self.source]
        if self.deepen != 0:
            parts.append(f"deepen={self.deepen}")
        if self.no_skip:
            parts.append("no_skip=true")
            if self.skip_op != "sep_conv_3x3":
                parts.append(f"skip_op={self.skip_op}")
        if self.cells != ("normal",):
            parts.append("cells=" + ("both" if len(self.cells) == 2 else self.cells[0]))
        return "remedy(" + ", ".join(parts) + ")"

    @classmethod
    def parse(cls, text: str) -> RemedySpec:
        text = text.strip()
        if not (text.startswith("remedy(") and text.endswith(")")):
            raise InvalidValueError(f"a remedy looks like remedy(darts_v2, deepen=1, no_skip=true), got {text!r}")
        args = _split_top_level(text[len("remedy("):-1])
        if not args or not args[0] or "=" in args[0].split("(")[0]:
            raise InvalidValueError(f"remedy needs a source architecture first, e.g. remedy(darts_v2, deepen=1); got {text!r}")
        kw: dict = {}
        for item in args[1:]:
            key, sep, value = (s.strip() for s in item.partition("="))
            if not sep or key not in _FIELDS:
                raise InvalidValueError(f"remedy option {item!r} is not one of {sorted(_FIELDS)} given as key=value")
            if key in kw:
                raise InvalidValueError(f"remedy option {key!r} is given twice in {text!r}")
            kw[key] = _FIELDS[key](value)
        spec = cls(args[0], **kw)
        if spec.deepen == 0 and not spec.no_skip:
            raise InvalidValueError(f"remedy {text!r} changes nothing; give deepen=<k|full> and/or no_skip=true")
        return spec


def _deepen_value(v: str) -> int | str:
    if v == FULL:
        return FULL
    if re.fullmatch(r"\d{1,3}", v):
        return int(v)
    raise InvalidValueError(f"deepen must be a non-negative integer or {FULL!r}, got {v!r}")


def _bool_value(v: str) -> bool:
    if v.lower() in ("true", "1", "yes"):
        return True
    if v.lower() in ("false", "0", "no"):
        return False
    raise InvalidValueError(f"no_skip must be true or false, got {v!r}")


def _op_value(v: str) -> str:
    if v not in PARAMETRIC:
        raise InvalidValueError(f"skip_op must be one of {sorted(PARAMETRIC)}, got {v!r}")
    return v


def _cells_value(v: str) -> tuple[str, ...]:
    if v == "both":
        return CELLS
    return _cells(v)


_FIELDS = {"deepen": _deepen_value, "no_skip": _bool_value, "skip_op": _op_value, "cells": _cells_value}


def _split_top_level(s: str) -> list[str]:
    """Split on commas outside brackets/quotes, so a genotype or nested remedy may be the source."""
    parts, depth, cur, quote = [], 0, [], ""
    for ch in s:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise InvalidValueError(f"unbalanced brackets in remedy arguments {s!r}")
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if depth or quote:
        raise InvalidValueError(f"unbalanced brackets or quotes in remedy arguments {s!r}")
    parts.append("".join(cur).strip())
    return parts


def resolve_remedy(text: str, size: str = "tiny"):
    """`remedy(...)` -> ArchSpec of group 'remedy' (called by `archrisk.arch.resolve`)."""
    from archrisk.arch.zoo import ArchSpec, get_size, resolve  # zoo imports this module lazily

    spec = RemedySpec.parse(text)
    src = resolve(spec.source, size)
    if src.kind != "cell" or src.genotype is None:
        raise InvalidValueError(f"remedies rewire cells; {spec.source!r} is a hand-designed network")
    preset = get_size(size)
    return ArchSpec(spec.name, "cell", "remedy", size, spec.apply(src.genotype), preset.C, preset.layers)
