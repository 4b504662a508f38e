"""Security-aware architecture search: a first-order DARTS supernet with optional risk penalties.

Consumes `arch` (ops, genotypes) and `data`, produces genotypes that enter studies like any other
architecture (pass `result.genotype.format()` or its JSON as the arch string).
"""
from archrisk.search.loop import BUDGETS, SearchBudget, SearchConfig, SearchResult, get_budget, search
from archrisk.search.penalties import PENALTIES, SoftCell, get_penalty, register_penalty
from archrisk.search.supernet import Supernet, SupernetConfig, derive_genotype

__all__ = ["BUDGETS", "PENALTIES", "SearchBudget", "SearchConfig", "SearchResult", "SoftCell", "Supernet",
           "SupernetConfig", "derive_genotype", "get_budget", "get_penalty", "register_penalty", "search"]
