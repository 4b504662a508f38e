"""Genotype -> genotype transforms: the study's two remedies, for any cell.

`deepen` rewires a cell so its intermediate nodes chain (ops kept, inputs changed): the study's
DARTS-i transform makes every node after the first read both of its inputs from the node before
it; `deepen(g, k)` stops that rewiring as soon as the depth has grown by exactly k.
`suppress_skips` replaces every skip connect with a parametric op (DARTS-ii). Both act on the
normal cell by default, leaving the reduction cell unchanged as the study did.

A remedy is named in a study or on the command line as an architecture string,
``remedy(darts_v2, deepen=1, no_skip=true)``: `arch/spec.py` parses it, `arch/zoo.py` resolves its
source and calls `apply` here, so this module only transforms genotypes.
"""
from __future__ import annotations

from dataclasses import replace

from archrisk.arch.genotype import PARAMETRIC, Edge, Genotype, cell_stats
from archrisk.errors import InvalidValueError

CELLS = ("normal", "reduce")
FULL = "full"  # deepen until every intermediate node lies on one chain


def check_cells(cells: tuple[str, ...] | str) -> tuple[str, ...]:
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
    for kind in check_cells(cells):
        changes[kind] = _deepen_cell(kind, getattr(genotype, kind), getattr(genotype, f"{kind}_concat"), k)
    return replace(genotype, **changes)  # replace() re-validates the cell


def suppress_skips(genotype: Genotype, op: str = "sep_conv_3x3",
                   cells: tuple[str, ...] | str = ("normal",)) -> Genotype:
    """Replace every skip connect in `cells` with the parametric `op`, wiring kept (DARTS-ii).
    Idempotent. (The study's stored DARTS-ii cell used dil_conv_3x3 for one of the two.)"""
    if op not in PARAMETRIC:
        raise InvalidValueError(f"skip replacement op must be parametric, one of {sorted(PARAMETRIC)}; got {op!r}")
    changes = {kind: tuple((op if o == "skip_connect" else o, i) for o, i in getattr(genotype, kind))
               for kind in check_cells(cells)}
    return replace(genotype, **changes)


_deepen = deepen  # `apply`'s keyword shadows the function of the same name


def apply(genotype: Genotype, *, deepen: int | str = 0, no_skip: bool = False, skip_op: str = "sep_conv_3x3",
          cells: tuple[str, ...] | str = ("normal",)) -> Genotype:
    """Both remedies as a remedy string names them: skips replaced by `skip_op` when `no_skip`,
    then `cells` deepened by `deepen` (the two commute: one changes ops, the other inputs)."""
    g = suppress_skips(genotype, skip_op, cells) if no_skip else genotype
    return _deepen(g, deepen, cells) if deepen != 0 else g
