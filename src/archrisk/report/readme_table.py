"""The findings table of a shipped report, as Markdown, generated from its claims tables and written
between two markers in a README: each claim, its verdict, its primary effect(s) with interval, and power.

The README's table is never edited by hand; `make reference` rewrites it and a test checks that it
equals what the committed tables give.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from archrisk.errors import InvalidValueError
from archrisk.report.page import fmt

START = "<!-- reference-table:start (generated from docs/reference/tables by `make reference`; do not edit) -->"
END = "<!-- reference-table:end -->"


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        raise InvalidValueError(f"report table {str(path)!r} cannot be read ({e.strerror}); render the report first") from None


def _num(x: str) -> float:
    try:
        return float(x)
    except ValueError:
        return math.nan


def _scale(s: str) -> str:
    """'dataset=mnist5k, size=tiny' -> 'mnist5k'."""
    parts = dict(kv.split("=", 1) for kv in s.split(", ") if "=" in kv)
    return parts.get("dataset", s) or "-"


def _effect(t: dict[str, str]) -> str:
    est, lo, hi = (_num(t[k]) for k in ("estimate", "lo", "hi"))
    unit = " (log)" if t["log_scale"] == "True" else ""
    interval = f" [{fmt(lo)}, {fmt(hi)}]" if math.isfinite(lo) else ""
    question = f" ({t['estimand']} effects)" if t.get("estimand") in ("fixed", "random") else ""
    at = " at the SESOI" if "estimand" in t else ""  # tables written before power moved to the SESOI say less
    return (f"{_scale(t['scale'])}: {fmt(est)}{interval}{unit}{question}, {t['verdict']}, "
            f"power {fmt(_num(t['power']))}{at}")


def claims_markdown(tables: str | Path) -> str:
    """The table, from `tables`/claims.csv and `tables`/claim_tests.csv (their confirmatory rows)."""
    tables = Path(tables)
    claims = _rows(tables / "claims.csv")
    tests = [t for t in _rows(tables / "claim_tests.csv") if t.get("role", "confirmatory") == "confirmatory"]
    lines = ["| claim | verdict | primary effect per scale: estimate [95% CI], test verdict, power | why |",
             "|---|---|---|---|"]
    for c in claims:
        effects = "; ".join(_effect(t) for t in tests if t["claim"] == c["id"]) or "-"
        why = c["reason"].replace("|", "/") if c["verdict"] not in ("reproduced", "reversed", "no effect") else ""
        lines.append(f"| {c['id']} {c['claim']} | **{c['verdict']}** | {effects} | {why} |")
    return "\n".join(lines)


def readme_block(text: str) -> str:
    """The generated table currently between the markers of a README's `text`."""
    if START not in text or END not in text:
        raise InvalidValueError("the README has no reference-table markers; add the start and end markers "
                                "where the table goes")
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def write_readme_table(readme: str | Path, tables: str | Path) -> None:
    """Replace the table between the markers of `readme` with the one `tables` give."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    readme_block(text)  # the markers exist
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{START}\n{claims_markdown(tables)}\n{END}{tail}", encoding="utf-8")
