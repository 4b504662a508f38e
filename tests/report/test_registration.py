"""A registered plan: the report cites the commits that registered and amended it."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from archrisk.errors import InvalidValueError
from archrisk.report.registration import read_registration


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_registering_commit_comes_first_then_amendments(tmp_path):
    _git(tmp_path, "init", "-q")
    plan = tmp_path / "PLAN.md"
    plan.write_text("plan\n")
    _git(tmp_path, "add", "PLAN.md")
    _git(tmp_path, "commit", "-qm", "Register the plan")
    plan.write_text("plan\namendment\n")
    _git(tmp_path, "commit", "-qam", "Amend the plan")
    r = read_registration(plan)
    assert [c.subject for c in r.commits] == ["Register the plan", "Amend the plan"]
    assert f"at commit {r.commits[0].sha}" in r.line and "amended at" in r.line


def test_a_plan_outside_git_is_named_but_not_cited(tmp_path):
    plan = tmp_path / "PLAN.md"
    plan.write_text("plan\n")
    assert "cannot be cited" in read_registration(plan).line
    with pytest.raises(InvalidValueError, match="not a file"):
        read_registration(tmp_path / "missing.md")
