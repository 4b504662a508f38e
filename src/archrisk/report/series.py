"""From store rows to series: one measured quantity across architectures and seeds.

A *quantity* is (job kind, attack/metric name, family, variant, result key); the variant holds the
job parameters that differ between jobs of one name (e.g. a poisoning fraction), the victim's
adversarial-training method, and the dataset/size when a store mixes several. Its *series* maps
architecture -> seed -> value, and carries the key's `Meaning` as its producer declared it and the
runner recorded it in the store (risk direction, headline, claims). Nothing here reads meaning
from a key's spelling: a key without a recorded meaning has direction 0 and is never a headline.
The one series this module declares itself is the early convergence it derives from training
histories.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archrisk.analysis import Analysis, parse_analysis
from archrisk.errors import InvalidValueError
from archrisk.meaning import BOOKKEEPING_SUFFIXES, FAMILIES, UNDECLARED, Meaning, budget
from archrisk.report import quality
from archrisk.vocab import GROUP_ORDER as VOCAB_ORDER, Group
from archrisk.store import StoreData
from archrisk.validate import flatten

log = logging.getLogger(__name__)

# Bookkeeping, not measurements: sample counts, a metric's standard error and cost.
_IGNORED_KEYS = {"n"}
_IGNORED_SUFFIXES = BOOKKEEPING_SUFFIXES
GROUP_ORDER = tuple(g.value for g in VOCAB_ORDER)
# Derived here from training histories: the study ties fast early convergence to risk (C8).
EARLY_CONVERGENCE = Meaning(1, False, ("C8",), "share of the run's best validation accuracy reached, averaged "
                                                "over the first half of the epochs (0..1)")
SHARE = 0.9  # of the run's best validation accuracy, for the length-free convergence speed
CONVERGENCE_SPEED = Meaning(-1, False, ("C8",), f"epochs until validation accuracy first reaches {SHARE:g} of the "
                                                 "run's best (where a run stops does not move it)")
# Job parameters that say at which scale a result was measured: a store that mixes several gets one
# series per scale, and every lookup of a victim's accuracy, size or flag is keyed by them too.
SCALE_KEYS = ("dataset", "size", "recipe")
Scale = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Quantity:
    kind: str  # train | attack | metric | derived
    name: str
    family: str
    variant: tuple[tuple[str, str], ...]
    key: str

    @property
    def variant_label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.variant)

    @property
    def setting(self) -> str:
        """Name and variant, e.g. 'label_flip (fraction=0.2)'."""
        return f"{self.name} ({self.variant_label})" if self.variant else self.name

    @property
    def label(self) -> str:
        return self.setting if self.key == self.name else f"{self.setting}: {self.key}"

    @property
    def slug(self) -> str:
        """File-name form of the label; a long one keeps its start and a hash of the whole, so series
        that differ only past the cut (their key, say) keep distinct, stable names."""
        slug = re.sub(r"[^a-z0-9]+", "_", self.label.lower()).strip("_") or "series"
        if len(slug) <= 80:
            return slug
        return f"{slug[:71]}_{hashlib.sha1(slug.encode()).hexdigest()[:8]}"

    def param(self, name: str) -> str | None:
        return dict(self.variant).get(name)

    @property
    def scale(self) -> Scale:
        """The dataset, size and recipe of this quantity, where the store mixes several (else ())."""
        return tuple(kv for kv in self.variant if kv[0] in SCALE_KEYS)


def scale_label(scale: Scale) -> str:
    return ", ".join(f"{k}={v}" for k, v in scale)


def scale_slug(scale: Scale) -> str:
    """File-name form of a scale ('' for the one scale of a store that holds one)."""
    return re.sub(r"[^a-z0-9]+", "_", scale_label(scale).lower()).strip("_")


@dataclass
class Series:
    q: Quantity
    values: dict[str, dict[int, float]] = field(default_factory=dict)  # arch -> seed -> value
    meaning: Meaning = field(default_factory=Meaning)  # as recorded with the results

    def add(self, arch: str, seed: int, value: float) -> None:
        if math.isfinite(value):
            self.values.setdefault(arch, {})[seed] = value

    def arch_means(self) -> dict[str, float]:
        return {a: float(np.mean(list(s.values()))) for a, s in self.values.items() if s}

    def clusters(self, archs: list[str]) -> list[list[float]]:
        return [list(self.values[a].values()) for a in archs if a in self.values]

    def archs(self, groups: dict[str, str], group: str | None = None) -> list[str]:
        return sorted(a for a in self.values if group is None or groups.get(a) == group)

    def seeds(self) -> set[int]:
        return {s for v in self.values.values() for s in v}

    def spread(self) -> float:
        m = list(self.arch_means().values())
        return float(np.ptp(m)) if len(m) > 1 else 0.0

    @property
    def direction(self) -> int:
        """+1: higher = riskier, -1: lower = riskier, 0: undeclared or neither."""
        return self.meaning.direction


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass
class SeriesSet:
    """All series of a store, indexed by quantity, plus architecture groups."""

    series: dict[Quantity, Series]
    groups: dict[str, str]
    unrecorded: int = 0  # done jobs with results but no recorded meaning (stores older than meanings)
    analysis: Analysis = field(default_factory=Analysis)  # what the studies registered (protocol, gate)
    victims: list = field(default_factory=list)  # quality.Victim records, gated by `quality.apply`

    def group_of(self, arch: str) -> str:
        """The architecture's group; one the store does not group is the user's own ('custom')."""
        return self.groups.get(arch, Group.CUSTOM.value)

    def scales(self) -> list[Scale]:
        """Every scale the store's victims were trained at (one `()` when it holds one)."""
        return sorted({q.scale for q in self.series if q.kind == "train"}) or [()]

    def select(self, kind: str | None = None, family: str | None = None, name: str | None = None,
               key: str | None = None) -> list[Series]:
        return [s for q, s in self.series.items() if (kind is None or q.kind == kind)
                and (family is None or q.family == family) and (name is None or q.name == name)
                and (key is None or q.key == key)]

    def endpoints(self, adv: bool | None = False) -> list[Series]:
        """The headline series of every attack setting (adv: only / not / either adversarially
        trained): the key its attack declared the headline (of several budgets, the largest)."""
        heads: dict[tuple, Series] = {}
        for q, s in self.series.items():
            if q.kind != "attack" or not s.meaning.headline:
                continue
            if adv is not None and _is_adv(q) != adv:
                continue
            setting = (q.name, q.family, q.variant)
            if setting not in heads or budget(q.key) > budget(heads[setting].q.key):
                heads[setting] = s
        return _by_family(heads.values())

    def bearing_on(self, claim_id: str, adv: bool | None = None) -> list[Series]:
        """Every series whose recorded meaning names `claim_id` (adv: only / not / either
        adversarially trained victims), attacks in family order, then metrics and derived series."""
        out = [s for s in self.series.values() if claim_id in s.meaning.claims
               and (adv is None or _is_adv(s.q) == adv)]
        return _by_family(out)

    def families(self) -> list[str]:
        """Attack families in this store: FAMILIES order, then any other family a producer declared."""
        found = {q.family for q in self.series if q.kind == "attack"}
        return [f for f in FAMILIES if f in found] + sorted(found - set(FAMILIES))

    def meaning_note(self) -> str | None:
        """One line for the report when results carry no recorded meaning, else None."""
        if not self.unrecorded:
            return None
        return (f"{self.unrecorded} finished job(s) in this store carry no recorded result meaning (written by an "
                "archrisk that did not record them): their results have no risk direction and no headline, "
                "so they enter no ranking, comparison direction or claim; record today's declarations with "
                "archrisk.runner.record_meanings(store)")

    def accuracy(self, adv: bool = False, scale: Scale | None = None) -> Series | None:
        return self.trained("test_acc", adv, scale)

    def trained(self, key: str, adv: bool = False, scale: Scale | None = None) -> Series | None:
        """A train job's result across victims (test_acc, params, flops, ...) at `scale`; None (no
        scale given) only in a store of one scale: a lookup never mixes the accuracies of two."""
        if scale is None:
            scales = self.scales()
            if len(scales) > 1:
                raise ValueError(f"this store mixes {len(scales)} scales: name the scale of a '{key}' lookup")
            scale = scales[0]
        for q, s in self.series.items():
            if q.kind == "train" and q.key == key and _is_adv(q) == adv and q.scale == scale:
                return s
        return None

    def victim_means(self, key: str, scale: Scale | None = None) -> dict[str, float]:
        """Per architecture, the mean over seeds of a standard-trained victim's `key` at `scale`."""
        s = self.trained(key, scale=scale)
        return s.arch_means() if s else {}

    def explanatory(self) -> list[Series]:
        """Metric results (without their standard errors) and derived training signals of
        standard-trained victims (an adversarially trained victim is a different model: its
        properties would be set against other models' attack results)."""
        out = [s for q, s in self.series.items() if q.kind in ("metric", "derived") and not q.param("adv_train")]
        return sorted(out, key=lambda s: (s.q.kind, s.q.name, s.q.key, s.q.variant))


