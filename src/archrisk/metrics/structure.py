"""Cell structure of the normal cell, exposed as metrics so every property is one table.

Definitions are the architecture package's (`Genotype.stats`): depth = intermediate nodes on the
longest input -> output chain, width = nodes fed directly by a cell input, skips = skip_connect
edges, parametric = convolution edges. Hand-designed networks have no cell: their values are NaN
(with `extra['reason']`), so they drop out of correlations instead of posing as zeros.
"""
from __future__ import annotations

import math

from archrisk.meaning import Meaning
from archrisk.metrics.base import Estimate, MetricContext, register_metric

_FIELDS = {"cell_depth": "depth", "cell_width": "width", "cell_skips": "skips", "cell_parametric": "parametric"}


@register_metric(kind="arch", metrics={
    "cell_depth": "normal cell: intermediate nodes on the longest chain (NaN for manual nets)",
    "cell_width": "normal cell: intermediate nodes fed by a cell input (NaN for manual nets)",
    "cell_skips": "normal cell: skip-connect edges (NaN for manual nets)",
    "cell_parametric": "normal cell: convolution edges (NaN for manual nets)",
}, meanings={  # the study (C8): NAS favours shallow, wide cells with skip connections
    "cell_depth": Meaning(-1, claims=("C8",)), "cell_width": Meaning(1, claims=("C8",)),
    "cell_skips": Meaning(1, claims=("C8",)), "cell_parametric": Meaning()})
def structure(ctx: MetricContext, cfg: object, names: tuple[str, ...]) -> dict[str, Estimate]:
    spec = ctx.spec if ctx.spec is not None else getattr(ctx.model, "spec", None)
    genotype = getattr(spec, "genotype", None)
    if genotype is None:
        why = f"{getattr(spec, 'name', 'this model')} has no cell genotype (hand-designed network)"
        return {n: Estimate(math.nan, None, {"reason": why}) for n in _FIELDS}
    stats = genotype.stats("normal")
    return {n: Estimate(float(getattr(stats, f)), None, {"cell": "normal"}) for n, f in _FIELDS.items()}
