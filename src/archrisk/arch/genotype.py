"""Genotype: a cell architecture as a value object.

A cell has two inputs (index 0 = output of the cell two back, 1 = previous cell) and `steps`
intermediate nodes; node k (index k + 2) sums two edges, each an (op, input index) pair with
input index < k + 2. The cell output concatenates the nodes listed in `*_concat`.

Strings in the DARTS syntax ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3],
reduce=[...], reduce_concat=range(2, 6))`` and JSON objects with the same four keys are parsed by
walking the syntax tree: nothing is ever evaluated.
"""
from __future__ import annotations

import ast
import hashlib
import json
import random as _random
from dataclasses import dataclass

from archrisk.errors import InvalidValueError

# Every op name a genotype may use. ops.py maps each to a Module (a test checks they agree).
PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "conv_7x1_1x7",
)
# The DARTS search space (what `random_genotype` and the search sample from), 'none' excluded.
DARTS_SPACE: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
PARAMETRIC = frozenset({"sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "dil_conv_3x3",
                        "dil_conv_5x5", "conv_7x1_1x7"})
_KEYS = ("normal", "normal_concat", "reduce", "reduce_concat")

Edge = tuple[str, int]


@dataclass(frozen=True)
class CellStats:
    """Structure of one cell (see `cell_stats` for the definitions)."""

    steps: int  # intermediate nodes
    depth: int  # intermediate nodes on the longest input->output chain
    width: int  # intermediate nodes fed directly by a cell input
    skips: int  # skip_connect edges
    parametric: int  # edges carrying a convolution
    pooling: int  # edges carrying a pooling op


