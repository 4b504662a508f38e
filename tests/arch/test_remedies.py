"""Remedies: exact depth/skip changes, the study's DARTS-i/ii/iii cells reproduced, idempotence,
remedy arch strings, and bad input (exit 2 on the command line)."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from archrisk.arch import build, resolve
from archrisk.arch.genotype import Genotype, random_genotype
from archrisk.arch.genotypes import GENOTYPES
from archrisk.arch.remedies import deepen, suppress_skips
from archrisk.arch.spec import RemedySpec
from archrisk.errors import InvalidValueError

G = {name: Genotype.from_dict(d) for name, d in GENOTYPES.items()}


def test_full_deepen_is_the_studys_darts_i_transform() -> None:
    assert deepen(G["darts_v2"]) == G["darts_i"]
    assert deepen(G["darts_v2"], 2) == G["darts_i"]  # depth 2 -> 4: same cell
    assert deepen(G["darts_ii"]) == G["darts_iii"]  # both remedies commute into DARTS-iii
    assert deepen(G["darts_v2"]).reduce == G["darts_v2"].reduce  # reduction cell untouched


def test_suppress_skips_matches_darts_ii_up_to_the_stored_cells_one_deviation() -> None:
    out = suppress_skips(G["darts_v2"])
    assert out.stats().skips == 0 and out.stats().parametric == 8
    diff = [(a, b) for a, b in zip(out.normal, G["darts_ii"].normal) if a != b]
    # the stored DARTS-ii replaced its last-node skip by dil_conv_3x3 (see genotypes.py)
    assert diff == [(("sep_conv_3x3", 0), ("dil_conv_3x3", 0))]
    assert [i for _, i in out.normal] == [i for _, i in G["darts_v2"].normal]  # wiring kept
    assert suppress_skips(G["darts_v2"], cells="reduce").reduce.count(("skip_connect", 2)) == 0


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6), st.integers(0, 5))
def test_deepen_grows_depth_exactly_and_keeps_ops(seed: int, steps: int, k: int) -> None:
    g = random_genotype(seed, steps=steps)
    d = g.stats().depth
    if d + k > steps:
        with pytest.raises(InvalidValueError):
            deepen(g, k)
        return
    out = deepen(g, k)
    assert out.stats().depth == d + k
    assert [op for op, _ in out.normal] == [op for op, _ in g.normal]
    assert out.reduce == g.reduce and out.normal_concat == g.normal_concat
    assert Genotype.parse(out.format()) == out  # still a valid genotype
    full = deepen(g)
    assert full.stats().depth == steps and deepen(full) == full  # full chain: idempotent
    assert deepen(g, 0) == g


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_suppress_skips_is_idempotent_and_commutes_with_deepen(seed: int) -> None:
    g = random_genotype(seed)
    once = suppress_skips(g, "dil_conv_5x5", cells=("normal", "reduce"))
    assert once.stats("normal").skips == 0 and once.stats("reduce").skips == 0
    assert suppress_skips(once, "dil_conv_5x5", cells=("normal", "reduce")) == once
    n_skip = g.stats().skips
    assert once.stats().parametric == g.stats().parametric + n_skip
    assert suppress_skips(deepen(g)) == deepen(suppress_skips(g))


def test_remedy_arch_string_resolves_and_builds() -> None:
    spec = resolve("remedy( darts_v2 , no_skip=true,deepen=1)")
    assert spec.name == "remedy(darts_v2, deepen=1, no_skip=true)" and spec.group == "remedy"
    assert (spec.genotype.stats().depth, spec.genotype.stats().skips) == (3, 0)
    assert resolve("remedy(darts_v2, deepen=full, no_skip=true)").genotype.normal == (
        deepen(suppress_skips(G["darts_v2"])).normal)
    nested = resolve("remedy(remedy(darts_v2, no_skip=true), deepen=full)")
    assert nested.genotype == deepen(suppress_skips(G["darts_v2"]))
    src = G["pdarts"].format()
    assert resolve(f"remedy({src}, no_skip=true)").genotype.stats().skips == 0
    model = build(spec.name, num_classes=3, in_channels=1)
    assert model(torch.rand(2, 1, 12, 12)).shape == (2, 3)
    assert RemedySpec.parse(spec.name).name == spec.name  # canonical name round trips


@pytest.mark.parametrize("bad", [
    "remedy(darts_v2)",  # changes nothing
    "remedy(darts_v2, deepen=-1)",
    "remedy(darts_v2, deepen=9)",  # beyond the node count
    "remedy(darts_i, deepen=1)",  # already a chain
    "remedy(darts_v2, no_skip=maybe)",
    "remedy(darts_v2, no_skip=true, skip_op=skip_connect)",
    "remedy(darts_v2, widen=2)",
    "remedy(darts_v2, deepen=1, deepen=2)",
    "remedy(resnet18, no_skip=true)",
    "remedy(deepen=1)",
    "remedy(darts_v2, deepen=__import__('os'))",
    "remedy(darts_v2, deepen=(1)",
])
def test_bad_remedies_raise(bad: str) -> None:
    with pytest.raises(InvalidValueError):
        resolve(bad)


def test_cli_remedy_prints_genotype_and_stats(capsys) -> None:
    from archrisk.cli import main

    assert main(["remedy", "darts_v2", "--deepen", "1", "--no-skip", "--json"]) == 0
    import json

    rec = json.loads(capsys.readouterr().out)
    assert rec["arch"] == "remedy(darts_v2, deepen=1, no_skip=true)"
    assert rec["stats"]["remedied.normal"]["depth"] == 3 and rec["stats"]["remedied.normal"]["skips"] == 0
    assert rec["stats"]["source.normal"]["depth"] == 2
    assert Genotype.from_dict(rec["genotype"]) == resolve(rec["arch"]).genotype
    assert main(["remedy", "darts_v2", "--no-skip"]) == 0
    assert "skip" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["darts_i", "--deepen", "1"], ["darts_v2", "--no-skip", "--skip-op", "none"],
                                  ["vgg13_bn", "--no-skip"], ["darts_v2", "--deepen", "x"]])
def test_cli_remedy_bad_input_exit_2(args: list[str], capsys) -> None:
    from archrisk.cli import main

    assert main(["remedy", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
