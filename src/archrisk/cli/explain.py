"""explain, metrics: architecture properties (loss smoothness, gradient variance, NTK, ...)."""
from __future__ import annotations

from typing import List, Optional

import typer

from archrisk.cli.app import app
from archrisk.cli.common import DATASET, DEVICE, JSON, RECIPE, SEED, SIZE, console, print_json, table


@app.command()
def explain(
    arch: str = typer.Argument(..., help="name, 'random(k)', or a genotype"),
    dataset: str = DATASET,
    size: str = SIZE,
    seed: int = SEED,
    at: str = typer.Option("trained", "--at", help="trained | init: which weights to measure"),
    metrics: Optional[str] = typer.Option(None, "--metrics", "-m",
                                          help="comma-separated metric names (default: all; see `archrisk metrics`)"),
    sets: Optional[List[str]] = typer.Option(None, "--set", help="metric parameter, family.name=value, e.g. --set hessian.samples=128"),
    epochs: Optional[int] = typer.Option(None, help="training length (default: the size preset's)"),
    recipe: str = RECIPE,
    device: str = DEVICE,
    json_out: bool = JSON,
) -> None:
    """Measure every explanation metric of an architecture, with standard errors and costs."""
    from archrisk import __version__
    from archrisk.arch import resolve
    from archrisk.metrics import explain as explain_fn
    from archrisk.metrics.base import metric_families
    from archrisk.validate import nest, parse_sets

    # hessian.samples=128 -> {"hessian": {"samples": 128}}, typed by the family's annotations
    params = nest(parse_sets(sets, {fam.name: fam.config for fam in metric_families()}))
    results = explain_fn(arch, dataset, size=size, seed=seed, at=at, metrics=metrics, recipe=recipe,
                         device=device, epochs=epochs, progress=not json_out, **params)
    spec = resolve(arch, size)
    if json_out:
        print_json({"arch": spec.name, "spec_hash": spec.hash(), "dataset": dataset, "size": size, "seed": seed,
                    "at": at, "recipe": recipe, "device": device, "version": __version__,
                    "metrics": {n: r.to_dict() for n, r in results.items()}})
        return
    table(f"{spec.name} on {dataset} ({size}, seed {seed}, at {at})", ["metric", "value", "± stderr", "cost (s)"],
          [[n, r.value, "" if r.stderr is None else r.stderr, f"{r.cost_s:.2f}"] for n, r in results.items()])
    console.print("costs are per metric family (metrics computed together share one)", style="dim")


@app.command("metrics")
def metrics_cmd(json_out: bool = JSON) -> None:
    """Every explanation metric, what it measures, and the parameters `--set` accepts."""
    from archrisk.metrics import describe, list_metrics, list_params
    from archrisk.metrics.base import family_of

    rows = [[n, family_of(n).kind, describe(n)] for n in list_metrics()]
    if json_out:
        print_json({"metrics": [dict(zip(["name", "kind", "description"], r)) for r in rows],
                    "params": list_params()})
        return
    table("metrics", ["name", "kind", "description"], rows)
    table("parameters (--set family.parameter=value)", ["family", "parameter", "default"],
          [[fam, p, repr(d)] for fam, ps in list_params().items() for p, d in ps.items()])
