"""Sections on what the attacks did: summary ranking, NAS vs manual per family, curves."""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from archrisk.report import plots
from archrisk.stats import bootstrap, inference
from archrisk.report.compare import GroupComparison, compare_groups, rank_intervals, risk_ranking
from archrisk.store import StoreData
from archrisk.report.page import Block, Fig, Section, Table, ci, fmt
from archrisk.report.series import FAMILIES, GROUP_ORDER, Scale, Series, SeriesSet, scale_label, scale_slug


def _order(ss: SeriesSet, archs) -> list[str]:
    return sorted(archs, key=lambda a: (GROUP_ORDER.index(ss.group_of(a))
                                        if ss.groups.get(a) in GROUP_ORDER else 9, a))


def summary(ss: SeriesSet) -> Section:
    sec = Section("summary", "Summary: which architectures are riskiest",
                  "Architectures ranked by their mean risk rank over attacks (1 = the attack worked best on it). "
                  "Each attack counts once, its settings averaged; each cell shows the mean over seeds and the "
                  "rank among architectures. Clean accuracy, parameter count and FLOPs (multiply-accumulates of one forward pass) are "
                  "beside each so risk is not mistaken for accuracy or size. "
                  "The position interval is a 95% bootstrap over seeds (each architecture's seeds resampled): "
                  "architectures whose intervals overlap cannot be told apart by this store. A store of several "
                  "scales (dataset, size, recipe) gets one ranking per scale.")
    note = ss.meaning_note()
    if note:
        sec.missing.append(note)
    for scale in ss.scales():
        block = _ranking(ss, scale)
        if block is not None:
            sec.blocks.append(block)
    if not sec.blocks:
        sec.missing.append("no attack results with a headline metric that differs between architectures")
    return sec


def _ranking(ss: SeriesSet, scale: Scale) -> Block | None:
    eps, rows = risk_ranking(ss, scale)
    if not rows:
        return None
    where = f" [{scale_label(scale)}]" if scale else ""
    slug = f"_{scale_slug(scale)}" if scale else ""
    labels = [s.q.label for s in eps]
    pos = rank_intervals(ss, eps, [r.arch for r in rows])
    span = lambda a: f"{pos[a][0]:g}-{pos[a][1]:g}" if a in pos else "-"  # noqa: E731
    display = [[i + 1, r.arch, r.group, span(r.arch), r.acc, r.params, r.flops, r.mean_rank,
                *[f"{fmt(r.cells[l][0])} (#{r.cells[l][1]:g})" if l in r.cells else "-" for l in labels]]
               for i, r in enumerate(rows)]
    long = [[r.arch, r.group, *pos.get(r.arch, (math.nan, math.nan)), r.acc, r.params, r.flops, r.mean_rank, l,
             *r.cells[l]]
            for r in rows for l in labels if l in r.cells]
    block = Block(f"Ranking{where}", tables=[Table(
        f"risk_ranking{slug}", f"Risk ranking{where}", ["#", "architecture", "group", "position 95%", "clean acc",
                                                        "params", "FLOPs", "mean risk rank", *labels], display,
        csv_columns=["architecture", "group", "position_lo", "position_hi", "clean_acc", "params", "flops",
                     "mean_risk_rank", "endpoint", "value", "rank"], csv_rows=long)])
    top = ", ".join(f"{r.arch} ({r.group}, position {span(r.arch)})" for r in rows[:3])
    first = rows[0].arch
    tied = [r.arch for r in rows[1:] if r.arch in pos and first in pos and pos[r.arch][0] <= pos[first][1]]
    block.text.append(f"Riskiest overall: {top}. {len(rows)} architectures, {len(eps)} attack settings.")
    if tied:
        block.text.append(f"{first} cannot be told apart from {len(tied)} other architecture(s) whose position "
                          f"intervals overlap its own ({', '.join(tied[:6])}{', ...' if len(tied) > 6 else ''}).")
    accs = [(r.acc, r.mean_rank) for r in rows if math.isfinite(r.acc)]
    if len(accs) >= 4:
        c = bootstrap.spearman_ci(*zip(*accs))
        block.text.append(f"Spearman rho between clean accuracy and mean risk rank: {ci(c.rho, c.lo, c.hi)} "
                          f"(n = {c.n}); a rho far from 0 means risk and accuracy are confounded here.")
    return block


