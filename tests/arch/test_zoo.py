"""Every registered architecture builds, runs, and keeps its size."""
from __future__ import annotations

import pytest
import torch

from archrisk.arch import build, count_flops, count_params, list_models, match_width, resolve
from archrisk.errors import InvalidValueError, UnknownNameError

NAMES = [m.name for m in list_models()]

# Parameter counts at `paper` size (10 classes, 32x32x3, no auxiliary head). A change to any
# op, cell or family shows up here; update deliberately, with the reason in the commit.
PINNED = {
    "amoebanet": 3145078, "darts_v1": 3169414, "darts_v2": 3349342, "drnas": 4099294, "enas": 3859894,
    "nasnet": 3830950, "pc_darts": 3634678, "pdarts": 3433798, "random": 2645830, "sgas": 3795166,
    "snas_mild": 2661382, "darts_i": 3349342, "darts_ii": 3889126, "darts_iii": 3889126,
    "bit": 23513162, "densenet121": 6956298, "dla34": 15232314, "resnet18": 11173962,
    "resnext50_32x4d": 8437578, "vgg13_bn": 9941322, "wide_resnet50_2": 66847050,
    # published cells beyond the study's (genotypes_more.py)
    "cars_h": 3348694, "cars_i": 3594718, "darts_minus": 3454318, "darts_pt": 2851246,
    "drnas_imagenet": 4048750, "fairdarts_d": 3365542, "gdas": 3368782, "ista_nas": 3316726,
    "milenas": 4033198, "noisy_darts": 3257110, "pc_darts_imagenet": 3721510, "pr_darts": 3444814, "sdarts_adv": 3344806,
    "sdarts_rs": 3606166, "sgas_cri2": 4094110, "sgas_cri2_imagenet": 3909430, "snas_aggressive": 2313622,
    "snas_moderate": 2847358,
    # hand-designed networks beyond the study's (the counts of tests/arch/test_manual.py's PARAMS)
    "densenet_bc100": 769162, "googlenet": 5871914, "lenet5": 62006, "mobilenet_v1": 3217226,
    "mobilenet_v2": 2236682, "nin": 966986, "preact_resnet18": 11172170, "resnet20": 269722,
    "resnet56": 853018, "shufflenet_v2_x1_0": 1263854, "squeezenet1_0": 729034, "vgg11_bn": 9756426,
    "vgg16_bn": 15253578, "wide_resnet28_10": 36479194,
}
# Published counts (millions) the cells must round to: each method's paper (CIFAR-10), or the
# authors' genotypes file where it states the size (SGAS criterion 2, DARTS+PT).
PUBLISHED = {"darts_v2": 3.3, "pc_darts": 3.6, "pdarts": 3.4, "sgas": 3.8, "drnas": 4.1,
             "sgas_cri2": 4.09, "sgas_cri2_imagenet": 3.91, "darts_pt": 2.85}
