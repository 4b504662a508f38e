"""Sections on why and what helps: property-vs-attack correlations, attack correlations, remedies."""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from archrisk.report import plots
from archrisk.stats import bootstrap, inference
from archrisk.report.compare import compare_remedies, correlations, covariates, rankable, remedy_pairs
from archrisk.store import StoreData
from archrisk.report.page import Block, Fig, Section, Table, ci
from archrisk.report.series import Series, SeriesSet

CORR_COLUMNS = ["property", "attack result", "architectures", "rho", "rho lo", "rho hi", "p", "BH q",
                "rho NAS", "rho manual", "partial rho", "partial p"]


def _short(s: Series) -> str:
    return s.q.label if len(s.q.label) <= 40 else s.q.label[:37] + "..."


def _training_curves(store: StoreData, ss: SeriesSet) -> Fig | None:
    runs: dict[str, list[list[float]]] = defaultdict(list)
    for job in store.done:
        hist = store.artifacts.get(job.id, {}).get("history")
        if job.kind == "train" and not job.adv_train and isinstance(hist, list):
            accs = [float(h["val_acc"]) for h in hist if isinstance(h, dict) and h.get("val_acc") is not None]
            if accs:
                runs[job.arch].append(accs)
    lines = []
    for arch, rs in sorted(runs.items()):
        n = min(len(r) for r in rs)
        lines.append(plots.Line(arch, ss.group_of(arch), tuple(range(1, n + 1)),
                                tuple(np.mean([r[:n] for r in rs], 0))))
    if not lines:
        return None
    png = plots.lines([("validation accuracy per epoch (mean over seeds)", lines, "epoch", "val acc")])
    return Fig("training_curves", "training curves", png,
               "Early convergence (a derived property below, claim C8's primary) is the share of a run's best "
               "validation accuracy reached per epoch, averaged over the first half of the epochs.")


def explanations(store: StoreData, ss: SeriesSet) -> Section:
    sec = Section("explanations", "Explanations: architecture properties vs attack results",
                  "Spearman's rho over architectures (per-architecture means over seeds) with a 95% Fisher-z "
                  "interval (Bonett-Wright variance; needs at least 4 architectures) and its p: exact (every ordering) "
                  "up to 9 architectures, the t approximation above. These correlations are exploratory: BH q is the "
                  "Benjamini-Hochberg adjustment over the whole matrix. Pooled over groups, rho partly re-encodes "
                  "group membership and model size, so it is also given within each group and as a partial rank "
                  "correlation controlling for log parameter count and clean accuracy (where the store has them).")
    xs, ys = ss.explanatory(), rankable(ss)
    fig = _training_curves(store, ss)
    if fig:
        sec.blocks.append(Block("Training curves", figures=[fig]))
    if not ys:
        sec.missing.append("no attack results that differ between architectures")
    if not xs:
        sec.missing.append("no property measurements (metric jobs) in this store")
    if xs and ys:
        corr = correlations(xs, ys, ss.groups, {sc: covariates(ss, sc) for sc in ss.scales()})
        qs = inference.benjamini_hochberg([r.corr.p for r in corr])
        rows = [[r.x.q.label, r.y.q.label, r.corr.n, r.corr.rho, r.corr.lo, r.corr.hi, r.corr.p, q,
                 r.within.get("nas", (math.nan,))[0], r.within.get("manual", (math.nan,))[0], *r.partial[:2]]
                for r, q in zip(corr, qs)]
        block = Block("Each property against each attack", tables=[Table("property_attack_rho",
                      "Property vs attack: Spearman rho", CORR_COLUMNS, rows)])
        mat = np.array([[r.corr.rho for r in corr if r.x is x] for x in xs])
        block.figures.append(Fig("property_attack_heatmap", "rho matrix", plots.heatmap(
            mat, [_short(x) for x in xs], [_short(y) for y in ys], "property vs attack: Spearman rho")))
        by_x: dict[int, list] = defaultdict(list)
        for r in corr:
            mx, my = r.x.arch_means(), r.y.arch_means()
            pts = tuple((a, ss.group_of(a), mx[a], my[a]) for a in r.archs)
            title = f"rho = {ci(r.corr.rho, r.corr.lo, r.corr.hi)}, n = {r.corr.n}"
            by_x[id(r.x)].append(plots.Scatter(title, _short(r.x), _short(r.y), pts))
        for x in xs:
            block.figures.append(Fig(f"scatter_{x.q.slug}", x.q.label, plots.scatters(by_x[id(x)])))
        sec.blocks.append(block)
    if len(ys) >= 2:
        means = [y.arch_means() for y in ys]
        archs = sorted(set().union(*means))
        cols = [[m.get(a, math.nan) for a in archs] for m in means]
        mat = bootstrap.correlation_matrix(cols)
        labels = [_short(y) for y in ys]
        rows = [[labels[i], *mat[i]] for i in range(len(ys))]
        sec.blocks.append(Block(
            "Are the vulnerabilities linked? Correlation between attacks",
            [f"Spearman rho between attack results over {len(archs)} architectures (raw values, so a "
             "negative rho between keys of opposite risk direction still means linked vulnerability)."],
            [Fig("attack_correlation", "attack correlation", plots.heatmap(mat, labels, labels, "attack vs attack"))],
            [Table("attack_correlation", "Attack correlation (Spearman rho)", ["attack", *labels], rows)]))
    return sec


