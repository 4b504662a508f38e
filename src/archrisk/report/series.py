"""From store rows to series: one measured quantity across architectures and seeds.

A *quantity* is (job kind, attack/metric name, family, variant, result key); the variant holds the
job parameters that differ between jobs of one name (e.g. a poisoning fraction), the victim's
adversarial-training method, and the dataset/size when a store mixes several. Its *series* maps
architecture -> seed -> value. The *headline* of an attack is the one key that says how well it
worked (success rate, accuracy drop, ...); `RISK_DIRECTION` orients keys so that "higher = riskier".
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archrisk.report.data import StoreData

# +1: a higher value means the attack worked better (more risk); -1: a lower value does.
RISK_DIRECTION: dict[str, int] = {
    "success_rate": 1, "asr": 1, "attack_success_rate": 1, "acc_drop": 1, "clean_acc_drop": 1,
    "accuracy_drop": 1, "drop": 1, "agreement": 1, "thief_acc": 1, "kl": -1, "ce": -1,
    "cross_entropy": -1, "auc": 1, "roc_auc": 1, "advantage": 1, "tpr_at_1pct": 1, "tpr_at_0.1pct": 1,
    "mean_iters": -1, "robust_acc": -1, "queries": -1,
}
# Per family, the keys that can stand for "how well the attack worked", in order of preference.
HEADLINE_KEYS: dict[str, tuple[str, ...]] = {
    "evasion": ("success_rate", "asr"),
    "poisoning": ("acc_drop", "clean_acc_drop", "accuracy_drop", "drop"),
    "backdoor": ("asr", "attack_success_rate", "success_rate"),
    "extraction": ("agreement", "kl", "ce", "cross_entropy", "thief_acc"),
    "membership": ("auc", "roc_auc", "advantage"),
}
FAMILIES = tuple(HEADLINE_KEYS)
# Bookkeeping, not measurements: sample counts, a metric's standard error and cost.
_IGNORED_KEYS = {"n"}
_IGNORED_SUFFIXES = (".stderr", ".cost_s")
GROUP_ORDER = ("nas", "manual", "remedy", "custom")


def base_key(key: str) -> str:
    """'agreement@16000' -> 'agreement' (a key may carry a budget after '@')."""
    return key.split("@", 1)[0]


def direction(key: str) -> int:
    return RISK_DIRECTION.get(base_key(key), 0)


def _budget(key: str) -> float:
    tail = key.split("@", 1)[1] if "@" in key else ""
    try:
        return float(tail)
    except ValueError:
        return math.inf if not tail else -math.inf


def headline_key(family: str, keys: set[str] | list[str]) -> str | None:
    """The headline key among `keys`: first preferred base name, at its largest budget."""
    for want in HEADLINE_KEYS.get(family, ()):
        hits = [k for k in keys if base_key(k) == want]
        if hits:
            return max(hits, key=_budget)
    return None


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
        return re.sub(r"[^a-z0-9]+", "_", self.label.lower()).strip("_")[:80] or "series"

    def param(self, name: str) -> str | None:
        return dict(self.variant).get(name)


@dataclass
class Series:
    q: Quantity
    values: dict[str, dict[int, float]] = field(default_factory=dict)  # arch -> seed -> value

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
        return direction(self.q.key)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass
class SeriesSet:
    """All series of a store, indexed by quantity, plus architecture groups."""

    series: dict[Quantity, Series]
    groups: dict[str, str]

    def select(self, kind: str | None = None, family: str | None = None, name: str | None = None,
               key: str | None = None) -> list[Series]:
        return [s for q, s in self.series.items() if (kind is None or q.kind == kind)
                and (family is None or q.family == family) and (name is None or q.name == name)
                and (key is None or q.key == key)]

    def endpoints(self, adv: bool | None = False) -> list[Series]:
        """The headline series of every attack setting (adv: only / not / either adversarially trained)."""
        keys: dict[tuple, set[str]] = {}
        for q in self.series:
            if q.kind == "attack":
                keys.setdefault((q.name, q.family, q.variant), set()).add(q.key)
        out = []
        for (name, family, variant), ks in keys.items():
            is_adv = any(k == "adv_train" for k, _ in variant)
            if adv is not None and is_adv != adv:
                continue
            hk = headline_key(family, ks)
            if hk is not None:
                out.append(self.series[Quantity("attack", name, family, variant, hk)])
        return sorted(out, key=lambda s: (FAMILIES.index(s.q.family) if s.q.family in FAMILIES else 99,
                                          s.q.name, _variant_sort(s.q.variant)))

    def accuracy(self, adv: bool = False) -> Series | None:
        for q, s in self.series.items():
            if q.kind == "train" and q.key == "test_acc" and any(k == "adv_train" for k, _ in q.variant) == adv:
                return s
        return None

    def bearing_on(self, claim: str) -> list[Series]:
        """Series whose measurement bears on a claim (C1..C10)."""
        fam = {"C1": "evasion", "C2": "poisoning", "C3": "backdoor", "C4": "extraction", "C5": "membership"}
        rx = {"C6": r"grad.*var", "C7": r"hessian|landscape|lipschitz|input_grad", "C8": r"^conv_|^cell_|early"}
        out = []
        for q, s in self.series.items():
            if q.kind == "attack" and fam.get(claim) == q.family and direction(q.key):
                out.append(s)
            elif q.kind in ("metric", "derived") and claim in rx and re.search(rx[claim], q.key):
                out.append(s)
        return sorted(out, key=lambda s: s.q.label)

    def explanatory(self) -> list[Series]:
        """Metric results (without their standard errors) and derived training signals of
        standard-trained victims (an adversarially trained victim is a different model: its
        properties would be set against other models' attack results)."""
        out = [s for q, s in self.series.items() if q.kind in ("metric", "derived") and not q.param("adv_train")]
        return sorted(out, key=lambda s: (s.q.kind, s.q.name, s.q.key, s.q.variant))


def _variant_sort(variant: tuple[tuple[str, str], ...]) -> tuple:
    out = []
    for k, v in variant:
        try:
            out.append((k, 0, float(v), ""))
        except ValueError:
            out.append((k, 1, 0.0, v))
    return tuple(out)


def early_convergence(history: list[dict[str, Any]]) -> float | None:
    """Mean validation accuracy over the first quarter of the epochs (at least one epoch)."""
    accs = [float(h["val_acc"]) for h in history if isinstance(h, dict) and h.get("val_acc") is not None]
    if not accs:
        return None
    k = max(1, math.ceil(len(accs) / 4))
    return float(np.mean(accs[:k]))


def variants(store: StoreData) -> dict[str, tuple[tuple[str, str], ...]]:
    """Job id -> variant of every done job: its parameters, the victim's adversarial training, and
    the dataset/size when the store mixes several."""
    done = store.done
    many_data = len({j.dataset for j in done}) > 1
    many_size = len({j.size for j in done}) > 1
    out = {}
    for job in done:
        variant = [(k, _fmt(v)) for k, v in sorted(job.params.items()) if k != "adv_train"]
        if job.adv_train:
            variant.append(("adv_train", job.adv_train))
        if many_data:
            variant.append(("dataset", str(job.dataset)))
        if many_size:
            variant.append(("size", str(job.size)))
        out[job.id] = tuple(variant)
    return out


def build_series(store: StoreData) -> SeriesSet:
    """Group every done result into series; add early convergence from training histories."""
    variant_of = variants(store)
    series: dict[Quantity, Series] = {}
    for job in store.done:
        variant = variant_of[job.id]
        for key, value in store.results.get(job.id, {}).items():
            if key in _IGNORED_KEYS or key.endswith(_IGNORED_SUFFIXES):
                continue
            q = Quantity(job.kind, job.name, job.family, tuple(variant), key)
            series.setdefault(q, Series(q)).add(job.arch, job.seed, value)
        hist = store.artifacts.get(job.id, {}).get("history")
        if job.kind == "train" and isinstance(hist, list):
            early = early_convergence(hist)
            if early is not None:
                q = Quantity("derived", "early_convergence", "convergence", tuple(variant), "early_val_acc")
                series.setdefault(q, Series(q)).add(job.arch, job.seed, early)
    return SeriesSet(series, store.groups())
