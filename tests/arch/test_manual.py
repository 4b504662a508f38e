"""Hand-designed families: shapes on every input size, the attack hooks, and exact sizes."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from archrisk.arch.manual import MANUAL_FAMILIES
from archrisk.errors import InvalidValueError

NAMES = sorted(MANUAL_FAMILIES)
SMALL = 0.125  # every family at 1/8 width builds and runs in well under a second


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# The smallest input (8x8 digits: norm layers in train mode see 1x1 maps) and odd sizes (residual
# sums of strided maps must agree); 28x28 and 32x32 inputs are built for every architecture in
# tests/arch/test_zoo.py.
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 9, 13)])
def test_logits_shape_and_finite(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = MANUAL_FAMILIES[name](num_classes=7, in_channels=shape[0], width=SMALL)
    x = torch.randn(2, *shape)
    for mode in (model.train, model.eval):  # train-mode norm on 1x1 maps must not fail
        mode()
        y = model(x)
        assert y.shape == (2, 7)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_penultimate_feeds_classifier(name: str) -> None:
    torch.manual_seed(0)
    model = MANUAL_FAMILIES[name](width=SMALL, dropout=0.5).eval()
    x = torch.randn(3, 3, 16, 16)
    feats = model.penultimate(x)
    assert isinstance(model.classifier, nn.Linear)
    assert feats.shape == (3, model.classifier.in_features)
    # in eval mode dropout is off, so the logits are exactly the classifier of the features
    torch.testing.assert_close(model(x), model.classifier(feats))


@pytest.mark.parametrize("name", NAMES)
def test_backward_reaches_first_layer(name: str) -> None:
    torch.manual_seed(0)
    model = MANUAL_FAMILIES[name](width=SMALL)
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    model(x).logsumexp(1).sum().backward()
    first = next(p for p in model.parameters() if p.dim() == 4)  # stem conv weight
    assert first.grad is not None and torch.isfinite(first.grad).all()
    assert first.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters()), "a parameter is unused"


@pytest.mark.parametrize("name", NAMES)
def test_dropout_is_applied_in_training_only(name: str) -> None:
    torch.manual_seed(0)
    model = MANUAL_FAMILIES[name](width=SMALL, dropout=0.9).train()
    x = torch.randn(2, 3, 16, 16)
    assert not torch.allclose(model(x), model(x))  # norm layers are deterministic
    model.eval()
    torch.testing.assert_close(model(x), model(x))


@pytest.mark.parametrize("name", NAMES)
def test_width_scales_size(name: str) -> None:
    f = MANUAL_FAMILIES[name]
    sizes = [n_params(f(width=w)) for w in (0.0625, SMALL, 0.25)]
    assert sizes[0] < sizes[1] < sizes[2]


@pytest.mark.parametrize("bad", [dict(width=0.0), dict(num_classes=0), dict(dropout=1.0),
                                 dict(in_channels=0)])
def test_bad_arguments_raise(bad: dict) -> None:
    with pytest.raises(InvalidValueError):
        MANUAL_FAMILIES["resnet18"](**bad)


# Width 1.0, 10 classes, RGB. Cross-checks against the reference implementations with the
# 3x3 stem (and their 1000-way heads swapped for 10-way ones): resnet18, wide_resnet50_2,
# densenet121, resnext50_32x4d minus its last stage, mobilenet_v2 and shufflenet_v2_x1_0 equal
# torchvision's counts; dla34 and bit (resnetv2_50x1) equal the timm/BiT counts; the vgg*_bn are
# torchvision's conv bodies plus the study's 512-512-10 head. Against the papers: resnet20 0.27M,
# resnet56 0.85M, densenet_bc100 0.8M, wide_resnet28_10 36.5M; lenet5 has the usual 61,706 on one
# channel (test below); nin and squeezenet1_0 (3x3 stem) are the papers' layers summed by hand.
PARAMS = {
    "bit": (23_513_162, 2048),
    "densenet121": (6_956_298, 1024),
    "densenet_bc100": (769_162, 342),
    "dla34": (15_232_314, 512),
    "googlenet": (5_871_914, 1024),
    "lenet5": (62_006, 84),
    "mobilenet_v1": (3_217_226, 1024),
    "mobilenet_v2": (2_236_682, 1280),
    "nin": (966_986, 192),
    "preact_resnet18": (11_172_170, 512),
    "resnet18": (11_173_962, 512),
    "resnet20": (269_722, 64),
    "resnet56": (853_018, 64),
    "resnext50_32x4d": (8_437_578, 1024),  # last stage dropped: 1024 features, not 2048
    "shufflenet_v2_x1_0": (1_263_854, 1024),
    "squeezenet1_0": (729_034, 512),
    "vgg11_bn": (9_756_426, 512),
    "vgg13_bn": (9_941_322, 512),
    "vgg16_bn": (15_253_578, 512),
    "wide_resnet28_10": (36_479_194, 640),
    "wide_resnet50_2": (66_847_050, 2048),
}
# Counts the papers report (millions, 10 classes), which the pins above must round to.
PUBLISHED = {"resnet20": 0.27, "resnet56": 0.85, "densenet_bc100": 0.8, "wide_resnet28_10": 36.5}


def test_pinned_sizes_cover_every_family() -> None:
    assert set(PARAMS) == set(MANUAL_FAMILIES)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_at_full_width(name: str) -> None:
    model = MANUAL_FAMILIES[name]()  # built only; no forward pass on the large models
    assert (n_params(model), model.classifier.in_features) == PARAMS[name]


@pytest.mark.parametrize("name,millions", sorted(PUBLISHED.items()))
def test_pins_match_published_counts(name: str, millions: float) -> None:
    digits = len(str(millions).split(".")[1])
    assert round(PARAMS[name][0] / 1e6, digits) == millions


def test_lenet5_has_the_classic_parameter_count() -> None:
    # C1 156 + C3 2,416 (full connection table) + C5 48,120 + F6 10,164 + output 850 on one channel
    assert n_params(MANUAL_FAMILIES["lenet5"](in_channels=1)) == 61_706


def test_every_family_cites_its_paper() -> None:
    from archrisk.arch.manual import MANUAL_SOURCES

    assert set(MANUAL_SOURCES) == set(MANUAL_FAMILIES)
    assert all(len(MANUAL_SOURCES[n]) > 20 and "(" in MANUAL_SOURCES[n] for n in NAMES), "cite author, title (venue)"