def _is_adv(q: Quantity) -> bool:
    return any(k == "adv_train" for k, _ in q.variant)


def _by_family(series) -> list[Series]:
    """Attack families in FAMILIES order (an unlisted family after them), then by name, variant, key."""
    kinds = ("attack", "metric", "derived", "train")
    return sorted(series, key=lambda s: (kinds.index(s.q.kind) if s.q.kind in kinds else 9,
                                         FAMILIES.index(s.q.family) if s.q.family in FAMILIES else len(FAMILIES),
                                         s.q.family, s.q.name, _variant_sort(s.q.variant), s.q.key))


def _variant_sort(variant: tuple[tuple[str, str], ...]) -> tuple:
    out = []
    for k, v in variant:
        try:
            out.append((k, 0, float(v), ""))
        except ValueError:
            out.append((k, 1, 0.0, v))
    return tuple(out)


def _val_accs(history: list[dict[str, Any]]) -> list[float]:
    return [float(h["val_acc"]) for h in history if isinstance(h, dict) and h.get("val_acc") is not None]


def convergence_speed(history: list[dict[str, Any]], share: float = SHARE) -> float | None:
    """Epochs until validation accuracy first reaches `share` of the run's best. A rule that stops
    training later than this point changes the best only as much as accuracy still rises, so the
    measure does not depend on the run's length, unlike the share of the best reached early."""
    accs = _val_accs(history)
    if not accs or max(accs) <= 0:
        return None
    return float(next(i + 1 for i, a in enumerate(accs) if a >= share * max(accs)))


