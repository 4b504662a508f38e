"""report: render a results store as a self-contained HTML audit."""
from __future__ import annotations

import typer

from archrisk.cli import app
from archrisk.cli.common import JSON, console, print_json


@app.command("report")
def report_cmd(
    store: str = typer.Argument(..., help="results store (SQLite) written by `archrisk audit`"),
    out: str = typer.Option("report", "--out", "-o", help="output folder (created if missing)"),
    json_out: bool = JSON,
) -> None:
    """Write index.html (figures inline), figures/*.png and tables/*.csv from a results store."""
    from archrisk.report import report

    index = report(store, out)
    if json_out:
        print_json({"index": str(index), "folder": str(index.parent)})
    else:
        console.print(f"report written: {index}", highlight=False)
