"""The loaded dataset value objects: `Split` (images + labels) and `Dataset` (four splits)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import torch

from archrisk.data.raw import DatasetInfo


@dataclass(frozen=True, eq=False)  # eq=False: tensors do not compare to a single bool
class Split:
    x: torch.Tensor  # [N, C, H, W] float32 in [0, 1]
    y: torch.Tensor  # [N] int64

    def __post_init__(self) -> None:
        # Cheap structural checks only; the value range is checked once, at load time.
        if self.x.ndim != 4 or self.x.dtype != torch.float32:
            raise ValueError(f"Split.x must be float32 [N, C, H, W], got {self.x.dtype} {tuple(self.x.shape)}")
        if self.y.ndim != 1 or self.y.dtype != torch.int64 or len(self.y) != len(self.x):
            raise ValueError(f"Split.y must be int64 [N] with N={len(self.x)}, got {self.y.dtype} {tuple(self.y.shape)}")

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset carved into disjoint splits; see `archrisk.data` for how the splits are made."""

    name: str
    classes: tuple[str, ...]
    train: Split  # the victim's training images
    val: Split  # the victim's held-out images (early stopping, calibration)
    test: Split  # evaluation images (the official test set where one exists)
    pool: Split  # the attacker's own images (extraction queries, shadow models); never seen by the victim
    mean: tuple[float, ...]  # per-channel mean of train, for the model's normalisation layer
    std: tuple[float, ...]  # per-channel std of train
    split_seed: int
    # Digest of the source bytes and the split indices, filled in by load_dataset so that
    # fingerprint() need not rehash the (4x larger) float tensors. Empty for hand-built datasets.
    content_digest: str = field(default="", repr=False)
    # What the registry declares about it (filled in by load_dataset; None for a hand-built Dataset):
    # code that needs a dataset's properties reads them here, never by looking its name up again.
    info: DatasetInfo | None = field(default=None, repr=False)

    @property
    def mirror(self) -> bool:
        """Whether a horizontal flip keeps the label (photos yes, digits no; a hand-built dataset: no)."""
        return self.info.mirror if self.info is not None else False

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])  # (C, H, W)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test, "pool": self.pool}

    def fingerprint(self) -> str:
        """Short sha256 identifying this exact data and split; used in cache keys."""
        content = self.content_digest or self._tensor_digest()
        payload = json.dumps(
            {
                "name": self.name,
                "split_seed": self.split_seed,
                "sizes": {k: len(s) for k, s in self.splits.items()},
                "content": content,
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def _tensor_digest(self) -> str:
        h = hashlib.sha256()
        for split in self.splits.values():
            for t in (split.x, split.y):
                h.update(t.detach().cpu().contiguous().numpy())  # buffer, no copy
        return h.hexdigest()