def early_convergence(history: list[dict[str, Any]]) -> float | None:
    """How fast a run converges early: the validation accuracy of each epoch in the first half of
    training as a share of the run's best, averaged. Relative to the run's own best, so it measures
    speed, not final accuracy; over half the run, so it is not one or two noisy epochs."""
    accs = _val_accs(history)
    if not accs or max(accs) <= 0:
        return None
    k = max(1, math.ceil(len(accs) / 2))
    return float(np.mean(accs[:k]) / max(accs))


def recipe_labels(jobs) -> dict[str, str]:
    """Recipe JSON -> a short label naming the fields in which the store's recipes differ (adversarial
    training aside: it is its own variant), e.g. 'epochs=4' and 'epochs=6'; {} when they all agree."""
    recipes = {}
    for j in jobs:
        r = {k: v for k, v in j.recipe.items() if k != "adv_train"}
        recipes.setdefault(json.dumps(r, sort_keys=True), r)
    if len(recipes) < 2:
        return {}
    keys = sorted({k for r in recipes.values() for k in r})
    differ = [k for k in keys if len({json.dumps(r.get(k), sort_keys=True) for r in recipes.values()}) > 1]
    return {text: ",".join(f"{k}={_fmt(r.get(k))}" for k in differ) for text, r in recipes.items()}


def _recipe_key(job) -> str:
    return json.dumps({k: v for k, v in job.recipe.items() if k != "adv_train"}, sort_keys=True)


