"""The architecture-string grammar: every form parses to its typed value and back, bad strings fail
on one line naming the bad part, and every string resolves to the spec (name, genotype, hash) the
first grammar gave it (pinned below: those hashes key stored results and checkpoints)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archrisk.arch import resolve
from archrisk.arch.genotype import PARAMETRIC, Genotype, random_genotype
from archrisk.arch.genotypes import GENOTYPES
from archrisk.arch.remedies import apply, deepen, suppress_skips
from archrisk.arch.spec import CustomCell, Named, RandomCell, RemedySpec, Widened, parse
from archrisk.errors import ArchriskError, InvalidValueError, UnknownNameError

G = {name: Genotype.from_dict({k: d[k] for k in ("normal", "normal_concat", "reduce", "reduce_concat")})
     for name, d in GENOTYPES.items()}
G_TEXT, G_JSON = G["pdarts"].format(), G["pdarts"].to_json()

# (string, spec name, spec hash at tiny, genotype hash): computed by the previous parser
# (regexes in zoo.py and a bracket tokenizer in remedies.py) before the grammar moved to spec.py.
PINNED = [
    ("darts_v2", "darts_v2", "93e924d0ce87c596", "75f8a66573116494"),
    ("resnet18", "resnet18", "61bc7b1f2340fff7", None),
    ("random", "random", "2a554697fff810c7", "0f640b65976377db"),
    ("random(7)", "random(7)", "29ab27c17e6066aa", "b7594e31737e30e0"),
    ("random(007)", "random(007)", "c4f9ce5e44609db9", "b7594e31737e30e0"),  # named as written
    (" random(123456789) ", "random(123456789)", "1c4aef0b9ae3f1fa", "e3b5877efb276e6c"),
    ("resnet18(width=0.0664)", "resnet18", "d386f3660fa4927c", None),
    ("vgg13_bn(width=1e-05)", "vgg13_bn", "b505d494cb4d5da1", None),
    ("resnet18(width=2.)", "resnet18", "67b83323e608460f", None),
    (G_TEXT, "custom-936c50b4af45ffc0", "f474b18ac89e6009", "936c50b4af45ffc0"),
    (G_JSON, "custom-936c50b4af45ffc0", "f474b18ac89e6009", "936c50b4af45ffc0"),
    ("remedy(darts_v2, deepen=1)", "remedy(darts_v2, deepen=1)", "e73cd5e074635180", "b903f0d69895edac"),
    ("remedy(darts_v2, deepen=full)", "remedy(darts_v2, deepen=full)", "c903c8829cfe609c", "8aa97d1cebf60d99"),
    ("remedy(darts_v2, no_skip=true)", "remedy(darts_v2, no_skip=true)", "6a76c5216d948bdb", "1e72f19b8671df40"),
    ("remedy(darts_v2, deepen=1, no_skip=true)", "remedy(darts_v2, deepen=1, no_skip=true)",
     "9819e0c77b154fbe", "edd1de7eaca8bbd2"),
    ("remedy( darts_v2 , no_skip=true,deepen=1)", "remedy(darts_v2, deepen=1, no_skip=true)",
     "9819e0c77b154fbe", "edd1de7eaca8bbd2"),
    ("remedy(darts_v2, no_skip=yes, skip_op=dil_conv_5x5)", "remedy(darts_v2, no_skip=true, skip_op=dil_conv_5x5)",
     "663470777181c8d4", "fd3cb7336174314a"),
    ("remedy(darts_v2, no_skip=True, cells=both)", "remedy(darts_v2, no_skip=true, cells=both)",
     "7fb60b8f3417328d", "47d48ed11d58f67f"),
    ("remedy(darts_v2, deepen=1, cells=reduce)", "remedy(darts_v2, deepen=1, cells=reduce)",
     "db63def8e2b86ee5", "03c667a30d2712da"),
    ("remedy(darts_v2, no_skip=1, skip_op=sep_conv_3x3)", "remedy(darts_v2, no_skip=true)",
     "6a76c5216d948bdb", "1e72f19b8671df40"),
    ("remedy(random(3), deepen=full)", "remedy(random(3), deepen=full)", "ffe053c6f83c1d45", "b18d302308f9778d"),
    ("remedy(remedy(darts_v2, no_skip=true), deepen=full)", "remedy(remedy(darts_v2, no_skip=true), deepen=full)",
     "07fba6c8515022e5", "8ca6df4149a55a16"),
    # a remedy's source enters its name as written (so its hash), nested remedies included
    ("remedy(remedy( darts_v2 , no_skip=true), deepen=full)", "remedy(remedy( darts_v2 , no_skip=true), deepen=full)",
     "2900c51d926b2eb4", "8ca6df4149a55a16"),
    ("remedy(darts_v2, deepen=0, no_skip=TRUE)", "remedy(darts_v2, no_skip=true)",
     "6a76c5216d948bdb", "1e72f19b8671df40"),
    ("remedy(nasnet, deepen=2, cells=normal)", "remedy(nasnet, deepen=2)", "ee0eb15a01fd0321", "20f551bbdc1c2e9c"),
    ("remedy(snas_mild, no_skip=true, deepen=full, cells=both)",
     "remedy(snas_mild, deepen=full, no_skip=true, cells=both)", "82e6c08e621859f5", "ff592c0668c19f8b"),
    (f"remedy({G_TEXT}, no_skip=true)", f"remedy({G_TEXT}, no_skip=true)", "50835ae0db0fd127", "3225411356e5faaa"),
    (f"remedy({G_JSON}, deepen=1)", f"remedy({G_JSON}, deepen=1)", "75a0957736e90509", "188cc9af14e32219"),
]


@pytest.mark.parametrize("text,name,spec_hash,genotype_hash", PINNED, ids=[p[0][:48] for p in PINNED])
def test_every_string_resolves_to_the_spec_the_first_grammar_gave_it(text, name, spec_hash, genotype_hash) -> None:
    spec = resolve(text, "tiny")
    assert (spec.name, spec.hash()) == (name, spec_hash)
    assert (spec.genotype.hash() if spec.genotype else None) == genotype_hash


@pytest.mark.parametrize("text,value", [
    ("darts_v2", Named("darts_v2")),
    ("  resnet18 ", Named("resnet18")),
    ("random", Named("random")),  # the registered random cell of the study, not random(k)
    ("random(7)", RandomCell(7)),
    ("random(007)", RandomCell(7)),
    ("resnet18(width=0.0664)", Widened("resnet18", 0.0664)),
    ("vgg13_bn(width=1e-05)", Widened("vgg13_bn", 1e-05)),
    (G_TEXT, CustomCell(G["pdarts"])),
    (G_JSON, CustomCell(G["pdarts"])),
    ("remedy(darts_v2, deepen=1)", RemedySpec("darts_v2", deepen=1)),
    ("remedy(darts_v2, no_skip=yes, deepen=full, cells=both, skip_op=dil_conv_3x3)",
     RemedySpec("darts_v2", deepen="full", no_skip=True, skip_op="dil_conv_3x3", cells=("normal", "reduce"))),
    ("remedy(random(3), no_skip=1, cells=reduce)", RemedySpec("random(3)", no_skip=True, cells=("reduce",))),
])
def test_every_form_parses_to_its_typed_value(text: str, value) -> None:
    assert parse(text) == value


@pytest.mark.parametrize("text", [
    "darts_v2", "random(7)", "resnet18(width=0.0664)", "bit(width=1.5)", G_TEXT,
    "remedy(darts_v2, deepen=1)", "remedy(darts_v2, deepen=full, no_skip=true)",
    "remedy(darts_v2, no_skip=true, skip_op=dil_conv_5x5, cells=both)", "remedy(sgas, deepen=2, cells=reduce)",
    "remedy(remedy(random(4), no_skip=true), deepen=full)", f"remedy({G_TEXT}, deepen=1)",
])
def test_canonical_strings_round_trip(text: str) -> None:
    value = parse(text)
    assert value.format() == text
    assert parse(value.format()) == value
    assert resolve(value, "tiny") == resolve(text, "tiny")  # a parsed value resolves like its text


def test_non_canonical_strings_format_canonically() -> None:
    assert parse("remedy( darts_v2 ,no_skip=YES,deepen=0, cells=normal)").format() == "remedy(darts_v2, no_skip=true)"
    assert parse(G_JSON).format() == G_TEXT  # JSON genotypes print in the DARTS syntax
    assert parse("random(007)").format() == "random(7)"


@settings(max_examples=80, deadline=None)
@given(deepen_=st.sampled_from([0, 1, 2, 999, "full"]), no_skip=st.booleans(), op=st.sampled_from(sorted(PARAMETRIC)),
       cells=st.sampled_from([("normal",), ("reduce",), ("normal", "reduce")]), nest=st.integers(0, 2),
       seed=st.integers(0, 10**9 - 1))
def test_remedy_values_round_trip(deepen_, no_skip, op, cells, nest, seed) -> None:
    source = f"random({seed})"
    for _ in range(nest):
        source = RemedySpec(source, deepen=1).format()
    value = RemedySpec(source, deepen=deepen_ if deepen_ or no_skip else 1, no_skip=no_skip,
                       skip_op=op if no_skip else "sep_conv_3x3", cells=cells)
    assert parse(value.format()) == value
    assert value.base() == parse(source)


def test_nested_remedies_parse_level_by_level() -> None:
    value = parse("remedy(remedy(remedy(darts_v2, no_skip=true), deepen=1, cells=reduce), deepen=full)")
    assert value.deepen == "full"
    inner = value.base()
    assert (inner.deepen, inner.cells) == (1, ("reduce",))
    assert inner.base() == RemedySpec("darts_v2", no_skip=True) and inner.base().base() == Named("darts_v2")
    spec = resolve(value)
    expected = deepen(deepen(suppress_skips(G["darts_v2"]), 1, "reduce"))
    assert spec.genotype == expected and spec.group == "remedy"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0, 1, "full"]), st.booleans(),
       st.sampled_from(["normal", "reduce", ("normal", "reduce")]))
def test_apply_is_the_two_transforms_in_order(seed: int, k, no_skip: bool, cells) -> None:
    g = random_genotype(seed)
    if k == 1 and any(g.stats(c).depth == g.stats(c).steps for c in ((cells,) if isinstance(cells, str) else cells)):
        return  # a full chain cannot deepen by 1 (tested in test_remedies)
    expected = suppress_skips(g, "dil_conv_5x5", cells) if no_skip else g
    expected = deepen(expected, k, cells) if k != 0 else expected
    assert apply(g, deepen=k, no_skip=no_skip, skip_op="dil_conv_5x5", cells=cells) == expected


@pytest.mark.parametrize("option,good,bad", [
    ("deepen", {"0": 0, "7": 7, "999": 999, "full": "full"}, ["-1", "1000", "True", "1.0", "'full'", "FULL", "x"]),
    ("no_skip", {"true": True, "YES": True, "1": True, "True": True, "no": False, "0": False, "False": False},
     ["maybe", "2", "'true'", "1.0"]),
    ("skip_op", {op: op for op in sorted(PARAMETRIC)}, ["skip_connect", "none", "'sep_conv_3x3'", "1"]),
    ("cells", {"normal": ("normal",), "reduce": ("reduce",), "both": ("normal", "reduce")},
     ["none", "'normal'", "1", "all"]),
])
def test_keyword_values_are_validated(option: str, good: dict, bad: list[str]) -> None:
    base = "no_skip=true, " if option == "deepen" else "deepen=1, "
    for text, value in good.items():
        assert getattr(parse(f"remedy(darts_v2, {base}{option}={text})"), option) == value
    for text in bad:
        with pytest.raises(InvalidValueError) as e:
            parse(f"remedy(darts_v2, {base}{option}={text})")
        assert option in str(e.value) and text in str(e.value)


@pytest.mark.parametrize("text,names", [
    ("remedy(darts_v2)", ["changes nothing"]),
    ("remedy(darts_v2, widen=2)", ["widen=2"]),
    ("remedy(darts_v2, deepen=1, deepen=2)", ["'deepen'", "twice"]),
    ("remedy(deepen=1)", ["source architecture"]),
    ("remedy(darts_v2, darts_v1, deepen=1)", ["'darts_v1'"]),
    ("remedy(darts_v2, **opts)", ["**opts"]),
    ("remedy(*archs, deepen=1)", ["unpacked"]),
    ("remedy(darts_v2, deepen=(1)", ["not valid syntax", "never closed"]),
    ("remedy(darts_v2, deepen=1) + 1", ["remedy(darts_v2, deepen=1, no_skip=true)"]),
    ("remedy(darts_v2, deepen=__import__('os'))", ["__import__('os')"]),
    ("remedy(remedy(darts_v2), deepen=1)", ["'remedy(darts_v2)'", "changes nothing"]),
    ("remedy(Genotype(normal=[('bogus', 0)]), deepen=1)", ["genotype keys"]),
    ("Genotype(normal=[('bogus', 0), ('skip_connect', 0)], normal_concat=[2], reduce=[('bogus', 0), "
     "('skip_connect', 0)], reduce_concat=[2])", ["'bogus'"]),
    ("{bad json", ["JSON"]),
])
def test_bad_strings_fail_on_one_line_naming_the_bad_part(text: str, names: list[str]) -> None:
    with pytest.raises(InvalidValueError) as e:
        parse(text)
    msg = str(e.value)
    assert "\n" not in msg and all(n in msg for n in names), msg


@pytest.mark.parametrize("text,err,names", [
    ("nope", UnknownNameError, ["'nope'", "darts_v2", "random(<seed>)", "remedy(<arch>"]),
    ("random(-1)", UnknownNameError, ["'random(-1)'"]),
    ("resnet18(width=.5)", UnknownNameError, ["'resnet18(width=.5)'"]),
    ("darts_v2(width=0.5)", InvalidValueError, ["hand-designed"]),
    ("resnet18(width=0)", InvalidValueError, ["width"]),
    ("remedy(nope, deepen=1)", UnknownNameError, ["'nope'"]),
    ("remedy(resnet18, no_skip=true)", InvalidValueError, ["'resnet18'", "hand-designed"]),
    ("remedy(darts_i, deepen=1)", InvalidValueError, ["cannot deepen"]),
])
def test_registry_errors_keep_their_classes(text: str, err: type, names: list[str]) -> None:
    with pytest.raises(err) as e:
        resolve(text)
    msg = str(e.value)
    assert "\n" not in msg and all(n in msg for n in names), msg


def test_nothing_in_a_string_is_evaluated(tmp_path) -> None:
    canary = tmp_path / "ran"
    for text in (f"remedy(open({str(canary)!r}, 'w'), deepen=1)",
                 f"remedy(darts_v2, deepen=open({str(canary)!r}, 'w'))",
                 f"Genotype(normal=open({str(canary)!r}, 'w'))"):
        with pytest.raises(ArchriskError):
            resolve(text)
    assert not canary.exists()


def test_parse_refuses_non_text() -> None:
    with pytest.raises(InvalidValueError, match="text"):
        parse(7)  # type: ignore[arg-type]
