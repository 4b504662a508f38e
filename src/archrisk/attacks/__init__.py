"""Attacks: evasion, poisoning, backdoor, model extraction and membership inference, one interface.

`run_attack(arch, "pgd", data=..., **params)` trains (or loads from the cache) the victim, runs
the attack and returns an `AttackResult`; `list_attacks()` and `get_attack(name, **params)` expose
the registry. Each family lives in its own module and registers its attacks on import.

Adding an attack: subclass `Attack` as a frozen dataclass with `name`, `family` and `meanings`
(every scalar `_run` returns -> `archrisk.meaning.Meaning`, exactly one of them the headline, with
its risk direction and claim), implement `_run`, decorate with `@register_attack`. The runner
records the meanings with the results; the report and the score need no edit.

Your own model, the torchattacks way: the registered configs are exported under their class names,
so `atk = PGD(eps=8/255); r = atk(model, x, y)` attacks any nn.Module mapping [0, 1] inputs to
logits (`r.adv` holds the adversarial images); `run_attack(model, "pgd", data=ds)` does the same by
name. Attacks that train new models take a factory (`Callable[[], nn.Module]`) instead.
"""
from __future__ import annotations

from archrisk.attacks import backdoor, evasion, extraction, membership, poisoning  # noqa: F401  (registers)
from archrisk.attacks.backdoor import BadNets, Blended, TrojanNN
from archrisk.attacks.evasion import APGD, NES, PGD, PGDL2
from archrisk.attacks.extraction import Knockoff
from archrisk.attacks.membership import Boundary, LiRA, LossThreshold
from archrisk.attacks.poisoning import LabelFlip
from archrisk.attacks.api import attack_defaults, run_attack
from archrisk.attacks.base import (FAMILIES, Attack, AttackContext, AttackResult, get_attack, list_attacks,
                                   register_attack)

__all__ = ["FAMILIES", "APGD", "Attack", "AttackContext", "AttackResult", "BadNets", "Blended", "Boundary",
           "Knockoff", "LabelFlip", "LiRA", "LossThreshold", "NES", "PGD", "PGDL2", "TrojanNN", "attack_defaults",
           "get_attack", "list_attacks", "register_attack", "run_attack"]