@dataclass(frozen=True)
class Genotype:
    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for kind in ("normal", "reduce"):
            _validate_cell(kind, getattr(self, kind), getattr(self, f"{kind}_concat"))

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict) -> Genotype:
        if not isinstance(d, dict):
            raise InvalidValueError(f"genotype must be an object with keys {_KEYS}, got {type(d).__name__}")
        unknown = set(d) - set(_KEYS)
        missing = set(_KEYS) - set(d)
        if unknown or missing:
            raise InvalidValueError(
                f"genotype keys must be exactly {list(_KEYS)}; "
                f"unknown: {sorted(unknown)}, missing: {sorted(missing)}"
            )
        return cls(
            normal=_edges("normal", d["normal"]),
            normal_concat=_ints("normal_concat", d["normal_concat"]),
            reduce=_edges("reduce", d["reduce"]),
            reduce_concat=_ints("reduce_concat", d["reduce_concat"]),
        )

    @classmethod
    def parse(cls, text: str) -> Genotype:
        """Parse the DARTS `Genotype(...)` syntax or a JSON object; never evaluates code."""
        text = text.strip()
        if len(text) > MAX_TEXT:
            raise InvalidValueError(f"genotype string has {len(text):,} characters; at most {MAX_TEXT:,} "
                                    f"({MAX_NODES} nodes per cell) are supported")
        if text.startswith("{"):
            try:
                return cls.from_dict(json.loads(text))
            except json.JSONDecodeError as e:
                raise InvalidValueError(f"genotype JSON is malformed: {e}") from None
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as e:
            raise InvalidValueError(f"genotype string is not valid syntax: {e.msg} at column {e.offset}") from None
        call = tree.body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
            raise InvalidValueError("genotype string must look like Genotype(normal=[...], normal_concat=[...], "
                                    "reduce=[...], reduce_concat=[...]) or be a JSON object")
        if call.args:
            raise InvalidValueError("genotype fields must be given as keywords (normal=..., reduce=...)")
        return cls.from_dict({kw.arg: _literal(kw.value, kw.arg) for kw in call.keywords})

    # -- rendering ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "normal": [list(e) for e in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(e) for e in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    def format(self) -> str:
        """The DARTS syntax; `Genotype.parse(g.format()) == g`."""
        def edges(es: tuple[Edge, ...]) -> str:
            return "[" + ", ".join(f"('{op}', {i})" for op, i in es) + "]"

        return (f"Genotype(normal={edges(self.normal)}, normal_concat={list(self.normal_concat)}, "
                f"reduce={edges(self.reduce)}, reduce_concat={list(self.reduce_concat)})")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        """Content hash (16 hex digits) of the canonical JSON form."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    # -- structure ----------------------------------------------------------------------
    def stats(self, cell: str = "normal") -> CellStats:
        if cell not in ("normal", "reduce"):
            raise InvalidValueError(f"cell must be 'normal' or 'reduce', got {cell!r}")
        return cell_stats(getattr(self, cell), getattr(self, f"{cell}_concat"))

    def draw(self, cell: str = "normal") -> str:
        """A text drawing of one cell: one line per node with its two inputs."""
        edges = getattr(self, cell)
        concat = getattr(self, f"{cell}_concat")
        name = {0: "c_{k-2}", 1: "c_{k-1}"}
        lines = [f"{cell} cell"]
        for k in range(len(edges) // 2):
            a, b = edges[2 * k], edges[2 * k + 1]
            srcs = [f"{op}({name.get(i, f'n{i - 2}')})" for op, i in (a, b)]
            lines.append(f"  n{k} = " + " + ".join(srcs))
        lines.append("  out = concat(" + ", ".join(name.get(i, f"n{i - 2}") for i in concat) + ")")
        return "\n".join(lines)


def cell_stats(edges: tuple[Edge, ...], concat: tuple[int, ...]) -> CellStats:
    """depth: the longest chain of intermediate nodes from a cell input to the output (a node
    fed only by cell inputs has depth 1); width: intermediate nodes with an edge from a cell
    input (how many parallel paths start at the input); 'none' edges are not connections."""
    steps = len(edges) // 2
    depth = [0, 0]
    width = 0
    for k in range(steps):
        ins = [i for op, i in edges[2 * k: 2 * k + 2] if op != "none"]
        depth.append(1 + max((depth[i] for i in ins), default=0))
        width += any(i < 2 for i in ins)
    ops = [op for op, _ in edges]
    return CellStats(
        steps=steps,
        depth=max((depth[i] for i in concat), default=0),
        width=width,
        skips=ops.count("skip_connect"),
        parametric=sum(op in PARAMETRIC for op in ops),
        pooling=sum(op.endswith("pool_3x3") for op in ops),
    )


def random_genotype(seed: int, steps: int = 4, space: tuple[str, ...] = DARTS_SPACE) -> Genotype:
    """Sample a cell from the DARTS space as random search does: each node picks two distinct
    inputs among its predecessors and an op for each; every node is concatenated."""
    rng = _random.Random(seed)

    def cell() -> tuple[Edge, ...]:
        out: list[Edge] = []
        for k in range(steps):
            for i in sorted(rng.sample(range(k + 2), 2)):
                out.append((rng.choice(space), i))
        return tuple(out)

    concat = tuple(range(2, steps + 2))
    return Genotype(cell(), concat, cell(), concat)


# -- validation helpers ---------------------------------------------------------------------
# Published cells have 4 intermediate nodes; remedies deepen them a little. Thousands of nodes would
# take minutes to draw and build (and memory to run), so such a genotype is refused up front.
MAX_NODES = 64
MAX_TEXT = 20_000  # characters of a genotype string, checked before parsing it


def _validate_cell(kind: str, edges: tuple[Edge, ...], concat: tuple[int, ...]) -> None:
    if not edges or len(edges) % 2:
        raise InvalidValueError(f"{kind} cell needs two edges per node, got {len(edges)} edges")
    steps = len(edges) // 2
    if steps > MAX_NODES:
        raise InvalidValueError(f"{kind} cell has {steps} nodes; at most {MAX_NODES} are supported")
    for n, (op, i) in enumerate(edges):
        if op not in PRIMITIVES:
            raise InvalidValueError(f"unknown op {op!r} in {kind} cell; valid ops: {', '.join(PRIMITIVES)}")
        node = n // 2
        if not 0 <= i < node + 2:
            raise InvalidValueError(
                f"{kind} cell node {node} reads input {i}, but only 0..{node + 1} exist before it")
    if not concat:
        raise InvalidValueError(f"{kind}_concat is empty; list the nodes to concatenate, e.g. [2, 3, 4, 5]")
    for i in concat:
        if not 2 <= i < steps + 2:
            raise InvalidValueError(f"{kind}_concat index {i} out of range 2..{steps + 1}")
    if len(set(concat)) != len(concat):
        raise InvalidValueError(f"{kind}_concat repeats a node: {list(concat)}")


def _edges(kind: str, value) -> tuple[Edge, ...]:
    if not isinstance(value, (list, tuple)):
        raise InvalidValueError(f"{kind} must be a list of (op, input) pairs")
    out = []
    for e in value:
        if not (isinstance(e, (list, tuple)) and len(e) == 2 and isinstance(e[0], str)
                and isinstance(e[1], int) and not isinstance(e[1], bool)):
            raise InvalidValueError(f"{kind} edge {e!r} must be an (op name, input index) pair")
        out.append((e[0], e[1]))
    return tuple(out)


def _ints(kind: str, value) -> tuple[int, ...]:
    if not (isinstance(value, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool)
                                                     for i in value)):
        raise InvalidValueError(f"{kind} must be a list of node indices, got {value!r}")
    return tuple(value)


def _literal(node: ast.AST, field: str | None):
    """Literal lists/tuples of str/int, plus `range(a, b)` (the DARTS files use it for concat)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e, field) for e in node.elts]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords and 1 <= len(node.args) <= 2):
        bounds = [_literal(a, field) for a in node.args]
        if all(isinstance(b, int) for b in bounds):
            return list(range(*bounds))
    raise InvalidValueError(f"genotype field {field!r} holds something other than literal pairs/indices")
