"""list, info, train: the foundation commands."""
from __future__ import annotations

from typing import Optional

import typer

from archrisk.cli.app import app
from archrisk.cli.common import (DATA_DIR, DATASET, DEVICE, JSON, RECIPE, SEED, SIZE, AdvMethod, RecipeName, Size,
                                 console, print_json, table)


@app.command("list")
def list_cmd(
    pattern: Optional[str] = typer.Argument(None, help="glob on architecture names, e.g. 'darts*'"),
    group: Optional[str] = typer.Option(None, help="nas | manual | random | remedy"),
) -> None:
    """Every architecture, dataset and size preset."""
    from archrisk.arch import SIZES, list_models
    from archrisk.train import SIZE_RECIPES
    from archrisk.data import list_datasets

    table("architectures", ["name", "kind", "group", "method", "source"],
          [[m.name, m.kind, m.group, m.method or "-", m.source] for m in list_models(pattern, group)])
    if pattern is None and group is None:
        table("datasets", ["name", "shape", "classes", "needs files", "description"],
              [[d.name, "x".join(map(str, d.shape)), d.num_classes, "yes" if d.needs_files else "no",
                d.description] for d in list_datasets()])
        table("size presets", ["name", "cells C", "cells layers", "manual width", "epochs", "use"],
              [[p.name, p.C, p.layers, p.width, SIZE_RECIPES[p.name].epochs, p.description] for p in SIZES.values()])


@app.command()
def info(
    arch: str = typer.Argument(..., help="name, 'random(k)', or a genotype (DARTS syntax or JSON)"),
    size: Size = SIZE,
    dataset: str = typer.Option("cifar10", "--dataset", "-d", help="sets input shape and classes"),
    json_out: bool = JSON,
) -> None:
    """Structure of an architecture: cells drawn as text, cell stats, parameters and FLOPs."""
    from archrisk.arch import build, count_flops, count_params
    from archrisk.arch.zoo import model_entry
    from archrisk.data.registry import get_dataset_entry

    ds = get_dataset_entry(dataset)[0]
    model = build(arch, num_classes=ds.num_classes, in_channels=ds.shape[0], size=size)
    spec = model.spec
    entry = model_entry(spec.name)  # None for sampled, remedied and custom architectures
    record = {"name": spec.name, "kind": spec.kind, "group": spec.group, "size": size,
              "input": list(ds.shape), "params": count_params(model),
              "macs": count_flops(model, ds.shape), "spec_hash": spec.hash(),
              "method": entry.method if entry else None, "source": entry.source if entry else None,
              "code": (entry.code or None) if entry else None}
    if spec.genotype is not None:
        record["genotype"] = spec.genotype.format()
        for cell in ("normal", "reduce"):
            record[f"{cell}_cell"] = vars(spec.genotype.stats(cell))
    if json_out:
        print_json(record)
        return
    method = f", method {record['method']}" if record["method"] else ""
    console.print(f"[bold]{spec.name}[/bold]  ({spec.kind}, group {spec.group}{method}, size {size}, input {ds.shape})")
    for key in ("source", "code"):
        if record[key]:
            console.print(f"{key}: {record[key]}", highlight=False, markup=False)
    if spec.genotype is not None:
        for cell in ("normal", "reduce"):
            console.print(spec.genotype.draw(cell), highlight=False, markup=False)
        table("cell structure", ["cell", *vars(spec.genotype.stats("normal"))],
              [[c, *vars(spec.genotype.stats(c)).values()] for c in ("normal", "reduce")])
    console.print(f"parameters: {record['params']:,}   multiply-adds: {record['macs']:,}   spec hash: {record['spec_hash']}")


@app.command()
def train(
    arch: str = typer.Argument(..., help="name, 'random(k)', or a genotype"),
    dataset: str = DATASET,
    size: Size = SIZE,
    epochs: Optional[int] = typer.Option(None, min=1, help="default: the size preset's; with --patience, the cap"),
    seed: int = SEED,
    recipe: RecipeName = RECIPE,
    patience: Optional[int] = typer.Option(None, "--patience", help="train until validation accuracy has not risen "
                                           "for this many epochs in a row (the epochs being the cap)"),
    min_delta: Optional[float] = typer.Option(None, "--min-delta", help="with --patience: the accuracy gain (0..1) "
                                              "that counts as a rise (default 0)"),
    width: Optional[float] = typer.Option(None, help="manual nets: channel multiplier"),
    params: Optional[int] = typer.Option(None, help="manual nets: pick the width matching this parameter count"),
    adv_train: Optional[AdvMethod] = typer.Option(None, "--adv-train", help="adversarial training method"),
    adv_eps: Optional[float] = typer.Option(None, "--adv-eps", help="with --adv-train: L-inf budget (default "
                                            "8/255; 8x8 digits need more, e.g. 0.1)"),
    adv_alpha: Optional[float] = typer.Option(None, "--adv-alpha", help="with --adv-train: PGD step (default 2/255)"),
    adv_steps: Optional[int] = typer.Option(None, "--adv-steps", help="with --adv-train: PGD steps (default 7)"),
    device: str = DEVICE,
    data_dir: Optional[str] = DATA_DIR,
    no_cache: bool = typer.Option(False, "--no-cache", help="retrain even if a checkpoint exists"),
    json_out: bool = JSON,
) -> None:
    """Train an architecture (or load it from the checkpoint cache) and print its accuracy."""
    from archrisk.train import train_model

    from archrisk.errors import InvalidValueError

    budget = {k: v for k, v in (("adv_eps", adv_eps), ("adv_alpha", adv_alpha), ("adv_steps", adv_steps))
              if v is not None}
    if budget and not adv_train:
        raise InvalidValueError(f"--{next(iter(budget)).replace('_', '-')} needs --adv-train pgd or trades")
    overrides = {"adv_train": adv_train, **budget} if adv_train else {}
    overrides.update({k: v for k, v in (("patience", patience), ("min_delta", min_delta)) if v is not None})
    r = train_model(arch, dataset, recipe=recipe, size=size, seed=seed, epochs=epochs, device=device,
                    width=width, params=params, cache=not no_cache, progress=not json_out,
                 data_dir=data_dir, **overrides)
    if json_out:
        print_json(r.summary())
        return
    src = "cache" if r.from_cache else f"trained in {r.wall_time:.1f}s"
    ran = "" if r.converged is None else (f", converged after {r.epochs_run} epochs" if r.converged
                                          else ", not converged at the cap")
    console.print(f"{r.spec.name} on {r.dataset}: test accuracy {r.test_acc:.4f} "
                  f"(val {r.val_acc:.4f}, best epoch {r.best_epoch}/{r.epochs}{ran}, {src})")
