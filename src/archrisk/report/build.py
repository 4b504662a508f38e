"""Assemble the report from a store and write index.html, figures/*.png and tables/*.csv."""
from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from archrisk import __version__
from archrisk.errors import InvalidValueError
from archrisk.report.advtrain import advtrain_section
from archrisk.report.claims import VERDICTS, judge_all
from archrisk.report.data import StoreData, load_store
from archrisk.report.deviations import deviations_section
from archrisk.report.explain import explanations, remedies
from archrisk.report.landscapes import landscape_section
from archrisk.report.page import Section, ci, fmt
from archrisk.report.provenance import provenance
from archrisk.report.results import curves, nas_vs_manual, study_groups, summary
from archrisk.report.riskscore import risk_score_section
from archrisk.report.series import build_series
from archrisk.report.vulnerability import shared_section

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
MANIFEST = ".archrisk-report.json"  # files written last time, removed before writing anew


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    env.globals["ci"] = ci
    return env


def _scale(store: StoreData) -> str:
    done = store.done
    data = sorted({str(j.dataset) for j in done if j.dataset})
    size = sorted({str(j.size) for j in done if j.size})
    return f"dataset {', '.join(data) or '-'}, size {', '.join(size) or '-'}"


def _sections(store: StoreData) -> tuple[list[Section], list, Section]:
    ss = build_series(store)
    comparisons: dict = {}
    body = [summary(ss), nas_vs_manual(ss, comparisons), study_groups(ss), curves(store, ss), shared_section(store),
            explanations(store, ss), landscape_section(store, ss, comparisons), remedies(ss),
            advtrain_section(ss, comparisons), risk_score_section(store), deviations_section(store)]
    body = [sec for sec in body if sec is not None]
    verdicts = judge_all(ss, comparisons, _scale(store))
    return body, verdicts, provenance(store)


def _unique(slug: str, used: set[str]) -> str:
    out, i = slug, 2
    while out in used:
        out, i = f"{slug}_{i}", i + 1
    used.add(out)
    return out


def _cell(v):
    return v if isinstance(v, (int, float, str)) or v is None else json.dumps(v, sort_keys=True, default=str)


def _write_files(out: Path, sections: list[Section]) -> list[str]:
    (out / "figures").mkdir(exist_ok=True)
    (out / "tables").mkdir(exist_ok=True)
    used_fig: set[str] = set()
    used_tab: set[str] = set()
    written = []
    for sec in sections:
        for block in sec.blocks:
            for fig in block.figures:
                fig.slug = _unique(fig.slug, used_fig)
                rel = f"figures/{fig.slug}.png"
                (out / rel).write_bytes(fig.png)
                written.append(rel)
            for tab in block.tables:
                tab.slug = _unique(tab.slug, used_tab)
                rel = f"tables/{tab.slug}.csv"
                with open(out / rel, "w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow(tab.csv_columns or tab.columns)
                    w.writerows([[_cell(c) for c in row] for row in (tab.csv_rows or tab.rows)])
                written.append(rel)
    return written


def _clear_previous(out: Path) -> None:
    manifest = out / MANIFEST
    if not manifest.is_file():
        return
    try:
        old = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError):
        return
    for rel in old.get("files", []):
        p = (out / rel).resolve()
        if p.parent.parent == out.resolve() and p.is_file():  # only our own figures/ and tables/ files
            p.unlink()


def report(store_path: str | Path, out_dir: str | Path) -> Path:
    """Write the HTML report of a results store into `out_dir`; return the path of index.html."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidValueError(f"report output {str(out)!r} is a file; give a folder (it is created if missing)")
    store = load_store(store_path)
    body, verdicts, prov = _sections(store)
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous(out)
    claims_table = [[v.id, v.claim, v.verdict, v.scale, " | ".join(v.evidence), " | ".join(v.caveats)] for v in verdicts]
    written = _write_files(out, [*body, prov])
    with open(out / "tables" / "claims.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "claim", "verdict", "scale", "evidence", "caveats"], *claims_table])
    written.append("tables/claims.csv")
    counts = {k: sum(v.verdict == k for v in verdicts) for k in VERDICTS}
    html = _env().get_template("report.html").render(
        title=f"archrisk report: {Path(store.path).name}", version=__version__, sections=body, verdicts=verdicts,
        verdict_counts=counts, provenance=prov, scale=_scale(store), generated=time.strftime("%Y-%m-%d %H:%M:%S"),
        seconds=time.perf_counter() - t0)
    index = out / "index.html"
    index.write_text(html, encoding="utf-8")
    (out / MANIFEST).write_text(json.dumps({"files": written, "version": __version__}))
    log.info("report written to %s in %.1f s", index, time.perf_counter() - t0)
    return index
