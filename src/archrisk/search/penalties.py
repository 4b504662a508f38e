"""Risk penalties on the architecture weights: differentiable stand-ins for cell structure.

Each penalty maps the normal cell's mixing weights (softmax of alpha, [edges, ops]) to a scalar
the search adds, times lambda, to the validation loss in its alpha step. They act on the normal
cell only: that is the cell whose depth and skip count the study links to vulnerability.

- `skip`:  expected number of skip connects in the derived cell (skip weight summed over edges,
           scaled by the fraction of edges a node keeps, 2 of its j+2).
- `depth`: minus the expected depth: node j's depth is 1 + the edge-strength-weighted mean depth
           of its inputs (strength = non-'none' weight), the output's depth the max over nodes.
- `parametric`: minus the expected number of convolution edges (rewards parametric ops over
           skip connects and pooling).
- `score`: the fitted risk score's structural terms (skip count, depth, width, parametric and
           pooling counts) applied to their soft versions; see `archrisk.score`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from archrisk.arch.genotype import PARAMETRIC
from archrisk.errors import InvalidValueError
from archrisk.registry import Registry
from archrisk.search.supernet import edge_inputs


@dataclass(frozen=True)
class SoftCell:
    """A dense cell's mixing weights with the bookkeeping penalties need."""

    weights: torch.Tensor  # [edges, ops], rows sum to 1
    ops: tuple[str, ...]
    steps: int

    def mass(self, names) -> torch.Tensor:
        """[edges] summed weight of the ops in `names`."""
        idx = [k for k, n in enumerate(self.ops) if n in names]
        return self.weights[:, idx].sum(-1) if idx else self.weights.new_zeros(len(self.weights))

    def keep_fraction(self) -> torch.Tensor:
        """[edges] the fraction of a node's incoming edges the derivation keeps (2 of j+2)."""
        return torch.tensor([2.0 / (j + 2) for j, _ in edge_inputs(self.steps)], dtype=self.weights.dtype,
                            device=self.weights.device)

    def expected_count(self, names) -> torch.Tensor:
        return (self.mass(names) * self.keep_fraction()).sum()

    def soft_depth(self) -> torch.Tensor:
        strength = 1.0 - self.mass({"none"})  # [edges]
        inputs = edge_inputs(self.steps)
        depth = [self.weights.new_zeros(()), self.weights.new_zeros(())]
        for j in range(self.steps):
            rows = [e for e, (node, _) in enumerate(inputs) if node == j]
            s = strength[rows]
            d_in = torch.stack([depth[inputs[e][1]] for e in rows])
            depth.append(1.0 + (s * d_in).sum() / s.sum().clamp_min(1e-8))
        return torch.stack(depth[2:]).max()

    def soft_width(self) -> torch.Tensor:
        """Expected number of nodes fed by a cell input: for each node, the chance that at
        least one kept edge reads input 0/1, approximated by its share of edge strength."""
        strength = 1.0 - self.mass({"none"})
        inputs = edge_inputs(self.steps)
        total = self.weights.new_zeros(())
        for j in range(self.steps):
            rows = [e for e, (node, _) in enumerate(inputs) if node == j]
            from_input = sum(strength[e] for e in rows if inputs[e][1] < 2)
            total = total + (2 * from_input / strength[rows].sum().clamp_min(1e-8)).clamp(max=1.0)
        return total

    def soft_stats(self) -> dict[str, torch.Tensor]:
        """Differentiable counterparts of `CellStats` (same names)."""
        pooling = {n for n in self.ops if n.endswith("pool_3x3")}
        return {"steps": self.weights.new_tensor(float(self.steps)), "depth": self.soft_depth(),
                "width": self.soft_width(), "skips": self.expected_count({"skip_connect"}),
                "parametric": self.expected_count(PARAMETRIC), "pooling": self.expected_count(pooling)}


Penalty = Callable[[SoftCell], torch.Tensor]
PENALTIES: Registry[tuple[Penalty, str]] = Registry("search penalty")  # name -> (penalty, description)


def register_penalty(name: str, description: str) -> Callable[[Penalty], Penalty]:
    """Decorator registering a penalty under `name`; a duplicate name raises DuplicateNameError."""
    def decorate(fn: Penalty) -> Penalty:
        PENALTIES.register(name, (fn, description))
        return fn
    return decorate


@register_penalty("none", "no penalty: plain first-order DARTS")
def _none(cell: SoftCell) -> torch.Tensor:
    return cell.weights.new_zeros(())


@register_penalty("skip", "expected skip connects in the normal cell")
def _skip(cell: SoftCell) -> torch.Tensor:
    return cell.expected_count({"skip_connect"})


@register_penalty("depth", "minus the expected depth of the normal cell (rewards chains)")
def _depth(cell: SoftCell) -> torch.Tensor:
    return -cell.soft_depth()


@register_penalty("parametric", "minus the expected convolution edges of the normal cell")
def _parametric(cell: SoftCell) -> torch.Tensor:
    return -cell.expected_count(PARAMETRIC)


@register_penalty("score", "the fitted risk score's structural terms on the soft cell stats")
def _score(cell: SoftCell) -> torch.Tensor:
    from archrisk.score.model import structural_risk  # the score is optional at import time

    return structural_risk(cell.soft_stats())


def get_penalty(name: str) -> Penalty:
    return PENALTIES.get(name)[0]


def check_lam(lam: float) -> float:
    if not (isinstance(lam, (int, float)) and lam >= 0 and lam == lam and lam != float("inf")):
        raise InvalidValueError(f"penalty weight lam must be a finite number >= 0, got {lam!r}")
    return float(lam)
