"""attack, attacks: run one attack on one architecture; list the attacks and their defaults."""
from __future__ import annotations

import re
from typing import Optional

import typer

from archrisk.cli.app import app
from archrisk.cli.common import (DATA_DIR, DATASET, DEVICE, FULL, JSON, RECIPE, SEED, SIZE, RecipeName, Size,
                                 console, print_json, table)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt(x) for x in v) + ")" if v else "()"
    return str(v)


# A sentence ends at ". " before a capital, unless the period closes an abbreviation ("et al.", "e.g.").
_SENTENCE_END = re.compile(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bcf)\.\s+(?=[A-Z(])")


def _summary(doc: str | None) -> str:
    """The first sentence of a docstring."""
    text = " ".join((doc or "").split("\n\n")[0].split())
    return _SENTENCE_END.split(text, maxsplit=1)[0].rstrip(".")


def _list(json_out: bool) -> None:
    from archrisk.attacks import list_attacks

    rows = [{"name": c.name, "family": c.family, "needs_victim": c.needs_victim,
             "doc": _summary(c.__doc__), "defaults": c().config()} for c in list_attacks()]
    if json_out:
        print_json(rows)
        return
    table("attacks", ["name", "family", "defaults", "description"],
          [[r["name"], r["family"], " ".join(f"{k}={_fmt(v)}" for k, v in r["defaults"].items()), r["doc"]]
           for r in rows])


@app.command("attacks")
def attacks_cmd(json_out: bool = JSON) -> None:
    """Every registered attack with its family and default parameters."""
    _list(json_out)


@app.command()
def attack(
    arch: Optional[str] = typer.Argument(None, help="architecture name, 'random(k)' or a genotype"),
    name: Optional[str] = typer.Option(None, "--attack", "-a", help="attack name (see `archrisk attacks`)"),
    dataset: str = DATASET,
    size: Size = SIZE,
    seed: int = SEED,
    recipe: RecipeName = RECIPE,
    epochs: Optional[int] = typer.Option(None, min=1, help="victim training epochs; default: the size preset's"),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="attack parameter override key=value (repeatable)"),
    device: str = DEVICE,
    data_dir: Optional[str] = DATA_DIR,
    no_cache: bool = typer.Option(False, "--no-cache", help="retrain the victim even if a checkpoint exists"),
    model: Optional[str] = typer.Option(None, "--model", help="your own model instead of ARCH: "
                                        "package.module:factory, a callable returning an nn.Module for inputs "
                                        "in [0, 1]; this IMPORTS AND RUNS that module (your code)"),
    weights: Optional[str] = typer.Option(None, "--weights", help="with --model: trained weights "
                                          "(.safetensors only); without, the factory's model is trained first"),
    list_: bool = typer.Option(False, "--list", help="list the attacks and exit"),
    json_out: bool = JSON,
    full: bool = FULL,
) -> None:
    """Train (or load) the victim, run one attack and print its metrics."""
    from archrisk.attacks import get_attack, run_attack
    from archrisk.errors import InvalidValueError
    from archrisk.validate import parse_sets

    if list_:
        _list(json_out)
        return
    if name is None or (arch is None) == (model is None):
        raise InvalidValueError("name an architecture or --model package.module:factory (one of them), "
                                "and --attack NAME (or use --list)")
    if weights is not None and model is None:
        raise InvalidValueError("--weights needs --model package.module:factory (zoo victims come from the cache)")
    # --set strings typed by the attack's annotations; bad names and values fail before any training
    atk = get_attack(name, **parse_sets(sets, [type(get_attack(name))]))
    target, factory = arch, None
    if model is not None:
        from archrisk.arch.user import load_factory, load_weights_file

        factory = load_factory(model)
        target = load_weights_file(factory(), weights) if weights is not None else factory
    r = run_attack(target, atk, data=dataset, size=size, seed=seed, recipe=recipe, device=device,
                   cache=not no_cache, progress=not json_out, data_dir=data_dir, epochs=epochs,
                   **({"factory": factory} if weights is not None else {}))
    if json_out:
        print_json(r.to_record() if full else r.summary())
        return
    table(f"{r.attack} ({r.family}) on {r.arch}, {r.dataset}, seed {r.seed}", ["metric", "value"],
          [[k, v] for k, v in r.metrics.items()])
    for cname, rows in r.curves.items():
        if rows:
            cols = list(rows[0])
            table(f"curve over {cname}", cols, [[row[c] for c in cols] for row in rows])
    raised = [k for k, v in r.flags.items() if v]
    if raised:
        console.print(f"[bold red]validity flags raised:[/bold red] {', '.join(raised)}")
    console.print(f"wall time {r.wall_time:.1f}s on {r.device}")
