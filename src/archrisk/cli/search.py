"""search: security-aware differentiable architecture search (first-order DARTS + risk penalty)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from archrisk import jsonsafe
from archrisk.cli.app import app
from archrisk.cli.common import DATA_DIR, DATASET, DEVICE, JSON, SEED, Penalty, console, print_json, table
from archrisk.paths import check_output, write_output


@app.command("search")
def search_cmd(
    dataset: str = DATASET,
    budget: str = typer.Option("tiny", "--budget", help="tiny (CPU, minutes) | small | paper (DARTS' setting)"),
    penalty: Penalty = typer.Option("none", "--penalty", help="risk penalty added to the search loss"),
    lam: float = typer.Option(0.0, "--lam", help="penalty weight (>= 0)"),
    seed: int = SEED,
    epochs: Optional[int] = typer.Option(None, "--epochs", help="override the budget's epochs"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads during the search"),
    out: Optional[Path] = typer.Option(None, "--out", help="write the full result (genotype, alphas, history) as JSON"),
    group: Optional[str] = typer.Option(None, "--group", help="group of the printed study entry (default: "
                                                              "search-PENALTY, so the arms of a comparison differ)"),
    device: str = DEVICE,
    data_dir: Optional[str] = DATA_DIR,
    json_out: bool = JSON,
) -> None:
    """Search a cell; print its genotype (usable as an arch string in studies) and structure."""
    from archrisk.errors import InvalidValueError
    from archrisk.runner.config import GROUP_RULE, is_group_name
    from archrisk.search import search

    group = group or f"search-{penalty}"
    if not is_group_name(group):
        raise InvalidValueError(f"--group {group!r}: {GROUP_RULE}")
    if out is not None:
        out = check_output(out, "--out")  # before the search, not after it
    overrides = {"epochs": epochs} if epochs is not None else {}
    r = search(dataset, budget=budget, penalty=penalty, lam=lam, seed=seed, device=device,
               progress=not json_out, data_dir=data_dir, threads=threads, **overrides)
    record = r.to_dict()
    label = f"search-{penalty}-{lam:g}-s{seed}"  # a study's archs entry for this cell (TOML literal string)
    record["study_entry"] = f"{{ genotype = '{r.genotype.to_json()}', label = \"{label}\", group = \"{group}\" }}"
    if out is not None:
        write_output(out, (jsonsafe.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    if json_out:
        print_json(record)
        return
    console.print(r.genotype.format(), highlight=False, markup=False, soft_wrap=True)
    console.print(r.genotype.draw("normal"), highlight=False, markup=False)
    table("cell structure", ["cell", *vars(r.genotype.stats())],
          [[c, *vars(r.genotype.stats(c)).values()] for c in ("normal", "reduce")])
    last = r.history[-1] if r.history else {}
    console.print(f"penalty {penalty} x {lam}; supernet train acc {last.get('train_acc', float('nan')):.3f}, "
                  f"alpha-half acc {last.get('val_acc', float('nan')):.3f}; {r.wall_time:.0f}s on {r.device}"
                  + (f"; written to {out}" if out else ""))
    console.print("study entry: " + record["study_entry"], highlight=False, markup=False, soft_wrap=True)