def variants(store: StoreData) -> dict[str, tuple[tuple[str, str], ...]]:
    """Job id -> variant of every done job: its parameters, the victim's adversarial training, and
    the dataset, size and recipe where the store mixes several."""
    done = store.done
    many_data = len({j.dataset for j in done}) > 1
    many_size = len({j.size for j in done}) > 1
    recipes = recipe_labels(done)
    out = {}
    for job in done:
        shown = flatten(job.params) if job.kind == "metric" else job.params  # {"hessian": {...}} as hessian.samples=64
        variant = [(k, _fmt(v)) for k, v in sorted(shown.items()) if k != "adv_train"]
        if job.adv_train:
            variant.append(("adv_train", job.adv_train))
        if many_data:
            variant.append(("dataset", str(job.dataset)))
        if many_size:
            variant.append(("size", str(job.size)))
        if recipes:
            variant.append(("recipe", recipes[_recipe_key(job)]))
        out[job.id] = tuple(variant)
    return out


def build_series(store: StoreData) -> SeriesSet:
    """Group every done result into series with its recorded meaning; add early convergence from
    training histories; apply the registered victim quality gate (`quality.apply`)."""
    variant_of = variants(store)
    series: dict[Quantity, Series] = {}
    unrecorded = 0
    for job in store.done:
        variant = variant_of[job.id]
        results = store.results.get(job.id, {})
        meanings = store.meanings(job.id)
        if meanings is None:
            unrecorded += bool(results)
            meanings = {}
        for key, value in results.items():
            if key in _IGNORED_KEYS or key.endswith(_IGNORED_SUFFIXES):
                continue
            q = Quantity(job.kind, job.name, job.family, tuple(variant), key)
            _series(series, q, meanings.get(key, UNDECLARED)).add(job.arch, job.seed, value)
        hist = store.artifacts.get(job.id, {}).get("history")
        if job.kind == "train" and isinstance(hist, list) and not job.adv_train:
            for name, key, meaning, fn in (("early_convergence", "early_acc_share", EARLY_CONVERGENCE, early_convergence),
                                           ("convergence_speed", "epochs_to_share", CONVERGENCE_SPEED, convergence_speed)):
                value = fn(hist)
                if value is not None:
                    q = Quantity("derived", name, "convergence", tuple(variant), key)
                    _series(series, q, meaning).add(job.arch, job.seed, value)
    return quality.apply(SeriesSet(series, store.groups(), unrecorded, registered_analysis(store)))


def _core(m: Meaning) -> tuple:
    return m.direction, m.headline, m.claims


def _series(series: dict[Quantity, Series], q: Quantity, meaning: Meaning) -> Series:
    """The series of `q`; the first recorded meaning stands (jobs of one quantity share a producer)."""
    s = series.get(q)
    if s is None:
        s = series[q] = Series(q, meaning=meaning)
    elif s.meaning == UNDECLARED and meaning != UNDECLARED:
        s.meaning = meaning
    elif meaning != UNDECLARED and _core(meaning) != _core(s.meaning):
        log.warning("jobs of %s record different meanings (%s vs %s); the first is used", q.label, s.meaning, meaning)
    return s


def registered_analysis(store: StoreData) -> Analysis:
    """The analysis the store's studies registered (the latest study of each name); every study must
    register the same one, since one report judges all of their claims together."""
    latest: dict[str, dict] = {}
    for st in sorted(store.studies, key=lambda r: r.get("created") or 0):
        try:
            spec = json.loads(st.get("spec_json") or "{}")
        except json.JSONDecodeError:
            spec = {}
        latest[str(st.get("name"))] = spec.get("analysis") or {} if isinstance(spec, dict) else {}
    found = {name: parse_analysis(values) for name, values in latest.items()}
    distinct = set(found.values())
    if len(distinct) > 1:
        shown = "; ".join(f"{name}: {a.describe()}" for name, a in sorted(found.items()))
        raise InvalidValueError(f"the studies in {store.path!r} register different analyses ({shown}); "
                                "report them from separate stores or register one analysis in every study")
    return distinct.pop() if distinct else Analysis()