# The study's architectures (Pang et al.): the reference study depends on these names.
STUDY_NAS = {"nasnet", "amoebanet", "enas", "darts_v2", "snas_mild", "pc_darts", "pdarts", "drnas", "sgas"}
STUDY_MANUAL = {"resnet18", "vgg13_bn", "densenet121", "resnext50_32x4d", "wide_resnet50_2", "dla34", "bit"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_architecture_builds_at_tiny(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = build(name, num_classes=10, in_channels=shape[0], size="tiny").eval()
    x = torch.rand(2, *shape)
    y = model(x)
    assert y.shape == (2, 10)
    assert torch.isfinite(y).all()
    feats = model.penultimate(x)
    assert torch.allclose(model.classifier(feats), y, atol=1e-5)


def test_registry_covers_the_study() -> None:
    assert STUDY_NAS <= {m.name for m in list_models(group="nas")}
    assert STUDY_MANUAL <= {m.name for m in list_models(group="manual")}
    assert {m.name for m in list_models(group="remedy")} == {"darts_i", "darts_ii", "darts_iii"}
    assert {m.name for m in list_models(group="random")} == {"random"}  # the control, not a searched cell
    assert set(PINNED) == set(NAMES), "pin the parameter count of every new architecture"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_paper_size_parameter_counts_are_pinned(name: str) -> None:
    model = build(name, num_classes=10, in_channels=3, size="paper")
    assert count_params(model) == PINNED[name]


@pytest.mark.parametrize("name,millions", sorted(PUBLISHED.items()))
def test_paper_size_matches_published_counts(name: str, millions: float) -> None:
    digits = len(str(millions).split(".")[1])
    assert round(PINNED[name] / 1e6, digits) == millions


def test_params_target_picks_matching_width() -> None:
    target = 200_000
    model = build("resnet18", num_classes=10, in_channels=3, params=target)
    assert abs(count_params(model) - target) / target < 0.1
    assert count_params(build("resnet18", size="tiny")) > 1.5 * target  # the default is far off


def test_a_params_target_initialises_like_its_width_string() -> None:
    # same spec, so same checkpoint key: the weights after a seed must not depend on the spelling
    torch.manual_seed(0)
    by_params = build("resnet18", params=40_000)
    torch.manual_seed(0)
    by_width = build(f"resnet18(width={by_params.spec.width})")
    assert by_params.spec == by_width.spec
    a, b = by_params.state_dict(), by_width.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_random_cells_are_seeded_and_distinct() -> None:
    a, b, c = resolve("random(1)"), resolve("random(1)"), resolve("random(2)")
    assert a.genotype == b.genotype and a.genotype != c.genotype


def test_random_cells_form_their_own_group() -> None:
    # NAS vs random cells of the same space is the study's selection question: never pool them
    assert {resolve("random(3)").group, resolve("random").group} == {"random"}
    assert resolve("darts_v2").group == "nas"


def test_custom_genotype_and_flops() -> None:
    g = resolve("darts_v2").genotype
    spec = resolve(g.format())
    assert spec.group == "custom" and spec.genotype == g
    model = build(g.format(), size="tiny")
    macs = count_flops(model, (3, 32, 32))
    assert macs > count_params(model)  # convolutions reuse weights across positions


@pytest.mark.parametrize("bad,err", [("nope", UnknownNameError), ("random(-1)", UnknownNameError),
                                     ("Genotype(normal=[('bogus', 0)])", InvalidValueError)])
def test_bad_architectures_raise_typed_errors(bad: str, err: type) -> None:
    with pytest.raises(err):
        resolve(bad)


def test_bad_width_and_size() -> None:
    with pytest.raises(InvalidValueError):
        build("resnet18", width=0)
    with pytest.raises(UnknownNameError):
        build("resnet18", size="huge")


def test_a_manual_net_string_can_carry_its_width() -> None:
    from archrisk.arch.zoo import with_width

    text = with_width("resnet18", 0.0664)
    assert text == "resnet18(width=0.0664)"
    spec = resolve(text, "tiny")
    assert spec.name == "resnet18" and spec.width == 0.0664 and spec.hash() != resolve("resnet18", "tiny").hash()
    assert count_params(build(text, in_channels=1)) == count_params(build("resnet18", in_channels=1, width=0.0664))
    with pytest.raises(InvalidValueError, match="hand-designed"):
        resolve("darts_v2(width=0.5)")
    with pytest.raises(InvalidValueError, match="width"):
        resolve("resnet18(width=0)")


@pytest.mark.parametrize("name", [*NAMES, "random(3)", "remedy(darts_v2, deepen=1)"])
@pytest.mark.parametrize("bad, words", [(dict(num_classes=0), "num_classes=0"), (dict(in_channels=0), "in_channels=0"),
                                        (dict(num_classes=-2, in_channels=1), "num_classes=-2"),
                                        (dict(dropout=1.0), "dropout=1.0")])
def test_build_refuses_bad_arguments_for_every_kind(name: str, bad: dict, words: str) -> None:
    with pytest.raises(InvalidValueError, match=words):
        build(name, **bad)


def test_fairdarts_cell_matches_its_published_size_and_multiply_adds() -> None:
    # FairDARTS' genotypes.py: "FLOPS: 532M Params: 3.84M" for FairDARTS_d, counted with the
    # auxiliary head; the cell was converted from (op, node, input) triples, so this checks the wiring.
    model = build("fairdarts_d", size="paper", auxiliary=True)
    assert round(count_params(model, include_aux=True) / 1e6, 2) == 3.84
    assert count_flops(model, (3, 32, 32)) // 10**6 == 532  # the file truncates to whole millions


def test_every_cell_names_its_method_and_source() -> None:
    for m in list_models():
        if m.kind == "cell":
            assert m.method and m.method.islower(), m.name
            assert "(" in m.source and m.code.startswith("github.com/"), m.name  # paper (venue); released file
        else:
            assert m.method is None and "(" in m.source, m.name


def test_methods_cluster_cells_of_one_search_method() -> None:
    assert {m.name for m in list_models(method="darts")} == {"darts_v1", "darts_v2"}
    assert {m.name for m in list_models(method="sgas")} == {"sgas", "sgas_cri2", "sgas_cri2_imagenet"}
    assert {m.method for m in list_models(group="manual")} == {None}
    assert len(list_models(group="nas")) >= 25 and len(list_models(group="manual")) >= 20


def test_published_cells_are_distinct() -> None:
    # a cell copied twice (e.g. SGAS' ImageNet "best" is its CIFAR best) would count twice in a cluster
    cells = [m for m in list_models() if m.kind == "cell"]
    assert len({m.genotype for m in cells}) == len(cells)


MANUAL = sorted(m.name for m in list_models(group="manual"))
# Nets whose count jumps by more than 20% between neighbouring widths near the target: the growth
# rate is DenseNet-121's only knob (2 -> 3 channels here), BiT's channels are multiples of 8.
COARSE = {"densenet121", "bit"}


@pytest.mark.parametrize("name", MANUAL)
def test_match_width_hits_the_study_target(name: str) -> None:
    target = 51_554  # the reference study's: median size of its cells at `tiny` on 1x28x28 digits
    width = match_width(name, target, in_channels=1)
    # match_width's bisection stops at a bracket 256 ** (1 / 2 ** 14) - 1 = 3.4e-4 wide (relative), then
    # rounds to 4 decimals: the count must cross the target within that distance of the width found
    near = (width * (1 - 3.4e-4) - 5e-5, width, width * (1 + 3.4e-4) + 5e-5)
    below, at, above = (count_params(build(name, in_channels=1, width=w)) for w in near)
    assert below <= target <= above
    if name in COARSE:
        assert above > 1.2 * below
    else:
        assert abs(at - target) / target < 0.1


def test_docs_list_every_architecture() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "architectures.md").read_text()
    assert [m.name for m in list_models() if f"`{m.name}`" not in doc] == []
