"""The convergence rule (`Recipe.patience`): when a training run stops before its epoch cap.

One decision, as pure functions of the validation scores seen so far, shared by the training loop
(`fit`) and the loops attacks run themselves (the Knockoff thief's), so every model a study trains
under the rule stops the same way.

A score counts as a rise when it beats the best so far by more than `min_delta`; the best only
moves on a rise, so gains smaller than `min_delta` each cannot keep a run going forever. Training
stops once `patience` epochs in a row brought no rise. A run "converged" when that held at its
last epoch (it stopped, or the plateau was reached exactly at the cap); otherwise the cap ended it.
"""
from __future__ import annotations

import math
from typing import Sequence


def epochs_without_rise(scores: Sequence[float], min_delta: float = 0.0) -> int:
    """Epochs since the last rise of `scores` (one per epoch, higher = better); the first epoch
    always rises. A NaN score (no validation data) never rises."""
    best, since = -math.inf, 0
    for s in scores:
        if s > best + min_delta:
            best, since = s, 0
        else:
            since += 1
    return since


def plateaued(scores: Sequence[float], patience: int | None, min_delta: float = 0.0) -> bool:
    """Whether the rule ends training after these epochs (never when `patience` is None)."""
    return patience is not None and epochs_without_rise(scores, min_delta) >= patience


def converged(scores: Sequence[float], patience: int | None, min_delta: float = 0.0) -> bool | None:
    """What a finished run records: True when the rule's plateau held at its last epoch, False when
    the cap ended it first, None when the rule was off."""
    return None if patience is None else plateaued(scores, patience, min_delta)
