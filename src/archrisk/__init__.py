"""archrisk: how much security risk does a neural-network architecture carry, and why.

The public API, imported lazily so that light consumers (the report, the store) never load torch:

    build(arch, ...)            -> a model for inputs in [0, 1]            (archrisk.arch)
    train_model(arch, dataset, ...) -> TrainResult, cached by content hash   (archrisk.train)
    load_dataset(name, ...)     -> Dataset with train/val/test/pool splits   (archrisk.data)
    run_attack(arch, attack, ...) -> AttackResult                            (archrisk.attacks)
    measure(model, data, ...) / explain(arch, ...) -> metric results          (archrisk.metrics)
    audit(study.toml, store)    -> runs a study into a results store          (archrisk.runner)
    write_report(store, out_dir) -> a self-contained HTML report              (archrisk.report)

Each public function has a name of its own: no package of archrisk shadows it (`archrisk.train` and
`archrisk.report` are the packages).
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "build": "archrisk.arch", "list_models": "archrisk.arch", "Genotype": "archrisk.arch",
    "train_model": "archrisk.train", "Recipe": "archrisk.train",
    "load_dataset": "archrisk.data", "list_datasets": "archrisk.data",
    "run_attack": "archrisk.attacks", "list_attacks": "archrisk.attacks",
    "measure": "archrisk.metrics", "explain": "archrisk.metrics", "list_metrics": "archrisk.metrics",
    "audit": "archrisk.runner",
    "write_report": "archrisk.report",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # cache: later look-ups skip this hook
        return value
    raise AttributeError(f"module 'archrisk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
