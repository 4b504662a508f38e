"""Small helpers shared by the attack families: batched inference, sample selection, ROC, the last layer."""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from archrisk.arch.zoo import Classifier
from archrisk.data import Split
from archrisk.errors import InvalidValueError

# How an attack that works on the last layer finds it in any model (said in its error message).
HEAD_RULE = ("the model's `classifier` attribute when it is an nn.Linear (archrisk's networks), else the last "
             "nn.Linear registered in the model (in module order)")


@torch.no_grad()
def logits_of(model: torch.nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 512) -> torch.Tensor:
    """Logits of `x` (any device) computed on `device`, returned on CPU; the caller owns eval mode."""
    if len(x) == 0:
        return torch.empty(0)
    return torch.cat([model(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)])


def probs_of(model: torch.nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 512) -> torch.Tensor:
    return F.softmax(logits_of(model, x, device, batch_size), dim=1)


def convergence_of(prefix: str, runs: list[tuple[int, bool | None]]) -> dict[str, float]:
    """`<prefix>_epochs_run` (mean) and `<prefix>_converged` (share, 0..1) of the models an attack
    trained, from (epochs run, converged) per model; empty when the convergence rule was off."""
    runs = [(e, c) for e, c in runs if c is not None]
    if not runs:
        return {}
    return {f"{prefix}_epochs_run": sum(e for e, _ in runs) / len(runs),
            f"{prefix}_converged": sum(bool(c) for _, c in runs) / len(runs)}


def first_correct(model: torch.nn.Module, split: Split, n: int, device: torch.device) -> tuple[torch.Tensor, float]:
    """Indices of the first `n` correctly classified images of `split` (its order is stratified, so a
    prefix keeps class proportions), and the clean accuracy over the images scanned to find them."""
    pred = logits_of(model, split.x, device).argmax(1)
    correct = (pred == split.y).nonzero().flatten()
    chosen = correct[:n]
    scanned = int(chosen[-1]) + 1 if len(chosen) == n else len(split)
    acc = float((pred[:scanned] == split.y[:scanned]).float().mean()) if scanned else float("nan")
    return chosen, acc


def subsample(n_avail: int, n: int, gen: torch.Generator, what: str) -> torch.Tensor:
    """`n` distinct random indices in [0, n_avail); fewer, with a warning, when fewer exist."""
    if n > n_avail:
        warnings.warn(f"{what}: asked for {n} samples but only {n_avail} exist; using {n_avail}", stacklevel=3)
        n = n_avail
    return torch.randperm(n_avail, generator=gen)[:n].sort().values


def roc(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC of `scores` (higher = more likely positive) against binary `labels`: (fpr, tpr), starting
    at (0, 0), one point per distinct score (tied scores form one step, so the curve and its AUC do
    not depend on sample order). Every point is kept (the curve is stored and `tpr_at` reads it);
    a class absent from `labels` gives its rate as 0 rather than scikit-learn's NaN."""
    from sklearn.exceptions import UndefinedMetricWarning  # scikit-learn loads only when a ROC is asked for
    from sklearn.metrics import roc_curve

    scores = np.asarray(scores, dtype=float)
    if not np.isfinite(scores).all():
        bad = int((~np.isfinite(scores)).sum())
        raise InvalidValueError(f"{bad} of {scores.size} membership scores are NaN or infinite; the model's "
                                "outputs must be finite for a ROC")
    with warnings.catch_warnings():  # one class absent: sklearn warns and returns NaN rates
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        fpr, tpr, _ = roc_curve(np.asarray(labels).astype(bool), scores, drop_intermediate=False)
    return np.nan_to_num(fpr, nan=0.0), np.nan_to_num(tpr, nan=0.0)


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under the ROC by the trapezoid rule (ties count one half). Never folded to max(AUC, 1-AUC):
    an attack whose scores point the wrong way is a weak attack, not a strong one."""
    from sklearn.metrics import auc as trapezoid_auc

    return float(trapezoid_auc(fpr, tpr))


def tpr_at(fpr: np.ndarray, tpr: np.ndarray, max_fpr: float) -> float:
    """Highest TPR reachable with FPR <= max_fpr (a threshold strictly above every negative gives FPR 0)."""
    ok = fpr <= max_fpr + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def pick_targets(logits: torch.Tensor, y: torch.Tensor, mode: str, gen: torch.Generator) -> torch.Tensor:
    """Target classes for a targeted attack: the least likely class (the study's worst case for the
    attacker), the most likely wrong class (best case), or a uniformly random wrong class."""
    if mode == "least_likely":
        return logits.argmin(1)
    masked = logits.clone()
    masked[torch.arange(len(y)), y] = float("-inf")
    if mode == "most_likely_wrong":
        return masked.argmax(1)
    k = logits.shape[1]
    shift = torch.randint(1, k, (len(y),), generator=gen)  # uniform over the k-1 wrong classes
    return (y.cpu() + shift) % k


def final_linear(model: torch.nn.Module, num_classes: int, attack: str) -> torch.nn.Linear:
    """The layer mapping penultimate features to the `num_classes` logits, found by `HEAD_RULE`."""
    head = getattr(model, "classifier", None)  # None, not an error, for a wrapped module without one
    if not isinstance(head, torch.nn.Linear):
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        head = linears[-1] if linears else None
    if head is None or head.out_features != num_classes:
        found = "none" if head is None else f"one with {head.out_features} outputs"
        raise InvalidValueError(f"attack {attack!r} needs the final nn.Linear layer that maps features to the "
                                f"{num_classes} class logits; it takes {HEAD_RULE}, and found {found} in "
                                f"{type(getattr(model, 'net', model)).__name__}")
    return head


def features_of(model: torch.nn.Module, head: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """The input of `head` when `model` sees `x` (the penultimate features [N, dim], differentiable):
    `penultimate()` on archrisk's networks, else caught by a hook on the head's last call."""
    if isinstance(model, Classifier) and model.spec.kind != "user":
        return model.penultimate(x)
    seen: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _mod, args: seen.append(args[0]))
    try:
        model(x)
    finally:
        hook.remove()
    if not seen:
        raise InvalidValueError(f"the final nn.Linear layer found by {HEAD_RULE} is never called in "
                                f"{type(getattr(model, 'net', model)).__name__}.forward")
    return seen[-1].flatten(1)
