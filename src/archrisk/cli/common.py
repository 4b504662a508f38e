"""Options shared by several commands, and small output helpers."""
from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from archrisk import jsonsafe
from archrisk.errors import InvalidValueError

console = Console()

DATASET = typer.Option("mnist5k", "--dataset", "-d", help="dataset name (see `archrisk list`)")
SIZE = typer.Option("tiny", "--size", "-s", help="size preset: tiny | small | paper")
SEED = typer.Option(0, "--seed", help="seed of the job (init, data order, attack randomness)")
DEVICE = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N")
DATA_DIR = typer.Option(None, "--data-dir", help="folder holding the standard dataset archives")
RECIPE = typer.Option("study", "--recipe", help="training recipe preset: study | darts")
JSON = typer.Option(False, "--json", help="print the result as JSON")
FULL = typer.Option(False, "--full", "--arrays", help="with --json: include the per-sample arrays")


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """`--set key=value` pairs; values are parsed as JSON when they can be (numbers, lists, bools)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidValueError(f"--set {item!r} must look like key=value")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def print_json(record: Any) -> None:
    sys.stdout.write(jsonsafe.dumps(record, indent=2, sort_keys=True) + "\n")  # NaN -> null


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r])
    console.print(t)
