"""Loss-landscape section (claim C7): contour plots NAS | manual and the roughness comparison.

The `landscape` metrics store each surface beside its scalar summaries: artifact
`landscape_<kind>_<summary>.surface` ([G, G] loss over the grid, kinds conv and filter) or
`.surfaces` ([n, G, G], one per test input, kind input) with `.grid` (the G coordinates along
both directions). The contours show the first seed of each standard-trained architecture
(measured at the trained point when several points were measured), on one colour scale per kind.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from archrisk.report import plots
from archrisk.report.compare import compare_groups
from archrisk.store import StoreData
from archrisk.report.page import Block, Fig, Section, Table
from archrisk.report.results import COMPARISON_COLUMNS, comparison_row, fill_q, strip_figure
from archrisk.report.series import Series, SeriesSet

log = logging.getLogger(__name__)
KINDS = {
    "conv": "weights of the first conv layer, two orthogonal +-1 directions",
    "filter": "all weights, two filter-normalised Gaussian directions",
    "input": "pixels of a test input (the first stored one), two orthogonal +-1 directions, clamped to [0, 1]",
}
_SURFACE = re.compile(r"^landscape_(conv|filter|input)_\w+\.(surface|surfaces)$")
_ROUGHNESS = re.compile(r"^landscape_(conv|filter|input)_\w+$")
SURFACE_COLUMNS = ["surface", "architecture", "group", "seed", "measured at", "grid points", "span", "centre loss",
                   "max rise on grid", "mean |Laplacian|"]


@dataclass(frozen=True)
class Surface:
    kind: str
    arch: str
    group: str
    seed: int
    at: str
    grid: np.ndarray  # [G]
    z: np.ndarray  # [G, G]

    @property
    def centre(self) -> float:
        g = len(self.grid) // 2
        return float(self.z[g, g])

    def laplacian(self) -> float:
        """Mean |5-point Laplacian| over interior points (a check on the stored curvature)."""
        z, h = self.z, float(self.grid[1] - self.grid[0])
        lap = (z[2:, 1:-1] + z[:-2, 1:-1] + z[1:-1, 2:] + z[1:-1, :-2] - 4 * z[1:-1, 1:-1]) / h ** 2
        return float(np.abs(lap).mean())


def _surface(value, grid, kind: str) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        g = np.asarray(grid, dtype=float)
        z = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    if kind == "input" and z.ndim == 3 and len(z):
        z = z[0]
    if g.ndim != 1 or len(g) < 3 or z.shape != (len(g), len(g)) or not np.isfinite(z).all():
        return None
    return g, z


def collect_surfaces(store: StoreData) -> dict[str, dict[str, Surface]]:
    """kind -> architecture -> the surface to draw (NAS and manual architectures only)."""
    groups = store.groups()
    best: dict[tuple[str, str], tuple[tuple, Surface]] = {}
    for job in store.done:
        if job.kind != "metric" or job.adv_train or groups.get(job.arch) not in ("nas", "manual"):
            continue
        arts = store.artifacts.get(job.id, {})
        for key in sorted(arts):
            m = _SURFACE.match(key)
            if not m:
                continue
            got = _surface(arts[key], arts.get(key.rsplit(".", 1)[0] + ".grid"), m.group(1))
            if got is None:
                log.warning("landscape artifact %s of job %s is not a square surface on its grid; skipped", key, job.id)
                continue
            at = str(job.params.get("at", "trained"))
            rank = (at != "trained", job.seed)
            k = (m.group(1), job.arch)
            if k not in best or rank < best[k][0]:
                best[k] = (rank, Surface(m.group(1), job.arch, groups[job.arch], job.seed, at, *got))
    out: dict[str, dict[str, Surface]] = {}
    for (kind, arch), (_, s) in sorted(best.items()):
        out.setdefault(kind, {})[arch] = s
    return {k: out[k] for k in KINDS if k in out}


def roughness_series(ss: SeriesSet) -> list[Series]:
    """Scalar landscape summaries of standard-trained victims (landscape_<kind>_<summary>)."""
    return [s for s in ss.explanatory() if s.q.kind == "metric" and _ROUGHNESS.match(s.q.key)]


def landscape_section(store: StoreData, ss: SeriesSet, comparisons: dict) -> Section:
    sec = Section("landscape", "Loss landscapes (claim C7: NAS models have smoother landscapes)",
                  "Contours of the loss around each trained model, NAS on the left and manual on the right, on "
                  "one colour scale per surface (denser rings = sharper). Below, the scalar roughness of each "
                  "surface: mean |Laplacian| (curvature) and the largest loss rise within a radius of the model; lower "
                  "is smoother. Group statistics as in the NAS-vs-manual section.")
    surfaces = collect_surfaces(store)
    rows = []
    for kind, by_arch in surfaces.items():
        left = [s for s in by_arch.values() if s.group == "nas"]
        right = [s for s in by_arch.values() if s.group == "manual"]
        panels = [[plots.Contour(f"{s.arch} (seed {s.seed})", tuple(s.grid), s.z) for s in side]
                  for side in (left, right)]
        seeds = sorted({s.seed for s in by_arch.values()})
        ats = sorted({s.at for s in by_arch.values()})
        block = Block(f"Surface over {KINDS[kind]}", figures=[Fig(
            f"landscape_{kind}", f"{kind} loss surfaces", plots.contours(*panels),
            f"Loss on a {len(left[0].grid) if left else len(right[0].grid)}-point grid per direction; the "
            f"cross marks the model itself. Seeds shown: {', '.join(map(str, seeds))}; measured at: {', '.join(ats)}.")])
        if not left or not right:
            sec.missing.append(f"{kind} surfaces: no {'NAS' if not left else 'manual'} architecture has one")
        sec.blocks.append(block)
        rows += [[kind, s.arch, s.group, s.seed, s.at, len(s.grid), float(s.grid[-1]), s.centre,
                  float(s.z.max() - s.centre), s.laplacian()] for s in [*left, *right]]
    if rows:
        sec.blocks.append(Block("Surfaces shown", tables=[Table(
            "landscape_surfaces", "Surfaces drawn above", SURFACE_COLUMNS, rows,
            "mean |Laplacian| is recomputed from the drawn surface (for input surfaces: the first input only)")]))
    series = roughness_series(ss)
    if series:
        block = Block("Roughness, NAS vs manual")
        crows = []
        for s in sorted(series, key=lambda s: (s.q.key, s.q.variant)):
            c = comparisons.get(s.q) or compare_groups(s, ss.groups)
            comparisons[s.q] = c
            crows.append(comparison_row(c))
            if s.q.key.endswith("_curvature") and s.spread() > 0:
                block.figures.append(strip_figure(ss, c, f"landscape_{s.q.slug}"))
        block.tables.append(Table("groups_landscape", "Loss-landscape roughness: NAS vs manual", COMPARISON_COLUMNS,
                                  crows, "lower = smoother"))
        fill_q(block.tables)
        sec.blocks.append(block)
    if not surfaces and not series:
        sec.missing.append("no loss-landscape results (metric family 'landscape') in this store")
    elif not surfaces:
        sec.missing.append("no stored loss surfaces (artifacts landscape_*.surface): contours cannot be drawn")
    elif not series:
        sec.missing.append("surfaces but no scalar roughness results: no group comparison")
    return sec