def size_line(ss: SeriesSet, a: str, b: str, la: str, lb: str, scale: Scale | None = None) -> str | None:
    """The two groups' median parameter count, FLOPs and clean accuracy at `scale`, and their ratio."""
    parts = []
    for key, name, f in (("params", "parameters", lambda x: f"{x:,.0f}"), ("flops", "FLOPs", lambda x: f"{x:,.0f}"),
                         ("test_acc", "clean accuracy", lambda x: f"{x:.3f}")):
        m = ss.victim_means(key, scale)
        ma = [v for x, v in m.items() if ss.groups.get(x) == a]
        mb = [v for x, v in m.items() if ss.groups.get(x) == b]
        if ma and mb:
            xa, xb = float(np.median(ma)), float(np.median(mb))
            ratio = f"{xa / xb:.3g}x" if xb else "-"
            parts.append(f"{name} {f(xa)} vs {f(xb)} ({ratio})")
    if not parts:
        return None
    where = f" [{scale_label(scale)}]" if scale else ""
    return f"Medians{where}, {la} vs {lb} (ratio {la}/{lb}): " + "; ".join(parts) + "."


def comparison_row(c: GroupComparison) -> list:
    s, w = c.series, c.welch
    return [s.q.label, s.direction or "", c.n_a, c.n_b, c.seeds, c.mean_a.value, c.mean_a.lo, c.mean_a.hi,
            c.mean_b.value, c.mean_b.lo, c.mean_b.hi, c.diff.value, w.lo, w.hi, w.p, math.nan, c.perm.p,
            "exact" if c.perm.exact else f"{c.perm.n_perm} random", c.perm.p_min]


def comparison_columns(la: str = "NAS", lb: str = "manual") -> list[str]:
    return ["quantity", "risk direction", f"{la} archs", f"{lb} archs", "seeds", f"{la} mean", f"{la} lo",
            f"{la} hi", f"{lb} mean", f"{lb} lo", f"{lb} hi", f"{la} - {lb}", "diff lo (Welch)", "diff hi (Welch)",
            "Welch p", "BH q", "permutation p", "permutations", "smallest possible p"]


COMPARISON_COLUMNS = comparison_columns()
_Q = COMPARISON_COLUMNS.index("BH q")


def fill_q(tables: list[Table]) -> None:
    """Benjamini-Hochberg q-values over every Welch p of a section's group tables (exploratory tests)."""
    rows = [r for t in tables for r in t.rows]
    for r, q in zip(rows, inference.benjamini_hochberg([r[_Q - 1] for r in rows])):
        r[_Q] = q


def strip_figure(ss: SeriesSet, c: GroupComparison, slug: str, la: str = "NAS", lb: str = "manual") -> Fig:
    s = c.series
    archs = _order(ss, s.values)
    pts = [plots.ArchPoints(a, ss.group_of(a), tuple(s.values[a].values())) for a in archs]
    bands = {c.a: (c.mean_a.value, c.mean_a.lo, c.mean_a.hi), c.b: (c.mean_b.value, c.mean_b.lo, c.mean_b.hi)}
    title = f"{s.q.setting}   {la} - {lb} = {ci(c.welch.diff, c.welch.lo, c.welch.hi)}, Welch p = {fmt(c.welch.p)}"
    return Fig(slug, s.q.label, plots.strip(pts, bands, s.q.key, title),
               "Bars: mean over seeds; dots: seeds; lines and bands: group mean with its 95% interval.")


GROUP_INTRO = ("Group means are means of per-architecture means, shown with 95% two-stage bootstrap intervals "
               "(architectures resampled, then seeds within each). The difference's interval and p are Welch's t on "
               "per-architecture means, which hold with 3-10 architectures per group (the bootstrap undercovers "
               "there); BH q is the Benjamini-Hochberg false-discovery-rate adjustment over every test of this "
               "section, which is exploratory: the claims section decides, on pre-declared primary measurements. "
               "Permutation p: group labels permuted among architectures (exact when the splits are few). "
               "Risk direction, as the attack declared it with its results: +1 higher = the attack worked "
               "better; -1 lower does; blank: the key declares none.")


