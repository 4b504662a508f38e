"""Genotype parse/format round trips (property-based), structure stats, and malformed input."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archrisk.arch.genotype import PRIMITIVES, Genotype, random_genotype
from archrisk.arch.genotypes import GENOTYPES
from archrisk.errors import InvalidValueError

OPS = [p for p in PRIMITIVES if p != "none"]


@st.composite
def cells(draw):
    steps = draw(st.integers(1, 5))
    edges = []
    for node in range(steps):
        for _ in range(2):
            edges.append((draw(st.sampled_from(OPS)), draw(st.integers(0, node + 1))))
    concat = draw(st.lists(st.integers(2, steps + 1), min_size=1, max_size=steps, unique=True))
    return tuple(edges), tuple(sorted(concat))


@st.composite
def genotypes(draw):
    (n, nc), (r, rc) = draw(cells()), draw(cells())
    return Genotype(n, nc, r, rc)


@settings(max_examples=150, deadline=None)
@given(genotypes())
def test_format_parse_round_trip(g: Genotype) -> None:
    assert Genotype.parse(g.format()) == g
    assert Genotype.parse(g.to_json()) == g
    assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    assert Genotype.parse(g.format()).hash() == g.hash()


@settings(max_examples=100, deadline=None)
@given(genotypes(), st.integers(0, 3), st.sampled_from(["op", "index", "arity"]))
def test_malformed_genotypes_are_rejected(g: Genotype, which: int, how: str) -> None:
    d = g.to_dict()
    k = which % len(d["normal"])
    if how == "op":
        d["normal"][k][0] = "conv_13x13"
    elif how == "index":
        d["normal"][k][1] = k // 2 + 2  # a node may only read earlier nodes
    else:
        d["normal"] = d["normal"][:-1]  # odd number of edges: a node with one input
    with pytest.raises(InvalidValueError):
        Genotype.from_dict(d)
    with pytest.raises(InvalidValueError):
        Genotype.parse(json.dumps(d))


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo pwned')",
    "Genotype(normal=__import__('os').listdir('.'), normal_concat=[2], reduce=[], reduce_concat=[2])",
    "Genotype(normal=[('skip_connect', 0)] * 2, normal_concat=[2], reduce=[], reduce_concat=[2])",
    "Genotype(",
    "{not json",
    "Genotype([('skip_connect', 0), ('skip_connect', 1)], [2], [], [2])",
])
def test_code_and_garbage_never_evaluated(text: str) -> None:
    with pytest.raises(InvalidValueError):
        Genotype.parse(text)


def test_darts_syntax_with_range_parses() -> None:
    text = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), "
            "('sep_conv_3x3', 1)], normal_concat=range(2, 4), reduce=[('max_pool_3x3', 0), "
            "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 4))")
    g = Genotype.parse(text)
    assert g.normal_concat == (2, 3) and g.stats("normal").skips == 1


# Normal-cell depth and skip count reported by the study (shared/reference/paper.md).
STUDY_STATS = {"amoebanet": (3, 2), "darts_v2": (2, 2), "drnas": (3, 1), "enas": (1, 2), "nasnet": (1, 2),
               "pc_darts": (1, 1), "pdarts": (3, 2), "sgas": (2, 1), "snas_mild": (1, 4), "random": (3, 2),
               "darts_i": (4, 2), "darts_ii": (2, 0), "darts_iii": (4, 0)}


@pytest.mark.parametrize("name,expected", sorted(STUDY_STATS.items()))
def test_cell_stats_match_the_study(name: str, expected: tuple[int, int]) -> None:
    s = Genotype.from_dict(GENOTYPES[name]).stats("normal")
    assert (s.depth, s.skips) == expected


def test_random_genotype_is_valid_and_seeded() -> None:
    assert random_genotype(3) == random_genotype(3)
    assert len({random_genotype(i).hash() for i in range(20)}) == 20
