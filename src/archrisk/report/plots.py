"""Figures as PNG bytes. Uses matplotlib's object API (no pyplot): no global state, no display."""
from __future__ import annotations

import functools
import io
import math
import textwrap
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from archrisk.vocab import Group

COLORS = {Group.NAS.value: "#d62728", Group.RANDOM.value: "#ff9896", Group.MANUAL.value: "#1f77b4",
          Group.REMEDY.value: "#2ca02c", Group.CUSTOM.value: "#7f7f7f"}
USER_COLORS = ("#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22")  # groups a study names
DPI = 90


def palette(groups: Sequence[str]) -> dict[str, str]:
    """Group -> colour for one figure: the built-in groups keep theirs; groups a study names get
    the extra colours in sorted order, so two such groups in a figure never share one."""
    users = sorted(set(groups) - COLORS.keys())
    out = {g: USER_COLORS[i % len(USER_COLORS)] for i, g in enumerate(users)}
    return {**out, **{g: COLORS[g] for g in set(groups) & COLORS.keys()}}


def color(group: str, pal: dict[str, str] | None = None) -> str:
    return (pal or {}).get(group) or COLORS.get(group, COLORS[Group.CUSTOM.value])


def _plain_text(fn: Callable[..., bytes]) -> Callable[..., bytes]:
    """Draw with mathtext off: labels hold user-given names, and '$...$' in one is not TeX."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> bytes:
        with rc_context({"text.parse_math": False}):
            return fn(*args, **kwargs)
    return wrapper


def _png(fig: Figure, tight: bool = True) -> bytes:
    """Tight bounding boxes cost a second layout pass: grids use fixed margins instead."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight" if tight else None)
    return buf.getvalue()


def _grid(k: int, cols: int, w: float, h: float) -> tuple[Figure, int, int]:
    cols = max(1, min(k, cols))
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(w * cols, h * rows))
    fig.subplots_adjust(left=0.6 / (w * cols), right=1 - 0.15 / (w * cols), bottom=0.65 / (h * rows),
                        top=1 - 0.35 / (h * rows), wspace=0.4, hspace=0.6)
    return fig, rows, cols


def _legend_groups(ax, groups: Sequence[str], pal: dict[str, str] | None = None) -> None:
    from matplotlib.lines import Line2D

    seen = [g for g in dict.fromkeys(groups)]
    ax.legend([Line2D([], [], color=color(g, pal), marker="o", ls="") for g in seen], seen, fontsize=8, frameon=False)


@dataclass(frozen=True)
class ArchPoints:
    arch: str
    group: str
    values: tuple[float, ...]  # one per seed


