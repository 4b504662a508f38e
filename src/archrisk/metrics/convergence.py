"""Early convergence, read from a training run's per-epoch log (train()'s history and cache).

- `conv_acc_auc`  = mean validation accuracy over epochs 1..k: the normalised area under the
                    early accuracy curve, in [0, 1] (higher = converges faster).
- `conv_loss_auc` = mean training loss over epochs 1..k (lower = converges faster).
- `conv_epochs_to_T` = the first epoch whose validation accuracy reaches T% (any T in 1..99,
                    e.g. conv_epochs_to_80); runs that never reach it within the run are
                    censored at (run length + 1), which keeps their rank order for correlations
                    (`extra['reached']` says which).

k is `convergence.k`. The run is the one `train()` makes (or loads from its cache) with `convergence.epochs`
epochs; the default (None) is the size preset's length, i.e. the very run that
explain(at='trained') measures, so these metrics cost nothing extra there. A NAS-like short
proxy run is `convergence.epochs=k`. Its cosine schedule is that run's, so compare like with like.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, ClassVar

from archrisk.errors import InvalidValueError
from archrisk.meaning import Meaning
from archrisk.metrics.base import Estimate, MetricContext, register_metric
from archrisk.validate import Checked, Ge, fail

THRESHOLD = re.compile(r"conv_epochs_to_(\d{1,2})")


@dataclass(frozen=True)
class ConvergenceConfig(Checked):
    config_label: ClassVar[str] = "metric 'convergence'"
    k: Annotated[int, Ge(1)] = 3  # epochs in the early window
    epochs: Annotated[int, Ge(1)] | None = None  # training run length; None = the size preset's


@register_metric(kind="training", config=ConvergenceConfig, metrics={
    "conv_acc_auc": "mean validation accuracy over the first conv_k epochs",
    "conv_loss_auc": "mean training loss over the first conv_k epochs",
    "conv_epochs_to_90": "first epoch reaching 90% validation accuracy (censored at run length + 1)",
}, patterns={THRESHOLD.pattern: "first epoch reaching T% validation accuracy (censored at run length + 1)"},
    # the study (C8): NAS cells converge faster early, and fast early convergence goes with risk
    meanings={"conv_acc_auc": Meaning(1, claims=("C8",)), "conv_loss_auc": Meaning(-1, claims=("C8",)),
              "conv_epochs_to_*": Meaning(-1, claims=("C8",), description="first epoch reaching the "
                                          "threshold % validation accuracy (censored at run length + 1)")})
def convergence(ctx: MetricContext, cfg: ConvergenceConfig, names: tuple[str, ...]) -> dict[str, Estimate]:
    history = ctx.history_fn(cfg.epochs)
    if not history:
        raise InvalidValueError("convergence metrics need a training run with at least one epoch")
    if cfg.k > len(history):
        if "k" in ctx.explicit:
            raise fail(cfg.config_label, "k", cfg.k, f"is larger than the {len(history)}-epoch run; "
                       f"use at most {len(history)} or raise convergence.epochs")
    early = history[:cfg.k]
    k = len(early)
    common = {"k": k, "run_epochs": len(history)}
    out = {
        "conv_acc_auc": Estimate(sum(h.val_acc for h in early) / k, None,
                                 {**common, "val_acc": [h.val_acc for h in early]}),
        "conv_loss_auc": Estimate(sum(h.train_loss for h in early) / k, None,
                                  {**common, "train_loss": [h.train_loss for h in early]}),
    }
    for name in names:
        m = THRESHOLD.fullmatch(name)
        if m is None:
            continue
        pct = int(m.group(1))
        if not 1 <= pct <= 99:
            raise InvalidValueError(f"metric {name!r}: the threshold must be a percentage in 1..99")
        hit = next((h.epoch for h in history if h.val_acc >= pct / 100), None)
        out[name] = Estimate(float(hit if hit is not None else len(history) + 1), None,
                             {"threshold": pct / 100, "reached": hit is not None, "run_epochs": len(history)})
    return out
