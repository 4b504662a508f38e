"""Size-matched groups: a study's manual nets rebuilt at the width whose parameter count matches
the median of its NAS (and random) cells, at the study's size preset and for each dataset's input
channels and classes.

At `tiny` on one-channel digits the cells have 31k-66k parameters and the manual nets 624k-956k
(15x; the study's own gap is 3.7x), so an unmatched NAS-vs-manual difference is partly a size
difference. A matched manual net's architecture string carries its width (`resnet18(width=0.0664)`), so it
is a different job, checkpoint and architecture hash than the unmatched one, everything that
rebuilds it from the job (attacks that retrain, the risk score) builds that width, and its default
label says it is matched.
"""
from __future__ import annotations

import functools
import statistics
from typing import TYPE_CHECKING

from archrisk.errors import StudyError
from archrisk.vocab import Group

if TYPE_CHECKING:  # type hints only: config.py calls this module while it validates a study
    from archrisk.runner.config import DataConfig, Study

MATCHED_SUFFIX = "-matched"  # default label of a size-matched manual net: resnet18-matched
MATCH_GROUPS = (Group.NAS, Group.RANDOM)  # the cells whose median size the manual nets are matched to


@functools.lru_cache(maxsize=256)
def _cell_params(arch: str, size: str, in_channels: int, num_classes: int) -> int:
    from archrisk.arch import build, count_params

    return count_params(build(arch, num_classes=num_classes, in_channels=in_channels, size=size))


@functools.lru_cache(maxsize=256)
def _width(arch: str, params: int, size: str, in_channels: int, num_classes: int) -> float:
    from archrisk.arch import match_width

    return match_width(arch, params, num_classes=num_classes, in_channels=in_channels, size=size)


def _shape(d: DataConfig) -> tuple[int, int]:
    from archrisk.data.registry import get_dataset_entry

    info = get_dataset_entry(d.name)[0]
    return info.shape[0], info.num_classes


def target_params(study: Study, d: DataConfig) -> int:
    """Median parameter count of the study's NAS and random cells on dataset `d`."""
    from archrisk.arch import resolve

    in_ch, classes = _shape(d)
    counts = [_cell_params(e.text, study.size, in_ch, classes) for e in study.archs
              if not e.own and (s := resolve(e.text, study.size)).kind == "cell"
              and (e.group or s.group) in MATCH_GROUPS]
    if not counts:
        raise StudyError(f"match_size = {study.match_size!r} needs NAS or random cells among archs to match the "
                         "manual nets to; add some or remove match_size")
    return int(statistics.median(counts))


def matched_widths(study: Study, d: DataConfig) -> dict[int, float]:
    """Index in `study.archs` -> width multiplier of each manual entry on dataset `d` ({} unless the
    study asks for matching)."""
    from archrisk.arch import resolve

    if study.match_size is None:
        return {}
    manual = [i for i, e in enumerate(study.archs) if not e.own and resolve(e.text, study.size).kind == "manual"]
    if not manual:
        return {}
    target = target_params(study, d)
    in_ch, classes = _shape(d)
    return {i: _width(study.archs[i].text, target, study.size, in_ch, classes) for i in manual}
