"""archrisk's closed vocabularies, in one torch-free place: architecture groups, job kinds, attack
families, and the names the command line offers as choices.

Each is a `str` Enum, so a member is the very string that studies, stores and reports hold
(`Group.NAS == "nas"`); the registries that build things from these names (the zoo's size presets,
the recipes, the executors, the search penalties) are keyed by them, and the command line builds its
choices from them without importing those registries (a test keeps both in step).
"""
from __future__ import annotations

from enum import Enum


class Group(str, Enum):
    """What an architecture is, for the comparisons (a study may also name groups of its own)."""

    NAS = "nas"  # published cells found by architecture search
    RANDOM = "random"  # cells drawn uniformly from the same search space: the control for selection
    MANUAL = "manual"  # hand-designed networks
    REMEDY = "remedy"  # a cell transformed by a remedy (deeper, fewer skips), compared with its source
    CUSTOM = "custom"  # anything else: a genotype of the user's, the user's own model

    def __str__(self) -> str:
        return self.value


GROUP_ORDER = tuple(Group)  # the order reports list groups in (a study's own groups after these)


class JobKind(str, Enum):
    TRAIN = "train"
    METRIC = "metric"
    ATTACK = "attack"

    def __str__(self) -> str:
        return self.value


class Family(str, Enum):
    """Attack families, in the order the report shows them; `cost_tier` orders a study's queue."""

    EVASION = "evasion"
    POISONING = "poisoning"
    BACKDOOR = "backdoor"
    EXTRACTION = "extraction"
    MEMBERSHIP = "membership"

    def __str__(self) -> str:
        return self.value

    @property
    def cost_tier(self) -> int:
        return COST_TIER[self]


# Rough relative cost of one job (orders the queue so cheap, informative results arrive first; not a
# time estimate): training first, then metrics, then the attack families by their usual cost.
COST_TIER = {JobKind.TRAIN: 0, JobKind.METRIC: 1, Family.EVASION: 2, Family.MEMBERSHIP: 3, Family.EXTRACTION: 4,
             Family.BACKDOOR: 5, Family.POISONING: 6}


def cost_tier(kind: str, family: str) -> int:
    """The queue tier of a job: its kind's for train and metric jobs, its family's for attacks (an
    attack family registered outside this vocabulary goes last)."""
    if kind != JobKind.ATTACK:
        return COST_TIER[JobKind(kind)]
    return COST_TIER.get(family, max(COST_TIER.values()) + 1)


# Names the command line offers as choices; the registries that use them are checked against these.
SIZES = ("tiny", "small", "paper")
RECIPES = ("study", "darts")
EXECUTORS = ("local", "process", "ray")
PENALTIES = ("none", "skip", "depth", "parametric", "score")
ADV_METHODS = ("pgd", "trades")