@_plain_text
def strip(points: Sequence[ArchPoints], bands: dict[str, tuple[float, float, float]], ylabel: str,
          title: str) -> bytes:
    """Bar per architecture (its mean), dots per seed; group means as lines with shaded 95% CIs."""
    n = len(points)
    w, h = max(5.0, 0.45 * n + 2), 3.4
    longest = max((len(p.arch) for p in points), default=4)
    title_lines = textwrap.wrap(title, int(w * 13)) or [""]  # ~13 characters an inch at 9 pt
    fig = Figure(figsize=(w, h + 0.05 * longest))
    fig.subplots_adjust(left=0.8 / w, right=1 - 0.2 / w, top=1 - (0.25 + 0.16 * len(title_lines)) / h,
                        bottom=(0.3 + 0.055 * longest) / (h + 0.05 * longest))
    ax = fig.add_subplot()
    pal = palette([p.group for p in points])
    for i, p in enumerate(points):
        ax.bar(i, float(np.mean(p.values)), color=color(p.group, pal), alpha=0.35, width=0.7)
        ax.scatter([i] * len(p.values), p.values, color=color(p.group, pal), s=14, zorder=3)
    for g, (mean, lo, hi) in bands.items():
        idx = [i for i, p in enumerate(points) if p.group == g]
        if not idx or not math.isfinite(mean):
            continue
        x0, x1 = min(idx) - 0.4, max(idx) + 0.4
        ax.hlines(mean, x0, x1, color=color(g, pal), lw=2)
        if math.isfinite(lo):
            ax.fill_between([x0, x1], lo, hi, color=color(g, pal), alpha=0.15, lw=0)
    ax.set_xticks(range(n))
    ax.set_xticklabels([p.arch for p in points], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_title("\n".join(title_lines), fontsize=9)
    _legend_groups(ax, [p.group for p in points], pal)
    return _png(fig, tight=False)


@dataclass(frozen=True)
class Line:
    label: str
    group: str
    x: tuple[float, ...]
    y: tuple[float, ...]


@_plain_text
def lines(panels: Sequence[tuple[str, Sequence[Line], str, str]], logx: bool = False, diagonal: bool = False) -> bytes:
    """One subplot per (title, lines, xlabel, ylabel); lines coloured by group."""
    fig, rows, cols = _grid(len(panels), 3, 4.2, 3.2)
    pal = palette([ln.group for _, ls, _, _ in panels for ln in ls])
    for i, (title, ls, xlabel, ylabel) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        for ln in ls:
            ax.plot(ln.x, ln.y, color=color(ln.group, pal), lw=1.2, alpha=0.8, marker="." if len(ln.x) < 12 else None)
        if diagonal:
            ax.plot([0, 1], [0, 1], color="k", lw=0.8, ls=":")
        if logx and all(x > 0 for ln in ls for x in ln.x):
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        if i == 0:
            _legend_groups(ax, [ln.group for ln in ls])
    return _png(fig, tight=False)


@dataclass(frozen=True)
class Scatter:
    title: str
    xlabel: str
    ylabel: str
    points: tuple[tuple[str, str, float, float], ...]  # (arch, group, x, y)


@_plain_text
def scatters(panels: Sequence[Scatter], cols: int = 4) -> bytes:
    """Scatter grid coloured by group (architecture names are in the tables: labels cost too much here)."""
    from matplotlib.ticker import MaxNLocator

    fig, rows, cols = _grid(len(panels), cols, 3.4, 3.0)
    pal = palette([pt[1] for q in panels for pt in q.points])
    for i, p in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        if p.points:
            _, groups, x, y = zip(*p.points)
            ax.scatter(x, y, c=[color(g, pal) for g in groups], s=18)
        ax.set_title(p.title, fontsize=8)
        ax.set_xlabel(p.xlabel, fontsize=7)
        ax.set_ylabel(p.ylabel, fontsize=7)
        ax.tick_params(labelsize=6)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        if i == 0 and p.points:
            _legend_groups(ax, sorted(pal), pal)
    return _png(fig, tight=False)


@_plain_text
def heatmap(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str], title: str) -> bytes:
    """Correlations in [-1, 1], each cell annotated."""
    r, c = matrix.shape
    fig = Figure(figsize=(max(4.0, 0.7 * c + 3), max(3.0, 0.45 * r + 1.5)))
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(r):
        for j in range(c):
            if math.isfinite(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(matrix[i, j]) > 0.6 else "black")
    ax.set_xticks(range(c))
    ax.set_xticklabels(cols, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(r))
    ax.set_yticklabels(rows, fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8, label="Spearman rho")
    return _png(fig)


@dataclass(frozen=True)
class Bar:
    label: str
    group: str
    value: float
    lo: float
    hi: float


@_plain_text
def bars(panels: Sequence[tuple[str, Sequence[Bar]]], cols: int = 4) -> bytes:
    """Small bar charts with interval whiskers (remedies vs their source)."""
    fig, rows, cols = _grid(len(panels), cols, 3.2, 2.8)
    pal = palette([b.group for _, bs in panels for b in bs])
    for i, (title, bs) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        for j, b in enumerate(bs):
            ax.bar(j, b.value, color=color(b.group, pal), alpha=0.6)
            if math.isfinite(b.lo):
                ax.errorbar(j, b.value, yerr=[[max(b.value - b.lo, 0)], [max(b.hi - b.value, 0)]], color="k", capsize=3, lw=1)
        ax.set_xticks(range(len(bs)))
        ax.set_xticklabels([b.label for b in bs], rotation=30, ha="right", fontsize=7)
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=6)
    return _png(fig, tight=False)


