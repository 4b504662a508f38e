"""Explanation metrics: the architecture properties the study links to attack success.

One file per property, each registering its metrics with `@register_metric`:
hessian (loss smoothness in weights), inputs (input-gradient norm, local Lipschitz),
gradients (gradient variance), ntk (NTK conditioning), convergence (early training curve),
structure (cell depth / width / skips / convolutions).

    measure(model, data, metrics=None, seed=0, device='cpu', **params) -> {name: MetricResult}
    explain(arch, dataset, size=, seed=, at='trained'|'init', ...)    -> {name: MetricResult}

`params` are nested per family, e.g. `hessian={"samples": 128}, memory_limit_gb=4` (`list_params()`).
"""
# Importing a family registers it; the order here is the order of every metrics table.
from archrisk.metrics import hessian  # noqa: F401,I001
from archrisk.metrics import inputs  # noqa: F401
from archrisk.metrics import gradients  # noqa: F401
from archrisk.metrics import ntk  # noqa: F401
from archrisk.metrics import convergence  # noqa: F401
from archrisk.metrics import structure  # noqa: F401
from archrisk.metrics import landscape  # noqa: F401
from archrisk.metrics.api import explain, list_params, measure
from archrisk.metrics.base import (Estimate, MetricContext, MetricResult, describe, list_metrics, meaning_of,
                                   register_metric)

__all__ = ["Estimate", "MetricContext", "MetricResult", "describe", "explain", "list_metrics", "list_params",
           "meaning_of", "measure", "register_metric"]
