"""Command line: a thin typed shell over the library.

Each command group lives in its own module and registers itself on `app`; `main` maps every
`ArchriskError` to exit code 2 and one line on stderr (no traceback).
"""
from __future__ import annotations

import re
import sys

import typer

from archrisk.cli.app import app  # noqa: F401  (tests and the console script reach it here)

# Command modules register themselves on import (order = order in --help).
from archrisk.cli import core  # noqa: F401
from archrisk.cli import attack  # noqa: F401
from archrisk.cli import explain  # noqa: F401
from archrisk.cli import audit  # noqa: F401
from archrisk.cli import remedy  # noqa: F401
from archrisk.cli import search  # noqa: F401
from archrisk.cli import score  # noqa: F401
from archrisk.cli import report  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    from archrisk.errors import ArchriskError

    if not (sys.argv[1:] if argv is None else argv):
        argv = ["--help"]  # bare `archrisk`: the help, and no empty `error:` line
    try:
        # Without standalone mode, click returns the exit code of typer.Exit/Ctrl-C instead of raising.
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int):
            return rc
    except ArchriskError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted; finished work is kept", file=sys.stderr)
        return 130
    except Exception as e:
        # Usage errors (unknown option, missing argument) from click, or from the copy of click that
        # newer typer releases vendor: told in one line with their own exit code (2 for usage).
        if hasattr(e, "format_message") and isinstance(getattr(e, "exit_code", None), int):
            print(f"error: {_with_suggestion(' '.join(e.format_message().split()))}", file=sys.stderr)
            return e.exit_code
        raise
    return 0


_NOT_ONE_OF = re.compile(r"'([^']*)' is not one of ((?:'[^']*'(?:, )?)+)")


def _with_suggestion(message: str) -> str:
    """Append "did you mean" to the parser's closed-choice errors when the value is a near miss."""
    m = _NOT_ONE_OF.search(message)
    if not m:
        return message
    from archrisk.cli.common import did_you_mean

    return message.rstrip(".") + did_you_mean(m.group(1), re.findall(r"'([^']*)'", m.group(2)))


def run() -> None:
    sys.exit(main())