REMEDY_COLUMNS = ["remedy", "source", "quantity", "risk direction", "paired seeds", "remedy mean", "source mean",
                  "remedy - source (paired)", "diff lo", "diff hi", "t p", "sign-flip p", "smallest sign-flip p",
                  "verdict"]


def remedies(ss: SeriesSet) -> Section:
    sec = Section("remedies", "Remedies: remedy cells against their source cell",
                  "Differences paired by seed (a remedy and its source trained with the same seed see the same data "
                  "order): the mean paired difference with its t interval (seeds - 1 degrees of freedom) and p, "
                  "and the exact sign-flip test beside it (with 5 seeds it cannot go below p = 0.0625). 'less "
                  "vulnerable' needs the t interval to exclude 0 and p < 0.05; each row is an exploratory test, "
                  "claim C9 decides on its pre-declared primary.")
    pairs = remedy_pairs(ss)
    if not pairs:
        found = sorted(a for a, g in ss.groups.items() if g == "remedy")
        sec.missing.append(f"remedy architectures {found} have no source cell in this store" if found
                           else "no remedy-group architectures in this store")
        return sec
    series = [s for s in [*(ss.accuracy(scale=sc) for sc in ss.scales()), *ss.select(kind="train", key="train_wall"),
                          *ss.select(kind="derived"), *rankable(ss)] if s is not None]
    comps = compare_remedies(ss, series)
    rows = []
    for c in comps:
        d = c.series.direction
        if not c.changed():
            verdict = "no clear change"
        elif d:
            verdict = "less vulnerable" if c.risk_change < 0 else "more vulnerable"
        else:
            verdict = "lower" if c.paired.diff < 0 else "higher"
        rows.append([c.remedy, c.source, c.series.q.label, d or "", c.paired.n_a, c.remedy_mean.value,
                     c.source_mean.value, c.paired.diff, c.paired.lo, c.paired.hi, c.paired.p, c.sign_flip_p,
                     c.sign_flip_min, verdict])
    panels = []
    for s in series:
        bs = []
        for arch in dict.fromkeys([p[1] for p in pairs] + [p[0] for p in pairs]):
            if arch in s.values:
                e = bootstrap.cluster_mean([list(s.values[arch].values())])
                bs.append(plots.Bar(arch, ss.group_of(arch), e.value, e.lo, e.hi))
        if len(bs) > 1:
            panels.append((_short(s), bs))
    block = Block("Remedy vs source", [f"{r} is compared with {s}." for r, s in pairs],
                  tables=[Table("remedies", "Remedies vs source", REMEDY_COLUMNS, rows)])
    if panels:
        block.figures.append(Fig("remedies", "remedies", plots.bars(panels),
                                 "Means over seeds with 95% bootstrap intervals."))
    seeds = {len(v) for c in comps for v in (c.series.values[c.remedy], c.series.values[c.source])}
    if seeds and max(seeds) < 3:
        block.text.append(f"Caveat: at most {max(seeds)} seeds per architecture, so intervals over seeds are rough.")
    sec.blocks.append(block)
    return sec