def _group_blocks(sec: Section, ss: SeriesSet, comparisons: dict, a: str, b: str, la: str, lb: str,
                  slug: str = "") -> None:
    """Accuracy and every attack family, group a vs group b, appended to `sec` (`comparisons`
    caches by quantity, so pass one dict per pair)."""
    n_a, n_b = (sum(g == x for g in ss.groups.values()) for x in (a, b))
    if n_a < 2 or n_b < 2:
        sec.missing.append(f"{n_a} {la} and {n_b} {lb} architectures: a group comparison needs at least 2 "
                           "of each; per-architecture charts are shown without a test")
    accs = [s for s in (ss.accuracy(scale=sc) for sc in ss.scales()) if s is not None]
    sizes = [line for sc in ss.scales() if (line := size_line(ss, a, b, la, lb, sc))]
    heads = {id(s) for s in ss.endpoints(adv=None) if s.spread() > 0} | {id(s) for s in accs}
    blocks = [("accuracy", "Clean accuracy (for a fair comparison)", accs)]
    for fam in dict.fromkeys([*FAMILIES, *ss.families()]):  # a family the store adds goes last
        blocks.append((fam, fam.capitalize(), [s for s in ss.select(kind="attack", family=fam)]))
    for fam, title, series in blocks:
        if not series:
            sec.missing.append(f"{title}: no results in this store")
            continue
        block = Block(f"{title}: {la} vs {lb}" if slug else title)
        block.text += sizes
        rows = []
        for s in sorted(series, key=lambda s: (s.q.name, s.q.variant, s.q.key)):
            c = comparisons.get(s.q) or compare_groups(s, ss.groups, a, b)
            comparisons[s.q] = c
            rows.append(comparison_row(c))
            if id(s) in heads:
                block.figures.append(strip_figure(ss, c, f"groups{slug}_{s.q.slug}", la, lb))
        block.tables.append(Table(f"groups{slug}_{fam}", f"{title}: {la} vs {lb}", comparison_columns(la, lb), rows))
        sec.blocks.append(block)


def nas_vs_manual(ss: SeriesSet, comparisons: dict) -> Section:
    sec = Section("groups", "NAS vs manual, per attack family", GROUP_INTRO)
    _group_blocks(sec, ss, comparisons, "nas", "manual", "NAS", "manual")
    fill_q([t for b in sec.blocks for t in b.tables])
    return sec


def study_groups(ss: SeriesSet) -> Section | None:
    """Groups a study named itself (e.g. plain vs penalised search), each pair compared like NAS vs
    manual; None (no section) when the store has none."""
    own = sorted({g for g in ss.groups.values() if g not in GROUP_ORDER})
    if not own:
        return None
    sec = Section("study_groups", "The study's own groups, compared pairwise",
                  "Architectures a study put in groups of its own (`group = \"...\"` on an entry), each pair "
                  "compared on clean accuracy and every attack. " + GROUP_INTRO)
    if len(own) < 2:
        sec.missing.append(f"only one group of the study's own ({own[0]}); name two or more to compare them")
        return sec
    for i, a in enumerate(own):
        for b in own[i + 1:]:
            _group_blocks(sec, ss, {}, a, b, a, b, slug=f"_{a}_vs_{b}")
    fill_q([t for b in sec.blocks for t in b.tables])
    return sec


def _mean_curve(rows_by_seed: list[list[dict]], xkey: str, ykey: str) -> tuple[tuple, tuple]:
    acc: dict[float, list[float]] = defaultdict(list)
    for rows in rows_by_seed:
        for r in rows:
            x, y = r.get(xkey), r.get(ykey)
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and math.isfinite(y):
                acc[float(x)].append(float(y))
    xs = sorted(acc)
    return tuple(xs), tuple(float(np.mean(acc[x])) for x in xs)


