"""Hand-made victims for attack tests: a small MLP and a wrapper giving any model the victim interface."""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.zoo import ArchSpec
from archrisk.attacks import AttackContext
from archrisk.train import TrainResult, get_recipe

VICTIM_THREADS = 1  # session victims train at this thread count, part of the checkpoint key: retrain at it too


class MLP(nn.Module):
    def __init__(self, d_in: int, classes: int, hidden: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(d_in, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, classes)

    def penultimate(self, x):
        return self.body(x)

    def forward(self, x):
        return self.classifier(self.body(x))


def wrap(model: nn.Module, ds, name: str = "mlp") -> TrainResult:
    """A TrainResult around a hand-made model, so attacks can run on it through their interface."""
    spec = ArchSpec(name, "manual", "custom", "tiny")
    return TrainResult(model.eval(), spec, get_recipe("study"), ds.name, 0, 0, [], 0, float("nan"),
                       float("nan"), name, False, 0.0, "cpu")


def context(victim: TrainResult, ds, seed: int = 0) -> AttackContext:
    return AttackContext(spec=victim.spec, dataset=ds, recipe=victim.recipe, size="tiny", seed=seed,
                         device=torch.device("cpu"), _victim=victim)
