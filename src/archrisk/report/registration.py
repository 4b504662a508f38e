"""A pre-registered analysis plan, cited by the report: the plan file and the commits that registered
and amended it (read from git where the plan lives in a checkout).

With a plan, the claims' primary tests are the confirmatory analysis and every other section of the
report is labelled exploratory: the plan registers the claims' rules (`claims`, `verdicts`), nothing
else.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from archrisk.errors import InvalidValueError


@dataclass(frozen=True)
class Commit:
    sha: str  # abbreviated
    date: str  # YYYY-MM-DD
    subject: str


@dataclass(frozen=True)
class Registration:
    plan: str  # the plan's path as given
    commits: tuple[Commit, ...]  # oldest first: the registering commit, then amendments

    @property
    def line(self) -> str:
        if not self.commits:
            return (f"Analysis plan: {self.plan} (its commit history is not available here, so the registration "
                    "cannot be cited).")
        first, *rest = self.commits
        out = f"Pre-registered in {self.plan} at commit {first.sha} ({first.date})"
        if rest:
            out += "; amended at " + ", ".join(f"{c.sha} ({c.date}: {c.subject})" for c in rest)
        return out + ". The claims' primary tests are confirmatory; every other section is exploratory."


def _git_log(path: Path) -> tuple[Commit, ...]:
    try:
        out = subprocess.run(["git", "log", "--follow", "--format=%h%x09%ad%x09%s", "--date=short", "--", path.name],
                             cwd=path.parent, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    rows = [line.split("\t", 2) for line in out.splitlines() if line.count("\t") >= 2]
    return tuple(Commit(*r) for r in reversed(rows))


def read_registration(plan: str | Path) -> Registration:
    """The plan at `plan` (it must exist) and its registering and amending commits."""
    path = Path(plan)
    if not path.is_file():
        raise InvalidValueError(f"analysis plan {str(plan)!r} is not a file; give the plan the study was registered with")
    return Registration(str(plan), _git_log(path.resolve()))
