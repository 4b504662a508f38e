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

from archrisk.meaning import BOOKKEEPING_SUFFIXES, FAMILIES, UNDECLARED, Meaning, budget
from archrisk.report.data import StoreData

log = logging.getLogger(__name__)

# Bookkeeping, not measurements: sample counts, a metric's standard error and cost.
_IGNORED_KEYS = {"n"}
_IGNORED_SUFFIXES = BOOKKEEPING_SUFFIXES
GROUP_ORDER = ("nas", "random", "manual", "remedy", "custom")
# Derived here from training histories: the study ties fast early convergence to risk (C8).
EARLY_CONVERGENCE = Meaning(1, False, ("C8",), "share of the run's best validation accuracy reached, averaged "
                                                "over the first half of the epochs (0..1)")


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

    def accuracy(self, adv: bool = False) -> Series | None:
        return self.trained("test_acc", adv)

    def trained(self, key: str, adv: bool = False) -> Series | None:
        """A train job's result across victims: test_acc, params, flops, ..."""
        for q, s in self.series.items():
            if q.kind == "train" and q.key == key and any(k == "adv_train" for k, _ in q.variant) == adv:
                return s
        return None

    def victim_means(self, key: str) -> dict[str, float]:
        """Per architecture, the mean over seeds of a standard-trained victim's `key` ({} if absent)."""
        s = self.trained(key)
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


def early_convergence(history: list[dict[str, Any]]) -> float | None:
    """How fast a run converges early: the validation accuracy of each epoch in the first half of
    training as a share of the run's best, averaged. Relative to the run's own best, so it measures
    speed, not final accuracy; over half the run, so it is not one or two noisy epochs."""
    accs = [float(h["val_acc"]) for h in history if isinstance(h, dict) and h.get("val_acc") is not None]
    if not accs or max(accs) <= 0:
        return None
    k = max(1, math.ceil(len(accs) / 2))
    return float(np.mean(accs[:k]) / max(accs))


def variants(store: StoreData) -> dict[str, tuple[tuple[str, str], ...]]:
    """Job id -> variant of every done job: its parameters, the victim's adversarial training, and
    the dataset/size when the store mixes several."""
    done = store.done
    many_data = len({j.dataset for j in done}) > 1
    many_size = len({j.size for j in done}) > 1
    names = store.metric_param_names()  # a metric's stored flat parameter names, shown nested
    out = {}
    for job in done:
        shown = {(names.get(k, k) if job.kind == "metric" else k): v for k, v in job.params.items()}
        variant = [(k, _fmt(v)) for k, v in sorted(shown.items()) if k != "adv_train"]
        if job.adv_train:
            variant.append(("adv_train", job.adv_train))
        if many_data:
            variant.append(("dataset", str(job.dataset)))
        if many_size:
            variant.append(("size", str(job.size)))
        out[job.id] = tuple(variant)
    return out


def build_series(store: StoreData) -> SeriesSet:
    """Group every done result into series with its recorded meaning; add early convergence from
    training histories."""
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
        if job.kind == "train" and isinstance(hist, list):
            early = early_convergence(hist)
            if early is not None:
                q = Quantity("derived", "early_convergence", "convergence", tuple(variant), "early_acc_share")
                _series(series, q, EARLY_CONVERGENCE).add(job.arch, job.seed, early)
    return SeriesSet(series, store.groups(), unrecorded)


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
