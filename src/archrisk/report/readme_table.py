"""The findings of a shipped report, as Markdown, generated from its tables and written between markers
in a README: the findings table (each claim, its verdict, its primary effect(s) with interval, and
power) and, where the README marks a place for it, the findings text (per claim, both questions with
their intervals and power, the reason, and the victims' clean accuracy per scale).

Neither is edited by hand; `make reference` rewrites them and a test checks that they equal what the
committed tables give.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from archrisk.errors import InvalidValueError
from archrisk.report.page import fmt

START = "<!-- reference-table:start (generated from the shipped reference report's tables by `make reference`; do not edit) -->"
END = "<!-- reference-table:end -->"
FINDINGS_START = ("<!-- reference-findings:start (generated from the shipped reference report's tables by "
                  "`make reference`; do not edit) -->")
FINDINGS_END = "<!-- reference-findings:end -->"


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


def _question(t: dict[str, str]) -> str:
    if t["design"] == "groups":
        what = (f"{t['estimand']} effects, NAS - {t['versus']} ({t['units_a']} vs {t['units_b']} architectures, "
                f"up to {t['seeds']} seeds)")
    else:
        what = f"paired by seed against the source cell ({t['units_a']} seeds)"
    est, lo, hi = (_num(t[k]) for k in ("estimate", "lo", "hi"))
    interval = f" [{fmt(lo)}, {fmt(hi)}]" if math.isfinite(lo) else ""
    log = " (log scale)" if t["log_scale"] == "True" else ""
    return (f"{what}: {fmt(est)}{interval}{log}, power {fmt(_num(t['power']))} at the smallest effect of "
            f"interest {fmt(_num(t['sesoi']))}")


def findings_markdown(tables: str | Path) -> str:
    """The findings text, from `tables`/claims.csv, claim_tests.csv and accuracy_by_scale.csv."""
    tables = Path(tables)
    lines = []
    acc = [r for r in _rows(tables / "accuracy_by_scale.csv") if r["group"] in ("nas", "manual", "random")] \
        if (tables / "accuracy_by_scale.csv").is_file() else []
    for scale in dict.fromkeys(r["scale"] for r in acc):
        here = [r for r in acc if r["scale"] == scale]
        groups = "; ".join(f"{r['group']} {fmt(_num(r['median']))} ({r['architectures']} architectures, "
                           f"{r['victims excluded']} victims excluded)" for r in here)
        lines.append(f"- Victims{' at ' + _scale(scale) if scale else ''}: median clean accuracy {groups}.")
    models = _rows(tables / "attack_models.csv") if (tables / "attack_models.csv").is_file() else []
    for r in models:
        lines.append(f"- The {r['what']}{' at ' + _scale(r['scale']) if r['scale'] else ''} ({r['attack']}): median "
                     f"{fmt(_num(r['median']))} over {r['victims']} victims (range {fmt(_num(r['min']))}-"
                     f"{fmt(_num(r['max']))}).")
    tests = _rows(tables / "claim_tests.csv")
    for c in _rows(tables / "claims.csv"):
        mine = [t for t in tests if t["claim"] == c["id"]]
        parts = []
        for scale in dict.fromkeys(t["scale"] for t in mine):
            rows = sorted((t for t in mine if t["scale"] == scale), key=lambda t: t.get("role") != "confirmatory")
            parts.append(f"{_scale(scale) + ': ' if scale else ''}" + "; beside it, ".join(_question(t) for t in rows))
        measured = f" {'. '.join(parts)}." if parts else ""
        shown = c["reason"] and (c["verdict"] not in ("reproduced", "reversed", "no effect") or "type M" in c["reason"])
        why = f" Why: {c['reason']}." if shown else ""
        lines.append(f"- **{c['id']} {c['claim']}: {c['verdict']}.**{measured}{why}")
    return "\n".join(lines)


BLOCKS = {"table": (START, END, claims_markdown), "findings": (FINDINGS_START, FINDINGS_END, findings_markdown)}


def readme_block(text: str, block: str = "table") -> str:
    """The generated block currently between the markers of a README's `text` ('' if it has none
    for the findings text, which a README may leave out)."""
    start, end, _ = BLOCKS[block]
    if start not in text or end not in text:
        if block != "table":
            return ""
        raise InvalidValueError("the README has no reference-table markers; add the start and end markers "
                                "where the table goes")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def write_readme_table(readme: str | Path, tables: str | Path) -> None:
    """Replace the table between the markers of `readme` with the one `tables` give, and the findings
    text between its markers where the README has them."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    readme_block(text)  # the table's markers exist
    for start, end, make in BLOCKS.values():
        if start in text and end in text:
            head, rest = text.split(start, 1)
            text = f"{head}{start}\n{make(tables)}\n{end}{rest.split(end, 1)[1]}"
    path.write_text(text, encoding="utf-8")
