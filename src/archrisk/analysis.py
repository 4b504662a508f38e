"""What a study registers about its analysis, before any job runs: the claims' protocol, the
confirmatory estimand, and the victim quality gate.

Written in a study file's `[analysis]` table, stored with the study, and read by the report:

    [analysis]
    protocol = 2              # the claims' primaries and parts (1: as registered for v1 studies)
    estimand = "fixed"        # confirmatory question of the group claims: fixed | random
    min_clean_acc = 0.5       # a victim below this clean test accuracy is ...
    below_min = "exclude"     # ... excluded from every analysis, or only flagged ("flag")
    require_converged = true  # victims whose training hit its epoch cap without converging: as below_min
    max_accuracy_gap = 0.05   # groups whose median clean accuracies differ by more are not compared
    fixed_archs = ["darts_v2", "resnet18-matched"]  # the named architectures of the fixed-effects question

The defaults are what studies registered before this table existed did (the reference study v1):
protocol 1, random effects (Welch on architecture means), flag victims below 0.5 test accuracy,
no convergence requirement, no accuracy-gap rule. A study without the table keeps its id.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Mapping

from archrisk.validate import Checked, Interval, OneOf, build

PROTOCOLS = (1, 2)
ESTIMANDS = ("fixed", "random")
BELOW_MIN = ("flag", "exclude")


@dataclass(frozen=True)
class Analysis(Checked):
    # 1: C4 decided on the thief's KL and C8 on one NAS-vs-manual test (v1); 2: C4 on the study's own
    # measure (thief cross-entropy), C8 in two parts (selection: NAS vs random; convergence: vs manual)
    protocol: Annotated[int, OneOf(PROTOCOLS)] = 1
    estimand: Annotated[str, OneOf(ESTIMANDS)] = "random"  # which question the group claims' verdicts answer
    min_clean_acc: Annotated[float, Interval(ge=0, le=1)] = 0.5
    below_min: Annotated[str, OneOf(BELOW_MIN)] = "flag"
    require_converged: bool = False
    max_accuracy_gap: Annotated[float, Interval(ge=0, le=1)] | None = None
    # the architectures (as results name them) the fixed-effects question is about; empty: every one of
    # the compared groups. The random-effects question always uses them all (e.g. an enlarged zoo).
    fixed_archs: tuple[str, ...] = ()

    def config_label(self) -> str:
        return "analysis"

    @property
    def excludes(self) -> bool:
        return self.below_min == "exclude"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for the report: the registered rules in words."""
        gate = f"victims below {self.min_clean_acc:g} clean accuracy {'excluded' if self.excludes else 'flagged'}"
        if self.require_converged:
            gate += f"; victims that did not converge {'excluded' if self.excludes else 'flagged'}"
        gap = (f"groups compared only when their median clean accuracies differ by at most {self.max_accuracy_gap:g}"
               if self.max_accuracy_gap is not None else "no accuracy-gap rule")
        named = (f"; the fixed-effects question names {len(self.fixed_archs)} architectures" if self.fixed_archs
                 else "")
        return f"protocol {self.protocol}; confirmatory estimand: {self.estimand} effects; {gate}; {gap}{named}"


def parse_analysis(values: Mapping[str, Any] | None) -> Analysis:
    """An Analysis from a study file's table (None: the defaults); bad keys and values raise
    InvalidValueError naming them."""
    values = dict(values or {})
    if isinstance(values.get("fixed_archs"), list):  # TOML and JSON give lists; the field is a tuple
        values["fixed_archs"] = tuple(values["fixed_archs"])
    return build(Analysis, values, "analysis")
