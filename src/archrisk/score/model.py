"""The risk model: ridge regression from standardised signals to vulnerability ranks.

Per attack family the target is the architecture's vulnerability rank among the reference
architectures, scaled to [0, 1] (0 = least, 1 = most vulnerable), so families with different
units share one scale and an outlier cannot dominate. Signals are standardised with the
reference mean and spread (missing values, e.g. cell depth of a manual net, sit at the mean)
and clipped to +-3. The ridge strength is picked by leave-one-out error on the training rows.

Validation is leave-one-architecture-out (LOAO): every architecture is predicted by a model
fitted without it (standardisation and ridge strength included); Spearman's rho between those
predictions and the measured ranks, with a bootstrap CI over architectures, is reported per
family and stored with the coefficients.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from archrisk import jsonsafe
from archrisk.errors import InvalidValueError

RIDGE_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
# One-signal baselines every family's fit is held against: model size, as parameters and as compute.
BASELINES = {"parameter count": "log_params", "FLOPs": "log_flops"}
CLIP = 3.0
DEFAULT_PATH = Path(__file__).with_name("coefficients.json")


@dataclass(frozen=True)
class FamilyFit:
    coef: tuple[float, ...]  # per signal, on standardised signals
    intercept: float
    ridge: float  # chosen strength
    n_archs: int
    loao_rho: float  # Spearman rho of leave-one-architecture-out predictions vs measured ranks
    loao_ci: tuple[float, float]  # 95% bootstrap CI over architectures
    measured: dict[str, float] = field(default_factory=dict)  # arch -> measured rank in [0, 1]
    predicted: dict[str, float] = field(default_factory=dict)  # arch -> LOAO prediction
    target: str = ""  # what was ranked (attack settings and keys)
    seed_agreement: float = math.nan  # mean Spearman rho between the targets of two seeds (noise of the target)
    seeds: int = 0  # seeds averaged into the target
    ceiling: float = math.nan  # about the best rho any score could reach on this target (`rho_ceiling`)
    # This family's own standardisation, set only where a file merges families fitted on different
    # architectures (`compare.ship`): coefficients are only valid on the standardisation they were fitted on.
    center: tuple[float, ...] = ()  # empty: the file's
    scale: tuple[float, ...] = ()
    # The same held-out rho for a one-signal baseline on the same architectures (name -> rho): a
    # score is worth shipping only where it ranks better than model size alone does.
    baselines: dict[str, float] = field(default_factory=dict)

    def beats_baselines(self) -> bool | None:
        """Whether the held-out rho exceeds every baseline's (None: no baseline was measured)."""
        known = [b for b in self.baselines.values() if math.isfinite(b)]
        if not known:
            return None
        return bool(math.isfinite(self.loao_rho) and self.loao_rho > max(known))


def rho_ceiling(agreement: float, seeds: int) -> float:
    """sqrt of the Spearman-Brown reliability of a `seeds`-seed mean whose seeds agree to `agreement`."""
    if not (math.isfinite(agreement) and seeds >= 1):
        return math.nan
    rel = seeds * agreement / (1 + (seeds - 1) * agreement)
    return math.sqrt(rel) if rel > 0 else 0.0


