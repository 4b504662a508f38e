"""What a result value means, declared by the code that produces it.

Every attack class and metric family declares, per result key, a `Meaning`: which direction is
riskier, whether the key is the attack's headline (the one number that says how well it worked)
and which of the study's claims (C1..C10) it bears on. The runner resolves the declarations for
the keys a job actually returned and stores them as the job's `meaning` artifact; the report and
the score read them from there and never guess from a key's spelling. A key nobody declared reads
as `Meaning()`: no direction, not a headline, no claim.

A declaration table maps result keys to meanings; a key may be a pattern with `*` wildcards for
families of keys, e.g. "agreement@*" for "agreement@16000" (a budget after '@'). When several
keys of one result are headlines (the same key at several budgets), the largest budget is the
headline; a key without a budget counts as the largest.

Torch-free and dependency-free: the report, the score and the test fixtures import it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from archrisk.errors import InvalidValueError
from archrisk.vocab import Family

# The attack families; the report orders its sections by this tuple (others go last).
FAMILIES = tuple(Family)
ARTIFACT = "meaning"  # artifact key of a job's {result key: Meaning.to_json()}
# Bookkeeping results (a metric's standard error and cost) carry no meaning of their own.
BOOKKEEPING_SUFFIXES = (".stderr", ".cost_s")
_CLAIM = re.compile(r"C[1-9][0-9]*")


@dataclass(frozen=True)
class Meaning:
    # +1: a higher value = more risk (the attack worked better, or the property the study ties to
    # vulnerability is larger); -1: lower = more risk; 0: neither
    direction: int = 0
    # the one key that says how well the attack worked (one per attack setting; of keys with a
    # budget suffix, 'agreement@16000', the largest budget is the headline)
    headline: bool = False
    claims: tuple[str, ...] = ()  # claim ids ("C1".."C10") the value bears on
    description: str = ""  # one line, with its unit

    def __post_init__(self) -> None:
        if isinstance(self.direction, bool) or self.direction not in (-1, 0, 1):
            raise InvalidValueError(f"meaning direction {self.direction!r} must be -1, 0 or +1")
        claims = (self.claims,) if isinstance(self.claims, str) else tuple(self.claims)
        bad = [c for c in claims if not isinstance(c, str) or not _CLAIM.fullmatch(c)]
        if bad:
            raise InvalidValueError(f"claim id {bad[0]!r} is not of the form 'C1'..'C10'")
        object.__setattr__(self, "claims", claims)

    def to_json(self) -> dict[str, Any]:
        return {"direction": self.direction, "headline": self.headline, "claims": list(self.claims),
                "description": self.description}

    @classmethod
    def from_json(cls, d: Any) -> Meaning:
        """Tolerant reader: missing or malformed fields take their defaults (stores outlive code)."""
        if not isinstance(d, Mapping):
            return cls()
        direction, claims, description = d.get("direction"), d.get("claims"), d.get("description")
        if isinstance(direction, bool) or not isinstance(direction, (int, float)) or not math.isfinite(direction):
            direction = 0
        claims = claims if isinstance(claims, (list, tuple)) else ()
        return cls(int(math.copysign(1, direction)) if direction else 0, d.get("headline") is True,
                   tuple(c for c in claims if isinstance(c, str) and _CLAIM.fullmatch(c)),
                   description if isinstance(description, str) else "")

UNDECLARED = Meaning()


def budget(key: str) -> float:
    """'agreement@16000' -> 16000.0; no budget -> inf (the full measurement); a non-numeric one -> -inf."""
    if "@" not in key:
        return math.inf
    try:
        return float(key.split("@", 1)[1])
    except ValueError:
        return -math.inf


def matches(pattern: str, key: str) -> bool:
    """`pattern` equals `key`, or matches it with each '*' standing for any run of characters."""
    if "*" not in pattern:
        return pattern == key
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), key) is not None


def resolve(table: Mapping[str, Meaning], key: str) -> Meaning:
    """The declared meaning of one concrete key: an exact entry, else the first matching pattern,
    else `Meaning()` (undeclared)."""
    if key in table:
        return table[key]
    return next((m for p, m in table.items() if "*" in p and matches(p, key)), UNDECLARED)


def headline_of(meanings: Mapping[str, Meaning]) -> str | None:
    """The headline among resolved keys: of those declared headline, the largest budget."""
    heads = [k for k, m in meanings.items() if m.headline]
    return max(heads, key=lambda k: (budget(k), k)) if heads else None


def resolve_all(table: Mapping[str, Meaning], keys: Iterable[str]) -> dict[str, Meaning]:
    """Meanings of the keys one result returned (bookkeeping keys left out), with exactly the one
    headline `headline_of` picks kept a headline."""
    out = {k: resolve(table, k) for k in keys if not k.endswith(BOOKKEEPING_SUFFIXES)}
    head = headline_of(out)
    return {k: replace(m, headline=False) if m.headline and k != head else m for k, m in out.items()}


def check_table(owner: str, table: Any, headlines: int | None) -> dict[str, Meaning]:
    """Validate a declaration table at registration; `headlines`: how many headline keys it must
    have, a key and its budgeted forms counting once (None: any number). Raises InvalidValueError
    naming the owner and the fix."""
    if not isinstance(table, Mapping):
        raise InvalidValueError(f"{owner}: meanings must be a dict of result key -> Meaning, not "
                                f"{type(table).__name__}")
    for k, m in table.items():
        if not isinstance(k, str) or not k or not isinstance(m, Meaning):
            raise InvalidValueError(f"{owner}: meanings entry {k!r} must map a result key to a Meaning")
    # 'agreement' and 'agreement@*' are one headline at several budgets
    n = len({k.split("@", 1)[0] for k, m in table.items() if m.headline})
    if headlines == 0 and n:
        raise InvalidValueError(f"{owner} declares a headline; only attacks have one, drop headline=True")
    if headlines is not None and n != headlines:
        what = "no headline" if n == 0 else f"{n} headline keys"
        raise InvalidValueError(f"{owner} declares {what}; declare exactly {headlines} result key with "
                                "Meaning(headline=True) (the one that says how well it worked)")
    return dict(table)


def read_recorded(artifact: Any) -> dict[str, Meaning]:
    """A job's stored `meaning` artifact ({key: Meaning JSON}) as Meanings; junk reads as empty."""
    if not isinstance(artifact, Mapping):
        return {}
    return {str(k): Meaning.from_json(v) for k, v in artifact.items()}


def record(meanings: Mapping[str, Meaning]) -> dict[str, dict[str, Any]]:
    """The `meaning` artifact of a job: {key: Meaning.to_json()}."""
    return {k: m.to_json() for k, m in sorted(meanings.items())}