def _job_curves(store: StoreData, ss: SeriesSet) -> list[tuple[str, list[plots.Line], str, str]]:
    """Curves stored inside jobs ('curve.<x>' artifacts), averaged over seeds per architecture."""
    found: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for job in store.done:
        for key, rows in store.artifacts.get(job.id, {}).items():
            if key.startswith("curve.") and isinstance(rows, list) and rows:
                setting = job.name + (f" ({job.adv_train}-trained)" if job.adv_train else "")
                found[(setting, key[6:])][job.arch].append([r for r in rows if isinstance(r, dict)])
    panels = []
    for (setting, xkey), by_arch in sorted(found.items()):
        ykeys = sorted({k for runs in by_arch.values() for rows in runs for r in rows for k in r} - {xkey})
        for ykey in ykeys:
            ls = [plots.Line(a, ss.group_of(a), *_mean_curve(runs, xkey, ykey))
                  for a, runs in sorted(by_arch.items())]
            ls = [ln for ln in ls if len(ln.x) > 1]
            if ls:
                panels.append((f"{setting}: {ykey} vs {xkey}", ls, xkey, ykey))
    return panels


def _grid_curves(ss: SeriesSet) -> list[tuple[str, list[plots.Line], str, str]]:
    """Curves across jobs: one headline series per value of a numeric study parameter (e.g. fraction)."""
    by: dict[tuple, dict[float, Series]] = defaultdict(dict)
    for s in ss.endpoints(adv=None):
        for i, (k, v) in enumerate(s.q.variant):
            try:
                x = float(v)
            except ValueError:
                continue
            rest = s.q.variant[:i] + s.q.variant[i + 1:]
            by[(s.q.name, s.q.key, k, rest)][x] = s
    panels = []
    for (name, key, param, rest), xs in sorted(by.items(), key=lambda kv: str(kv[0])):
        if len(xs) < 2:
            continue
        archs = _order(ss, {a for s in xs.values() for a in s.values})
        ls = []
        for a in archs:
            pts = sorted((x, s.arch_means()[a]) for x, s in xs.items() if a in s.values)
            if len(pts) > 1:
                ls.append(plots.Line(a, ss.group_of(a), *map(tuple, zip(*pts))))
        tail = f" ({', '.join(f'{k}={v}' for k, v in rest)})" if rest else ""
        if ls:
            panels.append((f"{name}{tail}: {key} vs {param}", ls, param, key))
    return panels


def _roc(store: StoreData, ss: SeriesSet) -> list[tuple[str, list[plots.Line], str, str]]:
    grid = np.linspace(0, 1, 101)
    found: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for job in store.done:
        roc = store.artifacts.get(job.id, {}).get("roc")
        if isinstance(roc, dict) and len(roc.get("fpr", [])) == len(roc.get("tpr", [])) > 1:
            fpr, tpr = np.asarray(roc["fpr"], float), np.asarray(roc["tpr"], float)
            order = np.argsort(fpr, kind="stable")
            found[job.name][job.arch].append(np.interp(grid, fpr[order], tpr[order]))
    return [(f"{name}: ROC (mean over seeds)",
             [plots.Line(a, ss.group_of(a), tuple(grid), tuple(np.mean(t, 0))) for a, t in sorted(arch.items())],
             "false positive rate", "true positive rate") for name, arch in sorted(found.items())]


def curves(store: StoreData, ss: SeriesSet) -> Section:
    sec = Section("curves", "Curves", "Means over seeds per architecture, coloured by group.")
    job, grid, roc = _job_curves(store, ss), _grid_curves(ss), _roc(store, ss)
    if job:
        sec.blocks.append(Block("Within-run curves (e.g. success vs eps, extraction vs queries)",
                                figures=[Fig("curves_runs", "within-run curves", plots.lines(job, logx=True))]))
    if grid:
        sec.blocks.append(Block("Across study grid values (e.g. accuracy drop vs poisoning fraction)",
                                figures=[Fig("curves_grid", "grid curves", plots.lines(grid))]))
    if roc:
        sec.blocks.append(Block("Membership ROC", figures=[Fig("curves_roc", "ROC", plots.lines(roc, diagonal=True))]))
    if not (job or grid or roc):
        sec.missing.append("no curves in this store (no curve artifacts, parameter grids or ROC points)")
    return sec