@dataclass(frozen=True)
class ScoreModel:
    signals: tuple[str, ...]
    center: tuple[float, ...]  # reference mean per signal (NaN-free)
    scale: tuple[float, ...]  # reference std per signal (1 where constant)
    families: dict[str, FamilyFit]
    signal_config: dict  # the SignalConfig the signals were measured with
    reference: dict[str, dict[str, float]]  # arch -> raw signals used in the fit
    provenance: dict  # store, studies, datasets, version, date

    def standardiser(self, family: str | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(center, scale) that `family`'s coefficients apply to."""
        fit = self.families.get(family) if family is not None else None
        return (fit.center, fit.scale) if fit is not None and fit.center else (self.center, self.scale)

    def standardise(self, x: np.ndarray, family: str | None = None) -> np.ndarray:
        center, scale = self.standardiser(family)
        z = (x - np.asarray(center)) / np.asarray(scale)
        return np.clip(np.nan_to_num(z, nan=0.0), -CLIP, CLIP)

    def predict(self, signals: dict[str, float]) -> dict[str, float]:
        """Predicted vulnerability rank in [0, 1] (clipped) per family."""
        x = np.array([signals.get(s, math.nan) for s in self.signals], dtype=float)
        return {f: float(np.clip(fit.intercept + self.standardise(x, f) @ np.asarray(fit.coef), 0.0, 1.0))
                for f, fit in self.families.items()}

    def contributions(self, signals: dict[str, float], family: str) -> dict[str, float]:
        z = self.standardise(np.array([signals.get(s, math.nan) for s in self.signals], dtype=float), family)
        return {s: float(c * v) for s, c, v in zip(self.signals, self.families[family].coef, z)}

    def to_json(self) -> str:
        d = asdict(self)
        d["families"] = {k: asdict(v) for k, v in self.families.items()}
        return jsonsafe.dumps(d, indent=1, sort_keys=True)  # NaN -> null, read back as NaN

    @classmethod
    def from_json(cls, text: str) -> ScoreModel:
        try:
            d = json.loads(text)
            fams = {k: FamilyFit(**{**v, "coef": tuple(v["coef"]), "loao_ci": tuple(_nan(c) for c in v["loao_ci"]),
                                    "loao_rho": _nan(v["loao_rho"]), "seed_agreement": _nan(v.get("seed_agreement")),
                                    "ceiling": _nan(v.get("ceiling")), "center": tuple(v.get("center") or ()),
                                    "scale": tuple(v.get("scale") or ()),
                                    "baselines": {b: _nan(x) for b, x in (v.get("baselines") or {}).items()}})
                    for k, v in d["families"].items()}
            model = cls(tuple(d["signals"]), tuple(d["center"]), tuple(d["scale"]), fams, d["signal_config"],
                        {a: {k: _nan(x) for k, x in s.items()} for a, s in d["reference"].items()}, d["provenance"])
            model._check_layout()
            return model
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise InvalidValueError(f"not a risk-score coefficient file ({type(e).__name__}: {e})") from None

    def _check_layout(self) -> None:
        """Valid JSON of the wrong shape fails here, before any signal is measured (ValueError)."""
        n = len(self.signals)
        if not self.families:
            raise ValueError("it fits no attack family")
        if not all(isinstance(s, str) for s in self.signals) or len(self.center) != n or len(self.scale) != n:
            raise ValueError(f"signals, center and scale must be equally long lists ({n}, {len(self.center)}, "
                             f"{len(self.scale)})")
        for f, fit in self.families.items():
            if len(fit.coef) != n or not all(isinstance(c, (int, float)) for c in (*fit.coef, fit.intercept)):
                raise ValueError(f"family {f!r} needs {n} numeric coefficients and an intercept")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")


def load_model(path: str | Path | None = None) -> ScoreModel:
    p = Path(path) if path is not None else DEFAULT_PATH
    if not p.exists():
        raise InvalidValueError(f"no risk-score coefficients at {p}; fit them with `archrisk score --fit results.db`")
    return ScoreModel.from_json(p.read_text())


def _nan(v) -> float:
    return math.nan if v is None else float(v)


# -- fitting -----------------------------------------------------------------------------------
def ranks01(y: np.ndarray) -> np.ndarray:
    """Mid-ranks scaled to (0, 1): (rank - 0.5) / n, ties averaged."""
    from scipy.stats import rankdata

    return (rankdata(y) - 0.5) / len(y)


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():  # an all-NaN column (no cell nets) is centred at 0
        warnings.simplefilter("ignore", RuntimeWarning)
        center = np.nan_to_num(np.nanmean(x, axis=0))
    scale = np.std(np.where(np.isnan(x), center, x), axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    return center, scale


def _fit_ridge(z: np.ndarray, y: np.ndarray, grid: tuple[float, ...]) -> tuple[np.ndarray, float, float]:
    """Ridge with an unshrunk intercept, its strength the first in `grid` with the least exact
    leave-one-out squared error (scikit-learn's closed form); with 2 rows or fewer, the strongest.
    Returns (beta, intercept, strength)."""
    from sklearn.linear_model import Ridge, RidgeCV  # scikit-learn loads only when a score is fitted

    if len(y) > 2:
        m = RidgeCV(alphas=grid).fit(z, y)
        lam = float(m.alpha_)
    else:
        lam = float(grid[-1])
        m = Ridge(alpha=lam).fit(z, y)
    return m.coef_, float(m.intercept_), lam


def fit_family(x: np.ndarray, y: np.ndarray, grid: tuple[float, ...] = RIDGE_GRID):
    """Standardise, choose the ridge strength by LOO, fit. Returns (center, scale, beta, b0, lam)."""
    center, scale = _standardiser(x)
    z = np.clip(np.nan_to_num((x - center) / scale, nan=0.0), -CLIP, CLIP)
    beta, b0, lam = _fit_ridge(z, y, grid)
    return center, scale, beta, b0, lam


def loao(x: np.ndarray, y: np.ndarray, grid: tuple[float, ...] = RIDGE_GRID) -> np.ndarray:
    """Leave-one-architecture-out predictions: row i from a model fitted on the other rows
    (its own standardisation and ridge strength)."""
    pred = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        center, scale, beta, b0, _ = fit_family(x[keep], ranks01(y[keep]), grid)
        z = np.clip(np.nan_to_num((x[i] - center) / scale, nan=0.0), -CLIP, CLIP)
        pred[i] = b0 + z @ beta
    return pred


def rho_with_bootstrap_ci(a: np.ndarray, b: np.ndarray, seed: int = 0,
                          n_boot: int = 2000) -> tuple[float, tuple[float, float]]:
    """Spearman's rho and a percentile bootstrap 95% CI (resampling architectures): the interval
    stored with a fit (`FamilyFit.loao_ci`). Not the report's `stats.spearman_ci`, whose interval is
    Fisher-z and which returns a `Correlation` with a permutation p."""
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan, (math.nan, math.nan)
    rho = float(spearmanr(a, b).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(a), len(a))
        if np.std(a[idx]) > 0 and np.std(b[idx]) > 0:
            boots.append(spearmanr(a[idx], b[idx]).statistic)
    lo, hi = np.nanpercentile(boots, [2.5, 97.5]) if boots else (math.nan, math.nan)
    return rho, (float(lo), float(hi))


def fit_model(signals: dict[str, dict[str, float]], targets: dict[str, dict[str, float]],
              signal_names: tuple[str, ...], signal_config: dict, provenance: dict,
              target_labels: dict[str, str] | None = None, min_archs: int = 4,
              agreement: dict[str, tuple[float, int]] | None = None) -> ScoreModel:
    """signals: arch -> {signal: raw value}; targets: family -> arch -> vulnerability (higher =
    more vulnerable); agreement: family -> (seed-to-seed rho of the target, seeds), kept with the
    fit. Families with fewer than `min_archs` measured architectures are skipped."""
    archs = sorted(signals)
    if len(archs) < min_archs:
        raise InvalidValueError(f"the risk score needs signals of at least {min_archs} architectures, got {len(archs)}")
    x_all = np.array([[signals[a].get(s, math.nan) for s in signal_names] for a in archs], dtype=float)
    center, scale = _standardiser(x_all)
    families: dict[str, FamilyFit] = {}
    for fam, vals in sorted(targets.items()):
        rows = [i for i, a in enumerate(archs) if a in vals and math.isfinite(vals[a])]
        if len(rows) < min_archs:
            continue
        x, y = x_all[rows], np.array([vals[archs[i]] for i in rows])
        y01 = ranks01(y)
        # the shipped coefficients use the reference-wide standardisation, so refit on it
        z = np.clip(np.nan_to_num((x - center) / scale, nan=0.0), -CLIP, CLIP)
        beta, b0, lam = _fit_ridge(z, y01, RIDGE_GRID)
        pred = loao(x, y)
        rho, ci = rho_with_bootstrap_ci(pred, y)
        names = [archs[i] for i in rows]
        agree, seeds = (agreement or {}).get(fam, (math.nan, 0))
        families[fam] = FamilyFit(tuple(float(b) for b in beta), b0, lam, len(rows), rho, ci,
                                  dict(zip(names, map(float, y01))), dict(zip(names, map(float, pred))),
                                  (target_labels or {}).get(fam, ""), float(agree), int(seeds),
                                  rho_ceiling(agree, seeds), baselines=baseline_rhos(signals, names, y))
    if not families:
        raise InvalidValueError(f"no attack family has results for at least {min_archs} architectures "
                                "with signals; run a study with more architectures first")
    return ScoreModel(tuple(signal_names), tuple(map(float, center)), tuple(map(float, scale)), families,
                      signal_config, {a: dict(signals[a]) for a in archs}, provenance)


def baseline_rhos(signals: dict[str, dict[str, float]], archs: list[str], y) -> dict[str, float]:
    """Held-out rho of the same ridge and validation on one baseline signal alone, per baseline that
    every architecture has."""
    y = np.asarray(y, dtype=float)
    out = {}
    for name, signal in BASELINES.items():
        x = np.array([[signals[a].get(signal, math.nan)] for a in archs], dtype=float)
        if np.isfinite(x).all() and np.ptp(x) > 0:
            out[name] = rho_with_bootstrap_ci(loao(x, y), y, n_boot=1)[0]
    return out


# -- the search penalty's view --------------------------------------------------------------------
def structural_risk(soft_stats: dict, family: str = "evasion", model: ScoreModel | None = None):
    """The score's structural terms on differentiable cell stats (torch scalars, see
    `search.penalties.SoftCell.soft_stats`): sum of coef * standardised stat."""
    from archrisk.score.signals import STRUCTURAL

    m = model or load_model()
    if family not in m.families:
        raise InvalidValueError(f"the risk score has no {family!r} fit; fitted: {sorted(m.families)}")
    fit = m.families[family]
    center, scale = m.standardiser(family)
    total = 0.0
    for s in STRUCTURAL:
        if s in m.signals:
            k = m.signals.index(s)
            z = ((soft_stats[s] - center[k]) / scale[k]).clamp(-CLIP, CLIP)
            total = total + fit.coef[k] * z
    return total
