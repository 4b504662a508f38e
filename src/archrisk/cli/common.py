"""Options shared by several commands, and small output helpers."""
from __future__ import annotations

import re
import sys
from typing import Any, Literal, Optional

import typer
from rich.console import Console
from rich.table import Table

from archrisk import jsonsafe, vocab
from archrisk.errors import InvalidValueError

console = Console()
err_console = Console(stderr=True)  # progress and notes, so stdout stays clean for --json

# Closed choices, as types: the parser checks them, --help lists them, shells complete them. They
# come from archrisk's vocabulary (torch-free), which the registries are checked against (tests/cli).
Size = Literal[vocab.SIZES]
RecipeName = Literal[vocab.RECIPES]
Executor = Literal[vocab.EXECUTORS]
Penalty = Literal[vocab.PENALTIES]
AdvMethod = Literal[vocab.ADV_METHODS]

DEVICE_RULE = re.compile(r"cpu|cuda(:\d+)?|mps")


def _device(value: Optional[str]) -> Optional[str]:
    if value is not None and not DEVICE_RULE.fullmatch(value):
        near = did_you_mean(value, ("cpu", "cuda", "cuda:0", "mps"))
        raise typer.BadParameter(f"{value!r} is not a device; use cpu, cuda, cuda:N or mps{near}")
    return value


def did_you_mean(value: str, options: tuple[str, ...] | list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


DATASET = typer.Option("mnist5k", "--dataset", "-d", help="dataset name (see `archrisk list`), or your own "
                                                          "data: npz:FILE.npz or folder:DIR (class sub-folders)")
SIZE = typer.Option("tiny", "--size", "-s", help="size preset")
SEED = typer.Option(0, "--seed", help="seed of the job (init, data order, attack randomness)")
DEVICE = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N | mps", callback=_device)
DATA_DIR = typer.Option(None, "--data-dir", help="folder holding the standard dataset archives")
RECIPE = typer.Option("study", "--recipe", help="training recipe preset")
# The results store, named the same way by every command that reads or writes one.
STORE = typer.Option("results.db", "--store", "-S", help="SQLite results store")


def store_arg(option: str, positional: Optional[str]) -> str:
    """The store from --store, or from the older positional spelling (still accepted, with a note)."""
    if positional is None:
        return option
    if option != "results.db" and option != positional:
        raise InvalidValueError(f"two stores given ({positional!r} and --store {option!r}); give one, with --store")
    if sys.stderr.isatty():  # for people; scripts reading stderr keep their one-line errors
        err_console.print(f"note: give the store as --store {positional}; the positional form is deprecated",
                          highlight=False)
    return positional


JSON = typer.Option(False, "--json", help="print the result as JSON")
FULL = typer.Option(False, "--full", "--arrays", help="with --json: include the per-sample arrays")


def print_json(record: Any) -> None:
    sys.stdout.write(jsonsafe.dumps(record, indent=2, sort_keys=True) + "\n")  # NaN -> null


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r])
    console.print(t)
