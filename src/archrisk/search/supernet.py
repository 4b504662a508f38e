"""The DARTS supernet: every edge of a cell carries all candidate ops, mixed by softmax(alpha).

Same skeleton as `arch.cellnet` (stem, cells with reductions at 1/3 and 2/3 depth, global pool,
linear) but each cell is dense: node j reads every earlier state through a `MixedOp`. One
alpha matrix per cell type ([edges, ops]) is shared by all cells of that type. As in DARTS'
search network, BatchNorm inside ops is not affine (its scale would otherwise compete with
alpha) and pooling ops get a BatchNorm after them so their output scale matches the convs.
`derive` reads a genotype off alpha the way DARTS does: for each node keep the two incoming
edges whose strongest non-'none' op weighs most, and label each with that op.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from archrisk.arch.genotype import Genotype
from archrisk.arch.ops import FactorizedReduce, ReLUConvBN, make_op


def _freeze_bn_affine(module: nn.Module) -> nn.Module:
    """Fix every BatchNorm's scale to 1 and shift to 0 (DARTS searches with affine=False)."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d) and m.affine:
            m.weight.requires_grad_(False)
            m.bias.requires_grad_(False)
    return module


class MixedOp(nn.Module):
    def __init__(self, ops: tuple[str, ...], c: int, stride: int):
        super().__init__()
        self.names = ops
        self.ops = nn.ModuleList()
        for name in ops:
            op = make_op(name, c, stride)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(c))
            self.ops.append(_freeze_bn_affine(op))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # w: [ops] mixing weights; 'none' contributes zero, so it is not computed
        return sum(wi * op(x) for name, wi, op in zip(self.names, w, self.ops) if name != "none")


def edge_inputs(steps: int) -> list[tuple[int, int]]:
    """(node, input index) of every edge of a dense cell, in alpha row order."""
    return [(j, i) for j in range(steps) for i in range(j + 2)]


class SearchCell(nn.Module):
    def __init__(self, ops: tuple[str, ...], steps: int, c_pp: int, c_p: int, c: int,
                 reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction, self.steps = reduction, steps
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0)
        _freeze_bn_affine(self.pre0), _freeze_bn_affine(self.pre1)
        self.edges = nn.ModuleList(MixedOp(ops, c, 2 if reduction and i < 2 else 1)
                                   for _, i in edge_inputs(steps))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        e = 0
        for j in range(self.steps):
            node = 0
            for i in range(j + 2):
                node = node + self.edges[e](states[i], weights[e])
                e += 1
            states.append(node)
        return torch.cat(states[2:], dim=1)  # every node is concatenated, as DARTS searches


@dataclass(frozen=True)
class SupernetConfig:
    ops: tuple[str, ...]  # candidate ops on every edge ('none' allowed, never derived)
    C: int = 16  # initial channels (DARTS search: 16)
    layers: int = 8  # cells (DARTS search: 8)
    steps: int = 4  # intermediate nodes per cell
    stem_multiplier: int = 3


class Supernet(nn.Module):
    """`model(x)` -> logits for inputs already normalised; alphas are `alpha_normal/alpha_reduce`."""

    def __init__(self, cfg: SupernetConfig, num_classes: int, in_channels: int,
                 mean: tuple[float, ...], std: tuple[float, ...], alpha_init: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        c_cur = cfg.stem_multiplier * cfg.C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_cur, 3, padding=1, bias=False), nn.BatchNorm2d(c_cur))
        c_pp, c_p, c_cur = c_cur, c_cur, cfg.C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(cfg.layers):
            reduction = i in (cfg.layers // 3, 2 * cfg.layers // 3)
            c_cur *= 2 if reduction else 1
            self.cells.append(SearchCell(cfg.ops, cfg.steps, c_pp, c_p, c_cur, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, cfg.steps * c_cur
        self.classifier = nn.Linear(c_p, num_classes)
        n_edges = len(edge_inputs(cfg.steps))
        init = alpha_init if alpha_init is not None else torch.zeros(2, n_edges, len(cfg.ops))
        self.alpha_normal = nn.Parameter(init[0].clone())  # [edges, ops]
        self.alpha_reduce = nn.Parameter(init[1].clone())

    def alphas(self) -> list[nn.Parameter]:
        return [self.alpha_normal, self.alpha_reduce]

    def weights(self) -> list[nn.Parameter]:
        """Trainable network weights (alphas and the frozen BatchNorm affines excluded)."""
        return [p for n, p in self.named_parameters() if not n.startswith("alpha_") and p.requires_grad]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        w_normal = F.softmax(self.alpha_normal, dim=-1)
        w_reduce = F.softmax(self.alpha_reduce, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))

    def derive(self) -> Genotype:
        return derive_genotype(self.alpha_normal.detach(), self.alpha_reduce.detach(), self.cfg.ops, self.cfg.steps)


def derive_cell(alpha: torch.Tensor, ops: tuple[str, ...], steps: int) -> tuple[tuple[str, int], ...]:
    """DARTS' rule: per node the two incoming edges with the largest non-'none' op weight."""
    w = F.softmax(alpha.float(), dim=-1)
    keep = [k for k, name in enumerate(ops) if name != "none"]
    inputs = edge_inputs(steps)
    out: list[tuple[str, int]] = []
    for j in range(steps):
        rows = [e for e, (node, _) in enumerate(inputs) if node == j]
        # ties broken by the lower input index, so derivation is deterministic
        strength = {e: max(w[e, k].item() for k in keep) for e in rows}
        top = sorted(rows, key=lambda e: (-strength[e], inputs[e][1]))[:2]
        for e in sorted(top, key=lambda e: inputs[e][1]):
            best = max(keep, key=lambda k: (w[e, k].item(), -k))
            out.append((ops[best], inputs[e][1]))
    return tuple(out)


def derive_genotype(alpha_normal: torch.Tensor, alpha_reduce: torch.Tensor, ops: tuple[str, ...],
                    steps: int) -> Genotype:
    concat = tuple(range(2, steps + 2))
    return Genotype(derive_cell(alpha_normal, ops, steps), concat, derive_cell(alpha_reduce, ops, steps), concat)
