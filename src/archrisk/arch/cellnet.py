"""Genotype -> network: the DARTS CIFAR skeleton every NAS cell is evaluated in.

stem conv (in -> stem_multiplier*C) -> `layers` cells, reduction cells at 1/3 and 2/3 depth
(channels double there) -> global average pool -> linear. `model(x)` returns logits; when the
auxiliary head is enabled its logits are kept in `model.aux_logits` during training only.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.genotype import Genotype
from archrisk.arch.ops import FactorizedReduce, ReLUConvBN, make_op


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole samples of one edge with probability `prob`, rescaling the rest."""
    keep = 1.0 - prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class Cell(nn.Module):
    def __init__(self, genotype: Genotype, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool, dropout: float):
        super().__init__()
        # bring both inputs to c channels and the same resolution
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0)
        edges = genotype.reduce if reduction else genotype.normal
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.inputs = [i for _, i in edges]
        self.ops = nn.ModuleList()
        self.parametric: list[bool] = []  # drop path / dropout skip identity edges, as in DARTS
        for op_name, i in edges:
            op = make_op(op_name, c, 2 if reduction and i < 2 else 1)
            is_identity = isinstance(op, nn.Identity)
            if dropout > 0 and not is_identity:
                op = nn.Sequential(op, nn.Dropout(dropout))  # the study's regulariser
            self.ops.append(op)
            self.parametric.append(not is_identity)
        self.multiplier = len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for k in range(len(self.ops) // 2):
            node = 0
            for e in (2 * k, 2 * k + 1):
                h = self.ops[e](states[self.inputs[e]])
                if self.training and drop_prob > 0 and self.parametric[e]:
                    h = drop_path(h, drop_prob)
                node = node + h
            states.append(node)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier on the 2/3-depth features; adaptive pooling so it also fits
    maps other than CIFAR's 8x8 (on 8x8 it matches the original's 2x2 output)."""

    def __init__(self, c: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class CellNet(nn.Module):
    def __init__(self, genotype: Genotype, C: int, layers: int, num_classes: int, in_channels: int = 3,
                 auxiliary: bool = False, dropout: float = 0.0, stem_multiplier: int = 3):
        super().__init__()
        self.genotype = genotype
        self.drop_path_prob = 0.0  # set by the trainer (DARTS ramps it linearly)
        self.aux_logits: torch.Tensor | None = None
        c_cur = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_cur, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_cur))
        c_pp, c_p, c_cur = c_cur, c_cur, C
        self.cells = nn.ModuleList()
        self.aux_after = 2 * layers // 3
        reduction_prev = False
        self.aux_head = None
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            cell = Cell(genotype, c_pp, c_p, c_cur, reduction, reduction_prev, dropout)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_cur
            if auxiliary and i == self.aux_after:
                self.aux_head = AuxiliaryHead(c_p, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        self.aux_logits = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if self.aux_head is not None and self.training and i == self.aux_after:
                self.aux_logits = self.aux_head(s1)
        return self.pool(s1).flatten(1)  # [N, C_last]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.penultimate(x))
