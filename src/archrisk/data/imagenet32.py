"""ImageNet32: downsampled ImageNet (Chrabaszcz, Loshchilov & Hutter, 2017) from the user's npz files.

The official release holds `train_data_batch_1.npz` .. `train_data_batch_10.npz` (1.28M images)
and `val_data.npz` (50k images, used here as the test split). Each file has keys 'data'
(uint8 [N, 3072]: the R, G and B planes of a 32x32 image, row-major, one after another),
'labels' (1..1000) and, in train batches, 'mean' (ignored). Files are read with
np.load(allow_pickle=False), never unpickled. They are looked for in data_dir,
data_dir/imagenet32/ (or .../raw), and the folders the official zips extract to
(Imagenet32_train_npz/, Imagenet32_val_npz/); the zips themselves are read member by member.

Class names come from an optional `map_clsloc.txt` next to the files (ImageNet devkit:
"<wnid> <label> <name>" per line, the label order the downsampled files use); otherwise
"class<label>".

Class subsets: `imagenet32_<k>` keeps the images labelled 1..k (relabelled 0..k-1), the
convention of the downsampled-ImageNet loaders the study's code uses (ImageNet16-120 likewise);
`imagenet32_60` is the study's subset. Filtering happens per file, so a subset never holds the
full 4 GB in memory. `register_imagenet32_subset(k)` registers further sizes.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from archrisk.data.files import search_dirs
from archrisk.data.registry import RawData, register_dataset
from archrisk.errors import DataError, InvalidValueError

FULL_CLASSES = 1000
STUDY_CLASSES = 60  # the study's scripts train on the first 60 classes
SIDE = 32
TRAIN_FILES = tuple(f"train_data_batch_{i}.npz" for i in range(1, 11))
VAL_FILE = "val_data.npz"
CLASS_MAP = "map_clsloc.txt"
_ALIASES = ("imagenet32", "Imagenet32", "downsampled_imagenet")
_ZIP_FOLDERS = {"train": "Imagenet32_train_npz", "val": "Imagenet32_val_npz"}
_URL = "https://image-net.org/download-images.php (Downsampled ImageNet 32x32, npz format)"


def _candidates(data_dir: Path) -> list[Path]:
    dirs = search_dirs(data_dir, _ALIASES)
    return [sub for d in dirs for sub in (d, d / _ZIP_FOLDERS["train"], d / _ZIP_FOLDERS["val"])]


def _locate(data_dir: Path) -> dict[str, bytes | Path]:
    """Each needed file as a path on disk or as bytes read from an official zip."""
    dirs = _candidates(data_dir)
    found: dict[str, bytes | Path] = {}
    for name in (*TRAIN_FILES, VAL_FILE):
        hit = next((d / name for d in dirs if (d / name).is_file()), None)
        if hit is not None:
            found[name] = hit
    missing = [n for n in (*TRAIN_FILES, VAL_FILE) if n not in found]
    if missing:
        found.update(_from_zips(search_dirs(data_dir, _ALIASES), missing))
    missing = [n for n in (*TRAIN_FILES, VAL_FILE) if n not in found]
    if missing:
        searched = ", ".join(map(str, search_dirs(data_dir, _ALIASES)))
        raise DataError(
            f"dataset 'imagenet32': missing {', '.join(missing)} (searched {searched}); "
            f"download the npz files from {_URL} and pass data_dir (or set ARCHRISK_DATA) to their folder")
    return found


def _from_zips(dirs: list[Path], wanted: list[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for d in dirs:
        for stem in _ZIP_FOLDERS.values():
            archive = d / f"{stem}.zip"
            if not archive.is_file():
                continue
            try:
                with zipfile.ZipFile(archive) as zf:
                    for info in zf.infolist():
                        base = info.filename.rsplit("/", 1)[-1]
                        if base in wanted and base not in out and not info.is_dir():
                            out[base] = zf.read(info)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(f"cannot read {archive}: {exc}; the archive is corrupt, download it again") from exc
    return out


def read_batch(src: bytes | Path, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 3, 32, 32], labels int64 [N] in 1..1000) from one npz batch file."""
    try:
        with np.load(io.BytesIO(src) if isinstance(src, bytes) else src, allow_pickle=False) as npz:
            if "data" not in npz.files or "labels" not in npz.files:
                raise DataError(f"{source}: lacks 'data' or 'labels' (keys: {sorted(npz.files)})")
            x, y = npz["data"], np.asarray(npz["labels"])
    except DataError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:  # corrupt, or object arrays
        raise DataError(f"cannot read {source}: {exc}; expected an npz of plain arrays") from exc
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * SIDE * SIDE:
        raise DataError(f"{source}: 'data' must be uint8 [N, {3 * SIDE * SIDE}], got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: 'labels' must hold {len(x)} integers, got {y.dtype} {y.shape}")
    if len(y) and (y.min() < 1 or y.max() > FULL_CLASSES):
        raise DataError(f"{source}: labels span {y.min()}..{y.max()}, expected 1..{FULL_CLASSES}")
    return x.reshape(-1, 3, SIDE, SIDE), y.astype(np.int64)


