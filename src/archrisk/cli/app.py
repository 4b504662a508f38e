"""The root command: every command module registers its commands on this `app`."""
from __future__ import annotations

import typer

app = typer.Typer(add_completion=True, pretty_exceptions_enable=False,
                  help="archrisk: measure how much security risk a neural-network architecture carries.")


def _version(value: bool) -> None:
    if value:
        from archrisk import __version__  # the one version source (pyproject reads it too)

        print(f"archrisk {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="print the version and exit", is_eager=True,
                                       callback=_version)) -> None:
    """archrisk: measure how much security risk a neural-network architecture carries."""
