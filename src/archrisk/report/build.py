"""Assemble the report from a store and write index.html, figures/*.png and tables/*.csv."""
from __future__ import annotations

import csv
import io
import json
import math
import logging
import time
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from archrisk import __version__
from archrisk.errors import InvalidValueError
# the checks and writers every output shares (links planted in the folder are never followed)
from archrisk.paths import check_output, output_folder as _safe_dir, write_output as _safe_write
from archrisk.report.advtrain import advtrain_section
from archrisk.report.judge import VERDICTS, Judgement, judge_all
from archrisk.store import StoreData, load_store
from archrisk.report.deviations import deviations_section
from archrisk.report.explain import explanations, remedies
from archrisk.report.landscapes import landscape_section
from archrisk.report.page import Section, ci, fmt
from archrisk.report.provenance import provenance
from archrisk.report.registration import Registration, read_registration
from archrisk.report.results import curves, nas_vs_manual, study_groups, summary
from archrisk.report.riskscore import risk_score_section
from archrisk.report.scales import scale_trend
from archrisk.report.series import build_series
from archrisk.report.victims import victims_section
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


def _sections(store: StoreData) -> tuple[list[Section], Judgement, Section]:
    ss = build_series(store)
    comparisons: dict = {}
    body = [summary(ss), nas_vs_manual(ss, comparisons), study_groups(ss), curves(store, ss), shared_section(store),
            explanations(store, ss), landscape_section(store, ss, comparisons), remedies(ss),
            advtrain_section(ss, comparisons), risk_score_section(store), deviations_section(store)]
    judgement = judge_all(ss, comparisons, _scale(store))
    body.insert(2, scale_trend(judgement.tests))
    body.insert(1, victims_section(ss))
    body = [sec for sec in body if sec is not None]
    return body, judgement, provenance(store)


def claims_rows(j: Judgement) -> list[list]:
    """One row per claim: its verdict, the reason, and its confirmatory power at the SESOI."""
    rows = [["id", "claim", "verdict", "reason", "power", "decidable", "scale", "evidence", "caveats"]]
    for v in j.verdicts:
        rows.append([v.id, v.claim, v.verdict, v.reason, _num(v.power), v.decidable, v.scale, " | ".join(v.evidence),
                     " | ".join(v.caveats)])
    return rows


CLAIM_TEST_COLUMNS = [
    "claim", "primary", "series", "scale", "design", "versus", "estimand", "role", "log_scale", "study_direction", "estimate",
    "lo", "hi", "p", "p_holm", "exact_p", "exact_p_min", "alpha_family", "power", "power_study_gap", "power_g_transfer",
    "sesoi", "study_gap", "study_g", "mde", "type_m", "needed", "needed_hi", "needed_at_seeds", "decide_by", "units_a",
    "units_b", "seeds", "reliability", "sd_arch_a", "sd_arch_b", "sd_seed_a", "sd_seed_b", "acc_median_a",
    "acc_median_b", "verdict", "reason"]


def claim_test_rows(j: Judgement) -> list[list]:
    """One row per primary test and question (estimand): the confirmatory row carries the Holm-adjusted p
    and the verdict; the other question's row is shown beside it and never votes. `power` is at the
    SESOI (raw units); `power_study_gap` at the study's raw gap; `power_g_transfer` is a sensitivity
    figure (the study's g transferred with the seed inflation); `needed` is what would give power 0.8
    at the SESOI (seeds per architecture, architectures per group at `needed_at_seeds`, or paired seeds)."""
    rows = [CLAIM_TEST_COLUMNS]
    for t in j.tests:
        p = t.primary
        a, b = t.comps.get(t.confirmatory, (None, None))
        comp = [_num(x.sd_arch) if x else None for x in (a, b)] + [_num(x.sd_seed) if x else None for x in (a, b)]
        acc = [_num(x.median) for x in (t.match.a, t.match.b)] if t.match else [None, None]
        for e in t.estimates.values():
            main = e.estimand == t.confirmatory
            rows.append([t.claim, p.label, t.series, t.scale, t.design, t.versus, e.estimand,
                         "confirmatory" if main else "other", p.log, p.sign, *map(_num, (
                             e.test.diff, e.test.lo, e.test.hi, e.test.p, t.p_adj if main else math.nan,
                             t.exact_p, t.exact_p_min, t.alpha, e.power, e.power_study, e.power_g, p.sesoi,
                             p.study_gap, p.g, e.mde, e.type_m)), _count(e.needed), _count(e.needed_hi),
                         _num(e.at_seeds), e.outlook(), e.test.n_a, e.test.n_b, t.seeds, _num(t.reliability), *comp,
                         *acc, t.verdict if main else "", t.reason if main else ""])
    return rows


