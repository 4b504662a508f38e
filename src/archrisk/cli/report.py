"""report: render a results store as a self-contained HTML audit."""
from __future__ import annotations

from typing import Optional

import typer

from archrisk.cli.app import app
from archrisk.cli.common import JSON, STORE, console, err_console, print_json, store_arg


@app.command("report")
def report_cmd(
    old_store: Optional[str] = typer.Argument(None, help="(deprecated: use --store) results store",
                                              show_default=False),
    store: str = STORE,
    out: str = typer.Option("report", "--out", "-o", help="output folder (created if missing)"),
    plan: Optional[str] = typer.Option(None, "--plan", help="the pre-registered analysis plan the study followed: "
                                       "the report cites its commits and labels unregistered sections exploratory",
                                       show_default=False),
    readme: Optional[str] = typer.Option(None, "--readme", help="rewrite the findings table between the "
                                         "reference-table markers of this file from the report's tables",
                                         show_default=False),
    json_out: bool = JSON,
) -> None:
    """Write index.html (figures inline), figures/*.png and tables/*.csv from a results store."""
    from archrisk.report import write_report

    store = store_arg(store, old_store)
    if readme is not None:
        _check_readme(readme)  # before the report is rendered, not after it
    with err_console.status(f"writing the report of {store} ..."):  # stderr: --json stays clean
        index = write_report(store, out, plan=plan)
        if readme is not None:
            from archrisk.report.readme_table import write_readme_table

            write_readme_table(readme, index.parent / "tables")
    if json_out:
        print_json({"index": str(index), "folder": str(index.parent)})
    else:
        console.print(f"report written: {index}", highlight=False)


def _check_readme(readme: str) -> None:
    """The README to rewrite exists, can be written, and holds the table's markers."""
    from pathlib import Path

    from archrisk.errors import InvalidValueError
    from archrisk.paths import check_output
    from archrisk.report.readme_table import readme_block

    path = Path(readme).expanduser()
    if not path.is_file():
        raise InvalidValueError(f"--readme {readme!r} is not a file; give the README whose findings table "
                                "to rewrite")
    check_output(path, "--readme")
    readme_block(path.read_text(encoding="utf-8", errors="replace"))
