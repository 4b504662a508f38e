"""count_flops: the stored `flops` key (multiply-accumulates of one forward pass on one input) of
every zoo network, pinned on the two shapes the reference studies use, and MACs of conv and linear
layers only (no normalisation, pooling, activations or additions)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from archrisk.arch import build, count_flops, list_models
from archrisk.arch.zoo import Classifier, resolve

NAMES = [m.name for m in list_models()]

# (digits 1x8x8, mnist5k 1x28x28) at `tiny`, 10 classes: the values stored by studies so far. A
# change here changes a stored number; update only with the reason in the commit.
MACS = {
    "bit": (5076992, 65514752), "densenet121": (3474944, 42106624), "dla34": (3561984, 45739584),
    "resnet18": (2173184, 28573184), "resnext50_32x4d": (4869632, 59624192), "vgg13_bn": (1149184, 12090880),
    "wide_resnet50_2": (14399488, 185920768), "amoebanet": (692672, 8474432), "darts_v1": (415232, 5072192),
    "darts_v2": (435584, 5321504), "drnas": (697216, 8526496), "enas": (653632, 7988992),
    "nasnet": (679488, 8305728), "pc_darts": (643840, 7872640), "pdarts": (547328, 6690368),
    "sgas": (592000, 7237600), "snas_mild": (371968, 4542208), "random": (411904, 5031424),
    "darts_i": (435584, 5321504), "darts_ii": (496640, 6069440), "darts_iii": (496640, 6069440),
    # published cells beyond the study's
    "cars_h": (580864, 7101184), "cars_i": (553856, 6770336), "darts_minus": (487552, 5958112),
    "darts_pt": (458880, 5606880), "drnas_imagenet": (616064, 7532384), "fairdarts_d": (523264, 6395584),
    "gdas": (674176, 8244256), "ista_nas": (571392, 6985152), "milenas": (638336, 7805216),
    "noisy_darts": (465152, 5683712), "pc_darts_imagenet": (604672, 7392832), "pr_darts": (556928, 6807968),
    "sdarts_adv": (515072, 6295232),
    "sdarts_rs": (564224, 6897344), "sgas_cri2": (590464, 7218784), "sgas_cri2_imagenet": (581632, 7110592),
    "snas_aggressive": (421632, 5150592), "snas_moderate": (558208, 6823648),
    # hand-designed networks beyond the study's
    "densenet_bc100": (1125442, 13777102), "googlenet": (5662720, 69339520), "lenet5": (19240, 226240),
    "mobilenet_v1": (277696, 2895136), "mobilenet_v2": (416864, 5469344), "nin": (888288, 10876128),
    "preact_resnet18": (2173184, 28573184), "resnet20": (159136, 1947616), "resnet56": (490912, 6011872),
    "shufflenet_v2_x1_0": (192350, 2549555), "squeezenet1_0": (209664, 2600064),
    "vgg11_bn": (854272, 8478208), "vgg16_bn": (1591552, 16846336), "wide_resnet28_10": (20483904, 250909824),
}


@pytest.mark.parametrize("name", NAMES)
def test_stored_flops_of_every_zoo_network(name: str) -> None:
    assert name in MACS, f"pin the MACs of the new network {name!r} here"
    model = build(name, num_classes=10, in_channels=1, size="tiny")  # digits and mnist5k build the same net
    model.train()
    assert (count_flops(model, (1, 8, 8)), count_flops(model, (1, 28, 28))) == MACS[name]
    assert model.training  # the caller's mode is restored


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)  # 4 x 8 x 8 outputs x (2 x 3 x 3) = 4608
        self.sep = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)  # 256 outputs x 9 = 2304
        self.bn, self.pool = nn.BatchNorm2d(4), nn.MaxPool2d(2)
        self.classifier = nn.Linear(4 * 4 * 4, 10)  # 10 x 64 = 640

    def penultimate(self, x):
        h = self.conv(x)
        h = h + self.sep(h)  # an addition: not counted
        return self.pool(torch.relu(self.bn(h))).flatten(1)

    def forward(self, x):
        return self.classifier(self.penultimate(x))


def test_flops_count_conv_and_linear_macs_only() -> None:
    model = Classifier(resolve("resnet18"), _Net(), (0.5, 0.5), (0.25, 0.25))
    assert count_flops(model, (2, 8, 8)) == 4608 + 2304 + 640


class _Functional(nn.Module):
    """A user's network whose product is a bare matmul (no nn.Linear): counted all the same."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(64, 10))

    def forward(self, x):
        return x.flatten(1) @ self.w  # 64 x 10 = 640


def test_flops_count_products_outside_layers() -> None:
    from archrisk.arch.user import wrap

    assert count_flops(wrap(_Functional(), in_channels=1), (1, 8, 8)) == 640