def _class_names(data_dir: Path, k: int) -> tuple[str, ...]:
    names = {i: f"class{i}" for i in range(1, k + 1)}
    path = next((d / CLASS_MAP for d in _candidates(data_dir) if (d / CLASS_MAP).is_file()), None)
    if path is not None:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1].isdigit() and 1 <= int(parts[1]) <= k:
                names[int(parts[1])] = parts[2]
    return tuple(names[i] for i in range(1, k + 1))


def load_imagenet32(data_dir: Path, num_classes: int = FULL_CLASSES) -> RawData:
    """Read the npz files, keep labels 1..num_classes, relabel to 0..num_classes-1."""
    if not 2 <= num_classes <= FULL_CLASSES:  # one class is no classification task
        raise InvalidValueError(
            f"imagenet32 class subset of {num_classes} classes is invalid; it must be 2..{FULL_CLASSES}")
    files = _locate(Path(data_dir))

    def part(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for name in names:
            src = files[name]
            x, y = read_batch(src, str(src) if isinstance(src, Path) else f"{name} (in zip)")
            keep = y <= num_classes
            xs.append(np.ascontiguousarray(x[keep]))  # filter per file: never hold all 1.28M images
            ys.append(y[keep] - 1)
        return np.concatenate(xs), np.concatenate(ys)

    x_train, y_train = part(TRAIN_FILES)
    x_test, y_test = part((VAL_FILE,))
    absent = sorted(set(range(num_classes)) - set(np.unique(y_train).tolist()))
    if absent:
        raise InvalidValueError(
            f"imagenet32 class subset of {num_classes} classes is larger than the files in {data_dir} hold: "
            f"{len(absent)} of labels 1..{num_classes} have no training images (first missing: {absent[0] + 1}); "
            "use a smaller subset")
    return RawData(x_train, y_train, x_test, y_test, _class_names(Path(data_dir), num_classes))


def register_imagenet32_subset(num_classes: int) -> str:
    """Register `imagenet32_<k>` (labels 1..k) and return its name; `imagenet32` is all 1000."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 2 <= num_classes <= FULL_CLASSES:
        raise InvalidValueError(
            f"imagenet32 class subset {num_classes!r} is invalid; it must be an integer in 2..{FULL_CLASSES}")
    name = "imagenet32" if num_classes == FULL_CLASSES else f"imagenet32_{num_classes}"
    what = "all 1000 classes" if num_classes == FULL_CLASSES else f"classes 1..{num_classes}"
    register_dataset(name, description=f"ImageNet32 (downsampled ImageNet 32x32), {what}, from the npz files",
                     shape=(3, SIDE, SIDE), num_classes=num_classes, needs_files=True,
                     mirror=True)(lambda data_dir: load_imagenet32(data_dir, num_classes))
    return name


register_imagenet32_subset(FULL_CLASSES)
register_imagenet32_subset(STUDY_CLASSES)