@dataclass(frozen=True)
class BarSeries:
    label: str
    group: str
    values: tuple[float, ...]  # one per x position (nan: no bar)
    lo: tuple[float, ...]
    hi: tuple[float, ...]


@_plain_text
def grouped_bars(panels: Sequence[tuple[str, Sequence[str], Sequence[BarSeries], str, str]], cols: int = 3) -> bytes:
    """One subplot per (title, x labels, series, xlabel, ylabel): side-by-side bars per x with whiskers."""
    fig, rows, cols = _grid(len(panels), cols, 4.2, 3.2)
    for i, (title, xs, series, xlabel, ylabel) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        width = 0.8 / max(1, len(series))
        for j, s in enumerate(series):
            pos = np.arange(len(xs)) - 0.4 + width * (j + 0.5)
            vals = np.asarray(s.values, float)
            ax.bar(pos, np.nan_to_num(vals), width=width, color=color(s.group), alpha=0.6, label=s.label)
            lo, hi = np.asarray(s.lo, float), np.asarray(s.hi, float)
            ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(vals)
            if ok.any():
                ax.errorbar(pos[ok], vals[ok], yerr=[np.maximum(vals[ok] - lo[ok], 0), np.maximum(hi[ok] - vals[ok], 0)],
                            fmt="none", ecolor="k", capsize=2, lw=0.8)
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels(xs, fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, frameon=False)
    return _png(fig, tight=False)


@dataclass(frozen=True)
class Contour:
    title: str
    grid: tuple[float, ...]  # coordinates along both axes
    z: np.ndarray  # [G, G], rows along the first direction


@_plain_text
def contours(left: Sequence[Contour], right: Sequence[Contour], labels: tuple[str, str] = ("NAS", "manual"),
             per_row: int = 3, levels: int = 14) -> bytes:
    """Two groups of contour panels side by side (left group | right group) on one colour scale:
    the same loss levels everywhere, so denser rings mean a sharper surface."""
    per = max(1, min(per_row, max(len(left), len(right))))
    rows = max(1, math.ceil(max(len(left), len(right)) / per))
    cols = 2 * per
    w, h = 2.3, 2.2
    W, H = w * cols + 1.3, h * rows + 0.6  # inches; 1.3 on the right for the colour bar
    fig = Figure(figsize=(W, H))
    fig.subplots_adjust(left=0.35 / W, right=1 - 1.35 / W, bottom=0.3 / H, top=1 - 0.6 / H, wspace=0.35, hspace=0.45)
    zs = np.concatenate([np.ravel(c.z) for c in [*left, *right]]) if (left or right) else np.zeros(1)
    zs = zs[np.isfinite(zs)]
    lo, hi = (float(zs.min()), float(np.quantile(zs, 0.98))) if zs.size else (0.0, 1.0)
    lv = np.linspace(lo, hi if hi > lo else lo + 1e-6, levels)
    mappable = None
    for side, panels in enumerate((left, right)):
        for i, c in enumerate(panels):
            ax = fig.add_subplot(rows, cols, (i // per) * cols + side * per + i % per + 1)
            g = np.asarray(c.grid, float)
            # rows of z run along the first direction: put it on the x axis
            mappable = ax.contourf(g, g, np.asarray(c.z, float).T, levels=lv, cmap="viridis", extend="max")
            ax.contour(g, g, np.asarray(c.z, float).T, levels=lv, colors="k", linewidths=0.3)
            ax.plot([0], [0], marker="+", color="w", ms=6)
            ax.set_title(c.title, fontsize=8, color=color(("nas", "manual")[side]))
            ax.tick_params(labelsize=6)
            ax.set_aspect("equal")
    for side, label in enumerate(labels):
        fig.text(0.35 / W + (side + 0.5) / 2 * (1 - 1.7 / W), 1 - 0.25 / H, label,
                 ha="center", fontsize=10, weight="bold", color=color(("nas", "manual")[side]))
    if mappable is not None:
        cax = fig.add_axes([1 - 1.1 / W, 0.3 / H, 0.15 / W, 1 - 0.9 / H])
        fig.colorbar(mappable, cax=cax, label="loss", format="%.3g")
    return _png(fig, tight=False)