def _count(x: float) -> float | str | None:
    """A sample size for the CSV: a number, 'inf' when out of reach, empty when not computed."""
    return "inf" if x == math.inf else _num(x)


def _num(x: float) -> float | None:
    return round(float(x), 6) if x is not None and math.isfinite(x) else None


def _unique(slug: str, used: set[str]) -> str:
    out, i = slug, 2
    while out in used:
        out, i = f"{slug}_{i}", i + 1
    used.add(out)
    return out


def _cell(v):
    return v if isinstance(v, (int, float, str)) or v is None else json.dumps(v, sort_keys=True, default=str)


def _csv_bytes(rows: list[list]) -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8")


def _write_files(out: Path, sections: list[Section]) -> list[str]:
    _safe_dir(out / "figures")
    _safe_dir(out / "tables")
    used_fig: set[str] = set()
    used_tab: set[str] = set()
    written = []
    for sec in sections:
        for block in sec.blocks:
            for fig in block.figures:
                fig.slug = _unique(fig.slug, used_fig)
                rel = f"figures/{fig.slug}.png"
                _safe_write(out / rel, fig.png)
                written.append(rel)
            for tab in block.tables:
                tab.slug = _unique(tab.slug, used_tab)
                rel = f"tables/{tab.slug}.csv"
                _safe_write(out / rel, _csv_bytes([tab.csv_columns or tab.columns,
                                                   *[[_cell(c) for c in row] for row in (tab.csv_rows or tab.rows)]]))
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


def write_report(store_path: str | Path, out_dir: str | Path, plan: str | Path | None = None) -> Path:
    """Write the HTML report of a results store into `out_dir`; return the path of index.html. With
    `plan` (a pre-registered analysis plan), the report cites its commits and labels every section
    but the claims' primary tests exploratory."""
    t0 = time.perf_counter()
    out = check_output(out_dir, "report output", folder=True)  # before the store is read
    registration = read_registration(plan) if plan is not None else None
    store = load_store(store_path)
    try:
        return _render(store, out, t0, registration)
    except OSError as e:  # an output folder that cannot be written: one line, not a traceback
        raise InvalidValueError(f"report output {str(out)!r} cannot be written ({e.strerror}: {e.filename}); "
                                "choose another folder with -o") from None


def _render(store, out: Path, t0: float, registration: Registration | None = None) -> Path:
    body, judgement, prov = _sections(store)
    for sec in body:
        sec.exploratory = registration is not None
    verdicts = judgement.verdicts
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous(out)
    written = _write_files(out, [*body, prov])
    for name, rows in (("claims.csv", claims_rows(judgement)), ("claim_tests.csv", claim_test_rows(judgement))):
        _safe_write(out / "tables" / name, _csv_bytes(rows))
        written.append(f"tables/{name}")
    counts = {k: sum(v.verdict == k for v in verdicts) for k in VERDICTS}
    html = _env().get_template("report.html").render(
        title=f"archrisk report: {Path(store.path).name}", version=__version__, sections=body, verdicts=verdicts,
        judgement=judgement, verdict_counts=counts, provenance=prov, scale=_scale(store), registration=registration,
        unfinished=sum(j.status in ("pending", "running") for j in store.jobs), total_jobs=len(store.jobs),
        generated=time.strftime("%Y-%m-%d %H:%M:%S"), seconds=time.perf_counter() - t0)
    index = out / "index.html"
    _safe_write(index, html.encode("utf-8"))
    _safe_write(out / MANIFEST, json.dumps({"files": written, "version": __version__}).encode())
    log.info("report written to %s in %.1f s", index, time.perf_counter() - t0)
    return index
